import { createContext, useContext } from 'react';
import type { UseWebSocketResult } from './useWebSocket';

export interface RealtimeContextValue extends UseWebSocketResult {
  /** Streams to `pipelineId` (closing any current stream); the same id again reopens it. */
  connect: (pipelineId: string) => void;
  /** Ends the stream on purpose. */
  disconnect: () => void;
}

/** One live stream shared with the whole tree; provided by <RealtimeProvider>. */
export const RealtimeContext = createContext<RealtimeContextValue | null>(null);

export function useRealtime(): RealtimeContextValue {
  const value = useContext(RealtimeContext);
  if (!value) throw new Error('useRealtime must be used inside <RealtimeProvider>');
  return value;
}
