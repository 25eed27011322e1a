import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { RealtimeClient } from '../realtime/RealtimeClient';
import { StreamDebugPanel } from './StreamDebugPanel';

describe('StreamDebugPanel', () => {
  it('shows status, FPS, drop rate, slow-downs and latency', () => {
    const state = {
      ...new RealtimeClient().getSnapshot(),
      status: 'connected' as const,
      measuredFps: 12.34,
      framesProcessed: 42,
      dropRate: 0.25,
      slowDownWarnings: 2,
      latencyMs: 38.6,
      avgLatencyMs: null,
    };
    render(<StreamDebugPanel state={state} />);
    expect(screen.getByTestId('debug-status').textContent).toBe('connected');
    expect(screen.getByTestId('debug-fps').textContent).toBe('12.3');
    expect(screen.getByTestId('debug-frames-processed').textContent).toBe('42');
    expect(screen.getByTestId('debug-drop-rate').textContent).toBe('25%');
    expect(screen.getByTestId('debug-slowdowns').textContent).toBe('2');
    expect(screen.getByTestId('debug-latency').textContent).toBe('39 ms');
    expect(screen.getByTestId('debug-latency-avg').textContent).toBe('—');
  });
});
