import { useEffect, useMemo, useRef, useState } from 'react';
import { RealtimeOverlay } from '../components/RealtimeOverlay';
import type { LastResult } from '../realtime/RealtimeClient';
import type { Detection } from '../realtime/protocol';
import { describeJobsError, getJobResults, videoFileUrl, type FrameResultItem, type JobResults } from './api';
import { resultIndexAt } from './frameAt';
import { JobTracks } from './JobTracks';

export interface JobResultsViewProps {
  jobId: string;
  /** Shown in the heading. */
  fileName?: string;
  onClose: () => void;
}

type Load =
  | { kind: 'loading' }
  | { kind: 'error'; title: string; message: string; detail: string }
  | { kind: 'ready'; data: JobResults };

function percent(confidence: number): string {
  return `${Math.round(confidence * 100)}%`;
}

/** `motorcycle #3 87%` for a tracked detection, `motorcycle 87%` otherwise. */
function detectionText(d: Detection): string {
  const id = d.track_id === undefined ? '' : ` #${d.track_id}`;
  return `${d.class_name}${id} ${percent(d.confidence)}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

interface Columns {
  detections: boolean;
  text: boolean;
}

interface FrameRowProps {
  item: FrameResultItem;
  current: boolean;
  columns: Columns;
  onSeek: () => void;
}

function FrameRow({ item, current, columns, onSeek }: FrameRowProps) {
  const detections = item.result.detections ?? [];
  const blocks = item.result.blocks ?? [];
  const text = item.result.text ?? blocks.map((b) => b.text).join('\n');
  return (
    <tr
      className={current ? 'current' : undefined}
      aria-current={current ? 'true' : undefined}
      data-testid="result-row"
      data-frame-index={item.frame_index}
    >
      <td>
        <button type="button" className="ghost link" onClick={onSeek} aria-label={`Show frame ${item.frame_index}`}>
          #{item.frame_index}
        </button>
      </td>
      <td className="num">{seconds(item.timestamp_ms)}</td>
      {columns.detections && (
        <td>
          {detections.length === 0 && <span className="muted">none</span>}
          {detections.map((d, i) => (
            <span
              key={i}
              className="result-detection"
              data-testid="result-detection"
              data-class-name={d.class_name}
              data-confidence={d.confidence.toFixed(3)}
              data-track-id={d.track_id}
            >
              {detectionText(d)}
            </span>
          ))}
        </td>
      )}
      {columns.text && (
        <td>
          {text ? (
            <span className="result-text" data-testid="result-text">
              {text}
            </span>
          ) : (
            <span className="muted">none</span>
          )}
        </td>
      )}
    </tr>
  );
}

/**
 * A completed job's results: the uploaded video with the boxes and labels of the result at the playback position
 * (the latest result at or before `currentTime`), the job's tracks (tracked pipelines only) and the per-frame list
 * of detections (with their track ids) and recognised text.
 */
export function JobResultsView({ jobId, fileName, onClose }: JobResultsViewProps) {
  const [load, setLoad] = useState<Load>({ kind: 'loading' });
  // Index into `results` of the shown frame; null until the video reports its position (then: time 0).
  const [index, setIndex] = useState<number | null>(null);
  const [playing, setPlaying] = useState(false);
  const videoRef = useRef<HTMLVideoElement>(null);

  useEffect(() => {
    const controller = new AbortController();
    getJobResults(jobId, controller.signal)
      .then((data) => {
        setLoad({ kind: 'ready', data });
      })
      .catch((err: unknown) => {
        if (controller.signal.aborted) return;
        const { title, message, detail } = describeJobsError(err);
        setLoad({ kind: 'error', title, message, detail });
      });
    return () => {
      controller.abort();
    };
  }, [jobId]);

  const results = useMemo(() => (load.kind === 'ready' ? load.data.results : []), [load]);
  // Only the columns the pipeline answers (detections for yolo, text for ocr, both for yolo_ocr).
  const columns = useMemo<Columns>(
    () => ({
      detections: results.some((r) => r.result.detections !== undefined),
      text: results.some((r) => r.result.text !== undefined || r.result.blocks !== undefined),
    }),
    [results],
  );

  // Follow the video clock: every animation frame while playing; timeupdate/seeked otherwise.
  useEffect(() => {
    const video = videoRef.current;
    if (!playing || !video) return undefined;
    let handle = 0;
    const tick = () => {
      setIndex(resultIndexAt(results, video.currentTime * 1000));
      handle = requestAnimationFrame(tick);
    };
    handle = requestAnimationFrame(tick);
    return () => {
      cancelAnimationFrame(handle);
    };
  }, [playing, results]);

  const sync = () => {
    const video = videoRef.current;
    if (video) setIndex(resultIndexAt(results, video.currentTime * 1000));
  };

  const seek = (item: FrameResultItem) => {
    const video = videoRef.current;
    if (video) {
      video.pause();
      video.currentTime = item.timestamp_ms / 1000;
    }
    setIndex(resultIndexAt(results, item.timestamp_ms));
  };

  // A track's frame: that frame's result, else the next analysed one.
  const seekFrame = (frameIndex: number) => {
    const item = results.find((r) => r.frame_index === frameIndex) ?? results.find((r) => r.frame_index > frameIndex);
    if (item) seek(item);
  };

  const shown = index ?? resultIndexAt(results, 0);
  const current = results[shown] ?? null;
  const lastResult: LastResult | null = current
    ? { frameIndex: current.frame_index, result: current.result, receivedAt: 0 }
    : null;
  const source = load.kind === 'ready' ? (load.data.video ?? results[0]?.result.image ?? null) : null;
  const tracks = load.kind === 'ready' ? (load.data.tracks ?? []) : [];

  return (
    <section className="job-results" data-testid="job-results" data-job-id={jobId} aria-label="Job results">
      <div className="job-results-head">
        <h3>
          Results{fileName ? `: ${fileName}` : ''}
          {load.kind === 'ready' && (
            <span className="muted">
              {' '}
              · {load.data.pipeline_id} · {results.length} frame{results.length === 1 ? '' : 's'} analysed
            </span>
          )}
        </h3>
        <button type="button" onClick={onClose} data-testid="job-results-close">
          Close
        </button>
      </div>
      {load.kind === 'loading' && <p className="muted">Loading results…</p>}
      {load.kind === 'error' && (
        <div className="banner" role="alert" data-testid="job-results-error">
          <div className="banner-text">
            <strong>{load.title}</strong>
            <span>{load.message}</span>
            {load.detail && <span className="banner-detail">{load.detail}</span>}
          </div>
        </div>
      )}
      {load.kind === 'ready' && (
        <div className="results-body">
          <div
            className="stage"
            style={source ? { aspectRatio: `${source.width} / ${source.height}` } : undefined}
            data-testid="job-stage"
          >
            <video
              ref={videoRef}
              className="stage-video"
              src={videoFileUrl(jobId)}
              controls
              muted
              playsInline
              preload="auto"
              data-testid="job-video"
              onLoadedData={sync}
              onTimeUpdate={sync}
              onSeeked={sync}
              onPlay={() => {
                setPlaying(true);
              }}
              onPause={() => {
                setPlaying(false);
                sync();
              }}
              onEnded={() => {
                setPlaying(false);
                sync();
              }}
            />
            <RealtimeOverlay lastResult={lastResult} />
          </div>
          <div className="results-side">
            {tracks.length > 0 && <JobTracks tracks={tracks} onSeekFrame={seekFrame} />}
            <div className="results-table-wrap">
              {results.length === 0 ? (
                <p className="muted">No frames were analysed.</p>
              ) : (
                <table className="results-table" data-testid="results-table">
                  <thead>
                    <tr>
                      <th scope="col">Frame</th>
                      <th scope="col">Time</th>
                      {columns.detections && <th scope="col">Detections</th>}
                      {columns.text && <th scope="col">Text</th>}
                    </tr>
                  </thead>
                  <tbody>
                    {results.map((item, i) => (
                      <FrameRow
                        key={`${item.frame_index}-${item.timestamp_ms}`}
                        item={item}
                        current={i === shown}
                        columns={columns}
                        onSeek={() => {
                          seek(item);
                        }}
                      />
                    ))}
                  </tbody>
                </table>
              )}
            </div>
          </div>
        </div>
      )}
    </section>
  );
}
