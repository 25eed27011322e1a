// Framework-free owner of one live stream: the WebSocket, message handling, counters, latency and the FPS throttle.
// React reads it through useSyncExternalStore (see useWebSocket / RealtimeContext); tests drive it with a fake socket.

import { FPSThrottler, type FPSThrottlerOptions } from './FPSThrottler';
import { buildStreamUrl, parseServerMessage, type FrameResult } from './protocol';
import { advanceTrails, EMPTY_TRAILS, type TrailLimits, type Trails } from './trails';

export type ConnectionStatus = 'connecting' | 'connected' | 'disconnected';

/** The part of the browser's WebSocket that the client uses (so tests can pass a fake). */
export interface WebSocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: BinaryType;
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  send(data: ArrayBuffer | Blob): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketFactory = (url: string) => WebSocketLike;

export interface StreamError {
  code: string;
  detail: string;
}

export interface LastResult {
  frameIndex: number;
  result: FrameResult;
  receivedAt: number;
}

export interface RealtimeState {
  status: ConnectionStatus;
  pipelineId: string | null;
  lastResult: LastResult | null;
  /** Recent box centres of the tracks in this stream (`track_id`), for the overlay; empty without tracking. */
  trails: Trails;
  /** Index of the newest answered frame, result or drop. */
  lastFrameIndex: number | null;
  framesSent: number;
  framesProcessed: number;
  droppedFrames: number;
  slowDownWarnings: number;
  lastError: StreamError | null;
  /** Drop rate over the last answers (0..1). */
  dropRate: number;
  /** Processed frames per second, measured over the last few seconds. */
  measuredFps: number;
  /** Rate the throttler currently allows. */
  targetFps: number;
  /** Round trip of the newest answered frame (send → answer), ms. */
  latencyMs: number | null;
  /** Mean round trip over the last answers, ms. */
  avgLatencyMs: number | null;
}

export interface RealtimeClientOptions {
  createSocket?: WebSocketFactory;
  /** Builds the stream URL; defaults to this page's origin. */
  buildUrl?: (pipelineId: string) => string;
  now?: () => number;
  throttler?: FPSThrottlerOptions;
  /** Above this many unsent bytes in the socket, no new frame is captured. */
  maxBufferedBytes?: number;
  /** An unanswered frame older than this no longer blocks sending (defensive; the server answers every frame). */
  inFlightTimeoutMs?: number;
  /** After opening, a connection that has not failed for this long clears the previous error. */
  settleMs?: number;
  /** Bounds of the per-track trails (default: 30 points, 2 s, 200 tracks). */
  trailLimits?: TrailLimits;
}

const OPEN = 1;
const STATS_WINDOW = 30;
const FPS_WINDOW_MS = 3000;

function initialState(targetFps: number): RealtimeState {
  return {
    status: 'disconnected',
    pipelineId: null,
    lastResult: null,
    trails: EMPTY_TRAILS,
    lastFrameIndex: null,
    framesSent: 0,
    framesProcessed: 0,
    droppedFrames: 0,
    slowDownWarnings: 0,
    lastError: null,
    dropRate: 0,
    measuredFps: 0,
    targetFps,
    latencyMs: null,
    avgLatencyMs: null,
  };
}

function defaultUrl(pipelineId: string): string {
  return buildStreamUrl(window.location, pipelineId);
}

function defaultSocket(url: string): WebSocketLike {
  return new WebSocket(url);
}

export class RealtimeClient {
  private readonly createSocket: WebSocketFactory;
  private readonly buildUrl: (pipelineId: string) => string;
  private readonly now: () => number;
  private readonly maxBufferedBytes: number;
  private readonly inFlightTimeoutMs: number;
  private readonly settleMs: number;
  private readonly trailLimits: TrailLimits | undefined;
  readonly throttler: FPSThrottler;

  private socket: WebSocketLike | null = null;
  private state: RealtimeState;
  private readonly listeners = new Set<() => void>();
  private sentAt = new Map<number, number>();
  private nextFrameIndex = 0;
  private errorReceived = false;
  private opened = false;
  private settleTimer: ReturnType<typeof setTimeout> | null = null;
  private recentAnswers: boolean[] = []; // true = dropped
  private recentLatencies: number[] = [];
  private processedAt: number[] = [];

  constructor(options: RealtimeClientOptions = {}) {
    this.createSocket = options.createSocket ?? defaultSocket;
    this.buildUrl = options.buildUrl ?? defaultUrl;
    this.now = options.now ?? (() => performance.now());
    this.maxBufferedBytes = options.maxBufferedBytes ?? 256 * 1024;
    this.inFlightTimeoutMs = options.inFlightTimeoutMs ?? 5000;
    this.settleMs = options.settleMs ?? 750;
    this.trailLimits = options.trailLimits;
    this.throttler = new FPSThrottler(options.throttler);
    this.state = initialState(this.throttler.fps);
  }

  // ---- store interface (useSyncExternalStore) ----

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): RealtimeState => this.state;

  // ---- commands ----

  /** Opens a stream for `pipelineId`, closing any previous one. Counters start again from zero. */
  connect = (pipelineId: string): void => {
    this.closeSocket();
    this.resetSession();
    this.throttler.reset();
    const keepError = this.state.lastError;
    this.update({ ...initialState(this.throttler.fps), pipelineId, status: 'connecting', lastError: keepError });
    const socket = this.createSocket(this.buildUrl(pipelineId));
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.opened = true;
      this.update({ status: 'connected' });
      this.settleTimer = setTimeout(() => {
        if (this.socket === socket && !this.errorReceived) this.update({ lastError: null });
      }, this.settleMs);
    };
    socket.onmessage = (ev) => {
      if (this.socket === socket && typeof ev.data === 'string') this.handleMessage(ev.data);
    };
    socket.onerror = () => {
      // The close event that follows carries the outcome.
    };
    socket.onclose = (ev) => {
      if (this.socket === socket) this.handleClose(ev);
    };
  };

  /** Reopens the stream for the current pipeline (the banner's Retry / Reconnect). */
  reconnect = (): void => {
    if (this.state.pipelineId !== null) this.connect(this.state.pipelineId);
  };

  /** Closes the stream on purpose: no error is reported. */
  disconnect = (): void => {
    this.closeSocket();
    this.resetSession();
    const s = this.state;
    if (s.status !== 'disconnected' || s.measuredFps !== 0 || s.lastResult !== null || s.trails.size > 0) {
      this.update({
        status: 'disconnected',
        measuredFps: 0,
        lastResult: null,
        trails: EMPTY_TRAILS,
        lastFrameIndex: null,
      });
    }
  };

  clearError = (): void => {
    if (this.state.lastError) this.update({ lastError: null });
  };

  /**
   * True when a new frame may be captured now: connected, the previous frame answered, the socket's send buffer
   * drained, and the throttler's interval elapsed. Callers capture + encode only then (one frame in flight).
   */
  readyForFrame = (): boolean => {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN || this.state.status !== 'connected') return false;
    if (socket.bufferedAmount > this.maxBufferedBytes) return false;
    const now = this.now();
    if (this.hasFrameInFlight(now)) return false;
    return this.throttler.shouldSend(now);
  };

  /** Sends one JPEG frame as a binary message. Returns false when the stream is not open. */
  sendFrame = (bytes: ArrayBuffer | Blob): boolean => {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) return false;
    const now = this.now();
    socket.send(bytes);
    this.sentAt.set(this.nextFrameIndex, now);
    this.nextFrameIndex += 1;
    this.throttler.markSent(now);
    this.update({ framesSent: this.state.framesSent + 1 });
    return true;
  };

  // ---- internals ----

  private hasFrameInFlight(now: number): boolean {
    for (const [index, at] of this.sentAt) {
      if (now - at < this.inFlightTimeoutMs) return true;
      this.sentAt.delete(index);
    }
    return false;
  }

  private handleMessage(data: string): void {
    const msg = parseServerMessage(data);
    const now = this.now();
    switch (msg.kind) {
      case 'result': {
        this.throttler.onProcessed(now);
        this.processedAt.push(now);
        this.processedAt = this.processedAt.filter((t) => now - t <= FPS_WINDOW_MS);
        this.update({
          ...this.answered(msg.frameIndex, false, now),
          lastResult: { frameIndex: msg.frameIndex, result: msg.result, receivedAt: now },
          trails: advanceTrails(this.state.trails, msg.result.detections, now, this.trailLimits),
          framesProcessed: this.state.framesProcessed + 1,
          measuredFps: this.measureFps(now),
          targetFps: this.throttler.fps,
          lastError: this.errorReceived ? this.state.lastError : null,
        });
        return;
      }
      case 'dropped': {
        this.throttler.onDropped(now);
        // lastResult is kept: a dropped frame does not blank the overlay.
        this.update({
          ...this.answered(msg.frameIndex, true, now),
          droppedFrames: this.state.droppedFrames + 1,
          targetFps: this.throttler.fps,
        });
        return;
      }
      case 'slow_down': {
        this.throttler.onSlowDown(now, msg.suggestedFps);
        this.update({ slowDownWarnings: this.state.slowDownWarnings + 1, targetFps: this.throttler.fps });
        return;
      }
      case 'error': {
        this.errorReceived = true;
        this.update({ lastError: { code: msg.code, detail: msg.detail } });
        return;
      }
      case 'unknown':
        return;
    }
  }

  private answered(frameIndex: number, dropped: boolean, now: number): Partial<RealtimeState> {
    const sent = this.sentAt.get(frameIndex);
    this.sentAt.delete(frameIndex);
    // Anything older than the answered frame is answered too (results arrive in frame order).
    for (const index of this.sentAt.keys()) if (index < frameIndex) this.sentAt.delete(index);
    this.recentAnswers = [...this.recentAnswers, dropped].slice(-STATS_WINDOW);
    const patch: Partial<RealtimeState> = {
      lastFrameIndex: frameIndex,
      dropRate: this.recentAnswers.filter(Boolean).length / this.recentAnswers.length,
    };
    if (sent !== undefined) {
      const latency = now - sent;
      this.recentLatencies = [...this.recentLatencies, latency].slice(-STATS_WINDOW);
      patch.latencyMs = latency;
      patch.avgLatencyMs = this.recentLatencies.reduce((a, b) => a + b, 0) / this.recentLatencies.length;
    }
    return patch;
  }

  private measureFps(now: number): number {
    const times = this.processedAt;
    const first = times[0];
    if (times.length < 2 || first === undefined) return 0;
    const span = now - first;
    return span > 0 ? ((times.length - 1) * 1000) / span : 0;
  }

  private handleClose(ev: CloseEvent): void {
    this.socket = null;
    const hadError = this.errorReceived;
    const opened = this.opened;
    this.resetSession();
    const patch: Partial<RealtimeState> = { status: 'disconnected', measuredFps: 0 };
    if (!hadError) {
      patch.lastError = opened
        ? {
            code: 'connection_lost',
            detail:
              ev.code === 1001
                ? 'The server went away (restarting or shutting down).'
                : `The connection closed (code ${ev.code}).`,
          }
        : { code: 'connection_failed', detail: 'The stream could not be opened.' };
    }
    this.update(patch);
  }

  private closeSocket(): void {
    const socket = this.socket;
    this.socket = null;
    if (!socket) return;
    socket.onopen = null;
    socket.onmessage = null;
    socket.onerror = null;
    socket.onclose = null;
    try {
      socket.close(1000, 'client closed');
    } catch {
      // already closed
    }
  }

  private resetSession(): void {
    if (this.settleTimer !== null) clearTimeout(this.settleTimer);
    this.settleTimer = null;
    this.sentAt = new Map();
    this.nextFrameIndex = 0;
    this.errorReceived = false;
    this.opened = false;
    this.recentAnswers = [];
    this.recentLatencies = [];
    this.processedAt = [];
  }

  private update(patch: Partial<RealtimeState>): void {
    this.state = { ...this.state, ...patch };
    for (const listener of this.listeners) listener();
  }
}
