import { useEffect, useState, useSyncExternalStore } from 'react';
import { RealtimeClient, type RealtimeClientOptions, type RealtimeState } from './RealtimeClient';

export interface UseWebSocketResult extends RealtimeState {
  client: RealtimeClient;
  sendFrame: RealtimeClient['sendFrame'];
  readyForFrame: RealtimeClient['readyForFrame'];
  reconnect: RealtimeClient['reconnect'];
}

/** Subscribes a component to a RealtimeClient's state. */
export function useRealtimeState(client: RealtimeClient): RealtimeState {
  return useSyncExternalStore(client.subscribe, client.getSnapshot, client.getSnapshot);
}

/**
 * The live stream as a hook: connects to `/ws/video/stream?pipeline_id=<pipelineId>` on this page's origin while
 * `pipelineId` is non-null, reconnects when it changes, and disconnects on null or unmount.
 */
export function useWebSocket(pipelineId: string | null, options?: RealtimeClientOptions): UseWebSocketResult {
  // The client lives as long as the component; options are read once.
  const [client] = useState(() => new RealtimeClient(options));
  const state = useRealtimeState(client);

  useEffect(() => {
    if (pipelineId === null) {
      client.disconnect();
      return undefined;
    }
    client.connect(pipelineId);
    return () => {
      client.disconnect();
    };
  }, [client, pipelineId]);

  return {
    ...state,
    client,
    sendFrame: client.sendFrame,
    readyForFrame: client.readyForFrame,
    reconnect: client.reconnect,
  };
}
