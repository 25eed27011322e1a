import { useCallback, useEffect, useState } from 'react';

/** The parts of GET /v1/health the UI shows. A field that is missing or of the wrong type is null. */
export interface ServerHealth {
  /** `healthy` or `degraded`. */
  status: string | null;
  version: string | null;
  /** The inference engine running the models (`onnxruntime` or `tract`); null when the server does not say. */
  engine: string | null;
}

export interface HealthState {
  /** The last answer; kept while a reload is in flight, null after a failed fetch. */
  health: ServerHealth | null;
  loading: boolean;
  error: string | null;
}

function nonEmptyString(v: unknown): string | null {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : null;
}

export function parseHealth(body: unknown): ServerHealth {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new Error('Unexpected health response');
  }
  return {
    status: 'status' in body ? nonEmptyString(body.status) : null,
    version: 'version' in body ? nonEmptyString(body.version) : null,
    engine: 'engine' in body ? nonEmptyString(body.engine) : null,
  };
}

/** The debug panel's engine text: the engine's name, or why it is not known. */
export function describeEngine(state: HealthState | undefined): string {
  if (!state) return 'unknown';
  if (state.health?.engine) return state.health.engine;
  if (state.loading) return 'checking…';
  if (state.error) return 'unknown (health check failed)';
  return 'unknown';
}

/** GET /v1/health (same origin), once on mount and again on `reload()`; never polled. */
export function useHealth(): HealthState & { reload: () => void } {
  const [state, setState] = useState<HealthState>({ health: null, loading: true, error: null });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const controller = new AbortController();
    fetch('/v1/health', { signal: controller.signal, headers: { Accept: 'application/json' } })
      .then(async (res) => {
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const health = parseHealth(await res.json());
        setState({ health, loading: false, error: null });
      })
      .catch((err: unknown) => {
        if (controller.signal.aborted) return;
        const reason = err instanceof Error ? err.message : 'unknown error';
        setState({ health: null, loading: false, error: `Could not check the server's health (${reason}).` });
      });
    return () => {
      controller.abort();
    };
  }, [attempt]);

  const reload = useCallback(() => {
    setState((s) => ({ ...s, loading: true }));
    setAttempt((n) => n + 1);
  }, []);

  return { ...state, reload };
}
