// Friendly text for every error the stream can end with: the server's codes (SPEC §2) and the client's own
// (`connection_lost`, `connection_failed`). Unknown codes get a generic message that still names the code.

export type ErrorAction = 'retry' | 'reconnect' | 'choose_pipeline';

export interface ErrorInfo {
  title: string;
  message: string;
  action: ErrorAction;
  /** Label of the banner's button. */
  actionLabel: string;
}

export const SERVER_ERROR_CODES = [
  'invalid_pipeline',
  'invalid_message',
  'invalid_frame',
  'frame_too_large',
  'pipeline_failure',
  'internal_error',
  'idle_timeout',
  'server_busy',
] as const;

export const CLIENT_ERROR_CODES = ['connection_lost', 'connection_failed'] as const;

const INFO: Record<string, ErrorInfo> = {
  invalid_pipeline: {
    title: 'Pipeline not available',
    message: 'The server does not know this pipeline. Pick another one from the list.',
    action: 'choose_pipeline',
    actionLabel: 'Reconnect',
  },
  invalid_message: {
    title: 'Unexpected message',
    message: 'The server expected a camera frame but received something else. Reconnect to start a new stream.',
    action: 'reconnect',
    actionLabel: 'Reconnect',
  },
  invalid_frame: {
    title: 'Frame could not be read',
    message: 'A camera frame was not a valid JPEG image. Reconnect to try again.',
    action: 'reconnect',
    actionLabel: 'Reconnect',
  },
  frame_too_large: {
    title: 'Frame too large',
    message: 'A camera frame exceeded the server’s size limit. Reconnect to try again.',
    action: 'reconnect',
    actionLabel: 'Reconnect',
  },
  pipeline_failure: {
    title: 'Analysis failed',
    message: 'The pipeline could not process a frame. Retry, or choose a different pipeline.',
    action: 'retry',
    actionLabel: 'Retry',
  },
  internal_error: {
    title: 'Server error',
    message: 'Something went wrong on the server. Retry in a moment.',
    action: 'retry',
    actionLabel: 'Retry',
  },
  idle_timeout: {
    title: 'Stream paused',
    message: 'No frames were sent for a while, so the server closed the stream. Reconnect to continue.',
    action: 'reconnect',
    actionLabel: 'Reconnect',
  },
  server_busy: {
    title: 'Server busy',
    message: 'The server is handling as many streams as it can. Retry in a moment.',
    action: 'retry',
    actionLabel: 'Retry',
  },
  connection_lost: {
    title: 'Connection lost',
    message: 'The connection to the server was interrupted. Retry when the server is back.',
    action: 'retry',
    actionLabel: 'Retry',
  },
  connection_failed: {
    title: 'Cannot reach the server',
    message: 'The stream could not be opened. Check that the server is running, then retry.',
    action: 'retry',
    actionLabel: 'Retry',
  },
};

export function describeError(code: string): ErrorInfo {
  const known = Object.prototype.hasOwnProperty.call(INFO, code) ? INFO[code] : undefined;
  return (
    known ?? {
      title: 'Unexpected error',
      message: `The stream stopped with an unexpected error (${code}). Retry to start again.`,
      action: 'retry',
      actionLabel: 'Retry',
    }
  );
}
