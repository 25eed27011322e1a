import { LiveView } from './components/LiveView';
import { JobsPanel } from './jobs/JobsPanel';
import type { RealtimeClientOptions } from './realtime/RealtimeClient';
import { RealtimeProvider } from './realtime/RealtimeProvider';

export interface AppProps {
  /** Test seam: a fake WebSocket, a clock. */
  clientOptions?: RealtimeClientOptions;
  search?: string;
}

export function App({ clientOptions, search = window.location.search }: AppProps) {
  const params = new URLSearchParams(search);
  return (
    <div className="app">
      <header className="app-header">
        <h1>
          ForgeSyte <span>Stream</span>
        </h1>
        <p className="muted">Real-time detection and text recognition on your camera, or on an uploaded video.</p>
      </header>
      <main>
        <RealtimeProvider clientOptions={clientOptions}>
          <LiveView initialPipeline={params.get('pipeline')} initialDebug={params.has('debug')} />
        </RealtimeProvider>
        {/* MP4 upload (SPEC §8): its own state, beside the live stream's provider, not inside it. */}
        <JobsPanel />
      </main>
    </div>
  );
}
