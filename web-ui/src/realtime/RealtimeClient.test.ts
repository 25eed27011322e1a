import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeWebSocket, resultMessage } from '../test/FakeWebSocket';
import { RealtimeClient } from './RealtimeClient';

let now = 0;

function makeClient(extra: Partial<ConstructorParameters<typeof RealtimeClient>[0]> = {}) {
  return new RealtimeClient({
    createSocket: FakeWebSocket.factory,
    buildUrl: (id) => `ws://test/ws/video/stream?pipeline_id=${id}`,
    now: () => now,
    ...extra,
  });
}

const frame = () => new ArrayBuffer(8);

beforeEach(() => {
  FakeWebSocket.reset();
  now = 0;
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('RealtimeClient', () => {
  it('goes disconnected → connecting → connected', () => {
    const client = makeClient();
    const seen: string[] = [];
    client.subscribe(() => seen.push(client.getSnapshot().status));
    expect(client.getSnapshot().status).toBe('disconnected');
    client.connect('yolo');
    expect(client.getSnapshot()).toMatchObject({ status: 'connecting', pipelineId: 'yolo' });
    const ws = FakeWebSocket.last();
    expect(ws.url).toBe('ws://test/ws/video/stream?pipeline_id=yolo');
    expect(ws.binaryType).toBe('arraybuffer');
    ws.serverOpen();
    expect(client.getSnapshot().status).toBe('connected');
    expect(seen).toContain('connected');
  });

  it('sends binary frames and records results, latency and counters', () => {
    const client = makeClient();
    client.connect('yolo');
    const ws = FakeWebSocket.last();
    ws.serverOpen();
    const bytes = frame();
    expect(client.sendFrame(bytes)).toBe(true);
    expect(ws.sent).toEqual([bytes]);
    now = 40;
    ws.serverSend(resultMessage(0));
    const s = client.getSnapshot();
    expect(s.framesSent).toBe(1);
    expect(s.framesProcessed).toBe(1);
    expect(s.lastResult?.frameIndex).toBe(0);
    expect(s.lastResult?.result.detections?.[0]?.class_name).toBe('person');
    expect(s.latencyMs).toBe(40);
    expect(s.avgLatencyMs).toBe(40);
    expect(s.lastFrameIndex).toBe(0);
  });

  it('keeps the last result on a dropped frame and updates the drop rate', () => {
    const client = makeClient();
    client.connect('yolo');
    const ws = FakeWebSocket.last();
    ws.serverOpen();
    client.sendFrame(frame());
    ws.serverSend(resultMessage(0));
    client.sendFrame(frame());
    ws.serverSend({ frame_index: 1, dropped: true });
    const s = client.getSnapshot();
    expect(s.lastResult?.frameIndex).toBe(0);
    expect(s.lastFrameIndex).toBe(1);
    expect(s.droppedFrames).toBe(1);
    expect(s.dropRate).toBe(0.5);
  });

  it('counts slow_down warnings and lowers the target rate', () => {
    const client = makeClient();
    client.connect('yolo');
    const ws = FakeWebSocket.last();
    ws.serverOpen();
    expect(client.getSnapshot().targetFps).toBe(15);
    ws.serverSend({ warning: 'slow_down', drop_rate: 0.4, suggested_fps: 9.5 });
    expect(client.getSnapshot()).toMatchObject({ slowDownWarnings: 1, targetFps: 9.5 });
  });

  it('allows one frame in flight, and none while the send buffer is backed up', () => {
    const client = makeClient();
    expect(client.readyForFrame()).toBe(false); // not connected
    client.connect('yolo');
    const ws = FakeWebSocket.last();
    expect(client.readyForFrame()).toBe(false); // connecting
    ws.serverOpen();
    expect(client.readyForFrame()).toBe(true);
    client.sendFrame(frame());
    now = 500;
    expect(client.readyForFrame()).toBe(false); // frame 0 unanswered
    ws.serverSend({ frame_index: 0, dropped: true });
    expect(client.readyForFrame()).toBe(true);
    ws.bufferedAmount = 10 * 1024 * 1024;
    expect(client.readyForFrame()).toBe(false);
    ws.bufferedAmount = 0;
    client.sendFrame(frame());
    now = 520;
    ws.serverSend(resultMessage(1));
    expect(client.readyForFrame()).toBe(false); // throttle interval (1000/15 ms) not over
    now = 600;
    expect(client.readyForFrame()).toBe(true);
  });

  it('stops waiting for an answer that never comes after the in-flight timeout', () => {
    const client = makeClient({ inFlightTimeoutMs: 2000 });
    client.connect('yolo');
    FakeWebSocket.last().serverOpen();
    client.sendFrame(frame());
    now = 1999;
    expect(client.readyForFrame()).toBe(false);
    now = 2000;
    expect(client.readyForFrame()).toBe(true);
  });

  it('reports a server error, then disconnected after the close', () => {
    const client = makeClient();
    client.connect('nope');
    const ws = FakeWebSocket.last();
    ws.serverOpen();
    ws.serverSend({ error: 'invalid_pipeline', detail: 'Unknown pipeline_id: nope' });
    ws.serverClose(1008);
    vi.runAllTimers();
    expect(client.getSnapshot()).toMatchObject({
      status: 'disconnected',
      lastError: { code: 'invalid_pipeline', detail: 'Unknown pipeline_id: nope' },
    });
  });

  it('reports connection_lost on an unexpected close and connection_failed when it never opened', () => {
    const client = makeClient();
    client.connect('yolo');
    FakeWebSocket.last().serverOpen();
    FakeWebSocket.last().serverClose(1006);
    expect(client.getSnapshot().lastError?.code).toBe('connection_lost');
    client.connect('yolo');
    FakeWebSocket.last().serverClose(1006);
    expect(client.getSnapshot().lastError?.code).toBe('connection_failed');
  });

  it('keeps the error while reconnecting and clears it once the new stream works', () => {
    const client = makeClient();
    client.connect('yolo');
    FakeWebSocket.last().serverOpen();
    FakeWebSocket.last().serverClose(1006);
    client.reconnect();
    const ws = FakeWebSocket.last();
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(client.getSnapshot()).toMatchObject({ status: 'connecting', lastError: { code: 'connection_lost' } });
    ws.serverOpen();
    expect(client.getSnapshot().lastError?.code).toBe('connection_lost');
    client.sendFrame(frame());
    ws.serverSend(resultMessage(0));
    expect(client.getSnapshot().lastError).toBeNull();
  });

  it('clears the error after the new stream has stayed open for the settle time', () => {
    const client = makeClient({ settleMs: 500 });
    client.connect('nope');
    FakeWebSocket.last().serverOpen();
    FakeWebSocket.last().serverSend({ error: 'invalid_pipeline', detail: '' });
    FakeWebSocket.last().serverClose(1008);
    vi.advanceTimersByTime(1000);
    expect(client.getSnapshot().lastError?.code).toBe('invalid_pipeline');
    client.connect('yolo');
    FakeWebSocket.last().serverOpen();
    vi.advanceTimersByTime(499);
    expect(client.getSnapshot().lastError?.code).toBe('invalid_pipeline');
    vi.advanceTimersByTime(1);
    expect(client.getSnapshot().lastError).toBeNull();
  });

  it('disconnect closes the socket without an error and ignores its late events', () => {
    const client = makeClient();
    client.connect('yolo');
    const ws = FakeWebSocket.last();
    ws.serverOpen();
    client.disconnect();
    expect(ws.closedByClient).toBe(true);
    ws.serverSend(resultMessage(0));
    ws.serverClose(1000);
    expect(client.getSnapshot()).toMatchObject({ status: 'disconnected', lastError: null, lastResult: null });
    expect(client.sendFrame(frame())).toBe(false);
  });

  it('connecting to another pipeline closes the old socket and resets counters', () => {
    const client = makeClient();
    client.connect('yolo');
    const first = FakeWebSocket.last();
    first.serverOpen();
    client.sendFrame(frame());
    first.serverSend(resultMessage(0));
    client.connect('ocr');
    expect(first.closedByClient).toBe(true);
    expect(FakeWebSocket.last().url).toContain('pipeline_id=ocr');
    expect(client.getSnapshot()).toMatchObject({ pipelineId: 'ocr', framesProcessed: 0, lastResult: null });
  });
  it('sends slower after slow_down and climbs back to 15 FPS once drops stop', () => {
    const client = makeClient({ throttler: { recoveryDelayMs: 3000, stepIntervalMs: 1000 } });
    client.connect('yolo');
    const ws = FakeWebSocket.last();
    ws.serverOpen();
    ws.serverSend({ warning: 'slow_down', suggested_fps: 5 });
    expect(client.getSnapshot().targetFps).toBe(5);
    // One frame per 200 ms now.
    client.sendFrame(frame());
    now = 10;
    ws.serverSend(resultMessage(0));
    now = 150;
    expect(client.readyForFrame()).toBe(false);
    now = 200;
    expect(client.readyForFrame()).toBe(true);
    // A drop keeps the rate down...
    client.sendFrame(frame());
    now = 2500;
    ws.serverSend({ frame_index: 1, dropped: true });
    expect(client.getSnapshot().targetFps).toBe(5);
    // ...and after 3 s without drops it climbs, one FPS per second, back to 15.
    let index = 2;
    for (now = 2600; now <= 20_000; now += 100) {
      if (client.readyForFrame()) {
        client.sendFrame(frame());
        ws.serverSend(resultMessage(index++));
      }
    }
    expect(client.getSnapshot().targetFps).toBe(15);
    expect(client.getSnapshot().slowDownWarnings).toBe(1);
  });

  it('keeps per-track trails and starts them again with each stream', () => {
    const client = makeClient();
    const tracked = (frameIndex: number, x: number) =>
      resultMessage(frameIndex, {
        detections: [{ xyxy: [x, 0, x + 20, 40], confidence: 0.9, class_id: 0, class_name: 'person', track_id: 3 }],
      });
    client.connect('yolo_track');
    const ws = FakeWebSocket.last();
    ws.serverOpen();
    ws.serverSend(tracked(0, 100));
    now = 33;
    ws.serverSend(tracked(1, 110));
    ws.serverSend({ frame_index: 2, dropped: true });
    expect(client.getSnapshot().trails.get(3)?.points).toEqual([
      { x: 110, y: 20, t: 0 },
      { x: 120, y: 20, t: 33 },
    ]);
    // Untracked results (another pipeline) leave no trails.
    client.connect('yolo');
    expect(client.getSnapshot().trails.size).toBe(0);
    FakeWebSocket.last().serverOpen();
    FakeWebSocket.last().serverSend(resultMessage(0));
    expect(client.getSnapshot().trails.size).toBe(0);
    // Reconnecting (Retry) and stopping reset them too.
    client.connect('yolo_track');
    FakeWebSocket.last().serverOpen();
    FakeWebSocket.last().serverSend(tracked(0, 100));
    expect(client.getSnapshot().trails.size).toBe(1);
    client.reconnect();
    expect(client.getSnapshot().trails.size).toBe(0);
    FakeWebSocket.last().serverOpen();
    FakeWebSocket.last().serverSend(tracked(0, 100));
    client.disconnect();
    expect(client.getSnapshot().trails.size).toBe(0);
  });

  it('explains a 1001 close as the server going away', () => {
    const client = makeClient();
    client.connect('yolo');
    FakeWebSocket.last().serverOpen();
    FakeWebSocket.last().serverClose(1001);
    expect(client.getSnapshot().lastError).toEqual({
      code: 'connection_lost',
      detail: 'The server went away (restarting or shutting down).',
    });
  });
});
