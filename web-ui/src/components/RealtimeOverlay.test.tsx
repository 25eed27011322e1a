import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { LastResult } from '../realtime/RealtimeClient';
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
});
