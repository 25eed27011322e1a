/** A clear sentence for a getUserMedia failure. */
export function describeCameraError(error: unknown): string {
  const name = error instanceof Error || error instanceof DOMException ? error.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Camera access was denied. Allow the camera for this site in your browser settings, then press Start again.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera was found. Connect a camera, then press Start again.';
    case 'NotReadableError':
    case 'AbortError':
      return 'The camera is in use by another application or could not be started.';
    case 'NoMediaDevices':
      return 'This browser cannot use a camera here. Open the page over https or from localhost.';
    default:
      return 'The camera could not be started.';
  }
}

/** Fits the video into maxWidth×maxHeight keeping its aspect ratio (640×480 for a 4:3 camera). */
export function captureSize(
  videoWidth: number,
  videoHeight: number,
  maxWidth: number,
  maxHeight: number,
): { width: number; height: number } {
  const scale = Math.min(maxWidth / videoWidth, maxHeight / videoHeight, 1);
  return { width: Math.round(videoWidth * scale), height: Math.round(videoHeight * scale) };
}
