import type { StreamError } from '../realtime/RealtimeClient';
import { describeError } from '../realtime/errors';

export interface ErrorBannerProps {
  error: StreamError | null;
  /** Retry / Reconnect. */
  onAction: () => void;
  onDismiss?: () => void;
}

/** A friendly message for the stream's last error, with Retry/Reconnect; renders nothing without an error. */
export function ErrorBanner({ error, onAction, onDismiss }: ErrorBannerProps) {
  if (!error) return null;
  const info = describeError(error.code);
  return (
    <div className="banner" role="alert" data-testid="error-banner" data-error-code={error.code}>
      <div className="banner-text">
        <strong>{info.title}</strong>
        <span>{info.message}</span>
        {error.detail && <span className="banner-detail">{error.detail}</span>}
      </div>
      <div className="banner-actions">
        <button type="button" className="primary" onClick={onAction} data-testid="error-action">
          {info.actionLabel}
        </button>
        {onDismiss && (
          <button type="button" className="ghost" onClick={onDismiss} aria-label="Dismiss">
            ×
          </button>
        )}
      </div>
    </div>
  );
}
