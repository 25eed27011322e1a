import { useRef } from 'react';
import type { LastResult } from '../realtime/RealtimeClient';
import type { Detection } from '../realtime/protocol';
import type { Trails } from '../realtime/trails';
import {
  detectionColour,
  detectionLabel,
  fitContain,
  toDisplayPoint,
  toDisplayRect,
  trackColour,
  xyxyToRect,
  type ContentLayout,
  type Size,
} from './overlayGeometry';
import { useElementSize } from './useElementSize';

export interface RealtimeOverlayProps {
  /** The newest processed frame; dropped frames never replace it, so the overlay is not blanked. */
  lastResult: LastResult | null;
  /** Newest answered frame index (result or drop), shown beside the drawn one. */
  lastFrameIndex?: number | null;
  /** Recent box centres per track (live stream); drawn for the tracks in `lastResult`. */
  trails?: Trails;
  /** Overrides the measured size (tests). */
  size?: Size;
}

function percent(confidence: number): string {
  return `${Math.round(confidence * 100)}%`;
}

interface TrailLine {
  trackId: number;
  points: string;
}

/** SVG `points` of the trails of the tracks in this result that have moved (two points or more). */
function trailLines(
  trails: Trails | undefined,
  detections: readonly Detection[],
  layout: ContentLayout,
  source: Size,
): TrailLine[] {
  if (!trails || trails.size === 0 || layout.scale === 0) return [];
  const lines: TrailLine[] = [];
  const drawn = new Set<number>();
  for (const { track_id: trackId } of detections) {
    if (trackId === undefined || drawn.has(trackId)) continue;
    drawn.add(trackId);
    const points = trails.get(trackId)?.points;
    if (!points || points.length < 2) continue;
    const coords = points.map((p) => {
      const d = toDisplayPoint(p.x, p.y, layout, source);
      return `${d.x.toFixed(1)},${d.y.toFixed(1)}`;
    });
    lines.push({ trackId, points: coords.join(' ') });
  }
  return lines;
}

/**
 * Boxes, labels, confidences, track ids and trails, OCR blocks and the frame index, drawn over the video (same box
 * as the video).
 */
export function RealtimeOverlay({ lastResult, lastFrameIndex, trails, size }: RealtimeOverlayProps) {
  const ref = useRef<HTMLDivElement>(null);
  const measured = useElementSize(ref);
  const container = size ?? measured;
  const result = lastResult?.result;
  const source = result?.image ?? { width: 0, height: 0 };
  const layout = fitContain(source, container);
  const detections = result?.detections ?? [];
  const blocks = result?.blocks ?? [];
  const lines = trailLines(trails, detections, layout, source);

  return (
    <div
      ref={ref}
      className="overlay"
      data-testid="overlay"
      data-frame-index={lastResult?.frameIndex ?? ''}
      data-detections={detections.map((d) => d.class_name).join(',')}
      aria-label="Analysis overlay"
    >
      {lines.length > 0 && (
        <svg className="overlay-trails" data-testid="overlay-trails" aria-hidden="true">
          {lines.map((l) => (
            <polyline
              key={l.trackId}
              data-testid="track-trail"
              data-track-id={l.trackId}
              points={l.points}
              stroke={trackColour(l.trackId)}
            />
          ))}
        </svg>
      )}
      {detections.map((d, i) => {
        const r = toDisplayRect(xyxyToRect(d.xyxy), layout, source);
        const colour = detectionColour(d);
        return (
          <div
            key={`d${i}`}
            className={r.y < 20 ? 'overlay-box label-inside' : 'overlay-box'}
            data-testid="detection"
            data-class-name={d.class_name}
            data-confidence={d.confidence.toFixed(3)}
            data-track-id={d.track_id}
            style={{ left: r.x, top: r.y, width: r.width, height: r.height, borderColor: colour }}
          >
            <span className="overlay-label" style={{ background: colour }}>
              {detectionLabel(d)}
            </span>
          </div>
        );
      })}
      {blocks.map((b, i) => {
        const r = toDisplayRect(b.bbox, layout, source);
        return (
          <div
            key={`b${i}`}
            className="overlay-block"
            data-testid="ocr-block"
            data-text={b.text}
            title={`${b.text} (${percent(b.confidence)})`}
            style={{
              left: r.x,
              top: r.y,
              width: r.width,
              height: r.height,
              fontSize: Math.max(9, Math.min(16, r.height * 0.7)),
            }}
          >
            <span className="overlay-block-text">{b.text}</span>
          </div>
        );
      })}
      {lastResult && (
        <div className="overlay-frame" data-testid="overlay-frame-index" style={{ left: layout.x, top: layout.y }}>
          frame #{lastResult.frameIndex}
          {lastFrameIndex != null && lastFrameIndex > lastResult.frameIndex && (
            <span className="overlay-frame-skipped"> · #{lastFrameIndex} dropped</span>
          )}
        </div>
      )}
    </div>
  );
}
