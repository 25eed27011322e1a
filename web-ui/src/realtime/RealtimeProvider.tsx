import { useCallback, useRef, useState, type ReactNode } from 'react';
import type { RealtimeClientOptions } from './RealtimeClient';
import { RealtimeContext } from './RealtimeContext';
import { useWebSocket } from './useWebSocket';

export interface RealtimeProviderProps {
  children: ReactNode;
  /** Injected in tests (fake WebSocket, clock). */
  clientOptions?: RealtimeClientOptions;
}

export function RealtimeProvider({ children, clientOptions }: RealtimeProviderProps) {
  const [pipelineId, setPipelineId] = useState<string | null>(null);
  const ws = useWebSocket(pipelineId, clientOptions);
  const { client } = ws;

  const current = useRef<string | null>(null);

  const connect = useCallback(
    (id: string) => {
      // The same pipeline again (Retry after an error): the hook's effect would not re-run, so reopen directly.
      if (id === current.current) {
        client.reconnect();
        return;
      }
      current.current = id;
      setPipelineId(id);
    },
    [client],
  );
  const disconnect = useCallback(() => {
    current.current = null;
    setPipelineId(null);
  }, []);

  return <RealtimeContext.Provider value={{ ...ws, connect, disconnect }}>{children}</RealtimeContext.Provider>;
}
