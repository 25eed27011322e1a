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
  /** From a `track` node: the object's id in this stream, stable across frames. Absent for untracked detections. */
  track_id?: number;
}

/** Crossings of one counting line by confirmed tracks, per class name, in each direction. */
export interface TrackingLine {
  id: string;
  forward: Record<string, number>;
  backward: Record<string, number>;
}

/** What a `track` node has counted since the stream started (present only for pipelines with one). */
export interface Tracking {
  /** Per class name: confirmed tracks seen so far. */
  counts: Record<string, number>;
  lines: TrackingLine[];
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
  tracking?: Tracking;
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
  const detection: Detection = {
    xyxy: [x1, y1, x2, y2],
    confidence: num(v.confidence) ?? 0,
    class_id: classId,
    class_name: typeof v.class_name === 'string' ? v.class_name : `class ${classId}`,
  };
  const trackId = num(v.track_id);
  if (trackId !== undefined && Number.isSafeInteger(trackId) && trackId > 0) detection.track_id = trackId;
  return detection;
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

/** Per-name counts: non-negative integers only. */
function parseCounts(v: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!isObject(v)) return out;
  for (const [k, val] of Object.entries(v)) {
    const n = num(val);
    if (n !== undefined && Number.isSafeInteger(n) && n >= 0) out[k] = n;
  }
  return out;
}

function parseTrackingLine(v: unknown): TrackingLine | null {
  if (!isObject(v) || typeof v.id !== 'string') return null;
  return { id: v.id, forward: parseCounts(v.forward), backward: parseCounts(v.backward) };
}

function parseTracking(v: unknown): Tracking | undefined {
  if (!isObject(v)) return undefined;
  const lines = Array.isArray(v.lines)
    ? v.lines.map(parseTrackingLine).filter((l): l is TrackingLine => l !== null)
    : [];
  return { counts: parseCounts(v.counts), lines };
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
  const tracking = parseTracking(v.tracking);
  if (tracking) result.tracking = tracking;
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
