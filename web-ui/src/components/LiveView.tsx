import { useState } from 'react';
import { useRealtime } from '../realtime/RealtimeContext';
import { CameraPreview } from './CameraPreview';
import { ErrorBanner } from './ErrorBanner';
import { PipelineSelector } from './PipelineSelector';
import { RealtimeOverlay } from './RealtimeOverlay';
import { ResultSummary } from './ResultSummary';
import { StreamDebugPanel } from './StreamDebugPanel';
import { useHealth } from './useHealth';
import { usePipelines } from './usePipelines';

export interface LiveViewProps {
  /** From the URL: `?pipeline=<id>` preselects a pipeline, `?debug` opens the debug panel. */
  initialPipeline?: string | null;
  initialDebug?: boolean;
}

function preferredPipeline(ids: string[]): string | null {
  return ids.includes('yolo') ? 'yolo' : (ids[0] ?? null);
}

/** Live camera streaming: pipeline choice, start/stop, video with overlay, error banner and debug panel. */
export function LiveView({ initialPipeline = null, initialDebug = false }: LiveViewProps) {
  const rt = useRealtime();
  const { pipelines, loading, error: listError } = usePipelines();
  // The server's engine, for the debug panel: fetched once here (not polled), again on Retry.
  const { reload: reloadHealth, ...health } = useHealth();
  const [chosen, setChosen] = useState<string | null>(initialPipeline);
  const [streaming, setStreaming] = useState(false);
  const [showDebug, setShowDebug] = useState(initialDebug);
  const pipelineId = chosen ?? preferredPipeline(pipelines.map((p) => p.id));

  const start = () => {
    if (pipelineId === null) return;
    setStreaming(true);
    rt.connect(pipelineId);
  };
  const stop = () => {
    setStreaming(false);
    rt.disconnect();
    rt.client.clearError();
  };
  const choose = (id: string) => {
    setChosen(id);
    // A change while streaming closes the current stream and opens one for the new pipeline.
    if (streaming) rt.connect(id);
  };
  const retry = () => {
    // The server may have restarted (with another engine) or come back after a failed health check.
    reloadHealth();
    if (pipelineId === null) return;
    setStreaming(true);
    rt.connect(pipelineId);
  };

  return (
    <div className="live">
      <div className="toolbar">
        <PipelineSelector
          pipelines={pipelines}
          value={pipelineId}
          onChange={choose}
          loading={loading}
          error={listError}
        />
        {streaming ? (
          <button type="button" onClick={stop} data-testid="stop">
            Stop
          </button>
        ) : (
          <button type="button" className="primary" onClick={start} disabled={pipelineId === null} data-testid="start">
            Start camera
          </button>
        )}
        <span className={`status status-${rt.status}`} data-testid="connection-status" data-status={rt.status}>
          {rt.status}
        </span>
        <button
          type="button"
          className="ghost"
          aria-expanded={showDebug}
          onClick={() => {
            setShowDebug((v) => !v);
          }}
          data-testid="debug-toggle"
        >
          {showDebug ? 'Hide debug' : 'Show debug'}
        </button>
      </div>

      <ErrorBanner error={rt.lastError} onAction={retry} onDismiss={rt.client.clearError} />

      <div className="live-body">
        <CameraPreview
          running={streaming}
          canCapture={rt.readyForFrame}
          onFrame={(jpeg) => {
            rt.sendFrame(jpeg);
          }}
          onError={() => {
            setStreaming(false);
            rt.disconnect();
          }}
          overlay={<RealtimeOverlay lastResult={rt.lastResult} lastFrameIndex={rt.lastFrameIndex} trails={rt.trails} />}
        />
        <aside className="side">
          <ResultSummary lastResult={rt.lastResult} />
          {showDebug && <StreamDebugPanel state={rt} health={health} />}
        </aside>
      </div>
    </div>
  );
}
