import type { FrameResultItem } from './api';

/**
 * Tolerance for the video clock: a paused or seeked `currentTime` can land a hair before a frame's presentation
 * time (0.1 s → 99.99999 ms), which must still show that frame.
 */
export const TIME_EPSILON_MS = 0.5;

/**
 * Index in `results` (sorted by `timestamp_ms`) of the result shown at `timeMs`: the latest whose timestamp is
 * ≤ `timeMs` (+ a small tolerance). -1 before the first result or for an empty list.
 */
export function resultIndexAt(results: readonly Pick<FrameResultItem, 'timestamp_ms'>[], timeMs: number): number {
  if (!Number.isFinite(timeMs)) return -1;
  const t = timeMs + TIME_EPSILON_MS;
  let lo = 0;
  let hi = results.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const item = results[mid];
    if (item !== undefined && item.timestamp_ms <= t) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

/** The result shown at `timeMs` (see `resultIndexAt`), or null. */
export function resultAt<T extends Pick<FrameResultItem, 'timestamp_ms'>>(results: readonly T[], timeMs: number): T | null {
  return results[resultIndexAt(results, timeMs)] ?? null;
}
