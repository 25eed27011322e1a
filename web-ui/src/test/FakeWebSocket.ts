import type { WebSocketFactory, WebSocketLike } from '../realtime/RealtimeClient';

/** A scripted stand-in for the browser's WebSocket. */
export class FakeWebSocket implements WebSocketLike {
  static instances: FakeWebSocket[] = [];

  readyState = 0;
  bufferedAmount = 0;
  binaryType: BinaryType = 'blob';
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  readonly sent: (ArrayBuffer | Blob)[] = [];
  closedByClient = false;

  constructor(readonly url: string) {
    FakeWebSocket.instances.push(this);
  }

  static factory: WebSocketFactory = (url) => new FakeWebSocket(url);

  static reset(): void {
    FakeWebSocket.instances = [];
  }

  static last(): FakeWebSocket {
    const ws = FakeWebSocket.instances.at(-1);
    if (!ws) throw new Error('no socket was created');
    return ws;
  }

  send(data: ArrayBuffer | Blob): void {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    this.sent.push(data);
  }

  close(): void {
    this.closedByClient = true;
    this.readyState = 3;
  }

  // ---- server side ----

  serverOpen(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }

  serverSend(message: unknown): void {
    const data = typeof message === 'string' ? message : JSON.stringify(message);
    this.onmessage?.(new MessageEvent('message', { data }));
  }

  serverClose(code = 1006): void {
    this.readyState = 3;
    this.onerror?.(new Event('error'));
    this.onclose?.(new CloseEvent('close', { code }));
  }
}

export function resultMessage(frameIndex: number, extra: Record<string, unknown> = {}) {
  return {
    frame_index: frameIndex,
    result: {
      image: { width: 640, height: 480 },
      detections: [{ xyxy: [100, 20, 400, 470], confidence: 0.9, class_id: 0, class_name: 'person' }],
      count: 1,
      timings_ms: { decode: 1.2, detect: 30 },
      ...extra,
    },
  };
}
