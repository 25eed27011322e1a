import { useRef } from 'react';
import type { LastResult } from '../realtime/RealtimeClient';
import { classColour, fitContain, toDisplayRect, xyxyToRect, type Size } from './overlayGeometry';
import { useElementSize } from './useElementSize';

export interface RealtimeOverlayProps {
  /** The newest processed frame; dropped frames never replace it, so the overlay is not blanked. */
  lastResult: LastResult | null;
  /** Newest answered frame index (result or drop), shown beside the drawn one. */
  lastFrameIndex?: number | null;
  /** Overrides the measured size (tests). */
  size?: Size;
}

function percent(confidence: number): string {
  return `${Math.round(confidence * 100)}%`;
}

/** Boxes, labels, confidences, OCR blocks and the frame index, drawn over the video (same box as the video). */
export function RealtimeOverlay({ lastResult, lastFrameIndex, size }: RealtimeOverlayProps) {
  const ref = useRef<HTMLDivElement>(null);
  const measured = useElementSize(ref);
  const container = size ?? measured;
  const result = lastResult?.result;
  const source = result?.image ?? { width: 0, height: 0 };
  const layout = fitContain(source, container);
  const detections = result?.detections ?? [];
  const blocks = result?.blocks ?? [];

  return (
    <div
      ref={ref}
      className="overlay"
      data-testid="overlay"
      data-frame-index={lastResult?.frameIndex ?? ''}
      data-detections={detections.map((d) => d.class_name).join(',')}
      aria-label="Analysis overlay"
    >
      {detections.map((d, i) => {
        const r = toDisplayRect(xyxyToRect(d.xyxy), layout, source);
        const colour = classColour(d.class_id);
        return (
          <div
            key={`d${i}`}
            className={r.y < 20 ? 'overlay-box label-inside' : 'overlay-box'}
            data-testid="detection"
            data-class-name={d.class_name}
            data-confidence={d.confidence.toFixed(3)}
            style={{ left: r.x, top: r.y, width: r.width, height: r.height, borderColor: colour }}
          >
            <span className="overlay-label" style={{ background: colour }}>
              {d.class_name} {percent(d.confidence)}
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
