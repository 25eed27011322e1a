import { useEffect, useRef, useState, type ReactNode } from 'react';
import { captureSize, describeCameraError } from './camera';

export interface CameraPreviewProps {
  running: boolean;
  /** Asked before each capture: true only when a new frame may be sent (throttle, one in flight, buffer). */
  canCapture: () => boolean;
  /** Receives each encoded JPEG frame. */
  onFrame: (jpeg: ArrayBuffer) => void;
  /** Called when the camera cannot start (the message is also shown here). */
  onError?: (message: string) => void;
  /** Drawn over the video, in the same box. */
  overlay?: ReactNode;
  maxWidth?: number;
  maxHeight?: number;
  /** JPEG quality, 0.7–0.8 recommended. */
  quality?: number;
}

const POLL_MS = 10;

function noMediaDevices(): Error {
  const err = new Error('navigator.mediaDevices is unavailable');
  err.name = 'NoMediaDevices';
  return err;
}

function stopTracks(stream: MediaStream): void {
  for (const track of stream.getTracks()) track.stop();
}

/** The camera: getUserMedia → <video>, and JPEG frames from a <canvas> when the stream may take one. */
export function CameraPreview({
  running,
  canCapture,
  onFrame,
  onError,
  overlay,
  maxWidth = 640,
  maxHeight = 480,
  quality = 0.75,
}: CameraPreviewProps) {
  const videoRef = useRef<HTMLVideoElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const [error, setError] = useState<string | null>(null);
  const [devices, setDevices] = useState<MediaDeviceInfo[]>([]);
  const [deviceId, setDeviceId] = useState<string>('');
  const [playing, setPlaying] = useState(false);

  // Latest callbacks without restarting the camera or the capture loop.
  const callbacks = useRef({ canCapture, onFrame, onError });
  useEffect(() => {
    callbacks.current = { canCapture, onFrame, onError };
  });

  // Open / close the camera.
  useEffect(() => {
    if (!running) return undefined;
    const session = { cancelled: false };
    const cancelled = () => session.cancelled;
    let stream: MediaStream | null = null;
    const video = videoRef.current;

    const start = async () => {
      const media = typeof navigator === 'undefined' ? undefined : navigator.mediaDevices;
      if (!media?.getUserMedia) throw noMediaDevices();
      const constraints: MediaTrackConstraints = { width: { ideal: maxWidth }, height: { ideal: maxHeight } };
      if (deviceId) constraints.deviceId = { exact: deviceId };
      const opened = await media.getUserMedia({ video: constraints, audio: false });
      if (cancelled()) {
        stopTracks(opened); // stopped (or restarted) while the permission prompt was open
        return;
      }
      stream = opened;
      if (video) {
        video.srcObject = stream;
        await video.play();
      }
      if (cancelled()) return;
      setError(null);
      setPlaying(true);
      const all = await media.enumerateDevices();
      if (!cancelled()) setDevices(all.filter((d) => d.kind === 'videoinput'));
    };

    start().catch((err: unknown) => {
      if (cancelled()) return;
      const message = describeCameraError(err);
      setError(message);
      callbacks.current.onError?.(message);
    });

    return () => {
      session.cancelled = true;
      setPlaying(false);
      if (stream) stopTracks(stream);
      if (video) video.srcObject = null;
    };
  }, [running, deviceId, maxWidth, maxHeight]);

  // Capture loop: encode a frame only when the stream may take one.
  useEffect(() => {
    if (!playing) return undefined;
    let busy = false;
    let stopped = false;
    const tick = () => {
      const video = videoRef.current;
      const canvas = canvasRef.current;
      if (busy || !video || !canvas || video.readyState < 2 || video.videoWidth === 0) return;
      if (!callbacks.current.canCapture()) return;
      const { width, height } = captureSize(video.videoWidth, video.videoHeight, maxWidth, maxHeight);
      canvas.width = width;
      canvas.height = height;
      const ctx = canvas.getContext('2d');
      if (!ctx) return;
      busy = true;
      ctx.drawImage(video, 0, 0, width, height);
      canvas.toBlob(
        (blob) => {
          if (!blob || stopped) {
            busy = false;
            return;
          }
          blob
            .arrayBuffer()
            .then((bytes) => {
              if (!stopped) callbacks.current.onFrame(bytes);
            })
            .catch(() => undefined)
            .finally(() => {
              busy = false;
            });
        },
        'image/jpeg',
        quality,
      );
    };
    const timer = setInterval(tick, POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [playing, maxWidth, maxHeight, quality]);

  return (
    <div className="camera">
      <div className="stage" data-testid="stage" data-playing={playing}>
        <video ref={videoRef} className="stage-video" data-testid="camera-video" muted playsInline />
        {overlay}
        {!running && !error && <div className="stage-placeholder">Press Start to use your camera.</div>}
        {error && (
          <div className="stage-placeholder stage-error" role="alert" data-testid="camera-error">
            {error}
          </div>
        )}
      </div>
      <canvas ref={canvasRef} hidden />
      {devices.length > 1 && (
        <label className="field">
          Camera
          <select
            value={deviceId}
            onChange={(e) => {
              setDeviceId(e.target.value);
            }}
            data-testid="camera-select"
          >
            <option value="">Default camera</option>
            {devices.map((d, i) => (
              <option key={d.deviceId || i} value={d.deviceId}>
                {d.label || `Camera ${i + 1}`}
              </option>
            ))}
          </select>
        </label>
      )}
    </div>
  );
}
