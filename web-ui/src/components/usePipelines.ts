import { useEffect, useState } from 'react';

export interface PipelineSummary {
  id: string;
  name: string;
}

export interface PipelinesState {
  pipelines: PipelineSummary[];
  loading: boolean;
  error: string | null;
}

export function parsePipelineList(body: unknown): PipelineSummary[] {
  if (typeof body !== 'object' || body === null || !('pipelines' in body) || !Array.isArray(body.pipelines)) {
    throw new Error('Unexpected pipeline list');
  }
  const list: unknown[] = body.pipelines;
  return list.flatMap((p) => {
    if (typeof p !== 'object' || p === null || !('id' in p) || typeof p.id !== 'string') return [];
    const name = 'name' in p && typeof p.name === 'string' ? p.name : p.id;
    return [{ id: p.id, name }];
  });
}

/** GET /v1/pipelines/list (same origin). */
export function usePipelines(): PipelinesState {
  const [state, setState] = useState<PipelinesState>({ pipelines: [], loading: true, error: null });

  useEffect(() => {
    const controller = new AbortController();
    fetch('/v1/pipelines/list', { signal: controller.signal, headers: { Accept: 'application/json' } })
      .then(async (res) => {
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const pipelines = parsePipelineList(await res.json());
        setState({ pipelines, loading: false, error: null });
      })
      .catch((err: unknown) => {
        if (controller.signal.aborted) return;
        const reason = err instanceof Error ? err.message : 'unknown error';
        setState({ pipelines: [], loading: false, error: `Could not load pipelines (${reason}).` });
      });
    return () => {
      controller.abort();
    };
  }, []);

  return state;
}
