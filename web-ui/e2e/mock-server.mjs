// A stand-in for stream-server, for checking the UI and the e2e script when the real binary is not built.
// It follows SPEC §2/§5 in shape only: canned results, no inference. `npm run e2e` never uses it unless asked
// (`npm run e2e:mock`).

import { createServer } from 'node:http';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve } from 'node:path';
import { WebSocketServer } from 'ws';

const PIPELINES = [
  { id: 'yolo', name: 'YOLO object detection' },
  { id: 'ocr', name: 'OCR' },
  { id: 'yolo_ocr', name: 'YOLO + OCR' },
];

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
};

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

  const http = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/v1/pipelines/list') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ pipelines: PIPELINES }));
      return;
    }
    if (url.pathname === '/v1/health') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'healthy', version: 'mock', pipelines_loaded: PIPELINES.length }));
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
        if (pipelineId !== 'ocr') Object.assign(result, { detections, count: detections.length });
        if (pipelineId !== 'yolo') Object.assign(result, { text: lines.join('\n'), blocks });
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
