import { describe, expect, it } from 'vitest';
import { CLIENT_ERROR_CODES, describeError, SERVER_ERROR_CODES } from './errors';

describe('describeError', () => {
  it('has a specific, friendly message for every server and client code', () => {
    const titles = new Set<string>();
    for (const code of [...SERVER_ERROR_CODES, ...CLIENT_ERROR_CODES]) {
      const info = describeError(code);
      expect(info.title).not.toBe('Unexpected error');
      expect(info.message).not.toContain(code);
      expect(['Retry', 'Reconnect']).toContain(info.actionLabel);
      titles.add(info.title);
    }
    expect(titles.size).toBe(SERVER_ERROR_CODES.length + CLIENT_ERROR_CODES.length);
  });

  it('maps the codes to the expected actions', () => {
    expect(describeError('invalid_pipeline').action).toBe('choose_pipeline');
    expect(describeError('idle_timeout').actionLabel).toBe('Reconnect');
    expect(describeError('server_busy').actionLabel).toBe('Retry');
    expect(describeError('connection_lost').actionLabel).toBe('Retry');
  });

  it('handles unknown codes, including prototype names', () => {
    const info = describeError('quota_exceeded');
    expect(info.title).toBe('Unexpected error');
    expect(info.message).toContain('quota_exceeded');
    expect(info.actionLabel).toBe('Retry');
    expect(describeError('toString').title).toBe('Unexpected error');
    expect(describeError('__proto__').title).toBe('Unexpected error');
  });
});
