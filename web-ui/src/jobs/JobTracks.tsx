import { trackColour } from '../components/overlayGeometry';
import type { JobTrack } from './api';

export interface JobTracksProps {
  tracks: readonly JobTrack[];
  /** Shows the video at a frame (a `frame_index`). */
  onSeekFrame: (frameIndex: number) => void;
}

/**
 * The objects a tracked pipeline followed through the job: id (with the colour the overlay draws it in), class,
 * first and last frame (the first one seeks the video there), and how many analysed frames matched it.
 */
export function JobTracks({ tracks, onSeekFrame }: JobTracksProps) {
  return (
    <section className="job-tracks" data-testid="job-tracks" aria-label="Tracks">
      <h4>
        Tracks <span className="muted">· {tracks.length}</span>
      </h4>
      <div className="job-tracks-wrap">
        <table className="results-table">
          <thead>
            <tr>
              <th scope="col">Track</th>
              <th scope="col">Class</th>
              <th scope="col">First</th>
              <th scope="col">Last</th>
              <th scope="col">Frames seen</th>
            </tr>
          </thead>
          <tbody>
            {tracks.map((t) => (
              <tr
                key={t.track_id}
                data-testid="job-track-row"
                data-track-id={t.track_id}
                data-class-name={t.class_name}
                data-first-frame={t.first_frame}
                data-last-frame={t.last_frame}
              >
                <td className="num">
                  <span className="track-swatch" style={{ backgroundColor: trackColour(t.track_id) }} aria-hidden="true" />
                  {`#${t.track_id}`}
                </td>
                <td>{t.class_name}</td>
                <td>
                  <button
                    type="button"
                    className="ghost link"
                    onClick={() => {
                      onSeekFrame(t.first_frame);
                    }}
                    aria-label={`Show track ${t.track_id} from frame ${t.first_frame}`}
                    data-testid="job-track-first"
                  >
                    #{t.first_frame}
                  </button>
                </td>
                <td className="num">#{t.last_frame}</td>
                <td className="num">{t.frames_seen}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
