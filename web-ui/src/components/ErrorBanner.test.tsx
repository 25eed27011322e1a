import { fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { CLIENT_ERROR_CODES, describeError, SERVER_ERROR_CODES } from '../realtime/errors';
import { ErrorBanner } from './ErrorBanner';

describe('ErrorBanner', () => {
  it('renders nothing without an error', () => {
    const { container } = render(<ErrorBanner error={null} onAction={vi.fn()} />);
    expect(container.innerHTML).toBe('');
  });

  it.each([...SERVER_ERROR_CODES, ...CLIENT_ERROR_CODES, 'brand_new_code'])('shows a friendly message for %s', (code) => {
    const onAction = vi.fn();
    render(<ErrorBanner error={{ code, detail: 'details here' }} onAction={onAction} />);
    const banner = screen.getByRole('alert');
    expect(banner.dataset.errorCode).toBe(code);
    expect(banner.textContent).toContain(describeError(code).title);
    expect(banner.textContent).toContain('details here');
    const button = screen.getByTestId('error-action');
    expect(button.textContent).toMatch(/^(Retry|Reconnect)$/);
    fireEvent.click(button);
    expect(onAction).toHaveBeenCalledTimes(1);
  });

  it('can be dismissed', () => {
    const onDismiss = vi.fn();
    render(<ErrorBanner error={{ code: 'idle_timeout', detail: '' }} onAction={vi.fn()} onDismiss={onDismiss} />);
    fireEvent.click(screen.getByLabelText('Dismiss'));
    expect(onDismiss).toHaveBeenCalled();
  });
});
