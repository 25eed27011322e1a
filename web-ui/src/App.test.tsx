import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from './App';
import { FakeWebSocket, resultMessage } from './test/FakeWebSocket';

const clientOptions = {
  createSocket: FakeWebSocket.factory,
  buildUrl: (id: string) => `ws://test/ws/video/stream?pipeline_id=${id}`,
  settleMs: 50,
};

const pipelines = [
  { id: 'yolo', name: 'YOLO' },
  { id: 'ocr', name: 'OCR' },
  { id: 'yolo_ocr', name: 'YOLO + OCR' },
];

/** What GET /v1/health answers next: a body, or an Error for a failed request. */
let health: unknown[] = [];

beforeEach(() => {
  FakeWebSocket.reset();
  health = [{ status: 'healthy', version: '0.1.0', pipelines_loaded: 3, engine: 'onnxruntime' }];
  vi.stubGlobal(
    'fetch',
    vi.fn((url: string) => {
      if (url === '/v1/health') {
        const next = health.length > 1 ? health.shift() : health[0];
        if (next instanceof Error) return Promise.reject(next);
        return Promise.resolve({ ok: true, status: 200, json: () => Promise.resolve(next) });
      }
      // The upload panel beside the live view lists the (here: no) video jobs.
      const body = url === '/v1/jobs' ? { jobs: [] } : { pipelines };
      return Promise.resolve({ ok: true, status: 200, json: () => Promise.resolve(body) });
    }),
  );
  // A camera that never finishes starting: the stream logic is under test here, not the camera.
  Object.defineProperty(navigator, 'mediaDevices', {
    configurable: true,
    value: {
      getUserMedia: () => new Promise<MediaStream>(() => undefined),
      enumerateDevices: () => Promise.resolve([]),
    },
  });
});

afterEach(() => {
  vi.unstubAllGlobals();
});

async function ready(search = '') {
  render(<App clientOptions={clientOptions} search={search} />);
  // The live view's selector (the upload form has its own, `upload-pipeline`).
  const select = screen.getByTestId<HTMLSelectElement>('pipeline-select');
  await within(select).findByRole('option', { name: 'YOLO (yolo)' });
  return select;
}

describe('App: pipeline selector and stream', () => {
  it('lists the pipelines from /v1/pipelines/list and preselects yolo', async () => {
    const select = await ready();
    expect(fetch).toHaveBeenCalledWith('/v1/pipelines/list', expect.anything());
    expect(select.value).toBe('yolo');
    expect([...select.options].map((o) => o.value)).toEqual(['yolo', 'ocr', 'yolo_ocr']);
  });

  it('connects on Start and reconnects when the pipeline changes', async () => {
    const select = await ready();
    expect(FakeWebSocket.instances).toHaveLength(0);
    fireEvent.click(screen.getByTestId('start'));
    const first = FakeWebSocket.last();
    expect(first.url).toContain('pipeline_id=yolo');
    act(() => {
      first.serverOpen();
    });
    expect(screen.getByTestId('connection-status').dataset.status).toBe('connected');

    fireEvent.change(select, { target: { value: 'ocr' } });
    expect(first.closedByClient).toBe(true);
    const second = FakeWebSocket.last();
    expect(second.url).toContain('pipeline_id=ocr');
    expect(FakeWebSocket.instances).toHaveLength(2);

    fireEvent.click(screen.getByTestId('stop'));
    expect(second.closedByClient).toBe(true);
    expect(screen.getByTestId('connection-status').dataset.status).toBe('disconnected');
  });

  it('changing the pipeline while stopped does not connect', async () => {
    const select = await ready();
    fireEvent.change(select, { target: { value: 'ocr' } });
    expect(FakeWebSocket.instances).toHaveLength(0);
    fireEvent.click(screen.getByTestId('start'));
    expect(FakeWebSocket.last().url).toContain('pipeline_id=ocr');
  });

  it('shows invalid_pipeline for an unknown pipeline from the URL, and clears after a good pipeline works', async () => {
    const select = await ready('?pipeline=nope&debug');
    expect(select.value).toBe('nope');
    fireEvent.click(screen.getByTestId('start'));
    const bad = FakeWebSocket.last();
    expect(bad.url).toContain('pipeline_id=nope');
    act(() => {
      bad.serverOpen();
      bad.serverSend({ error: 'invalid_pipeline', detail: 'Unknown pipeline_id: nope' });
      bad.serverClose(1008);
    });
    const banner = screen.getByTestId('error-banner');
    expect(banner.dataset.errorCode).toBe('invalid_pipeline');
    expect(banner.textContent).toContain('Pipeline not available');

    // Reconnect retries the same pipeline.
    fireEvent.click(screen.getByTestId('error-action'));
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(FakeWebSocket.last().url).toContain('pipeline_id=nope');

    fireEvent.change(select, { target: { value: 'yolo' } });
    const good = FakeWebSocket.last();
    expect(good.url).toContain('pipeline_id=yolo');
    act(() => {
      good.serverOpen();
      good.serverSend(resultMessage(0));
    });
    expect(screen.queryByTestId('error-banner')).toBeNull();
    expect(screen.getByTestId('detection').dataset.className).toBe('person');
    expect(screen.getByTestId('debug-frames-processed').textContent).toBe('1');
  });

  it('toggles the debug panel', async () => {
    await ready();
    expect(screen.queryByTestId('debug-panel')).toBeNull();
    fireEvent.click(screen.getByTestId('debug-toggle'));
    expect(screen.getByTestId('debug-panel')).toBeTruthy();
    fireEvent.click(screen.getByTestId('debug-toggle'));
    expect(screen.queryByTestId('debug-panel')).toBeNull();
  });

  it('shows the engine from /v1/health in the debug panel, fetched once', async () => {
    await ready('?debug');
    await waitFor(() => {
      expect(screen.getByTestId('debug-engine').textContent).toBe('onnxruntime');
    });
    fireEvent.click(screen.getByTestId('debug-toggle'));
    fireEvent.click(screen.getByTestId('debug-toggle'));
    expect(screen.getByTestId('debug-engine').textContent).toBe('onnxruntime');
    expect(vi.mocked(fetch).mock.calls.filter(([url]) => url === '/v1/health')).toHaveLength(1);
  });

  it('shows the engine as unknown when the server does not report one', async () => {
    health = [{ status: 'healthy', version: '0.1.0', pipelines_loaded: 3 }];
    await ready('?debug');
    await waitFor(() => {
      expect(screen.getByTestId('debug-engine').textContent).toBe('unknown');
    });
  });

  it('checks /v1/health again on Retry after a connection error', async () => {
    health = [new TypeError('Failed to fetch'), { status: 'healthy', version: '0.1.0', engine: 'tract' }];
    await ready('?debug');
    await waitFor(() => {
      expect(screen.getByTestId('debug-engine').textContent).toBe('unknown (health check failed)');
    });
    fireEvent.click(screen.getByTestId('start'));
    act(() => {
      FakeWebSocket.last().serverOpen();
      FakeWebSocket.last().serverClose(1001);
    });
    expect(screen.getByTestId('error-banner').dataset.errorCode).toBe('connection_lost');
    fireEvent.click(screen.getByTestId('error-action'));
    await waitFor(() => {
      expect(screen.getByTestId('debug-engine').textContent).toBe('tract');
    });
    expect(vi.mocked(fetch).mock.calls.filter(([url]) => url === '/v1/health')).toHaveLength(2);
  });

  it('shows the camera message and stops when the camera is denied', async () => {
    Object.defineProperty(navigator, 'mediaDevices', {
      configurable: true,
      value: { getUserMedia: () => Promise.reject(new DOMException('denied', 'NotAllowedError')) },
    });
    await ready();
    fireEvent.click(screen.getByTestId('start'));
    await waitFor(() => {
      expect(screen.getByTestId('camera-error').textContent).toMatch(/denied/);
    });
    expect(screen.getByTestId('start')).toBeTruthy();
  });
});

describe('App: MP4 upload panel', () => {
  it('sits beside the live view with its own pipeline choice and the job list', async () => {
    await ready();
    const panel = screen.getByTestId('jobs-panel');
    expect(panel.contains(screen.getByTestId('pipeline-select'))).toBe(false);
    const uploadSelect = within(panel).getByTestId<HTMLSelectElement>('upload-pipeline');
    await within(uploadSelect).findByRole('option', { name: 'YOLO (yolo)' });
    expect(uploadSelect.value).toBe('yolo');
    await within(panel).findByTestId('jobs-empty');
    expect(fetch).toHaveBeenCalledWith('/v1/jobs', expect.anything());
  });
});
