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

  describe('engine (GET /v1/health)', () => {
    const state = new RealtimeClient().getSnapshot();
    const health = { status: 'healthy', version: '0.1.0', engine: 'onnxruntime' };

    function engineRow() {
      const dd = screen.getByTestId('debug-engine');
      return `${dd.previousElementSibling?.textContent ?? ''}: ${dd.textContent}`;
    }

    it('shows the engine the server reports', () => {
      render(<StreamDebugPanel state={state} health={{ health, loading: false, error: null }} />);
      expect(engineRow()).toBe('Engine: onnxruntime');
    });

    it('shows unknown when the server does not report an engine', () => {
      render(<StreamDebugPanel state={state} health={{ health: { ...health, engine: null }, loading: false, error: null }} />);
      expect(engineRow()).toBe('Engine: unknown');
    });

    it('shows unknown, and that the check failed, when /v1/health could not be fetched', () => {
      render(
        <StreamDebugPanel
          state={state}
          health={{ health: null, loading: false, error: "Could not check the server's health (HTTP 502)." }}
        />,
      );
      expect(engineRow()).toBe('Engine: unknown (health check failed)');
    });

    it('shows checking… before the first answer, and unknown without health information', () => {
      const { rerender } = render(<StreamDebugPanel state={state} health={{ health: null, loading: true, error: null }} />);
      expect(engineRow()).toBe('Engine: checking…');
      rerender(<StreamDebugPanel state={state} />);
      expect(engineRow()).toBe('Engine: unknown');
    });
  });
});
