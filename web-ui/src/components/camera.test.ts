import { describe, expect, it } from 'vitest';
import { captureSize, describeCameraError } from './camera';

function named(name: string): Error {
  const e = new Error('x');
  e.name = name;
  return e;
}

describe('describeCameraError', () => {
  it('explains denied permission, missing camera and busy camera', () => {
    expect(describeCameraError(named('NotAllowedError'))).toMatch(/denied/);
    expect(describeCameraError(new DOMException('no', 'NotFoundError'))).toMatch(/No camera/);
    expect(describeCameraError(named('NotReadableError'))).toMatch(/in use/);
    expect(describeCameraError(named('NoMediaDevices'))).toMatch(/https/);
    expect(describeCameraError('weird')).toMatch(/could not be started/);
  });
});

describe('captureSize', () => {
  it('keeps 640×480 and fits larger or wider cameras without distortion', () => {
    expect(captureSize(640, 480, 640, 480)).toEqual({ width: 640, height: 480 });
    expect(captureSize(1280, 960, 640, 480)).toEqual({ width: 640, height: 480 });
    expect(captureSize(1280, 720, 640, 480)).toEqual({ width: 640, height: 360 });
    expect(captureSize(320, 240, 640, 480)).toEqual({ width: 320, height: 240 });
  });
});
