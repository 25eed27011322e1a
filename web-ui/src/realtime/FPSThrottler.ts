// Client-side frame rate control (SPEC §8): start at 15 FPS, lower on `slow_down`, climb back once drops stop.
// Time is passed in (milliseconds) so the policy is a pure, testable state machine.

export interface FPSThrottlerOptions {
  initialFps?: number;
  minFps?: number;
  maxFps?: number;
  /** Multiplier applied on slow_down when the server suggests no rate. */
  backoffFactor?: number;
  /** Quiet period (no drops, no slow_down) before climbing starts. */
  recoveryDelayMs?: number;
  /** Time between two +1 FPS steps while recovering. */
  stepIntervalMs?: number;
}

export class FPSThrottler {
  readonly minFps: number;
  readonly maxFps: number;
  private readonly backoffFactor: number;
  private readonly recoveryDelayMs: number;
  private readonly stepIntervalMs: number;
  private readonly initialFps: number;
  private fpsValue: number;
  private lastTroubleAt = Number.NEGATIVE_INFINITY;
  private lastStepAt = Number.NEGATIVE_INFINITY;
  private lastSendAt = Number.NEGATIVE_INFINITY;

  constructor(options: FPSThrottlerOptions = {}) {
    this.minFps = options.minFps ?? 2;
    this.maxFps = options.maxFps ?? 15;
    this.backoffFactor = options.backoffFactor ?? 0.6;
    this.recoveryDelayMs = options.recoveryDelayMs ?? 3000;
    this.stepIntervalMs = options.stepIntervalMs ?? 1000;
    this.initialFps = this.clamp(options.initialFps ?? 15);
    this.fpsValue = this.initialFps;
  }

  get fps(): number {
    return this.fpsValue;
  }

  get intervalMs(): number {
    return 1000 / this.fpsValue;
  }

  /** Server said slow_down: lower the rate (to its suggestion if it gave one, never up). */
  onSlowDown(now: number, suggestedFps?: number): void {
    const target =
      suggestedFps !== undefined && suggestedFps > 0 ? suggestedFps : this.fpsValue * this.backoffFactor;
    this.fpsValue = this.clamp(Math.min(this.fpsValue, target));
    this.lastTroubleAt = now;
    this.lastStepAt = now;
  }

  /** A frame was dropped by the server: no climbing while drops continue. */
  onDropped(now: number): void {
    this.lastTroubleAt = now;
  }

  /** A frame was processed: after a quiet period, climb back one FPS per step interval. */
  onProcessed(now: number): void {
    this.maybeRecover(now);
  }

  /** True when enough time has passed since the last frame was sent at the current rate. */
  shouldSend(now: number): boolean {
    this.maybeRecover(now);
    return now - this.lastSendAt >= this.intervalMs;
  }

  markSent(now: number): void {
    this.lastSendAt = now;
  }

  reset(): void {
    this.fpsValue = this.initialFps;
    this.lastTroubleAt = Number.NEGATIVE_INFINITY;
    this.lastStepAt = Number.NEGATIVE_INFINITY;
    this.lastSendAt = Number.NEGATIVE_INFINITY;
  }

  private maybeRecover(now: number): void {
    if (this.fpsValue >= this.maxFps) return;
    if (now - this.lastTroubleAt < this.recoveryDelayMs) return;
    if (now - this.lastStepAt < this.stepIntervalMs) return;
    this.fpsValue = this.clamp(Math.floor(this.fpsValue) + 1);
    this.lastStepAt = now;
  }

  private clamp(fps: number): number {
    return Math.min(this.maxFps, Math.max(this.minFps, fps));
  }
}
