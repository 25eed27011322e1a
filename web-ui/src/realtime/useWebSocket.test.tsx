import { act, renderHook } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';
import { FakeWebSocket, resultMessage } from '../test/FakeWebSocket';
import { useWebSocket } from './useWebSocket';

const options = { createSocket: FakeWebSocket.factory, buildUrl: (id: string) => `ws://t/${id}` };

beforeEach(() => {
  FakeWebSocket.reset();
});

describe('useWebSocket', () => {
  it('stays disconnected without a pipeline', () => {
    const { result } = renderHook(() => useWebSocket(null, options));
    expect(result.current.status).toBe('disconnected');
    expect(FakeWebSocket.instances).toHaveLength(0);
  });

  it('walks through connecting, connected, results, drops, slow-downs and errors', () => {
    const { result } = renderHook(() => useWebSocket('yolo', options));
    expect(result.current.status).toBe('connecting');
    const ws = FakeWebSocket.last();
    act(() => {
      ws.serverOpen();
    });
    expect(result.current.status).toBe('connected');
    act(() => {
      result.current.sendFrame(new ArrayBuffer(4));
      ws.serverSend(resultMessage(0));
    });
    expect(result.current.lastResult?.frameIndex).toBe(0);
    act(() => {
      result.current.sendFrame(new ArrayBuffer(4));
      ws.serverSend({ frame_index: 1, dropped: true });
      ws.serverSend({ warning: 'slow_down' });
    });
    expect(result.current).toMatchObject({ droppedFrames: 1, slowDownWarnings: 1 });
    expect(result.current.lastResult?.frameIndex).toBe(0);
    act(() => {
      ws.serverSend({ error: 'pipeline_failure', detail: 'YOLO inference failed' });
      ws.serverClose(1011);
    });
    expect(result.current.status).toBe('disconnected');
    expect(result.current.lastError).toEqual({ code: 'pipeline_failure', detail: 'YOLO inference failed' });
    act(() => {
      result.current.reconnect();
    });
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(result.current.status).toBe('connecting');
  });

  it('reconnects when the pipeline changes and closes on unmount', () => {
    const initialProps: { id: string | null } = { id: 'yolo' };
    const { rerender, unmount } = renderHook(({ id }) => useWebSocket(id, options), { initialProps });
    const first = FakeWebSocket.last();
    expect(first.url).toBe('ws://t/yolo');
    rerender({ id: 'ocr' });
    expect(first.closedByClient).toBe(true);
    const second = FakeWebSocket.last();
    expect(second.url).toBe('ws://t/ocr');
    rerender({ id: null });
    expect(second.closedByClient).toBe(true);
    rerender({ id: 'yolo_ocr' });
    unmount();
    expect(FakeWebSocket.last().closedByClient).toBe(true);
  });
});
