import type { LastResult } from '../realtime/RealtimeClient';
import type { Tracking } from '../realtime/protocol';

function total(counts: Record<string, number>): number {
  let sum = 0;
  for (const n of Object.values(counts)) sum += n;
  return sum;
}

/** `person 3, car 2`, in the server's order; `none` / `0` when empty. */
function perClass(counts: Record<string, number>, empty: string): string {
  const parts = Object.entries(counts).map(([name, n]) => `${name} ${n}`);
  return parts.length > 0 ? parts.join(', ') : empty;
}

/** A `track` node's totals: confirmed tracks per class, and each counting line's crossings both ways. */
function TrackingSummary({ tracking }: { tracking: Tracking }) {
  return (
    <div className="tracking" data-testid="tracking">
      <p data-testid="tracking-counts" data-total={total(tracking.counts)}>
        Tracks seen: {perClass(tracking.counts, 'none')}
      </p>
      {tracking.lines.map((line, i) => (
        <p
          key={i}
          data-testid="tracking-line"
          data-line-id={line.id}
          data-forward={total(line.forward)}
          data-backward={total(line.backward)}
        >
          line {line.id}: → {perClass(line.forward, '0')} · ← {perClass(line.backward, '0')}
        </p>
      ))}
    </div>
  );
}

/** The newest result as text: detection counts, tracking counts and recognised text. */
export function ResultSummary({ lastResult }: { lastResult: LastResult | null }) {
  if (!lastResult) return <p className="muted">No results yet.</p>;
  const { detections, text, count, tracking } = lastResult.result;
  const counts = new Map<string, number>();
  for (const d of detections ?? []) counts.set(d.class_name, (counts.get(d.class_name) ?? 0) + 1);
  return (
    <div className="summary" data-testid="result-summary">
      {detections && (
        <p>
          <strong>{count ?? detections.length}</strong> detected
          {counts.size > 0 && ': '}
          {[...counts].map(([name, n]) => `${name} ×${n}`).join(', ')}
        </p>
      )}
      {tracking && <TrackingSummary tracking={tracking} />}
      {text !== undefined && (
        <>
          <h3>Recognised text</h3>
          <pre className="ocr-text" data-testid="ocr-text">
            {text || '—'}
          </pre>
        </>
      )}
    </div>
  );
}
