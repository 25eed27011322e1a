// Server → client messages of the live stream (SPEC §2). Parsing is defensive: the server may add fields, and a
// malformed message must never crash the UI.

export interface ImageSize {
  width: number;
  height: number;
}

export interface Detection {
  xyxy: [number, number, number, number];
  confidence: number;
  class_id: number;
  class_name: string;
}

export interface TextBlock {
  text: string;
  confidence: number;
  bbox: { x: number; y: number; width: number; height: number };
}

export interface FrameResult {
  image: ImageSize;
  detections?: Detection[];
  count?: number;
  text?: string;
  blocks?: TextBlock[];
  timings_ms?: Record<string, number>;
}

export type ServerMessage =
  | { kind: 'result'; frameIndex: number; result: FrameResult }
  | { kind: 'dropped'; frameIndex: number }
  | { kind: 'slow_down'; dropRate?: number; suggestedFps?: number }
  | { kind: 'error'; code: string; detail: string }
  | { kind: 'unknown'; raw: unknown };

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function parseDetection(v: unknown): Detection | null {
  if (!isObject(v) || !Array.isArray(v.xyxy) || v.xyxy.length !== 4) return null;
  const coords = v.xyxy.map(num);
  const [x1, y1, x2, y2] = coords;
  if (x1 === undefined || y1 === undefined || x2 === undefined || y2 === undefined) return null;
  const classId = num(v.class_id) ?? -1;
  return {
    xyxy: [x1, y1, x2, y2],
    confidence: num(v.confidence) ?? 0,
    class_id: classId,
    class_name: typeof v.class_name === 'string' ? v.class_name : `class ${classId}`,
  };
}

function parseBlock(v: unknown): TextBlock | null {
  if (!isObject(v) || typeof v.text !== 'string' || !isObject(v.bbox)) return null;
  const x = num(v.bbox.x);
  const y = num(v.bbox.y);
  const width = num(v.bbox.width);
  const height = num(v.bbox.height);
  if (x === undefined || y === undefined || width === undefined || height === undefined) return null;
  return { text: v.text, confidence: num(v.confidence) ?? 0, bbox: { x, y, width, height } };
}

function parseTimings(v: unknown): Record<string, number> | undefined {
  if (!isObject(v)) return undefined;
  const out: Record<string, number> = {};
  for (const [k, val] of Object.entries(v)) {
    const n = num(val);
    if (n !== undefined) out[k] = n;
  }
  return out;
}

export function parseResult(v: unknown): FrameResult | null {
  if (!isObject(v) || !isObject(v.image)) return null;
  const width = num(v.image.width);
  const height = num(v.image.height);
  if (width === undefined || height === undefined || width <= 0 || height <= 0) return null;
  const result: FrameResult = { image: { width, height } };
  if (Array.isArray(v.detections)) {
    result.detections = v.detections.map(parseDetection).filter((d): d is Detection => d !== null);
  }
  const count = num(v.count);
  if (count !== undefined) result.count = count;
  if (typeof v.text === 'string') result.text = v.text;
  if (Array.isArray(v.blocks)) {
    result.blocks = v.blocks.map(parseBlock).filter((b): b is TextBlock => b !== null);
  }
  const timings = parseTimings(v.timings_ms);
  if (timings) result.timings_ms = timings;
  return result;
}

/** Parses one text message from the server. Never throws. */
export function parseServerMessage(data: string): ServerMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return { kind: 'unknown', raw: data };
  }
  if (!isObject(raw)) return { kind: 'unknown', raw };

  if (typeof raw.error === 'string') {
    return { kind: 'error', code: raw.error, detail: typeof raw.detail === 'string' ? raw.detail : '' };
  }
  if (raw.warning === 'slow_down') {
    const msg: ServerMessage = { kind: 'slow_down' };
    const dropRate = num(raw.drop_rate);
    const suggestedFps = num(raw.suggested_fps);
    if (dropRate !== undefined) msg.dropRate = dropRate;
    if (suggestedFps !== undefined) msg.suggestedFps = suggestedFps;
    return msg;
  }
  const frameIndex = num(raw.frame_index);
  if (frameIndex !== undefined) {
    if (raw.dropped === true) return { kind: 'dropped', frameIndex };
    const result = parseResult(raw.result);
    if (result) return { kind: 'result', frameIndex, result };
  }
  return { kind: 'unknown', raw };
}

/** `ws(s)://<this page's host>/ws/video/stream?pipeline_id=<id>` — never a hard-coded host. */
export function buildStreamUrl(location: Pick<Location, 'protocol' | 'host'>, pipelineId: string): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws/video/stream?pipeline_id=${encodeURIComponent(pipelineId)}`;
}
