// Makes a .y4m clip (Chromium's fake camera input) from a JPEG, with no tool beyond the browser itself:
// Chromium decodes the JPEG, this file converts RGBA to I420 (BT.601, limited range) and writes YUV4MPEG2.

import { existsSync, statSync, writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * @param {Uint8Array} rgba
 * @param {number} width even
 * @param {number} height even
 * @returns {Uint8Array} the I420 frame: Y plane, then U, then V
 */
export function rgbaToI420(rgba, width, height) {
  const ySize = width * height;
  const cSize = (width / 2) * (height / 2);
  const out = new Uint8Array(ySize + 2 * cSize);
  const clamp = (/** @type {number} */ v) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
  for (let i = 0, p = 0; i < ySize; i++, p += 4) {
    const r = rgba[p] ?? 0;
    const g = rgba[p + 1] ?? 0;
    const b = rgba[p + 2] ?? 0;
    out[i] = clamp(16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256);
  }
  for (let cy = 0; cy < height / 2; cy++) {
    for (let cx = 0; cx < width / 2; cx++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const p = ((cy * 2 + dy) * width + (cx * 2 + dx)) * 4;
        r += rgba[p] ?? 0;
        g += rgba[p + 1] ?? 0;
        b += rgba[p + 2] ?? 0;
      }
      r /= 4;
      g /= 4;
      b /= 4;
      const c = cy * (width / 2) + cx;
      out[ySize + c] = clamp(128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256);
      out[ySize + cSize + c] = clamp(128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256);
    }
  }
  return out;
}

/**
 * @param {Uint8Array} i420
 * @param {number} width
 * @param {number} height
 * @param {number} frames
 * @param {number} fps
 */
export function encodeY4m(i420, width, height, frames, fps) {
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 C420jpeg\n`, 'ascii');
  const frameHeader = Buffer.from('FRAME\n', 'ascii');
  const parts = [header];
  for (let i = 0; i < frames; i++) parts.push(frameHeader, Buffer.from(i420));
  return Buffer.concat(parts);
}

/**
 * Decodes `jpegPath` in the given (already launched) Playwright browser and writes `outPath`.
 * Reuses an existing clip that is newer than the JPEG.
 * @param {import('playwright-core').Browser} browser
 * @param {string} jpegPath
 * @param {string} outPath
 * @param {{ frames?: number, fps?: number }} [options]
 */
export async function makeY4mFromJpeg(browser, jpegPath, outPath, options = {}) {
  if (existsSync(outPath) && statSync(outPath).mtimeMs > statSync(jpegPath).mtimeMs) return outPath;
  const page = await browser.newPage();
  try {
    const b64 = readFileSync(jpegPath).toString('base64');
    const decoded = await page.evaluate(async (data) => {
      const img = new Image();
      img.src = `data:image/jpeg;base64,${data}`;
      await img.decode();
      const width = img.naturalWidth - (img.naturalWidth % 2);
      const height = img.naturalHeight - (img.naturalHeight % 2);
      const canvas = document.createElement('canvas');
      canvas.width = width;
      canvas.height = height;
      const ctx = canvas.getContext('2d');
      if (!ctx) throw new Error('no 2d context');
      ctx.drawImage(img, 0, 0);
      const bytes = ctx.getImageData(0, 0, width, height).data;
      let binary = '';
      for (let i = 0; i < bytes.length; i += 0x8000) {
        binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      }
      return { width, height, rgba: btoa(binary) };
    }, b64);
    const rgba = new Uint8Array(Buffer.from(decoded.rgba, 'base64'));
    const i420 = rgbaToI420(rgba, decoded.width, decoded.height);
    mkdirSync(dirname(outPath), { recursive: true });
    writeFileSync(outPath, encodeY4m(i420, decoded.width, decoded.height, options.frames ?? 10, options.fps ?? 10));
    return outPath;
  } finally {
    await page.close();
  }
}
