import { describe, expect, it } from 'vitest';
import {
  classColour,
  detectionColour,
  detectionLabel,
  fitContain,
  toDisplayPoint,
  toDisplayRect,
  trackColour,
  xyxyToRect,
} from './overlayGeometry';

const src = { width: 640, height: 480 };

describe('fitContain', () => {
  it('fills a container of the same aspect', () => {
    expect(fitContain(src, { width: 320, height: 240 })).toEqual({ x: 0, y: 0, width: 320, height: 240, scale: 0.5 });
  });

  it('pillarboxes in a wide container (bars left and right)', () => {
    const l = fitContain(src, { width: 1000, height: 480 });
    expect(l).toEqual({ x: 180, y: 0, width: 640, height: 480, scale: 1 });
  });

  it('letterboxes in a tall container (bars top and bottom)', () => {
    const l = fitContain(src, { width: 640, height: 680 });
    expect(l).toEqual({ x: 0, y: 100, width: 640, height: 480, scale: 1 });
  });

  it('scales up and centres in a 16:10 stage', () => {
    const l = fitContain(src, { width: 1280, height: 800 });
    expect(l.scale).toBeCloseTo(800 / 480);
    expect(l.height).toBeCloseTo(800);
    expect(l.width).toBeCloseTo(1066.67, 1);
    expect(l.x).toBeCloseTo((1280 - 1066.67) / 2, 1);
    expect(l.y).toBe(0);
  });

  it('is empty for empty sizes', () => {
    expect(fitContain({ width: 0, height: 0 }, { width: 100, height: 100 }).scale).toBe(0);
    expect(fitContain(src, { width: 0, height: 100 }).width).toBe(0);
  });
});

describe('toDisplayRect', () => {
  it('maps a source box through the letterbox offset and scale', () => {
    const layout = fitContain(src, { width: 1000, height: 240 }); // scale 0.5, x offset 340
    expect(toDisplayRect({ x: 100, y: 40, width: 200, height: 100 }, layout, src)).toEqual({
      x: 340 + 50,
      y: 20,
      width: 100,
      height: 50,
    });
  });

  it('clips boxes that reach past the image', () => {
    const layout = fitContain(src, { width: 640, height: 480 });
    expect(toDisplayRect({ x: -10, y: 400, width: 100, height: 200 }, layout, src)).toEqual({
      x: 0,
      y: 400,
      width: 90,
      height: 80,
    });
  });

  it('follows a resize', () => {
    const box = { x: 320, y: 240, width: 64, height: 48 };
    const small = toDisplayRect(box, fitContain(src, { width: 320, height: 240 }), src);
    const large = toDisplayRect(box, fitContain(src, { width: 1280, height: 960 }), src);
    expect(small).toEqual({ x: 160, y: 120, width: 32, height: 24 });
    expect(large).toEqual({ x: 640, y: 480, width: 128, height: 96 });
  });
});

describe('xyxyToRect', () => {
  it('converts corners, in either order', () => {
    expect(xyxyToRect([10, 20, 110, 70])).toEqual({ x: 10, y: 20, width: 100, height: 50 });
    expect(xyxyToRect([110, 70, 10, 20])).toEqual({ x: 10, y: 20, width: 100, height: 50 });
  });
});

describe('toDisplayPoint', () => {
  it('maps through the letterbox offset and scale, clamped to the picture', () => {
    const layout = fitContain(src, { width: 1000, height: 240 }); // scale 0.5, x offset 340
    expect(toDisplayPoint(200, 140, layout, src)).toEqual({ x: 440, y: 70 });
    expect(toDisplayPoint(-50, 999, layout, src)).toEqual({ x: 340, y: 240 });
  });
});

describe('labels and colours', () => {
  const person = { class_id: 0, class_name: 'person', confidence: 0.87 };

  it('puts the track id before the class and confidence', () => {
    expect(detectionLabel({ ...person, track_id: 12 })).toBe('#12 person 87%');
    expect(detectionLabel(person)).toBe('person 87%');
  });

  it('colours tracked detections by track, the others by class', () => {
    expect(detectionColour(person)).toBe(classColour(0));
    expect(detectionColour({ ...person, track_id: 12 })).toBe(trackColour(12));
    expect(detectionColour({ ...person, class_id: 5, track_id: 12 })).toBe(trackColour(12));
  });

  it('gives each track a stable colour, distinct from its neighbours', () => {
    expect(trackColour(7)).toBe(trackColour(7));
    expect(trackColour(1)).toMatch(/^hsl\(\d+ 90% 60%\)$/);
    const hues = Array.from({ length: 20 }, (_, i) => Number(/hsl\((\d+)/.exec(trackColour(i + 1))?.[1]));
    expect(new Set(hues).size).toBe(20);
    for (let i = 1; i < hues.length; i++) {
      const gap = Math.abs(hues[i]! - hues[i - 1]!);
      expect(Math.min(gap, 360 - gap)).toBeGreaterThan(60);
    }
  });
});
