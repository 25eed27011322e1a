import type { PipelineSummary } from './usePipelines';

export interface PipelineSelectorProps {
  pipelines: PipelineSummary[];
  value: string | null;
  onChange: (pipelineId: string) => void;
  loading?: boolean;
  error?: string | null;
  /** `data-testid` of the <select> (the live view's is `pipeline-select`). */
  testId?: string;
}

/** Choice of pipeline from /v1/pipelines/list. A value the server did not list is still shown (as unknown). */
export function PipelineSelector({
  pipelines,
  value,
  onChange,
  loading = false,
  error = null,
  testId = 'pipeline-select',
}: PipelineSelectorProps) {
  const unknown = value !== null && !pipelines.some((p) => p.id === value);
  return (
    <label className="field">
      Pipeline
      <select
        data-testid={testId}
        value={value ?? ''}
        disabled={loading && pipelines.length === 0}
        onChange={(e) => {
          if (e.target.value) onChange(e.target.value);
        }}
      >
        {value === null && <option value="">{loading ? 'Loading…' : 'Choose a pipeline'}</option>}
        {pipelines.map((p) => (
          <option key={p.id} value={p.id}>
            {p.name === p.id ? p.id : `${p.name} (${p.id})`}
          </option>
        ))}
        {unknown && <option value={value}>{value} (not listed)</option>}
      </select>
      {error && (
        <span className="field-error" role="status">
          {error}
        </span>
      )}
    </label>
  );
}
