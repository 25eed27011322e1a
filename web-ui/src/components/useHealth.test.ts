import { act, renderHook, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { jsonResponse } from '../test/fakeJobsServer';
import { describeEngine, parseHealth, useHealth } from './useHealth';

afterEach(() => {
  vi.unstubAllGlobals();
});

function stubFetch(...responses: (Response | Error)[]) {
  const fn = vi.fn<(url: string, init?: RequestInit) => Promise<Response>>(() => {
    const next = responses.length > 1 ? responses.shift()! : responses[0]!;
    return next instanceof Error ? Promise.reject(next) : Promise.resolve(next.clone());
  });
  vi.stubGlobal('fetch', fn);
  return fn;
}

const HEALTHY = {
  status: 'healthy',
  version: '0.1.0',
  pipelines_loaded: 4,
  sessions_active: 0,
  max_sessions: 10,
  engine: 'onnxruntime',
};

describe('parseHealth', () => {
  it('reads status, version and engine', () => {
    expect(parseHealth(HEALTHY)).toEqual({ status: 'healthy', version: '0.1.0', engine: 'onnxruntime' });
    expect(parseHealth({ ...HEALTHY, engine: 'tract' }).engine).toBe('tract');
  });

  it('treats a missing engine as unknown (older servers)', () => {
    expect(parseHealth({ status: 'degraded', version: '0.1.0', pipelines_loaded: 0 })).toEqual({
      status: 'degraded',
      version: '0.1.0',
      engine: null,
    });
  });

  it('treats an engine of the wrong type, or empty, as absent', () => {
    for (const engine of [null, 1, true, {}, ['tract'], '', '   ']) {
      expect(parseHealth({ ...HEALTHY, engine }).engine).toBeNull();
    }
    expect(parseHealth({ status: 7, version: null }).status).toBeNull();
    expect(parseHealth({}).version).toBeNull();
  });

  it('rejects a body that is not an object', () => {
    for (const body of [null, 'healthy', 3, [HEALTHY]]) {
      expect(() => parseHealth(body)).toThrow('Unexpected health response');
    }
  });
});

describe('describeEngine', () => {
  const known = { status: 'healthy', version: '0.1.0', engine: 'tract' };

  it("names the engine, or says why it isn't known", () => {
    expect(describeEngine({ health: known, loading: false, error: null })).toBe('tract');
    expect(describeEngine({ health: { ...known, engine: null }, loading: false, error: null })).toBe('unknown');
    expect(describeEngine({ health: null, loading: false, error: 'HTTP 500' })).toBe('unknown (health check failed)');
    expect(describeEngine({ health: null, loading: true, error: null })).toBe('checking…');
    expect(describeEngine(undefined)).toBe('unknown');
  });

  it('keeps showing the engine while a reload is in flight', () => {
    expect(describeEngine({ health: known, loading: true, error: null })).toBe('tract');
  });
});

describe('useHealth', () => {
  it('GETs /v1/health once (no polling) and exposes the engine', async () => {
    const fetchMock = stubFetch(jsonResponse(HEALTHY));
    const { result } = renderHook(() => useHealth());
    expect(result.current.loading).toBe(true);
    await waitFor(() => {
      expect(result.current.loading).toBe(false);
    });
    expect(result.current.health?.engine).toBe('onnxruntime');
    expect(result.current.error).toBeNull();
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const [url, init] = fetchMock.mock.calls[0]!;
    expect(url).toBe('/v1/health');
    expect(new Headers(init?.headers).get('accept')).toBe('application/json');
  });

  it('reports an HTTP error, a network error and an unreadable body as a failed check', async () => {
    for (const response of [
      jsonResponse({ error: 'internal' }, 500),
      new TypeError('Failed to fetch'),
      new Response('<html>', { status: 200 }),
    ]) {
      stubFetch(response);
      const { result, unmount } = renderHook(() => useHealth());
      await waitFor(() => {
        expect(result.current.loading).toBe(false);
      });
      expect(result.current.health).toBeNull();
      expect(result.current.error).toMatch(/^Could not check the server's health/);
      unmount();
    }
  });

  it('fetches again on reload, and recovers from a failed check', async () => {
    const fetchMock = stubFetch(new TypeError('Failed to fetch'), jsonResponse({ ...HEALTHY, engine: 'tract' }));
    const { result } = renderHook(() => useHealth());
    await waitFor(() => {
      expect(result.current.error).not.toBeNull();
    });
    act(() => {
      result.current.reload();
    });
    expect(result.current.loading).toBe(true);
    await waitFor(() => {
      expect(result.current.health?.engine).toBe('tract');
    });
    expect(result.current.error).toBeNull();
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });
});
