// End-to-end tests in a real browser: Debian's Chromium (driven by playwright-core, never a downloaded browser)
// with a fake camera playing the fixture frames, against a real `stream-server` started here.
//
//   npm run build && npm run e2e            # real server: STREAM_SERVER_BIN, default ../target/debug/stream-server
//   npm run e2e:mock                        # the same browser steps against e2e/mock-server.mjs (no inference)
//
// Environment: STREAM_SERVER_BIN, CHROMIUM_PATH (default /usr/bin/chromium), E2E_START_TIMEOUT_MS (server start,
// default 120000), E2E_RESULT_TIMEOUT_MS (first result, default 90000), E2E_JOB_TIMEOUT_MS (an uploaded video's
// job to complete, default 180000), E2E_DOCS_SCREENSHOT=0 (do not write ../docs/img/ui-live.png).
// Output: one line per test, then "e2e: N passed, M failed"; screenshots in e2e/artifacts/ (and, with the real
// server, ../docs/img/ui-live.png).

import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import {
  copyFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { makeY4mFromJpeg } from './y4m.mjs';

const execFileP = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const webDir = resolve(here, '..');
const repoDir = resolve(webDir, '..');
const distDir = join(webDir, 'dist');
const artifacts = join(here, 'artifacts');
const cacheDir = join(here, '.cache');
const fixturesDir = join(repoDir, 'fixtures');
const docsShot = join(repoDir, 'docs', 'img', 'ui-live.png');
const docsJobsShot = join(repoDir, 'docs', 'img', 'ui-jobs.png');

const useMock = process.argv.includes('--mock');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const serverBin = resolve(webDir, process.env.STREAM_SERVER_BIN ?? '../target/debug/stream-server');
const startTimeoutMs = Number(process.env.E2E_START_TIMEOUT_MS ?? 120_000);
const resultTimeoutMs = Number(process.env.E2E_RESULT_TIMEOUT_MS ?? 90_000);
const jobTimeoutMs = Number(process.env.E2E_JOB_TIMEOUT_MS ?? 180_000);
const docsScreenshot = !useMock && process.env.E2E_DOCS_SCREENSHOT !== '0';

const BASE_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];

/** @param {string} message */
function fail(message) {
  console.error(`e2e: ${message}`);
  process.exit(1);
}

// ---------------------------------------------------------------- preflight

function preflight() {
  if (!existsSync(join(distDir, 'index.html'))) fail(`no built UI in ${distDir}: run \`npm run build\` first.`);
  if (!existsSync(chromiumPath)) {
    fail(`Chromium not found at ${chromiumPath}: install Debian's package (apt-get install -y chromium) or set CHROMIUM_PATH.`);
  }
  if (!useMock && !existsSync(serverBin)) {
    fail(
      `stream-server binary not found at ${serverBin}.\n` +
        '  Build it first (cargo build --workspace from the repository root) or set STREAM_SERVER_BIN.\n' +
        '  (`npm run e2e:mock` runs the browser steps against a mock server instead.)',
    );
  }
  for (const f of ['images/astronaut_640x480.jpg', 'images/page_640x480.jpg', 'video/fixtures_640x480.mp4', 'models']) {
    if (!existsSync(join(fixturesDir, f))) fail(`fixture missing: ${join(fixturesDir, f)}`);
  }
  mkdirSync(artifacts, { recursive: true });
  mkdirSync(cacheDir, { recursive: true });
  writeFileSync(join(artifacts, 'server.log'), '');
}

// ---------------------------------------------------------------- server

/**
 * @typedef {{ addr: string, stop: () => Promise<void>, logTail: () => string }} RunningServer
 */

/** @type {string[]} */
const serverLog = [];

/**
 * Starts the real server and resolves once it logs `server_listening`.
 * @param {string} bind
 * @param {string} dataDir
 * @returns {Promise<RunningServer>}
 */
function startRealServer(bind, dataDir) {
  const args = ['--bind', bind, '--web-dir', distDir, '--models-dir', join(fixturesDir, 'models')];
  const child = spawn(serverBin, args, {
    cwd: webDir,
    env: { ...process.env, STREAM_LOG_FORMAT: 'json', STREAM_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logFile = createWriteStream(join(artifacts, 'server.log'), { flags: 'a' });
  logFile.write(`--- ${serverBin} ${args.join(' ')}\n`);
  /** @param {string} line */
  const record = (line) => {
    serverLog.push(line);
    if (serverLog.length > 200) serverLog.shift();
    logFile.write(`${line}\n`);
  };
  createInterface({ input: child.stderr }).on('line', record);
  const exited = new Promise((ok) => child.once('exit', (code, signal) => ok({ code, signal })));
  const logTail = () => serverLog.slice(-20).join('\n');

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    logFile.end();
  };

  return new Promise((ok, ko) => {
    const timer = setTimeout(() => {
      void stop();
      ko(new Error(`stream-server did not log server_listening within ${startTimeoutMs} ms.\n${logTail()}`));
    }, startTimeoutMs);
    void exited.then((/** @type {{code: number|null, signal: string|null}} */ r) => {
      clearTimeout(timer);
      ko(new Error(`stream-server exited early (code ${r.code}, signal ${r.signal}).\n${logTail()}`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      record(line);
      if (!line.includes('server_listening')) return;
      const m = /"addr":"([^"]+)"/.exec(line);
      if (!m?.[1]) return;
      clearTimeout(timer);
      ok({ addr: m[1], stop, logTail });
    });
  });
}

/**
 * @param {string} bind host:port ("127.0.0.1:0" for any free port)
 * @param {string} dataDir
 * @returns {Promise<RunningServer>}
 */
async function startServer(bind, dataDir) {
  if (!useMock) return startRealServer(bind, dataDir);
  const { startMockServer } = await import('./mock-server.mjs');
  const port = Number(bind.split(':').at(-1));
  const mock = await startMockServer({ webDir: distDir, fixturesDir, port });
  return { addr: mock.addr, stop: mock.close, logTail: () => '(mock server)' };
}

// ---------------------------------------------------------------- browser helpers

/**
 * A browser whose fake camera plays `y4m`, in a fresh profile.
 * @param {string} y4m
 */
async function launchWithCamera(y4m) {
  const userDataDir = mkdtempSync(join(tmpdir(), 'forgesyte-e2e-profile-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: [...BASE_ARGS, `--use-file-for-fake-video-capture=${y4m}`],
    viewport: { width: 1280, height: 800 },
    permissions: ['camera'],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Opens the UI, optionally with a query string, and waits for the pipeline list.
 * @param {import('playwright-core').BrowserContext} context
 * @param {string} base
 * @param {string} [query]
 */
async function openUi(context, base, query = '?debug') {
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`  [page error] ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') console.error(`  [console] ${msg.text()}`);
  });
  await page.goto(`${base}/${query}`);
  await page.locator('[data-testid="pipeline-select"] option[value="yolo"]').waitFor({ state: 'attached' });
  return page;
}

/** @param {import('playwright-core').Page} page */
async function frameIndex(page) {
  const v = await page.getByTestId('overlay').getAttribute('data-frame-index');
  return v ? Number(v) : -1;
}

/**
 * Waits until the overlay's frame index passes `after`.
 * @param {import('playwright-core').Page} page
 * @param {number} after
 * @param {number} timeout
 */
async function waitForFrameAfter(page, after, timeout) {
  await page.waitForFunction(
    (n) => Number(document.querySelector('[data-testid="overlay"]')?.getAttribute('data-frame-index') || -1) > n,
    after,
    { timeout },
  );
  return frameIndex(page);
}

/**
 * @param {boolean} condition
 * @param {string} message
 * @returns {asserts condition}
 */
function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/**
 * The debug panel names the server's inference engine (from GET /v1/health).
 * @param {import('playwright-core').Page} page
 */
async function expectEngine(page) {
  const engine = page.getByTestId('debug-engine');
  await engine
    .filter({ hasText: /onnxruntime|tract/ })
    .waitFor({ timeout: 10_000 })
    .catch(async () => {
      const shown = await engine.textContent({ timeout: 1_000 }).catch(() => null);
      throw new Error(`debug panel engine is ${JSON.stringify(shown)}, expected onnxruntime or tract`);
    });
}

/**
 * The overlay's frame index and its person boxes (track id, confidence, label), read at one moment.
 * @param {import('playwright-core').Page} page
 */
function personBoxes(page) {
  return page.evaluate(() => {
    const overlay = document.querySelector('[data-testid="overlay"]');
    const boxes = [...(overlay?.querySelectorAll('[data-testid="detection"][data-class-name="person"]') ?? [])];
    return {
      frame: Number(overlay?.getAttribute('data-frame-index') || -1),
      people: boxes.map((b) => ({
        trackId: b.getAttribute('data-track-id'),
        confidence: Number(b.getAttribute('data-confidence')),
        label: b.textContent ?? '',
      })),
    };
  });
}

/**
 * Uploads the fixture MP4 with `pipeline` and `frameStride`, then follows the new job's progress bar until the job
 * finishes: it must complete, its progress never go back and end at 100.
 * @param {import('playwright-core').Page} page
 * @param {string} pipeline
 * @param {number} frameStride
 * @returns {Promise<{ jobId: string, job: import('playwright-core').Locator }>}
 */
async function uploadFixtureVideo(page, pipeline, frameStride) {
  const video = join(fixturesDir, 'video/fixtures_640x480.mp4');
  await page.locator(`[data-testid="upload-pipeline"] option[value="${pipeline}"]`).waitFor({ state: 'attached' });
  await page.getByTestId('upload-pipeline').selectOption(pipeline);
  await page.getByTestId('upload-file').setInputFiles(video);
  await page.getByTestId('upload-frame-stride').fill(String(frameStride));
  // The new job's id comes from the submit response: earlier tests' jobs of the same file are listed too.
  const submitted = page.waitForResponse(
    (r) => r.url().endsWith('/v1/video/submit') && r.request().method() === 'POST',
    { timeout: 30_000 },
  );
  await page.getByTestId('upload-submit').click();
  const response = await submitted;
  if (response.status() !== 202) {
    throw new Error(`upload rejected: ${response.status()} ${await response.text()}`);
  }
  /** @type {{ job_id?: unknown }} */
  const body = await response.json();
  const jobId = typeof body.job_id === 'string' ? body.job_id : '';
  assert(jobId !== '', `the submit response has no job id: ${JSON.stringify(body)}`);
  const job = page.locator(`[data-testid="job"][data-job-id="${jobId}"]`);
  await job.filter({ hasText: 'fixtures_640x480.mp4' }).waitFor({ timeout: 30_000 });

  // Follow the progress bar until the job finishes: it never goes back, and ends at 100 when completed.
  /** @type {number[]} */
  const seen = [];
  const deadline = Date.now() + jobTimeoutMs;
  /** @type {string} */
  let status;
  for (;;) {
    status = (await job.getAttribute('data-status')) ?? '';
    const now = Number(await job.getByRole('progressbar').getAttribute('aria-valuenow'));
    if (seen.at(-1) !== now) seen.push(now);
    if (status === 'completed' || status === 'failed') break;
    assert(Date.now() < deadline, `job ${jobId} still ${status} after ${jobTimeoutMs} ms (progress ${seen.join(' → ')})`);
    await page.waitForTimeout(100);
  }
  if (status === 'failed') {
    throw new Error(`job failed: ${await job.getByTestId('job-error').textContent()}`);
  }
  assert(
    seen.every((v, i) => i === 0 || v >= (seen[i - 1] ?? 0)),
    `progress went backwards: ${seen.join(' → ')}`,
  );
  assert(seen.at(-1) === 100, `completed job shows progress ${seen.at(-1)} (seen ${seen.join(' → ')})`);
  assert((await page.getByTestId('upload-error').count()) === 0, 'an upload error is shown');
  return { jobId, job };
}

/**
 * Waits until the results view's video has its metadata (so seeking works).
 * @param {import('playwright-core').Locator} player
 */
async function videoLoaded(player) {
  await player.evaluate(
    (el) =>
      new Promise((ok, ko) => {
        const v = /** @type {HTMLVideoElement} */ (el);
        if (v.readyState >= 1) ok(undefined);
        v.addEventListener('loadedmetadata', () => ok(undefined), { once: true });
        v.addEventListener('error', () => ko(new Error(`video error: ${v.error?.message ?? v.error?.code}`)), { once: true });
        setTimeout(() => ko(new Error(`video not loaded (readyState ${v.readyState})`)), 30_000);
      }),
  );
}

// ---------------------------------------------------------------- tests

/** @type {{ name: string, ok: boolean, ms: number, error?: string }[]} */
const results = [];

/**
 * @param {string} name
 * @param {() => Promise<void>} fn
 */
async function test(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true, ms: Date.now() - t0 });
    console.log(`✔ ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    results.push({ name, ok: false, ms: Date.now() - t0, error });
    console.log(`✖ ${name} (${Date.now() - t0} ms)\n  ${error.split('\n').join('\n  ')}`);
  }
}

/**
 * @param {import('playwright-core').Page} page
 * @param {string} name
 */
async function shot(page, name) {
  const file = join(artifacts, name);
  await page.screenshot({ path: file });
  return file;
}

async function main() {
  preflight();
  console.log(`e2e: ${useMock ? 'mock server' : serverBin}, Chromium ${chromiumPath}`);

  // Fake-camera clips, decoded from the fixture JPEGs by Chromium itself.
  const decoder = await chromium.launch({ executablePath: chromiumPath, headless: true, args: BASE_ARGS.slice(0, 6) });
  const astronautY4m = await makeY4mFromJpeg(
    decoder,
    join(fixturesDir, 'images/astronaut_640x480.jpg'),
    join(cacheDir, 'astronaut_640x480.y4m'),
  );
  const pageY4m = await makeY4mFromJpeg(decoder, join(fixturesDir, 'images/page_640x480.jpg'), join(cacheDir, 'page_640x480.y4m'));
  await decoder.close();

  const dataDir = mkdtempSync(join(tmpdir(), 'forgesyte-e2e-data-'));
  let server = await startServer('127.0.0.1:0', dataDir);
  let base = `http://${server.addr}`;
  console.log(`e2e: server listening on ${server.addr}`);

  const camA = await launchWithCamera(astronautY4m);
  const camB = await launchWithCamera(pageY4m);
  try {
    /** The streaming page of the first test, reused by the restart test. */
    const shared = { live: /** @type {import('playwright-core').Page | null} */ (null) };

    await test('yolo: a person box is drawn over the live video and frame indices advance', async () => {
      const page = await openUi(camA.context, base);
      shared.live = page;
      await page.getByTestId('pipeline-select').selectOption('yolo');
      await page.getByTestId('start').click();
      await page.locator('[data-testid="stage"][data-playing="true"]').waitFor({ timeout: 15_000 });
      await page
        .locator('[data-testid="detection"][data-class-name="person"]')
        .first()
        .waitFor({ timeout: resultTimeoutMs });
      const first = await frameIndex(page);
      const later = await waitForFrameAfter(page, first, 30_000);
      assert(later > first, `frame index did not advance (${first} → ${later})`);
      const processed = Number(await page.getByTestId('debug-frames-processed').textContent());
      assert(processed > 0, `debug panel shows ${processed} frames processed`);
      const status = await page.getByTestId('debug-status').textContent();
      assert(status === 'connected', `debug panel status is ${status}`);
      await expectEngine(page);
      assert((await page.getByTestId('error-banner').count()) === 0, 'an error banner is shown');
      const file = await shot(page, 'live.png');
      if (docsScreenshot) {
        mkdirSync(dirname(docsShot), { recursive: true });
        copyFileSync(file, docsShot);
      }
    });

    await test('stopping the server shows the banner; Retry recovers after a restart', async () => {
      const page = shared.live;
      assert(page !== null, 'needs the live page of the first test');
      const port = server.addr.split(':').at(-1);
      await server.stop();
      // Graceful shutdown closes sessions with 1001 (the client reports connection_lost); accept any code.
      await page.getByTestId('error-banner').waitFor({ timeout: 15_000 });
      await shot(page, 'server-stopped.png');
      server = await startServer(`127.0.0.1:${port}`, dataDir);
      base = `http://${server.addr}`;
      const before = await frameIndex(page);
      await page.getByTestId('error-action').click();
      await page.getByTestId('error-banner').waitFor({ state: 'detached', timeout: resultTimeoutMs });
      // A new session counts frames from 0 again: wait for any fresh result.
      await page.waitForFunction(
        () => Number(document.querySelector('[data-testid="debug-frames-processed"]')?.textContent ?? 0) > 0,
        undefined,
        { timeout: resultTimeoutMs },
      );
      assert(
        (await page.locator('[data-testid="detection"][data-class-name="person"]').count()) > 0,
        `no person box after recovery (frame index before: ${before})`,
      );
      // Retry also checks /v1/health again; the restarted server's engine is shown.
      await expectEngine(page);
      await shot(page, 'recovered.png');
    });
    // One stream at a time from here on: inference shares the machine's cores.
    await shared.live?.close();

    await test('an unknown pipeline from the URL shows the invalid_pipeline banner', async () => {
      const page = await openUi(camA.context, base, '?pipeline=no_such_pipeline&debug');
      await page.getByTestId('start').click();
      const banner = page.locator('[data-testid="error-banner"][data-error-code="invalid_pipeline"]');
      await banner.waitFor({ timeout: 15_000 });
      const text = await banner.textContent();
      assert(text?.includes('Pipeline not available') ?? false, `banner text: ${text}`);
      await shot(page, 'invalid-pipeline.png');
      // Choosing a real pipeline recovers.
      await page.getByTestId('pipeline-select').selectOption('yolo');
      await page.locator('[data-testid="detection"]').first().waitFor({ timeout: resultTimeoutMs });
      await banner.waitFor({ state: 'detached', timeout: 10_000 });
      await page.close();
    });

    await test('ocr: text from the page frame is shown', async () => {
      const page = await openUi(camB.context, base);
      await page.getByTestId('pipeline-select').selectOption('ocr');
      await page.getByTestId('start').click();
      const block = page.locator('[data-testid="ocr-block"]').first();
      await block.waitFor({ timeout: resultTimeoutMs });
      const text = ((await page.getByTestId('ocr-text').textContent()) ?? '').toLowerCase();
      const expected = readFileSync(join(fixturesDir, 'expected/page_640x480.text.txt'), 'utf8').toLowerCase();
      const words = [...new Set(expected.match(/[a-z]{6,}/g) ?? [])];
      const found = words.filter((w) => text.includes(w));
      assert(
        found.length >= Math.ceil(words.length / 2),
        `recognised text has ${found.length}/${words.length} of the page's longer words:\n${text.slice(0, 400)}`,
      );
      await shot(page, 'ocr.png');
      await page.close();
    });

    await test('yolo_track: the person box over the still astronaut keeps its track id', async () => {
      const page = await openUi(camA.context, base, '?pipeline=yolo_track&debug');
      const chosen = await page.getByTestId('pipeline-select').inputValue();
      assert(chosen === 'yolo_track', `the URL's pipeline is not selected (${chosen})`);
      await page.getByTestId('start').click();
      // A track is confirmed (and given its id) when matched again: wait for a labelled, tracked person box.
      await page
        .locator('[data-testid="overlay"] [data-testid="detection"][data-class-name="person"][data-track-id]')
        .first()
        .waitFor({ timeout: resultTimeoutMs });
      const start = await personBoxes(page);
      const tracked = start.people.filter((p) => p.trackId !== null).sort((a, b) => b.confidence - a.confidence);
      const trackId = tracked[0]?.trackId ?? null;
      assert(trackId !== null, `no tracked person at frame ${start.frame}: ${JSON.stringify(start.people)}`);
      assert(
        tracked[0]?.label.includes(`#${trackId} `) ?? false,
        `the person box's label does not show #${trackId}: ${JSON.stringify(tracked[0]?.label)}`,
      );
      // The picture does not change, so the person keeps that id in every later result.
      let frame = start.frame;
      for (let n = 0; n < 3; n += 1) {
        await waitForFrameAfter(page, frame, 30_000);
        const later = await personBoxes(page);
        assert(
          later.people.some((p) => p.trackId === trackId),
          `frame ${later.frame}: the person is not track ${trackId} any more: ${JSON.stringify(later.people)}`,
        );
        frame = later.frame;
      }
      assert((await page.getByTestId('error-banner').count()) === 0, 'an error banner is shown');
      await shot(page, 'live-track.png');
      await page.close();
    });

    await test('upload: an MP4 becomes a job whose progress reaches 100% and whose results show a person box', async () => {
      const page = await openUi(camA.context, base, '');
      const { jobId, job } = await uploadFixtureVideo(page, 'yolo', 10);

      await job.getByTestId('job-view').click();
      const results = page.getByTestId('job-results');
      const firstRow = results.locator('[data-testid="result-row"][data-frame-index="0"]');
      await firstRow.waitFor({ timeout: 30_000 });
      await firstRow.locator('[data-testid="result-detection"][data-class-name="person"]').first().waitFor({ timeout: 5_000 });
      // With frame_stride 10 the analysed frames are 0, 10, 20, …
      const indices = await results.locator('[data-testid="result-row"]').evaluateAll((rows) =>
        rows.map((r) => Number(r.getAttribute('data-frame-index'))),
      );
      assert(indices[0] === 0 && indices.every((f) => f % 10 === 0), `frame indices with stride 10: ${indices.join(', ')}`);
      // Before playback the overlay shows frame 0's boxes over the uploaded video.
      await results
        .locator('[data-testid="overlay"][data-frame-index="0"] [data-testid="detection"][data-class-name="person"]')
        .first()
        .waitFor({ timeout: 5_000 });
      // The uploaded video plays from /v1/video/file/{id}, and seeking moves the overlay to the matching frame.
      const player = results.getByTestId('job-video');
      const src = await player.getAttribute('src');
      assert(src === `/v1/video/file/${jobId}`, `video src is ${src}`);
      await videoLoaded(player);
      const duration = await player.evaluate((el) => /** @type {HTMLVideoElement} */ (el).duration);
      assert(Math.abs(duration - 5) < 0.5, `video duration ${duration} s, expected 5 s`);
      await player.evaluate((el) => {
        /** @type {HTMLVideoElement} */ (el).currentTime = 1.5;
      });
      await results.locator('[data-testid="overlay"][data-frame-index="10"]').waitFor({ timeout: 10_000 });
      await results.scrollIntoViewIfNeeded();
      await shot(page, 'upload-results.png');
      await page.close();
    });

    await test('upload: a yolo_track job lists a person track whose id its detections carry', async () => {
      const page = await openUi(camA.context, base, '');
      // Every second frame: an object is confirmed on its second sighting, so each scene's objects get ids.
      const { job } = await uploadFixtureVideo(page, 'yolo_track', 2);
      await job.getByTestId('job-view').click();
      const results = page.getByTestId('job-results');
      await results.getByTestId('results-table').waitFor({ timeout: 30_000 });
      const track = results.locator('[data-testid="job-track-row"][data-class-name="person"]').first();
      await track.waitFor({ timeout: 5_000 }).catch(async () => {
        const rows = await results.locator('[data-testid="job-track-row"]').evaluateAll((els) =>
          els.map((r) => `#${r.getAttribute('data-track-id')} ${r.getAttribute('data-class-name')}`),
        );
        throw new Error(`no person track; tracks: ${rows.join(', ') || 'none'}`);
      });
      const trackId = await track.getAttribute('data-track-id');
      const first = Number(await track.getAttribute('data-first-frame'));
      const last = Number(await track.getAttribute('data-last-frame'));
      assert(trackId !== null && trackId !== '', 'the track row has no id');
      assert(Number.isInteger(first) && Number.isInteger(last) && first <= last, `track #${trackId}: frames ${first} → ${last}`);
      // Its first frame is one where it was confirmed and matched: that frame's row shows the id on a person.
      await results
        .locator(
          `[data-testid="result-row"][data-frame-index="${first}"] ` +
            `[data-testid="result-detection"][data-class-name="person"][data-track-id="${trackId}"]`,
        )
        .first()
        .waitFor({ timeout: 5_000 })
        .catch(() => {
          throw new Error(`frame ${first}'s row has no person detection with track id ${trackId}`);
        });
      // Choosing the track's first frame shows that frame over the video, with the tracked box.
      await videoLoaded(results.getByTestId('job-video'));
      await track.getByTestId('job-track-first').click();
      await results
        .locator(`[data-testid="overlay"][data-frame-index="${first}"] [data-testid="detection"][data-track-id="${trackId}"]`)
        .first()
        .waitFor({ timeout: 10_000 });
      await results.getByTestId('job-tracks').scrollIntoViewIfNeeded();
      const jobsFile = await shot(page, 'upload-tracks.png');
      if (docsScreenshot) copyFileSync(jobsFile, docsJobsShot);
      await page.close();
    });

    await test("the README's WebSocket client example streams a JPEG and prints the person", async () => {
      const example = join(repoDir, 'docs/examples/client.mjs');
      const readme = readFileSync(join(repoDir, 'README.md'), 'utf8');
      assert(readme.includes(readFileSync(example, 'utf8').trim()), 'README.md must quote docs/examples/client.mjs verbatim');
      const major = Number(process.versions.node.split('.')[0]);
      const flags = major < 22 ? ['--experimental-websocket', '--no-warnings'] : [];
      const url = `ws://${server.addr}/ws/video/stream?pipeline_id=yolo`;
      const frame = join(fixturesDir, 'images/astronaut_640x480.jpg');
      const { stdout } = await execFileP(process.execPath, [...flags, example, url, frame], { timeout: 60_000 });
      assert(/^person 0\.\d\d \[/m.test(stdout), `expected a person line, got:\n${stdout}`);
    });
  } finally {
    await camA.close().catch(() => undefined);
    await camB.close().catch(() => undefined);
    await server.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }

  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  if (failed > 0 && !useMock) console.log(`server log (last lines):\n${server.logTail()}`);
  console.log(`e2e: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

main().catch((err) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  if (serverLog.length) console.error(`server log (last lines):\n${serverLog.slice(-20).join('\n')}`);
  console.log('e2e: 0 passed, 1 failed');
  process.exit(1);
});
