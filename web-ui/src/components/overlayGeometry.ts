// Maps coordinates in the analysed image's pixels to the displayed video, which is shown with
// `object-fit: contain` (scaled uniformly, centred, letterboxed or pillarboxed); and the overlay's colours and labels.

import type { Detection } from '../realtime/protocol';

export interface Size {
  width: number;
  height: number;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface ContentLayout extends Rect {
  /** Display pixels per source pixel. */
  scale: number;
}

/** Where a `source`-sized picture lands inside a `container` with object-fit: contain. */
export function fitContain(source: Size, container: Size): ContentLayout {
  if (source.width <= 0 || source.height <= 0 || container.width <= 0 || container.height <= 0) {
    return { x: 0, y: 0, width: 0, height: 0, scale: 0 };
  }
  const scale = Math.min(container.width / source.width, container.height / source.height);
  const width = source.width * scale;
  const height = source.height * scale;
  return { x: (container.width - width) / 2, y: (container.height - height) / 2, width, height, scale };
}

/** A rectangle in source pixels → display pixels, clipped to the picture. */
export function toDisplayRect(rect: Rect, layout: ContentLayout, source: Size): Rect {
  const x1 = Math.max(0, Math.min(source.width, rect.x));
  const y1 = Math.max(0, Math.min(source.height, rect.y));
  const x2 = Math.max(0, Math.min(source.width, rect.x + rect.width));
  const y2 = Math.max(0, Math.min(source.height, rect.y + rect.height));
  return {
    x: layout.x + x1 * layout.scale,
    y: layout.y + y1 * layout.scale,
    width: (x2 - x1) * layout.scale,
    height: (y2 - y1) * layout.scale,
  };
}

/** A point in source pixels → display pixels, clamped to the picture. */
export function toDisplayPoint(x: number, y: number, layout: ContentLayout, source: Size): { x: number; y: number } {
  return {
    x: layout.x + Math.max(0, Math.min(source.width, x)) * layout.scale,
    y: layout.y + Math.max(0, Math.min(source.height, y)) * layout.scale,
  };
}

export function xyxyToRect([x1, y1, x2, y2]: readonly [number, number, number, number]): Rect {
  return { x: Math.min(x1, x2), y: Math.min(y1, y2), width: Math.abs(x2 - x1), height: Math.abs(y2 - y1) };
}

/** A stable, distinct colour per class id. */
export function classColour(classId: number): string {
  const hue = (((classId * 47) % 360) + 360) % 360;
  return `hsl(${hue} 85% 55%)`;
}

/** A stable colour per track id; consecutive ids are far apart on the colour wheel (golden angle). */
export function trackColour(trackId: number): string {
  const hue = Math.round((((trackId * 137.508) % 360) + 360) % 360);
  return `hsl(${hue} 90% 60%)`;
}

/** Tracked detections are coloured by track, the others by class. */
export function detectionColour(d: Pick<Detection, 'class_id' | 'track_id'>): string {
  return d.track_id === undefined ? classColour(d.class_id) : trackColour(d.track_id);
}

/** `#12 person 87%` for a tracked detection, `person 87%` otherwise. */
export function detectionLabel(d: Pick<Detection, 'class_name' | 'confidence' | 'track_id'>): string {
  const label = `${d.class_name} ${Math.round(d.confidence * 100)}%`;
  return d.track_id === undefined ? label : `#${d.track_id} ${label}`;
}
