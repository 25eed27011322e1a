import { act, render, renderHook, screen } from '@testing-library/react';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeWebSocket, resultMessage } from '../test/FakeWebSocket';
import { useRealtime } from './RealtimeContext';
import { RealtimeProvider } from './RealtimeProvider';

beforeEach(() => {
  FakeWebSocket.reset();
});

function Probe() {
  const rt = useRealtime();
  return (
    <div>
      <span data-testid="status">{rt.status}</span>
      <span data-testid="frame">{rt.lastResult?.frameIndex ?? '-'}</span>
      <button
        onClick={() => {
          rt.connect('yolo');
        }}
      >
        yolo
      </button>
      <button
        onClick={() => {
          rt.connect('ocr');
        }}
      >
        ocr
      </button>
      <button onClick={rt.disconnect}>stop</button>
    </div>
  );
}

describe('RealtimeProvider / useRealtime', () => {
  it('shares one stream: connect, switch, reconnect the same pipeline, disconnect', () => {
    render(
      <RealtimeProvider clientOptions={{ createSocket: FakeWebSocket.factory, buildUrl: (id) => `ws://t/${id}` }}>
        <Probe />
      </RealtimeProvider>,
    );
    expect(screen.getByTestId('status').textContent).toBe('disconnected');
    act(() => {
      screen.getByText('yolo').click();
    });
    const first = FakeWebSocket.last();
    expect(first.url).toBe('ws://t/yolo');
    act(() => {
      first.serverOpen();
    });
    expect(screen.getByTestId('status').textContent).toBe('connected');
    act(() => {
      first.serverSend(resultMessage(0));
    });
    expect(screen.getByTestId('frame').textContent).toBe('0');
    act(() => {
      screen.getByText('yolo').click(); // same pipeline again: a fresh socket
    });
    expect(first.closedByClient).toBe(true);
    expect(FakeWebSocket.instances).toHaveLength(2);
    act(() => {
      screen.getByText('ocr').click();
    });
    expect(FakeWebSocket.last().url).toBe('ws://t/ocr');
    act(() => {
      screen.getByText('stop').click();
    });
    expect(FakeWebSocket.last().closedByClient).toBe(true);
    expect(screen.getByTestId('status').textContent).toBe('disconnected');
  });

  it('useRealtime outside the provider is a clear error', () => {
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    expect(() => renderHook(() => useRealtime())).toThrow(/inside <RealtimeProvider>/);
  });
});
