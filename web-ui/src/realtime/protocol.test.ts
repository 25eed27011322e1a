import { describe, expect, it } from 'vitest';
import { buildStreamUrl, parseServerMessage } from './protocol';

/** A result message for frame 0 of a 640×480 image with the given fields. */
function resultOf(fields: Record<string, unknown>) {
  return { frame_index: 0, result: { image: { width: 640, height: 480 }, ...fields } };
}

describe('parseServerMessage', () => {
  it('parses a detection result', () => {
    const msg = parseServerMessage(
      JSON.stringify({
        frame_index: 3,
        result: {
          image: { width: 640, height: 480 },
          detections: [{ xyxy: [1, 2, 3, 4], confidence: 0.91, class_id: 0, class_name: 'person' }],
          count: 1,
          timings_ms: { decode: 1.1, detect: 24 },
        },
      }),
    );
    expect(msg).toEqual({
      kind: 'result',
      frameIndex: 3,
      result: {
        image: { width: 640, height: 480 },
        detections: [{ xyxy: [1, 2, 3, 4], confidence: 0.91, class_id: 0, class_name: 'person' }],
        count: 1,
        timings_ms: { decode: 1.1, detect: 24 },
      },
    });
  });

  it('parses an OCR result and ignores unknown fields', () => {
    const msg = parseServerMessage(
      JSON.stringify({
        frame_index: 0,
        extra: true,
        result: {
          image: { width: 640, height: 480 },
          text: 'STOP\nGO',
          blocks: [
            { text: 'STOP', confidence: 0.97, bbox: { x: 10, y: 20, width: 80, height: 24 }, angle: 0 },
            { text: 'broken', bbox: { x: 'a' } },
          ],
          timings_ms: { ocr: 31.5, bogus: 'x' },
        },
      }),
    );
    expect(msg.kind).toBe('result');
    if (msg.kind !== 'result') return;
    expect(msg.result.text).toBe('STOP\nGO');
    expect(msg.result.blocks).toEqual([{ text: 'STOP', confidence: 0.97, bbox: { x: 10, y: 20, width: 80, height: 24 } }]);
    expect(msg.result.timings_ms).toEqual({ ocr: 31.5 });
    expect(msg.result.detections).toBeUndefined();
  });

  it('drops malformed detections but keeps the result', () => {
    const msg = parseServerMessage(
      JSON.stringify({
        frame_index: 1,
        result: { image: { width: 10, height: 10 }, detections: [{ xyxy: [1, 2, 3] }, { xyxy: [0, 0, 5, 5], class_id: 7 }] },
      }),
    );
    expect(msg.kind === 'result' && msg.result.detections).toEqual([
      { xyxy: [0, 0, 5, 5], confidence: 0, class_id: 7, class_name: 'class 7' },
    ]);
  });

  it('parses track ids and the tracking summary', () => {
    const msg = parseServerMessage(
      JSON.stringify({
        frame_index: 1,
        result: {
          image: { width: 64, height: 48 },
          detections: [
            { xyxy: [1, 2, 3, 4], confidence: 0.5, class_id: 2, class_name: 'car', track_id: 7 },
            { xyxy: [5, 6, 7, 8], confidence: 0.9, class_id: 0, class_name: 'person' },
          ],
          count: 2,
          tracking: {
            counts: { car: 3, person: 1 },
            lines: [{ id: 'gate', forward: { car: 1 }, backward: {} }],
          },
          timings_ms: {},
        },
      }),
    );
    expect(msg.kind).toBe('result');
    if (msg.kind !== 'result') return;
    expect(msg.result.detections).toEqual([
      { xyxy: [1, 2, 3, 4], confidence: 0.5, class_id: 2, class_name: 'car', track_id: 7 },
      { xyxy: [5, 6, 7, 8], confidence: 0.9, class_id: 0, class_name: 'person' },
    ]);
    expect(msg.result.detections?.[1]).not.toHaveProperty('track_id');
    expect(msg.result.tracking).toEqual({
      counts: { car: 3, person: 1 },
      lines: [{ id: 'gate', forward: { car: 1 }, backward: {} }],
    });
  });

  it('leaves track_id and tracking out when the server sends none', () => {
    const msg = parseServerMessage(JSON.stringify(resultOf({ detections: [{ xyxy: [1, 2, 3, 4], class_id: 0 }] })));
    expect(msg.kind).toBe('result');
    if (msg.kind !== 'result') return;
    expect(msg.result).not.toHaveProperty('tracking');
    expect(msg.result.detections?.[0]).not.toHaveProperty('track_id');
  });

  it('drops invalid track ids but keeps their detections', () => {
    const bad = [0, -3, 1.5, '7', null, 2 ** 60];
    const msg = parseServerMessage(
      JSON.stringify(resultOf({ detections: bad.map((track_id) => ({ xyxy: [1, 2, 3, 4], class_id: 0, track_id })) })),
    );
    expect(msg.kind === 'result' && msg.result.detections?.map((d) => d.track_id)).toEqual(bad.map(() => undefined));
  });

  it('validates the tracking summary field by field', () => {
    const parse = (tracking: unknown) => {
      const msg = parseServerMessage(JSON.stringify(resultOf({ tracking })));
      return msg.kind === 'result' ? msg.result.tracking : 'not a result';
    };
    expect(parse(undefined)).toBeUndefined();
    expect(parse(null)).toBeUndefined();
    expect(parse([1, 2])).toBeUndefined();
    expect(parse('yes')).toBeUndefined();
    // Missing parts are empty; bad counts, and lines without an id, are left out.
    expect(parse({})).toEqual({ counts: {}, lines: [] });
    expect(
      parse({
        counts: { person: 2, car: -1, bus: 1.5, truck: 'x', dog: 0 },
        lines: [
          { id: 'A', forward: { person: 1, car: 'x' } },
          { forward: { person: 1 } },
          'B',
          { id: 'C', forward: [], backward: { car: 4 } },
        ],
      }),
    ).toEqual({
      counts: { person: 2, dog: 0 },
      lines: [
        { id: 'A', forward: { person: 1 }, backward: {} },
        { id: 'C', forward: {}, backward: { car: 4 } },
      ],
    });
  });

  it('parses a drop notice', () => {
    expect(parseServerMessage('{"frame_index":7,"dropped":true}')).toEqual({ kind: 'dropped', frameIndex: 7 });
  });

  it('parses slow_down with and without extra fields', () => {
    expect(parseServerMessage('{"warning":"slow_down"}')).toEqual({ kind: 'slow_down' });
    expect(parseServerMessage('{"warning":"slow_down","drop_rate":0.4,"suggested_fps":9.5}')).toEqual({
      kind: 'slow_down',
      dropRate: 0.4,
      suggestedFps: 9.5,
    });
  });

  it('parses errors, with or without detail', () => {
    expect(parseServerMessage('{"error":"invalid_pipeline","detail":"Unknown pipeline_id: x"}')).toEqual({
      kind: 'error',
      code: 'invalid_pipeline',
      detail: 'Unknown pipeline_id: x',
    });
    expect(parseServerMessage('{"error":"something_new"}')).toEqual({ kind: 'error', code: 'something_new', detail: '' });
  });

  it('never throws on garbage', () => {
    for (const raw of ['', 'not json', '[]', 'null', '42', '{"frame_index":1}', '{"frame_index":1,"result":{}}']) {
      expect(parseServerMessage(raw).kind).toBe('unknown');
    }
    expect(parseServerMessage('{"frame_index":1,"result":{"image":{"width":0,"height":5}}}').kind).toBe('unknown');
  });
});

describe('buildStreamUrl', () => {
  it('uses ws: on http and wss: on https, with the page host', () => {
    expect(buildStreamUrl({ protocol: 'http:', host: '127.0.0.1:8080' }, 'yolo')).toBe(
      'ws://127.0.0.1:8080/ws/video/stream?pipeline_id=yolo',
    );
    expect(buildStreamUrl({ protocol: 'https:', host: 'example.test' }, 'yolo_ocr')).toBe(
      'wss://example.test/ws/video/stream?pipeline_id=yolo_ocr',
    );
  });

  it('encodes the pipeline id', () => {
    expect(buildStreamUrl({ protocol: 'http:', host: 'h' }, 'a b&c')).toBe(
      'ws://h/ws/video/stream?pipeline_id=a%20b%26c',
    );
  });
});
