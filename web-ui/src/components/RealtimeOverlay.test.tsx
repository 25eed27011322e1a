import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { LastResult } from '../realtime/RealtimeClient';
import type { Detection } from '../realtime/protocol';
import { advanceTrails, EMPTY_TRAILS } from '../realtime/trails';
import { classColour, trackColour } from './overlayGeometry';
import { RealtimeOverlay } from './RealtimeOverlay';

const last: LastResult = {
  frameIndex: 12,
  receivedAt: 0,
  result: {
    image: { width: 640, height: 480 },
    detections: [{ xyxy: [100, 40, 300, 240], confidence: 0.87, class_id: 0, class_name: 'person' }],
    text: 'STOP',
    blocks: [{ text: 'STOP', confidence: 0.97, bbox: { x: 10, y: 20, width: 80, height: 24 } }],
  },
};

describe('RealtimeOverlay', () => {
  it('draws boxes, labels, confidences, OCR blocks and the frame index, scaled with letterboxing', () => {
    render(<RealtimeOverlay lastResult={last} size={{ width: 1000, height: 240 }} />);
    const box = screen.getByTestId('detection');
    expect(box.dataset.className).toBe('person');
    expect(box.textContent).toBe('person 87%');
    expect(box.style.left).toBe('390px'); // 340 letterbox offset + 100 * 0.5
    expect(box.style.top).toBe('20px');
    expect(box.style.width).toBe('100px');
    expect(box.style.height).toBe('100px');
    const block = screen.getByTestId('ocr-block');
    expect(block.dataset.text).toBe('STOP');
    expect(block.style.left).toBe('345px');
    expect(screen.getByTestId('overlay').dataset.frameIndex).toBe('12');
    expect(screen.getByTestId('overlay-frame-index').textContent).toContain('frame #12');
  });

  it('keeps the drawn result when newer frames were dropped', () => {
    render(<RealtimeOverlay lastResult={last} lastFrameIndex={14} size={{ width: 640, height: 480 }} />);
    expect(screen.getAllByTestId('detection')).toHaveLength(1);
    expect(screen.getByTestId('overlay-frame-index').textContent).toContain('#14 dropped');
  });

  it('is empty before any result', () => {
    render(<RealtimeOverlay lastResult={null} size={{ width: 640, height: 480 }} />);
    expect(screen.queryByTestId('detection')).toBeNull();
    expect(screen.queryByTestId('overlay-frame-index')).toBeNull();
  });

  describe('tracking', () => {
    const size = { width: 1000, height: 240 }; // scale 0.5, x offset 340
    const tracked = (x: number, trackId = 12): Detection => ({
      xyxy: [x, 40, x + 200, 240],
      confidence: 0.87,
      class_id: 0,
      class_name: 'person',
      track_id: trackId,
    });
    const car: Detection = { xyxy: [400, 300, 500, 400], confidence: 0.5, class_id: 2, class_name: 'car' };
    const at = (detections: Detection[]): LastResult => ({
      frameIndex: 5,
      receivedAt: 0,
      result: { image: { width: 640, height: 480 }, detections },
    });

    it('labels tracked detections with their id and colours them by track', () => {
      render(<RealtimeOverlay lastResult={at([tracked(100), car])} size={size} />);
      const [person, other] = screen.getAllByTestId('detection');
      expect(person!.textContent).toBe('#12 person 87%');
      expect(person!.dataset.trackId).toBe('12');
      expect(other!.textContent).toBe('car 50%');
      expect(other!.dataset.trackId).toBeUndefined();
      // Compared through the DOM, which may normalise the colour notation.
      const probe = document.createElement('div');
      probe.style.borderColor = trackColour(12);
      expect(person!.style.borderColor).not.toBe('');
      expect(person!.style.borderColor).toBe(probe.style.borderColor);
      probe.style.borderColor = classColour(2);
      expect(other!.style.borderColor).toBe(probe.style.borderColor);
    });

    it('draws the trail of each track in the result, in its colour', () => {
      let trails = advanceTrails(EMPTY_TRAILS, [tracked(100), tracked(0, 9)], 0);
      trails = advanceTrails(trails, [tracked(120), tracked(10, 9)], 33);
      // Track 9 is not in the drawn result: its trail is kept but not drawn.
      render(<RealtimeOverlay lastResult={at([tracked(120), car])} trails={trails} size={size} />);
      const lines = screen.getAllByTestId('track-trail');
      expect(lines).toHaveLength(1);
      const line = lines[0]!;
      expect(line.dataset.trackId).toBe('12');
      // Centres (200, 140) and (220, 140) in the source → (440, 70) and (450, 70) on screen.
      expect(line.getAttribute('points')).toBe('440.0,70.0 450.0,70.0');
      expect(line.getAttribute('stroke')).toBe(trackColour(12));
    });

    it('draws no trail for a track seen once, or without trails', () => {
      const trails = advanceTrails(EMPTY_TRAILS, [tracked(100)], 0);
      const { rerender } = render(<RealtimeOverlay lastResult={at([tracked(100)])} trails={trails} size={size} />);
      expect(screen.queryByTestId('overlay-trails')).toBeNull();
      rerender(<RealtimeOverlay lastResult={at([tracked(100)])} size={size} />);
      expect(screen.queryByTestId('track-trail')).toBeNull();
    });
  });
});
