// Typed client for the video jobs API (docs/jobs.md): MP4 upload, job status/list, per-frame results, delete.
// Same-origin relative URLs only. Every failure becomes a `JobsApiError` carrying the server's `error` code and
// `detail`; parsing is defensive (unknown fields are ignored, malformed items skipped).

import { parseResult, type FrameResult } from '../realtime/protocol';

export type JobState = 'pending' | 'running' | 'completed' | 'failed' | 'unknown';

export interface JobStatus {
  job_id: string;
  pipeline_id: string;
  file_name: string;
  status: JobState;
  /** 0–100. */
  progress: number;
  frame_stride: number | null;
  max_frames: number | null;
  /** Frames this job will process; null until the worker has read the video's index. */
  frames_total: number | null;
  frames_processed: number;
  detections: number;
  text_blocks: number;
  error_message: string | null;
  created_at: string;
  updated_at: string;
}

export interface FrameResultItem {
  frame_index: number;
  timestamp_ms: number;
  result: FrameResult;
}

export interface VideoInfo {
  width: number;
  height: number;
  duration_ms: number | null;
  frames: number | null;
}

/** One object followed through a job by a `track` node (pipelines with tracking, e.g. `yolo_track`). */
export interface JobTrack {
  /** The `track_id` its detections carry in the job's frame results. */
  track_id: number;
  class_id: number;
  class_name: string;
  /** The first processed frame (a `frame_index`) where the track was confirmed and matched. */
  first_frame: number;
  /** The last such frame; ≥ `first_frame`. */
  last_frame: number;
  /** Processed frames in which it was matched. */
  frames_seen: number;
}

export interface JobResults {
  job_id: string;
  pipeline_id: string;
  video: VideoInfo | null;
  /**
   * The job's tracks, by track id: present (possibly empty) on a response asked for without `after`, absent on
   * later pages and from older servers.
   */
  tracks?: JobTrack[];
  /** Sorted by timestamp, then frame index. */
  results: FrameResultItem[];
}

export interface SubmitOptions {
  file: File;
  pipelineId: string;
  /** Process every n-th frame (server default 1). */
  frameStride?: number | null;
  /** Stop after this many processed frames (server default: all). */
  maxFrames?: number | null;
}

/** '' → null (the server's default); a whole number ≥ 1 → it; anything else → undefined (invalid). */
export function parseOptionalPositiveInt(text: string): number | null | undefined {
  const t = text.trim();
  if (t === '') return null;
  if (!/^\d+$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** A failed request: `status` 0 means the server was not reached. */
export class JobsApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;

  constructor(status: number, code: string, detail: string) {
    super(detail || code);
    this.name = 'JobsApiError';
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

const STATES: readonly JobState[] = ['pending', 'running', 'completed', 'failed'];

function codeForStatus(status: number): string {
  if (status === 413) return 'upload_too_large';
  if (status === 404) return 'not_found';
  if (status === 503) return 'unavailable';
  return `http_${status}`;
}

async function errorFrom(res: Response): Promise<JobsApiError> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // Not JSON (e.g. a proxy's error page): fall back to the status code.
  }
  const code = isObject(body) ? str(body.error) : undefined;
  const detail = isObject(body) ? str(body.detail) : undefined;
  return new JobsApiError(res.status, code ?? codeForStatus(res.status), detail ?? (res.statusText || `HTTP ${res.status}`));
}

async function request(url: string, init: RequestInit = {}): Promise<Response> {
  let res: Response;
  try {
    const headers = new Headers(init.headers);
    headers.set('Accept', 'application/json');
    res = await fetch(url, { ...init, headers });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new JobsApiError(0, 'network_error', err instanceof Error ? err.message : String(err));
  }
  if (!res.ok) throw await errorFrom(res);
  return res;
}

async function json(res: Response): Promise<unknown> {
  try {
    return await res.json();
  } catch {
    throw new JobsApiError(res.status, 'bad_response', 'The server sent an unreadable answer.');
  }
}

function positiveInt(v: unknown): number | null {
  const n = num(v);
  return n !== undefined && n > 0 ? n : null;
}

/** One status object of /v1/video/status or /v1/jobs; null when it has no job id. */
export function parseJobStatus(v: unknown): JobStatus | null {
  if (!isObject(v)) return null;
  const jobId = str(v.job_id);
  if (!jobId) return null;
  const rawStatus = str(v.status);
  const status: JobState = STATES.find((s) => s === rawStatus) ?? 'unknown';
  const progress = Math.round(Math.max(0, Math.min(100, num(v.progress) ?? 0)));
  return {
    job_id: jobId,
    pipeline_id: str(v.pipeline_id) ?? '',
    file_name: str(v.file_name) ?? '',
    status,
    progress,
    frame_stride: positiveInt(v.frame_stride),
    max_frames: positiveInt(v.max_frames),
    frames_total: num(v.frames_total) ?? null,
    frames_processed: num(v.frames_processed) ?? 0,
    detections: num(v.detections) ?? 0,
    text_blocks: num(v.text_blocks) ?? 0,
    error_message: str(v.error_message) ?? null,
    created_at: str(v.created_at) ?? '',
    updated_at: str(v.updated_at) ?? '',
  };
}

/** The body of GET /v1/jobs. */
export function parseJobList(body: unknown): JobStatus[] {
  if (!isObject(body) || !Array.isArray(body.jobs)) {
    throw new JobsApiError(200, 'bad_response', 'Unexpected job list from the server.');
  }
  const list: unknown[] = body.jobs;
  return list.map(parseJobStatus).filter((j): j is JobStatus => j !== null);
}

function parseItem(v: unknown): FrameResultItem | null {
  if (!isObject(v)) return null;
  const frameIndex = num(v.frame_index);
  const timestamp = num(v.timestamp_ms);
  const result = parseResult(v.result);
  if (frameIndex === undefined || timestamp === undefined || !result) return null;
  return { frame_index: frameIndex, timestamp_ms: timestamp, result };
}

function nonNegativeInt(v: unknown): number | undefined {
  const n = num(v);
  return n !== undefined && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * One entry of `tracks`; null without a positive track id, or when its frames are not indices with first ≤ last,
 * or `frames_seen` is not a count. A missing class is named like an unnamed detection's.
 */
function parseTrack(v: unknown): JobTrack | null {
  if (!isObject(v)) return null;
  const trackId = nonNegativeInt(v.track_id);
  const first = nonNegativeInt(v.first_frame);
  const last = nonNegativeInt(v.last_frame);
  const seen = nonNegativeInt(v.frames_seen);
  if (trackId === undefined || trackId === 0 || seen === undefined) return null;
  if (first === undefined || last === undefined || first > last) return null;
  const classId = num(v.class_id) ?? -1;
  return {
    track_id: trackId,
    class_id: classId,
    class_name: str(v.class_name) ?? `class ${classId}`,
    first_frame: first,
    last_frame: last,
    frames_seen: seen,
  };
}

/** `tracks` of a results body: undefined when absent (a later page), else the well-formed ones by id, once each. */
function parseTracks(v: unknown): JobTrack[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const items: unknown[] = v;
  const byId = new Map<number, JobTrack>();
  for (const track of items.map(parseTrack)) {
    if (track && !byId.has(track.track_id)) byId.set(track.track_id, track);
  }
  return [...byId.values()].sort((a, b) => a.track_id - b.track_id);
}

/** The body of GET /v1/video/results/{id}. */
export function parseJobResults(body: unknown): JobResults {
  if (!isObject(body) || !Array.isArray(body.results)) {
    throw new JobsApiError(200, 'bad_response', 'Unexpected results from the server.');
  }
  const items: unknown[] = body.results;
  const results = items
    .map(parseItem)
    .filter((r): r is FrameResultItem => r !== null)
    .sort((a, b) => a.timestamp_ms - b.timestamp_ms || a.frame_index - b.frame_index);
  let video: VideoInfo | null = null;
  if (isObject(body.video)) {
    const width = num(body.video.width);
    const height = num(body.video.height);
    if (width !== undefined && height !== undefined && width > 0 && height > 0) {
      video = { width, height, duration_ms: num(body.video.duration_ms) ?? null, frames: num(body.video.frames) ?? null };
    }
  }
  const parsed: JobResults = { job_id: str(body.job_id) ?? '', pipeline_id: str(body.pipeline_id) ?? '', video, results };
  const tracks = parseTracks(body.tracks);
  if (tracks) parsed.tracks = tracks;
  return parsed;
}

const id = encodeURIComponent;

/** POST /v1/video/submit → the new job's id. The small fields go first, the file last. */
export async function submitJob(options: SubmitOptions, signal?: AbortSignal): Promise<string> {
  const form = new FormData();
  form.append('pipeline_id', options.pipelineId);
  if (options.frameStride != null) form.append('frame_stride', String(options.frameStride));
  if (options.maxFrames != null) form.append('max_frames', String(options.maxFrames));
  form.append('file', options.file, options.file.name);
  // No Content-Type header: the browser sets multipart/form-data with its boundary.
  const res = await request('/v1/video/submit', { method: 'POST', body: form, signal });
  const body = await json(res);
  const jobId = isObject(body) ? str(body.job_id) : undefined;
  if (!jobId) throw new JobsApiError(res.status, 'bad_response', 'The server did not return a job id.');
  return jobId;
}

/** GET /v1/jobs, newest first. */
export async function listJobs(signal?: AbortSignal): Promise<JobStatus[]> {
  return parseJobList(await json(await request('/v1/jobs', { signal })));
}

/** GET /v1/video/status/{id}. */
export async function getJobStatus(jobId: string, signal?: AbortSignal): Promise<JobStatus> {
  const status = parseJobStatus(await json(await request(`/v1/video/status/${id(jobId)}`, { signal })));
  if (!status) throw new JobsApiError(200, 'bad_response', 'Unexpected job status from the server.');
  return status;
}

/**
 * GET /v1/video/results/{id}, all frames in one answer (no `limit`/`after` paging), so `tracks` is there whenever
 * the server lists them; 404 `job_not_completed` until the job is completed.
 */
export async function getJobResults(jobId: string, signal?: AbortSignal): Promise<JobResults> {
  return parseJobResults(await json(await request(`/v1/video/results/${id(jobId)}`, { signal })));
}

/** DELETE /v1/jobs/{id} → 204. */
export async function deleteJob(jobId: string, signal?: AbortSignal): Promise<void> {
  await request(`/v1/jobs/${id(jobId)}`, { method: 'DELETE', signal });
}

/** GET /v1/video/file/{id}: the uploaded MP4, for a <video> element. */
export function videoFileUrl(jobId: string): string {
  return `/v1/video/file/${id(jobId)}`;
}

export function isActive(job: Pick<JobStatus, 'status'>): boolean {
  return job.status === 'pending' || job.status === 'running';
}

export interface ErrorText {
  title: string;
  message: string;
}

/** A friendly title and message for a failed request; the server's detail is shown beside it. */
export function describeJobsError(err: unknown): ErrorText & { detail: string; code: string } {
  if (!(err instanceof JobsApiError)) {
    const detail = err instanceof Error ? err.message : String(err);
    return { code: 'unknown', title: 'Something went wrong', message: 'The request failed.', detail };
  }
  const texts: Record<string, ErrorText> = {
    invalid_mp4: { title: 'Not an MP4 video', message: 'Choose an MP4 file (H.264 video).' },
    upload_too_large: { title: 'File too large', message: 'The video is larger than the server accepts.' },
    invalid_pipeline: { title: 'Pipeline not available', message: 'Choose another pipeline.' },
    jobs_disabled: { title: 'Uploads are turned off', message: 'This server does not process video jobs.' },
    bad_request: { title: 'Upload rejected', message: 'Check the file and the options.' },
    network_error: { title: 'Server not reachable', message: 'Check the connection and try again.' },
    job_not_completed: { title: 'Results not ready', message: 'The job has not completed.' },
    not_found: { title: 'Job not found', message: 'It may have been deleted.' },
  };
  const text = texts[err.code] ?? { title: 'Request failed', message: `The server answered ${err.status}.` };
  return { ...text, detail: err.detail, code: err.code };
}
