import type { RealtimeState } from '../realtime/RealtimeClient';
import { describeEngine, type HealthState } from './useHealth';

function ms(v: number | null): string {
  return v === null ? '—' : `${Math.round(v)} ms`;
}

export interface StreamDebugPanelProps {
  state: RealtimeState;
  /** GET /v1/health, for the inference engine; without it the engine is shown as unknown. */
  health?: HealthState;
}

/** Live numbers of the stream and the server's inference engine. Each value carries a data-testid for tests. */
export function StreamDebugPanel({ state, health }: StreamDebugPanelProps) {
  const timings = state.lastResult?.result.timings_ms;
  const rows: [string, string, string][] = [
    ['status', 'Status', state.status],
    ['pipeline', 'Pipeline', state.pipelineId ?? '—'],
    ['fps', 'FPS (processed)', state.measuredFps.toFixed(1)],
    ['target-fps', 'FPS (target)', state.targetFps.toFixed(1)],
    ['frames-sent', 'Frames sent', String(state.framesSent)],
    ['frames-processed', 'Frames processed', String(state.framesProcessed)],
    ['dropped', 'Frames dropped', String(state.droppedFrames)],
    ['drop-rate', 'Drop rate', `${(state.dropRate * 100).toFixed(0)}%`],
    ['slowdowns', 'Slow-down warnings', String(state.slowDownWarnings)],
    ['latency', 'Round trip (last)', ms(state.latencyMs)],
    ['latency-avg', 'Round trip (avg)', ms(state.avgLatencyMs)],
    ['engine', 'Engine', describeEngine(health)],
  ];
  return (
    <section className="debug" data-testid="debug-panel" aria-label="Stream debug panel">
      <dl>
        {rows.map(([id, label, value]) => (
          <div key={id} className="debug-row">
            <dt>{label}</dt>
            <dd data-testid={`debug-${id}`} data-status={id === 'status' ? value : undefined}>
              {value}
            </dd>
          </div>
        ))}
      </dl>
      {timings && Object.keys(timings).length > 0 && (
        <p className="debug-timings">
          Server: {Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(' · ')}
        </p>
      )}
    </section>
  );
}
