import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  deleteJob,
  describeJobsError,
  getJobResults,
  getJobStatus,
  JobsApiError,
  listJobs,
  parseJobResults,
  parseJobStatus,
  parseOptionalPositiveInt,
  submitJob,
  videoFileUrl,
} from './api';
import { jsonResponse, mp4File } from '../test/fakeJobsServer';

afterEach(() => {
  vi.unstubAllGlobals();
});

function stubFetch(response: Response | (() => Promise<Response>)) {
  const fn = vi.fn<(url: string, init?: RequestInit) => Promise<Response>>(() =>
    typeof response === 'function' ? response() : Promise.resolve(response),
  );
  vi.stubGlobal('fetch', fn);
  return fn;
}

async function rejection(p: Promise<unknown>): Promise<JobsApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof JobsApiError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('submitJob', () => {
  it('POSTs a multipart body with pipeline_id, frame_stride, max_frames and the file, to a relative URL', async () => {
    const fetchMock = stubFetch(jsonResponse({ job_id: 'abc' }, 202));
    const file = mp4File('street.mp4');
    const id = await submitJob({ file, pipelineId: 'yolo', frameStride: 10, maxFrames: 5 });
    expect(id).toBe('abc');
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const [url, init] = fetchMock.mock.calls[0]!;
    expect(url).toBe('/v1/video/submit');
    expect(init?.method).toBe('POST');
    // The browser must set multipart/form-data with its boundary itself.
    expect(new Headers(init?.headers).has('content-type')).toBe(false);
    const body = init?.body;
    expect(body).toBeInstanceOf(FormData);
    const form = body as FormData;
    expect([...form.keys()]).toEqual(['pipeline_id', 'frame_stride', 'max_frames', 'file']);
    expect(form.get('pipeline_id')).toBe('yolo');
    expect(form.get('frame_stride')).toBe('10');
    expect(form.get('max_frames')).toBe('5');
    const sent = form.get('file') as File;
    expect(sent.name).toBe('street.mp4');
    expect(sent.size).toBe(file.size);
    expect(sent.type).toBe('video/mp4');
  });

  it('leaves out frame_stride and max_frames when not given (server defaults)', async () => {
    const fetchMock = stubFetch(jsonResponse({ job_id: 'abc' }, 202));
    await submitJob({ file: mp4File(), pipelineId: 'ocr', frameStride: null });
    const form = fetchMock.mock.calls[0]![1]?.body as FormData;
    expect([...form.keys()]).toEqual(['pipeline_id', 'file']);
    expect(form.get('pipeline_id')).toBe('ocr');
  });

  it("rejects with the server's error code and detail", async () => {
    stubFetch(jsonResponse({ error: 'invalid_mp4', detail: 'Invalid MP4 file' }, 400));
    const err = await rejection(submitJob({ file: mp4File(), pipelineId: 'yolo' }));
    expect(err.status).toBe(400);
    expect(err.code).toBe('invalid_mp4');
    expect(err.detail).toBe('Invalid MP4 file');
    expect(err.message).toBe('Invalid MP4 file');
  });

  it('maps a 413 without a JSON body (e.g. from a proxy) to upload_too_large', async () => {
    stubFetch(new Response('<html>Request Entity Too Large</html>', { status: 413, statusText: 'Payload Too Large' }));
    const err = await rejection(submitJob({ file: mp4File(), pipelineId: 'yolo' }));
    expect(err.code).toBe('upload_too_large');
    expect(err.detail).toBe('Payload Too Large');
  });

  it('reports an unreachable server as network_error', async () => {
    stubFetch(() => Promise.reject(new TypeError('Failed to fetch')));
    const err = await rejection(submitJob({ file: mp4File(), pipelineId: 'yolo' }));
    expect(err.status).toBe(0);
    expect(err.code).toBe('network_error');
    expect(err.detail).toContain('Failed to fetch');
  });

  it('rejects a 202 without a job id', async () => {
    stubFetch(jsonResponse({}, 202));
    const err = await rejection(submitJob({ file: mp4File(), pipelineId: 'yolo' }));
    expect(err.code).toBe('bad_response');
  });
});

describe('job queries', () => {
  const raw = {
    job_id: 'j1',
    pipeline_id: 'yolo',
    file_name: 'street.mp4',
    status: 'running',
    progress: 42,
    frame_stride: 1,
    max_frames: null,
    frames_total: 90,
    frames_processed: 38,
    detections: 51,
    text_blocks: 0,
    error_message: null,
    created_at: '2026-11-25T12:40:03.120Z',
    updated_at: '2026-11-25T12:40:05.871Z',
    some_future_field: true,
  };

  it('lists jobs from GET /v1/jobs, skipping items without a job id', async () => {
    const fetchMock = stubFetch(jsonResponse({ jobs: [raw, { status: 'pending' }] }));
    const jobs = await listJobs();
    expect(fetchMock.mock.calls[0]![0]).toBe('/v1/jobs');
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({
      job_id: 'j1',
      file_name: 'street.mp4',
      status: 'running',
      progress: 42,
      frames_total: 90,
      frames_processed: 38,
      detections: 51,
      error_message: null,
    });
  });

  it('rejects a list without "jobs"', async () => {
    stubFetch(jsonResponse({ pipelines: [] }));
    expect((await rejection(listJobs())).code).toBe('bad_response');
  });

  it('clamps progress and maps an unknown status to "unknown" (never polled forever)', () => {
    expect(parseJobStatus({ ...raw, progress: 140 })?.progress).toBe(100);
    expect(parseJobStatus({ ...raw, progress: -3 })?.progress).toBe(0);
    expect(parseJobStatus({ ...raw, status: 'paused' })?.status).toBe('unknown');
    expect(parseJobStatus({ ...raw, frames_total: null })?.frames_total).toBeNull();
  });

  it('encodes the id in status, results, delete and file URLs', async () => {
    const fetchMock = stubFetch(jsonResponse(raw));
    await getJobStatus('a/b');
    expect(fetchMock.mock.calls[0]![0]).toBe('/v1/video/status/a%2Fb');
    expect(videoFileUrl('a/b')).toBe('/v1/video/file/a%2Fb');
  });

  it('deletes with DELETE /v1/jobs/{id} and accepts 204', async () => {
    const fetchMock = stubFetch(new Response(null, { status: 204 }));
    await deleteJob('j1');
    expect(fetchMock.mock.calls[0]![0]).toBe('/v1/jobs/j1');
    expect(fetchMock.mock.calls[0]![1]?.method).toBe('DELETE');
  });

  it('rejects results of an unfinished job with job_not_completed', async () => {
    stubFetch(jsonResponse({ error: 'job_not_completed', detail: 'Job is running' }, 404));
    const err = await rejection(getJobResults('j1'));
    expect(err.code).toBe('job_not_completed');
    expect(describeJobsError(err).title).toBe('Results not ready');
  });
});

describe('parseJobResults', () => {
  const result = (name: string) => ({
    image: { width: 640, height: 480 },
    detections: [{ xyxy: [1, 2, 3, 4], confidence: 0.9, class_id: 0, class_name: name }],
  });

  it('keeps well-formed items sorted by timestamp and skips malformed ones', () => {
    const parsed = parseJobResults({
      job_id: 'j1',
      pipeline_id: 'yolo',
      video: { width: 640, height: 480, duration_ms: 5000, frames: 50 },
      results: [
        { frame_index: 10, timestamp_ms: 1000, result: result('cat') },
        { frame_index: 0, timestamp_ms: 0, result: result('person') },
        { frame_index: 20, result: result('cup') }, // no timestamp
        { frame_index: 30, timestamp_ms: 3000, result: { detections: [] } }, // no image
      ],
    });
    expect(parsed.video).toEqual({ width: 640, height: 480, duration_ms: 5000, frames: 50 });
    expect(parsed.results.map((r) => r.frame_index)).toEqual([0, 10]);
    expect(parsed.results[0]!.result.detections?.[0]?.class_name).toBe('person');
  });

  it('rejects a body without results', () => {
    expect(() => parseJobResults({ job_id: 'j1' })).toThrow(JobsApiError);
  });

  describe('tracks', () => {
    const track = (track_id: number, first_frame = 32, last_frame = 38) => ({
      track_id,
      class_id: 3,
      class_name: 'motorcycle',
      first_frame,
      last_frame,
      frames_seen: 4,
    });

    it('keeps the tracks by id', () => {
      const parsed = parseJobResults({ job_id: 'j1', results: [], tracks: [track(7), track(1, 0, 8), { ...track(2), extra: 1 }] });
      expect(parsed.tracks?.map((t) => t.track_id)).toEqual([1, 2, 7]);
      expect(parsed.tracks?.[2]).toEqual({
        track_id: 7,
        class_id: 3,
        class_name: 'motorcycle',
        first_frame: 32,
        last_frame: 38,
        frames_seen: 4,
      });
    });

    it('leaves tracks out when the body has none (a later page), and keeps an empty list', () => {
      expect(parseJobResults({ job_id: 'j1', results: [] }).tracks).toBeUndefined();
      expect(parseJobResults({ job_id: 'j1', results: [], tracks: null }).tracks).toBeUndefined();
      expect(parseJobResults({ job_id: 'j1', results: [], tracks: [] }).tracks).toEqual([]);
    });

    it('skips malformed tracks and repeated ids', () => {
      const { tracks } = parseJobResults({
        job_id: 'j1',
        results: [],
        tracks: [
          track(1),
          null,
          'track',
          { ...track(2), track_id: 0 },
          { ...track(3), track_id: -3 },
          { ...track(4), track_id: 4.5 },
          { ...track(5), track_id: '5' },
          track(6, 40, 38), // first after last
          { ...track(8), first_frame: undefined },
          { ...track(9), last_frame: -1 },
          { ...track(10), frames_seen: 'many' },
          { ...track(11), frames_seen: undefined },
          { ...track(1), class_name: 'person' }, // a second track 1
          track(12),
        ],
      });
      expect(tracks?.map((t) => t.track_id)).toEqual([1, 12]);
      expect(tracks?.[0]?.class_name).toBe('motorcycle');
    });

    it('names a track without a class name like an unnamed detection', () => {
      const { tracks } = parseJobResults({ results: [], tracks: [{ ...track(1), class_name: undefined }] });
      expect(tracks?.[0]?.class_name).toBe('class 3');
      const noClass = parseJobResults({ results: [], tracks: [{ ...track(1), class_id: undefined, class_name: undefined }] });
      expect(noClass.tracks?.[0]).toMatchObject({ class_id: -1, class_name: 'class -1' });
    });

    it('reads the tracks and the track ids of detections from GET /v1/video/results/{id}', async () => {
      const fetchMock = stubFetch(
        jsonResponse({
          job_id: 'j1',
          pipeline_id: 'yolo_track',
          results: [
            {
              frame_index: 32,
              timestamp_ms: 3200,
              result: { ...result('motorcycle'), detections: [{ ...result('motorcycle').detections[0], track_id: 7 }] },
            },
          ],
          tracks: [track(7)],
        }),
      );
      const parsed = await getJobResults('j1');
      expect(fetchMock.mock.calls[0]![0]).toBe('/v1/video/results/j1');
      expect(parsed.tracks).toEqual([track(7)]);
      expect(parsed.results[0]!.result.detections?.[0]?.track_id).toBe(7);
    });
  });
});

describe('form values and error texts', () => {
  it('parses optional positive integers', () => {
    expect(parseOptionalPositiveInt('')).toBeNull();
    expect(parseOptionalPositiveInt(' 10 ')).toBe(10);
    expect(parseOptionalPositiveInt('0')).toBeUndefined();
    expect(parseOptionalPositiveInt('-2')).toBeUndefined();
    expect(parseOptionalPositiveInt('1.5')).toBeUndefined();
    expect(parseOptionalPositiveInt('abc')).toBeUndefined();
  });

  it('gives a friendly title per server code and keeps the detail', () => {
    const tooLarge = describeJobsError(new JobsApiError(413, 'upload_too_large', 'Upload exceeds 500 MB'));
    expect(tooLarge.title).toBe('File too large');
    expect(tooLarge.detail).toBe('Upload exceeds 500 MB');
    expect(describeJobsError(new JobsApiError(400, 'invalid_mp4', 'Invalid MP4 file')).title).toBe('Not an MP4 video');
    expect(describeJobsError(new JobsApiError(500, 'internal', 'boom')).message).toContain('500');
  });
});
