import { LiveView } from './components/LiveView';
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
        <p className="muted">Real-time detection and text recognition on your camera.</p>
      </header>
      <main>
        <RealtimeProvider clientOptions={clientOptions}>
          <LiveView initialPipeline={params.get('pipeline')} initialDebug={params.has('debug')} />
        </RealtimeProvider>
        {/*
          MP4 upload (SPEC §8: upload, job list, progress bar) belongs here as its own feature,
          e.g. src/upload/UploadPanel.tsx using POST /v1/video/submit and GET /v1/video/status|results/{job_id}.
          It does not share the live stream's state, so it sits beside <RealtimeProvider>, not inside it.
        */}
      </main>
    </div>
  );
}
