import type { LastResult } from '../realtime/RealtimeClient';

/** The newest result as text: detection counts and recognised text. */
export function ResultSummary({ lastResult }: { lastResult: LastResult | null }) {
  if (!lastResult) return <p className="muted">No results yet.</p>;
  const { detections, text, count } = lastResult.result;
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
