// Test helpers: an in-memory jobs API behind a `fetch` mock (vi.stubGlobal), and job/result builders.
import { vi } from 'vitest';
import type { JobStatus } from '../jobs/api';

export function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

export function job(overrides: Partial<JobStatus> & { job_id: string }): JobStatus {
  return {
    pipeline_id: 'yolo',
    file_name: `${overrides.job_id}.mp4`,
    status: 'pending',
    progress: 0,
    frame_stride: 1,
    max_frames: null,
    frames_total: null,
    frames_processed: 0,
    detections: 0,
    text_blocks: 0,
    error_message: null,
    created_at: '2026-11-25T12:40:03.120Z',
    updated_at: '2026-11-25T12:40:03.120Z',
    ...overrides,
  };
}

export interface Call {
  url: string;
  method: string;
  body: unknown;
}

/**
 * A fake server: `jobs` is what GET /v1/jobs answers; `routes` overrides any "METHOD url". Every call is recorded.
 */
export function fakeServer(initialJobs: JobStatus[] = []) {
  const state = {
    jobs: initialJobs,
    calls: [] as Call[],
    routes: new Map<string, (call: Call) => Response | Promise<Response>>(),
    nextId: 1,
  };
  const fetchMock = vi.fn((input: string, init?: RequestInit) => {
    const call: Call = { url: input, method: init?.method ?? 'GET', body: init?.body };
    state.calls.push(call);
    const route = state.routes.get(`${call.method} ${call.url}`);
    if (route) return Promise.resolve(route(call));
    if (call.method === 'GET' && call.url === '/v1/pipelines/list') {
      return Promise.resolve(jsonResponse({ pipelines: [{ id: 'yolo', name: 'YOLO' }, { id: 'ocr', name: 'OCR' }] }));
    }
    if (call.method === 'GET' && call.url === '/v1/jobs') return Promise.resolve(jsonResponse({ jobs: state.jobs }));
    if (call.method === 'POST' && call.url === '/v1/video/submit') {
      const id = `job-${state.nextId++}`;
      const form = call.body as FormData;
      const file = form.get('file') as File;
      state.jobs = [job({ job_id: id, file_name: file.name, pipeline_id: form.get('pipeline_id') as string }), ...state.jobs];
      return Promise.resolve(jsonResponse({ job_id: id }, 202));
    }
    const del = /^\/v1\/jobs\/(.+)$/.exec(call.url);
    if (call.method === 'DELETE' && del) {
      const before = state.jobs.length;
      state.jobs = state.jobs.filter((j) => j.job_id !== del[1]);
      return Promise.resolve(
        state.jobs.length < before
          ? new Response(null, { status: 204 })
          : jsonResponse({ error: 'not_found', detail: 'No such job' }, 404),
      );
    }
    return Promise.resolve(jsonResponse({ error: 'not_found', detail: `no route ${call.method} ${call.url}` }, 404));
  });
  vi.stubGlobal('fetch', fetchMock);
  return {
    state,
    fetchMock,
    callsTo: (method: string, url: string) => state.calls.filter((c) => c.method === method && c.url === url).length,
  };
}

export function mp4File(name = 'clip.mp4'): File {
  const bytes = new Uint8Array([0, 0, 0, 0x20, 0x66, 0x74, 0x79, 0x70, 0x69, 0x73, 0x6f, 0x6d]); // ....ftypisom
  return new File([bytes], name, { type: 'video/mp4' });
}
