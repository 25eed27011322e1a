import { render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CameraPreview } from './CameraPreview';

function fakeStream() {
  const track = { stop: vi.fn() };
  return { track, stream: { getTracks: () => [track] } as unknown as MediaStream };
}

function camera(deviceId: string, label: string) {
  return { kind: 'videoinput', deviceId, label, groupId: '' } as MediaDeviceInfo;
}

let getUserMedia: ReturnType<typeof vi.fn>;

beforeEach(() => {
  vi.spyOn(HTMLMediaElement.prototype, 'play').mockImplementation(() => Promise.resolve());
  getUserMedia = vi.fn();
  Object.defineProperty(navigator, 'mediaDevices', {
    configurable: true,
    value: {
      getUserMedia,
      enumerateDevices: () => Promise.resolve([camera('a', 'Front'), camera('b', 'Back')]),
    },
  });
});

afterEach(() => {
  Reflect.deleteProperty(navigator, 'mediaDevices');
});

const noop = () => false;

describe('CameraPreview', () => {
  it('asks for a 640×480 video, offers a camera picker, and stops the tracks on stop', async () => {
    const { track, stream } = fakeStream();
    getUserMedia.mockResolvedValue(stream);
    const { rerender } = render(<CameraPreview running canCapture={noop} onFrame={vi.fn()} />);
    await screen.findByTestId('camera-select');
    expect(getUserMedia).toHaveBeenCalledWith({
      video: { width: { ideal: 640 }, height: { ideal: 480 } },
      audio: false,
    });
    expect(screen.getByTestId('stage').dataset.playing).toBe('true');
    expect(screen.getAllByRole('option').map((o) => o.textContent)).toEqual(['Default camera', 'Front', 'Back']);
    rerender(<CameraPreview running={false} canCapture={noop} onFrame={vi.fn()} />);
    expect(track.stop).toHaveBeenCalled();
    expect(screen.getByTestId('stage').dataset.playing).toBe('false');
  });

  it('stops a camera that opens after it was no longer wanted', async () => {
    const { track, stream } = fakeStream();
    let resolve: (s: MediaStream) => void = () => undefined;
    getUserMedia.mockReturnValue(new Promise<MediaStream>((r) => (resolve = r)));
    const { rerender } = render(<CameraPreview running canCapture={noop} onFrame={vi.fn()} />);
    rerender(<CameraPreview running={false} canCapture={noop} onFrame={vi.fn()} />);
    resolve(stream);
    await waitFor(() => {
      expect(track.stop).toHaveBeenCalled();
    });
  });

  it('reports a denied permission', async () => {
    getUserMedia.mockRejectedValue(new DOMException('nope', 'NotAllowedError'));
    const onError = vi.fn();
    render(<CameraPreview running canCapture={noop} onFrame={vi.fn()} onError={onError} />);
    expect((await screen.findByTestId('camera-error')).textContent).toMatch(/denied/);
    expect(onError).toHaveBeenCalledWith(expect.stringMatching(/denied/));
  });

  it('reports a browser without camera support', async () => {
    Reflect.deleteProperty(navigator, 'mediaDevices');
    render(<CameraPreview running canCapture={noop} onFrame={vi.fn()} />);
    expect((await screen.findByTestId('camera-error')).textContent).toMatch(/https or from localhost/);
  });
});
