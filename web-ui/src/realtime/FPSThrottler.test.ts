import { describe, expect, it } from 'vitest';
import { FPSThrottler } from './FPSThrottler';

describe('FPSThrottler', () => {
  it('starts at 15 FPS and spaces frames by the interval', () => {
    const t = new FPSThrottler();
    expect(t.fps).toBe(15);
    expect(t.shouldSend(0)).toBe(true);
    t.markSent(0);
    expect(t.shouldSend(50)).toBe(false);
    expect(t.shouldSend(1000 / 15)).toBe(true);
  });

  it('lowers on slow_down by a factor, or to the suggested rate, never below the minimum', () => {
    const t = new FPSThrottler();
    t.onSlowDown(0);
    expect(t.fps).toBeCloseTo(9);
    t.onSlowDown(10, 6.5);
    expect(t.fps).toBe(6.5);
    t.onSlowDown(20, 12); // a suggestion above the current rate does not raise it
    expect(t.fps).toBe(6.5);
    for (let i = 0; i < 10; i++) t.onSlowDown(30 + i);
    expect(t.fps).toBe(t.minFps);
  });

  it('does not climb while drops continue', () => {
    const t = new FPSThrottler({ recoveryDelayMs: 3000, stepIntervalMs: 1000 });
    t.onSlowDown(0, 8);
    for (let now = 500; now <= 20_000; now += 500) {
      t.onDropped(now);
      t.onProcessed(now);
    }
    expect(t.fps).toBe(8);
  });

  it('climbs back one FPS per step once drops stop, up to the maximum', () => {
    const t = new FPSThrottler({ recoveryDelayMs: 3000, stepIntervalMs: 1000 });
    t.onSlowDown(0, 8);
    t.onDropped(1000);
    t.onProcessed(3500); // only 2.5 s quiet
    expect(t.fps).toBe(8);
    t.onProcessed(4000); // 3 s quiet: first step
    expect(t.fps).toBe(9);
    t.onProcessed(4500); // step interval not over
    expect(t.fps).toBe(9);
    for (let now = 5000; now <= 20_000; now += 1000) t.onProcessed(now);
    expect(t.fps).toBe(15);
  });

  it('recovers through shouldSend too, even with no results arriving', () => {
    const t = new FPSThrottler({ recoveryDelayMs: 1000, stepIntervalMs: 500 });
    t.onSlowDown(0, 10);
    t.shouldSend(1000);
    expect(t.fps).toBe(11);
  });

  it('a new slow_down during recovery lowers again', () => {
    const t = new FPSThrottler({ recoveryDelayMs: 1000, stepIntervalMs: 100 });
    t.onSlowDown(0, 5);
    for (let now = 1000; now < 1500; now += 100) t.onProcessed(now);
    expect(t.fps).toBe(10);
    t.onSlowDown(1600);
    expect(t.fps).toBe(6);
  });

  it('reset returns to the initial rate', () => {
    const t = new FPSThrottler({ initialFps: 12 });
    t.onSlowDown(0);
    t.reset();
    expect(t.fps).toBe(12);
  });
});
