// A stand-in for stream-server, for checking the UI and the e2e script when the real binary is not built.
// It follows SPEC §2/§5 and docs/jobs.md in shape only: canned results, no inference, no video decoding.
// `npm run e2e` never uses it unless asked (`npm run e2e:mock`).
//
// Video jobs are kept in memory. An upload is accepted when its first 64 bytes contain `ftyp`; the video is then
// assumed to be the fixture clip (FIXTURE_FRAMES frames at FIXTURE_FPS). A job is `pending` for a moment, then
// `running` with progress advancing over JOB_DURATION_MS, then `completed`; each processed frame's result is the
// canned result of the fixture image shown at that frame (astronaut, chelsea, coffee, motorcycle, page; 10 each).
//
// `yolo_track` imitates the real tracker in shape: each canned detection of a scene (live: of the astronaut) is one
// object, confirmed — given a `track_id`, stable while the scene lasts — when matched again on a later processed
// frame; ids count up from 1 in order of confirmation. A job's results list those `tracks`.

import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve } from 'node:path';
import { WebSocketServer } from 'ws';

const PIPELINES = [
  { id: 'yolo', name: 'YOLO object detection' },
  { id: 'ocr', name: 'OCR' },
  { id: 'yolo_ocr', name: 'YOLO + OCR' },
  { id: 'yolo_track', name: 'Object detection with tracking' },
];

/** @param {string} pipelineId */
const hasDetections = (pipelineId) => pipelineId !== 'ocr';
/** @param {string} pipelineId */
const hasOcr = (pipelineId) => pipelineId === 'ocr' || pipelineId === 'yolo_ocr';

/**
 * @typedef {{ xyxy: number[], confidence: number, class_id: number, class_name: string, track_id?: number }} MockDetection
 * @typedef {{
 *   track_id: number, class_id: number, class_name: string, first_frame: number, last_frame: number, frames_seen: number,
 * }} MockTrack
 */

/**
 * A `track` node over one stream: `objects` keys each canned detection (scene and position); an object gets its id
 * on its second sighting. `step` returns the detections with their ids and the `tracking` totals of the result.
 */
function createTracker() {
  /** @type {Set<string>} */
  const sighted = new Set();
  /** @type {Map<string, MockTrack>} */
  const tracks = new Map();
  return {
    /** @type {MockTrack[]} by id */
    get tracks() {
      return [...tracks.values()];
    },
    /**
     * @param {MockDetection[]} detections
     * @param {string[]} objects one key per detection
     * @param {number} frameIndex
     */
    step(detections, objects, frameIndex) {
      const out = detections.map((d, i) => {
        const key = objects[i] ?? `${i}`;
        if (!sighted.has(key)) {
          sighted.add(key); // tentative: no id yet
          return d;
        }
        let track = tracks.get(key);
        if (!track) {
          const { class_id, class_name } = d;
          track = { track_id: tracks.size + 1, class_id, class_name, first_frame: frameIndex, last_frame: frameIndex, frames_seen: 0 };
          tracks.set(key, track);
        }
        track.last_frame = frameIndex;
        track.frames_seen += 1;
        return { ...d, track_id: track.track_id };
      });
      /** @type {Record<string, number>} */
      const counts = {};
      for (const t of tracks.values()) counts[t.class_name] = (counts[t.class_name] ?? 0) + 1;
      return { detections: out, tracking: { counts, lines: [] } };
    },
  };
}

// The fixture clip ../fixtures/video/fixtures_640x480.mp4: 5 s at 10 fps, 10 frames per image.
const FIXTURE_FRAMES = 50;
const FIXTURE_FPS = 10;
const FIXTURE_SCENES = ['astronaut', 'chelsea', 'coffee', 'motorcycle_left', 'page'];
const JOB_PENDING_MS = 200;
const JOB_DURATION_MS = 2000;
const MAX_UPLOAD_BYTES = 500 * 1024 * 1024;

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
};

/**
 * @typedef {{
 *   id: string, pipelineId: string, fileName: string, data: Buffer, stride: number, maxFrames: number | null,
 *   frames: number[], createdMs: number, createdAt: string,
 * }} MockJob
 */

/**
 * @param {import('node:http').ServerResponse} res
 * @param {number} status
 * @param {unknown} [body]
 */
function sendJson(res, status, body) {
  if (body === undefined) {
    res.writeHead(status);
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/**
 * @param {import('node:http').ServerResponse} res
 * @param {number} status
 * @param {string} error
 * @param {string} detail
 */
function sendError(res, status, error, detail) {
  sendJson(res, status, { error, detail });
}

/** @param {import('node:http').IncomingMessage} req @returns {Promise<Buffer>} */
async function readBody(req) {
  /** @type {Buffer[]} */
  const chunks = [];
  for await (const chunk of req) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** @param {FormDataEntryValue | null} v @returns {number | null | undefined} null: absent, undefined: invalid */
function positiveInt(v) {
  if (v === null) return null;
  if (typeof v !== 'string' || !/^\s*\d+\s*$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/**
 * The jobs API of docs/jobs.md, in memory.
 * @param {(pipelineId: string, scene: string) => Record<string, unknown>} resultFor canned result of a fixture image
 */
function createJobsApi(resultFor) {
  /** @type {Map<string, MockJob>} */
  const jobs = new Map();

  /** @param {MockJob} job */
  const processed = (job) => {
    const elapsed = Date.now() - job.createdMs - JOB_PENDING_MS;
    if (elapsed < 0) return -1; // pending
    return Math.min(job.frames.length, Math.floor((elapsed / JOB_DURATION_MS) * job.frames.length));
  };
  /** @param {number} frameIndex */
  const sceneOf = (frameIndex) => FIXTURE_SCENES[Math.min(FIXTURE_SCENES.length - 1, Math.floor(frameIndex / 10))] ?? 'page';
  /** @param {MockJob} job @param {number} frameIndex */
  const frameResult = (job, frameIndex) => ({
    frame_index: frameIndex,
    timestamp_ms: Math.round((frameIndex * 1000) / FIXTURE_FPS),
    result: resultFor(job.pipelineId, sceneOf(frameIndex)),
  });
  /**
   * Every processed frame's result and, for `yolo_track`, the job's tracks (the job is one stream).
   * @param {MockJob} job
   */
  const jobResults = (job) => {
    const items = job.frames.map((f) => frameResult(job, f));
    if (job.pipelineId !== 'yolo_track') return { items, tracks: [] };
    const tracker = createTracker();
    for (const item of items) {
      const scene = sceneOf(item.frame_index);
      const detections = /** @type {MockDetection[]} */ (item.result.detections ?? []);
      const objects = detections.map((_, i) => `${scene}/${i}`);
      Object.assign(item.result, tracker.step(detections, objects, item.frame_index));
    }
    return { items, tracks: tracker.tracks };
  };
  /** @param {MockJob} job */
  const status = (job) => {
    const done = processed(job);
    const total = job.frames.length;
    const state = done < 0 ? 'pending' : done >= total ? 'completed' : 'running';
    const results = job.frames.slice(0, Math.max(0, done)).map((f) => frameResult(job, f).result);
    const count = (/** @type {string} */ key) =>
      results.reduce((n, r) => n + (Array.isArray(r[key]) ? /** @type {unknown[]} */ (r[key]).length : 0), 0);
    return {
      job_id: job.id,
      pipeline_id: job.pipelineId,
      file_name: job.fileName,
      status: state,
      progress: state === 'completed' ? 100 : Math.floor((Math.max(0, done) * 100) / total),
      frame_stride: job.stride,
      max_frames: job.maxFrames,
      frames_total: done < 0 ? null : total,
      frames_processed: Math.max(0, done),
      detections: count('detections'),
      text_blocks: count('blocks'),
      error_message: null,
      created_at: job.createdAt,
      updated_at: new Date(Math.min(Date.now(), job.createdMs + JOB_PENDING_MS + JOB_DURATION_MS)).toISOString(),
    };
  };

  /**
   * @param {import('node:http').IncomingMessage} req
   * @param {import('node:http').ServerResponse} res
   */
  const submit = async (req, res) => {
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('multipart/form-data')) {
      sendError(res, 400, 'bad_request', 'Expected a multipart/form-data body');
      return;
    }
    if (Number(req.headers['content-length'] ?? 0) > MAX_UPLOAD_BYTES) {
      sendError(res, 413, 'upload_too_large', 'Upload larger than 500 MB');
      req.resume();
      return;
    }
    const body = await readBody(req);
    /** @type {FormData} */
    let form;
    try {
      form = await new Request('http://mock/', { method: 'POST', headers: { 'content-type': type }, body: new Uint8Array(body) }).formData();
    } catch {
      sendError(res, 400, 'bad_request', 'Malformed multipart body');
      return;
    }
    const file = form.get('file');
    const pipelineId = form.get('pipeline_id');
    if (!(file instanceof Blob) || typeof pipelineId !== 'string' || !pipelineId) {
      sendError(res, 400, 'bad_request', 'Missing field: file and pipeline_id are required');
      return;
    }
    const data = Buffer.from(await file.arrayBuffer());
    if (!data.subarray(0, 64).includes('ftyp')) {
      sendError(res, 400, 'invalid_mp4', 'Invalid MP4 file');
      return;
    }
    if (!PIPELINES.some((p) => p.id === pipelineId)) {
      sendError(res, 400, 'invalid_pipeline', `Unknown pipeline_id: ${pipelineId}`);
      return;
    }
    const stride = positiveInt(form.get('frame_stride'));
    const maxFrames = positiveInt(form.get('max_frames'));
    if (stride === undefined || maxFrames === undefined) {
      sendError(res, 400, 'bad_request', 'frame_stride and max_frames must be positive integers');
      return;
    }
    /** @type {number[]} */
    const frames = [];
    for (let f = 0; f < FIXTURE_FRAMES; f += stride ?? 1) frames.push(f);
    if (maxFrames !== null) frames.splice(maxFrames);
    const now = Date.now();
    const job = {
      id: randomUUID(),
      pipelineId,
      fileName: 'name' in file && typeof file.name === 'string' ? file.name : 'upload.mp4',
      data,
      stride: stride ?? 1,
      maxFrames,
      frames,
      createdMs: now,
      createdAt: new Date(now).toISOString(),
    };
    jobs.set(job.id, job);
    sendJson(res, 202, { job_id: job.id });
  };

  /**
   * @param {import('node:http').IncomingMessage} req
   * @param {import('node:http').ServerResponse} res
   * @param {MockJob} job
   */
  const sendFile = (req, res, job) => {
    const size = job.data.length;
    const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    if (!m || (!m[1] && !m[2])) {
      res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': size, 'accept-ranges': 'bytes' });
      res.end(job.data);
      return;
    }
    let start = m[1] ? Number(m[1]) : size - Number(m[2]);
    let end = m[1] && m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
    start = Math.max(0, start);
    if (start > end || start >= size) {
      res.writeHead(416, { 'content-range': `bytes */${size}` });
      res.end();
      return;
    }
    end = Math.min(end, size - 1);
    res.writeHead(206, {
      'content-type': 'video/mp4',
      'content-length': end - start + 1,
      'content-range': `bytes ${start}-${end}/${size}`,
      'accept-ranges': 'bytes',
    });
    res.end(job.data.subarray(start, end + 1));
  };

  /**
   * Answers the request if it belongs to the jobs API.
   * @param {import('node:http').IncomingMessage} req
   * @param {import('node:http').ServerResponse} res
   * @param {URL} url
   * @returns {boolean}
   */
  return function handle(req, res, url) {
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path === '/v1/video/submit' && method === 'POST') {
      submit(req, res).catch((/** @type {unknown} */ err) => {
        sendError(res, 500, 'internal', String(err));
      });
      return true;
    }
    if (path === '/v1/jobs' && method === 'GET') {
      const list = [...jobs.values()].reverse().map(status);
      sendJson(res, 200, { jobs: list });
      return true;
    }
    const m = /^\/v1\/(?:video\/(status|results|file)|(jobs))\/([^/]+)$/.exec(path);
    if (!m) return false;
    const [, what, jobsPath, id] = m;
    const job = jobs.get(decodeURIComponent(id ?? ''));
    if (!job) {
      sendError(res, 404, 'not_found', `No job ${id}`);
      return true;
    }
    if (jobsPath && method === 'DELETE') {
      jobs.delete(job.id);
      sendJson(res, 204);
      return true;
    }
    if (method !== 'GET') return false;
    if (what === 'status') {
      sendJson(res, 200, status(job));
    } else if (what === 'results') {
      const s = status(job);
      if (s.status !== 'completed') {
        sendError(res, 404, 'job_not_completed', `Job is ${s.status}`);
        return true;
      }
      // The whole results in one answer (no `limit`/`after` paging here), so `tracks` is always present.
      const { items, tracks } = jobResults(job);
      sendJson(res, 200, {
        job_id: job.id,
        pipeline_id: job.pipelineId,
        created_at: s.created_at,
        updated_at: s.updated_at,
        video: { width: 640, height: 480, duration_ms: (FIXTURE_FRAMES * 1000) / FIXTURE_FPS, frames: FIXTURE_FRAMES },
        tracks,
        results: items,
      });
    } else if (what === 'file') {
      sendFile(req, res, job);
    } else {
      return false;
    }
    return true;
  };
}

/**
 * @param {{ webDir: string, fixturesDir: string, port?: number }} options
 * @returns {Promise<{ addr: string, close: () => Promise<void> }>}
 */
export async function startMockServer({ webDir, fixturesDir, port = 0 }) {
  const expected = JSON.parse(readFileSync(join(fixturesDir, 'expected/astronaut_640x480.detections.json'), 'utf8'));
  const detections = expected.by_input_size['320'];
  const lines = readFileSync(join(fixturesDir, 'expected/page_640x480.text.txt'), 'utf8').trim().split('\n');
  const blocks = lines.map((text, i) => ({
    text,
    confidence: 0.95,
    bbox: { x: 40, y: 60 + i * 22, width: Math.min(560, text.length * 9), height: 18 },
  }));
  const root = resolve(webDir);
  /** @type {Record<string, unknown[]>} */
  const sceneDetections = {};
  for (const scene of FIXTURE_SCENES) {
    const file = join(fixturesDir, `expected/${scene}_640x480.detections.json`);
    sceneDetections[scene] = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).by_input_size['320'] : [];
  }
  const handleJobs = createJobsApi((pipelineId, scene) => {
    const sceneDets = sceneDetections[scene] ?? [];
    /** @type {Record<string, unknown>} */
    const result = { image: { width: 640, height: 480 }, timings_ms: { decode: 1, detect: 20 } };
    if (hasDetections(pipelineId)) Object.assign(result, { detections: sceneDets, count: sceneDets.length });
    if (hasOcr(pipelineId)) {
      const sceneBlocks = scene === 'page' ? blocks : [];
      Object.assign(result, { text: sceneBlocks.map((b) => b.text).join('\n'), blocks: sceneBlocks });
    }
    return result;
  });

  const http = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (handleJobs(req, res, url)) return;
    if (url.pathname === '/v1/pipelines/list') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ pipelines: PIPELINES }));
      return;
    }
    if (url.pathname === '/v1/health') {
      res.writeHead(200, { 'content-type': 'application/json' });
      // `engine`: one of the real server's names (onnxruntime | tract), so the debug panel shows an engine here too.
      res.end(
        JSON.stringify({
          status: 'healthy',
          version: 'mock',
          pipelines_loaded: PIPELINES.length,
          sessions_active: wss.clients.size,
          max_sessions: 10,
          engine: 'tract',
        }),
      );
      return;
    }
    let file = normalize(join(root, url.pathname === '/' ? 'index.html' : url.pathname));
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) file = join(root, 'index.html');
    res.writeHead(200, { 'content-type': MIME[/** @type {keyof typeof MIME} */ (extname(file))] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });

  const wss = new WebSocketServer({ noServer: true });
  http.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/ws/video/stream') {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const pipelineId = url.searchParams.get('pipeline_id');
      if (!pipelineId || !PIPELINES.some((p) => p.id === pipelineId)) {
        const detail = pipelineId ? `Unknown pipeline_id: ${pipelineId}` : 'Missing pipeline_id';
        ws.send(JSON.stringify({ error: 'invalid_pipeline', detail }));
        ws.close(1008);
        return;
      }
      let frameIndex = 0;
      const tracker = pipelineId === 'yolo_track' ? createTracker() : null;
      /** @type {string[]} the fake camera shows the astronaut: the same objects in every frame */
      const objects = detections.map((/** @type {unknown} */ _, /** @type {number} */ i) => `astronaut/${i}`);
      ws.on('message', (data, isBinary) => {
        if (!isBinary) {
          ws.send(JSON.stringify({ error: 'invalid_message', detail: 'Expected binary frame payload' }));
          ws.close(1003);
          return;
        }
        const buf = Buffer.isBuffer(data) ? data : Buffer.from(/** @type {ArrayBuffer} */ (data));
        const n = buf.length;
        if (n < 4 || buf[0] !== 0xff || buf[1] !== 0xd8 || buf[n - 2] !== 0xff || buf[n - 1] !== 0xd9) {
          ws.send(JSON.stringify({ error: 'invalid_frame', detail: 'Not a valid JPEG image' }));
          ws.close(1007);
          return;
        }
        const index = frameIndex++;
        /** @type {Record<string, unknown>} */
        const result = { image: { width: 640, height: 480 }, timings_ms: { decode: 1, detect: 20 } };
        if (hasDetections(pipelineId)) Object.assign(result, { detections, count: detections.length });
        if (tracker) Object.assign(result, tracker.step(detections, objects, index));
        if (hasOcr(pipelineId)) Object.assign(result, { text: lines.join('\n'), blocks });
        setTimeout(() => {
          if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ frame_index: index, result }));
        }, 30);
      });
    });
  });

  await new Promise((ok) => http.listen(port, '127.0.0.1', () => ok(undefined)));
  const address = http.address();
  if (!address || typeof address === 'string') throw new Error('mock server has no address');
  return {
    addr: `127.0.0.1:${address.port}`,
    close: () =>
      new Promise((ok) => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        http.closeAllConnections();
        http.close(() => ok(undefined));
      }),
  };
}
