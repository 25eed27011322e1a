// Per-track trails for the overlay: the box centres of the recent results in which each tracked object appeared.
// Pure and immutable (each result gives a new map, unchanged trails are shared), bounded in points, age and
// tracks, so it can run on every result at the stream's frame rate.

import type { Detection } from './protocol';

/** A box centre in the source image's pixels, at `t` (the client's clock, ms). */
export interface TrailPoint {
  x: number;
  y: number;
  t: number;
}

export interface Trail {
  /** Oldest first; at most `maxPoints`, none older than `maxAgeMs` when the track was last seen. */
  points: readonly TrailPoint[];
  lastSeen: number;
}

/** By track id. Iteration order is least recently seen first (the eviction order). */
export type Trails = ReadonlyMap<number, Trail>;

export interface TrailLimits {
  /** Points kept per track. */
  maxPoints: number;
  /** Points older than this are dropped; a track not seen for longer is forgotten. */
  maxAgeMs: number;
  /** Tracks kept; the least recently seen go first. */
  maxTracks: number;
}

export const DEFAULT_TRAIL_LIMITS: TrailLimits = { maxPoints: 30, maxAgeMs: 2000, maxTracks: 200 };

/** No trails: the state at the start of a stream. */
export const EMPTY_TRAILS: Trails = new Map<number, Trail>();

/**
 * The trails after one result received at `now`: every tracked detection adds its box centre to its track's trail;
 * old points and tracks not seen for `maxAgeMs` are dropped. Returns `trails` itself when nothing changed (no
 * tracked detection and nothing expired), so results of pipelines without tracking cost nothing.
 */
export function advanceTrails(
  trails: Trails,
  detections: readonly Detection[] | undefined,
  now: number,
  limits: TrailLimits = DEFAULT_TRAIL_LIMITS,
): Trails {
  const { maxPoints, maxAgeMs, maxTracks } = limits;
  const tracked = detections?.some((d) => d.track_id !== undefined) ?? false;
  if (!tracked) {
    let expired = false;
    for (const trail of trails.values()) {
      if (now - trail.lastSeen > maxAgeMs) {
        expired = true;
        break;
      }
    }
    if (!expired) return trails;
  }

  const next = new Map<number, Trail>();
  for (const [id, trail] of trails) {
    if (now - trail.lastSeen <= maxAgeMs) next.set(id, trail);
  }
  for (const d of detections ?? []) {
    const id = d.track_id;
    if (id === undefined) continue;
    const [x1, y1, x2, y2] = d.xyxy;
    const point: TrailPoint = { x: (x1 + x2) / 2, y: (y1 + y2) / 2, t: now };
    const old = next.get(id)?.points ?? [];
    // Points are oldest first: skip the ones too old, then keep room for the new one.
    let start = 0;
    while (start < old.length && now - (old[start]?.t ?? now) > maxAgeMs) start += 1;
    start = Math.max(start, old.length - (maxPoints - 1));
    const points = old.slice(start);
    points.push(point);
    // Re-inserted at the end: the map stays ordered by last sighting.
    next.delete(id);
    next.set(id, { points, lastSeen: now });
  }
  for (const id of next.keys()) {
    if (next.size <= maxTracks) break;
    next.delete(id);
  }
  return next;
}
