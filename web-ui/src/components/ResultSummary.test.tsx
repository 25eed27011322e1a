import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { LastResult } from '../realtime/RealtimeClient';
import type { FrameResult } from '../realtime/protocol';
import { ResultSummary } from './ResultSummary';

const person = { xyxy: [0, 0, 10, 10] as [number, number, number, number], confidence: 0.9, class_id: 0 };

function last(result: Omit<FrameResult, 'image'>): LastResult {
  return { frameIndex: 0, receivedAt: 0, result: { image: { width: 640, height: 480 }, ...result } };
}

describe('ResultSummary', () => {
  it('says when there is no result yet', () => {
    render(<ResultSummary lastResult={null} />);
    expect(screen.getByText('No results yet.')).toBeTruthy();
  });

  it('counts detections per class, without tracking rows for an untracked pipeline', () => {
    render(
      <ResultSummary
        lastResult={last({
          detections: [
            { ...person, class_name: 'person' },
            { ...person, class_name: 'person' },
          ],
          count: 2,
        })}
      />,
    );
    expect(screen.getByTestId('result-summary').textContent).toBe('2 detected: person ×2');
    expect(screen.queryByTestId('tracking')).toBeNull();
    expect(screen.queryByTestId('tracking-counts')).toBeNull();
  });

  it('shows the tracks seen per class and each line crossing both ways', () => {
    render(
      <ResultSummary
        lastResult={last({
          detections: [{ ...person, class_name: 'person', track_id: 4 }],
          count: 1,
          tracking: {
            counts: { person: 3, car: 2 },
            lines: [
              { id: 'A', forward: { person: 2 }, backward: { person: 1 } },
              { id: 'gate', forward: { car: 1, person: 1 }, backward: {} },
            ],
          },
        })}
      />,
    );
    const counts = screen.getByTestId('tracking-counts');
    expect(counts.textContent).toBe('Tracks seen: person 3, car 2');
    expect(counts.dataset.total).toBe('5');
    const lines = screen.getAllByTestId('tracking-line');
    expect(lines.map((l) => l.textContent)).toEqual([
      'line A: → person 2 · ← person 1',
      'line gate: → car 1, person 1 · ← 0',
    ]);
    expect(lines.map((l) => [l.dataset.lineId, l.dataset.forward, l.dataset.backward])).toEqual([
      ['A', '2', '1'],
      ['gate', '2', '0'],
    ]);
  });

  it('shows empty tracking counts and no line rows when the pipeline has no lines', () => {
    render(<ResultSummary lastResult={last({ detections: [], count: 0, tracking: { counts: {}, lines: [] } })} />);
    expect(screen.getByTestId('tracking-counts').textContent).toBe('Tracks seen: none');
    expect(screen.queryByTestId('tracking-line')).toBeNull();
  });
});
