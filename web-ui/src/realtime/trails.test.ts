import { describe, expect, it } from 'vitest';
import type { Detection } from './protocol';
import { advanceTrails, DEFAULT_TRAIL_LIMITS, EMPTY_TRAILS, type Trails } from './trails';

/** A 20×20 box centred on (cx, cy). */
function det(trackId: number | undefined, cx: number, cy: number): Detection {
  const xyxy: Detection['xyxy'] = [cx - 10, cy - 10, cx + 10, cy + 10];
  const d: Detection = { xyxy, confidence: 0.9, class_id: 0, class_name: 'person' };
  if (trackId !== undefined) d.track_id = trackId;
  return d;
}

function xs(trails: Trails, id: number): number[] {
  return trails.get(id)?.points.map((p) => p.x) ?? [];
}

describe('advanceTrails', () => {
  it('appends each tracked box centre to its own trail', () => {
    let trails = advanceTrails(EMPTY_TRAILS, [det(1, 100, 50), det(2, 300, 200)], 0);
    trails = advanceTrails(trails, [det(1, 110, 52), det(2, 290, 210)], 33);
    trails = advanceTrails(trails, [det(1, 120, 54)], 66);
    expect(trails.get(1)).toEqual({
      points: [
        { x: 100, y: 50, t: 0 },
        { x: 110, y: 52, t: 33 },
        { x: 120, y: 54, t: 66 },
      ],
      lastSeen: 66,
    });
    expect(xs(trails, 2)).toEqual([300, 290]);
    expect(trails.get(2)?.lastSeen).toBe(33);
  });

  it('ignores untracked detections, and costs nothing without tracking', () => {
    expect(advanceTrails(EMPTY_TRAILS, [det(undefined, 1, 1)], 0)).toBe(EMPTY_TRAILS);
    expect(advanceTrails(EMPTY_TRAILS, undefined, 0)).toBe(EMPTY_TRAILS);
    const trails = advanceTrails(EMPTY_TRAILS, [det(4, 10, 10), det(undefined, 50, 50)], 0);
    expect([...trails.keys()]).toEqual([4]);
    // Nothing tracked and nothing expired: the same map (no new state for React).
    expect(advanceTrails(trails, [det(undefined, 50, 50)], 500)).toBe(trails);
  });

  it('does not change the trails it was given', () => {
    const first = advanceTrails(EMPTY_TRAILS, [det(1, 10, 10)], 0);
    const second = advanceTrails(first, [det(1, 20, 10)], 33);
    expect(xs(first, 1)).toEqual([10]);
    expect(xs(second, 1)).toEqual([10, 20]);
    expect(EMPTY_TRAILS.size).toBe(0);
  });

  it('keeps the last 30 points of a trail', () => {
    let trails: Trails = EMPTY_TRAILS;
    for (let i = 0; i < 45; i++) trails = advanceTrails(trails, [det(1, i, 0)], i * 10);
    const points = xs(trails, 1);
    expect(points).toHaveLength(DEFAULT_TRAIL_LIMITS.maxPoints);
    expect(points[0]).toBe(15);
    expect(points.at(-1)).toBe(44);
  });

  it('honours other limits', () => {
    const limits = { maxPoints: 3, maxAgeMs: 100, maxTracks: 2 };
    let trails: Trails = EMPTY_TRAILS;
    for (let i = 0; i < 5; i++) trails = advanceTrails(trails, [det(1, i, 0)], i, limits);
    expect(xs(trails, 1)).toEqual([2, 3, 4]);
    trails = advanceTrails(trails, [det(2, 0, 0), det(3, 0, 0)], 10, limits);
    expect([...trails.keys()]).toEqual([2, 3]);
  });

  it('drops points older than 2 s', () => {
    let trails = advanceTrails(EMPTY_TRAILS, [det(1, 0, 0)], 0);
    trails = advanceTrails(trails, [det(1, 10, 0)], 1500);
    trails = advanceTrails(trails, [det(1, 20, 0)], 2000);
    expect(xs(trails, 1)).toEqual([0, 10, 20]); // exactly 2 s old: kept
    trails = advanceTrails(trails, [det(1, 30, 0)], 2001);
    expect(xs(trails, 1)).toEqual([10, 20, 30]);
    trails = advanceTrails(trails, [det(1, 40, 0)], 4000);
    expect(xs(trails, 1)).toEqual([20, 30, 40]);
  });

  it('forgets a track not seen for 2 s', () => {
    let trails = advanceTrails(EMPTY_TRAILS, [det(1, 0, 0), det(2, 0, 0)], 0);
    trails = advanceTrails(trails, [det(2, 5, 0)], 1000);
    trails = advanceTrails(trails, [], 2000);
    expect([...trails.keys()]).toEqual([1, 2]);
    // Without any tracked detection, expiry still happens.
    trails = advanceTrails(trails, [], 2001);
    expect([...trails.keys()]).toEqual([2]);
    trails = advanceTrails(trails, [det(undefined, 0, 0)], 3001);
    expect(trails.size).toBe(0);
    // An id that comes back later starts a new trail.
    trails = advanceTrails(trails, [det(1, 70, 0)], 5000);
    expect(xs(trails, 1)).toEqual([70]);
  });

  it('keeps at most 200 tracks, forgetting the least recently seen', () => {
    let trails: Trails = EMPTY_TRAILS;
    for (let id = 1; id <= 250; id++) trails = advanceTrails(trails, [det(id, id, 0)], id);
    expect(trails.size).toBe(DEFAULT_TRAIL_LIMITS.maxTracks);
    expect(trails.has(50)).toBe(false);
    expect(trails.has(51)).toBe(true);
    // Seeing an old track again makes it the most recent: the next one evicted is 52.
    trails = advanceTrails(trails, [det(51, 0, 0)], 251);
    trails = advanceTrails(trails, [det(251, 0, 0)], 252);
    expect(trails.has(51)).toBe(true);
    expect(trails.has(52)).toBe(false);
    expect(trails.size).toBe(200);
    // Many tracks in one result: still bounded.
    const crowd = Array.from({ length: 300 }, (_, i) => det(1000 + i, i, 0));
    expect(advanceTrails(trails, crowd, 300).size).toBe(200);
  });

  it('starts again from EMPTY_TRAILS (a new stream)', () => {
    const trails = advanceTrails(EMPTY_TRAILS, [det(1, 0, 0)], 0);
    expect(trails.size).toBe(1);
    expect(advanceTrails(EMPTY_TRAILS, [det(1, 9, 0)], 10).get(1)?.points).toEqual([{ x: 9, y: 0, t: 10 }]);
  });
});
