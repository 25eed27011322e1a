import { describe, expect, it } from 'vitest';
import { resultAt, resultIndexAt, TIME_EPSILON_MS } from './frameAt';

// frame_stride 10 over a 10 fps video: results at 0, 1000, 2000, 3000 ms.
const results = [0, 1000, 2000, 3000].map((t) => ({ timestamp_ms: t, frame_index: t / 100 }));

describe('resultIndexAt', () => {
  it('picks the latest result at or before the time', () => {
    expect(resultIndexAt(results, 0)).toBe(0);
    expect(resultIndexAt(results, 999)).toBe(0);
    expect(resultIndexAt(results, 1000)).toBe(1);
    expect(resultIndexAt(results, 1500)).toBe(1);
    expect(resultIndexAt(results, 2999)).toBe(2);
    expect(resultIndexAt(results, 4800)).toBe(3); // after the last result it stays on the last
  });

  it("tolerates the video clock landing a hair before a frame's time", () => {
    expect(resultIndexAt(results, 2999.9999)).toBe(3); // shows the 3000 ms frame
    expect(resultIndexAt(results, 999)).toBe(0); // but a whole millisecond early is the previous frame
  });

  it('is -1 before the first result, for an empty list and for a non-finite time', () => {
    const later = [{ timestamp_ms: 500 }, { timestamp_ms: 900 }];
    expect(resultIndexAt(later, 100)).toBe(-1);
    expect(resultIndexAt([], 100)).toBe(-1);
    expect(resultIndexAt(results, Number.NaN)).toBe(-1);
  });

  it('agrees with a linear scan on uneven timestamps', () => {
    const uneven = [3, 7, 7, 40, 41, 100, 250].map((t) => ({ timestamp_ms: t }));
    for (let t = 0; t <= 300; t += 0.5) {
      let expected = -1;
      uneven.forEach((r, i) => {
        if (r.timestamp_ms <= t + TIME_EPSILON_MS) expected = i;
      });
      expect(resultIndexAt(uneven, t)).toBe(expected);
    }
  });

  it('resultAt returns the item or null', () => {
    expect(resultAt(results, 2100)?.frame_index).toBe(20);
    expect(resultAt([{ timestamp_ms: 50, frame_index: 0 }], 10)).toBeNull();
  });
});
