import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { trackColour } from '../components/overlayGeometry';
import { JobResultsView } from './JobResultsView';
import { fakeServer, jsonResponse } from '../test/fakeJobsServer';

const det = (class_name: string, class_id: number) => ({
  xyxy: [100, 50, 300, 400],
  confidence: 0.91,
  class_id,
  class_name,
});

const body = {
  job_id: 'j1',
  pipeline_id: 'yolo_ocr',
  created_at: '2026-11-25T12:40:03.120Z',
  updated_at: '2026-11-25T12:40:09.000Z',
  video: { width: 640, height: 480, duration_ms: 3000, frames: 30 },
  results: [
    { frame_index: 0, timestamp_ms: 0, result: { image: { width: 640, height: 480 }, detections: [det('person', 0)] } },
    { frame_index: 10, timestamp_ms: 1000, result: { image: { width: 640, height: 480 }, detections: [det('cat', 15)] } },
    {
      frame_index: 20,
      timestamp_ms: 2000,
      result: {
        image: { width: 640, height: 480 },
        detections: [],
        text: 'HELLO WORLD',
        blocks: [{ text: 'HELLO WORLD', confidence: 0.9, bbox: { x: 10, y: 10, width: 200, height: 20 } }],
      },
    },
  ],
};

let pause: ReturnType<typeof vi.fn<() => void>>;

beforeEach(() => {
  // jsdom has no media playback.
  pause = vi.fn<() => void>();
  vi.spyOn(HTMLMediaElement.prototype, 'pause').mockImplementation(pause);
});

afterEach(() => {
  vi.unstubAllGlobals();
});

function setVideoTime(video: HTMLVideoElement, seconds: number) {
  Object.defineProperty(video, 'currentTime', { configurable: true, writable: true, value: seconds });
  fireEvent.timeUpdate(video);
}

async function open() {
  const server = fakeServer();
  server.state.routes.set('GET /v1/video/results/j1', () => jsonResponse(body));
  render(<JobResultsView jobId="j1" fileName="clip.mp4" onClose={vi.fn()} />);
  await screen.findByTestId('results-table');
  return server;
}

describe('JobResultsView', () => {
  it('plays the uploaded video and lists every analysed frame with its detections and text', async () => {
    await open();
    const video = screen.getByTestId<HTMLVideoElement>('job-video');
    expect(video.getAttribute('src')).toBe('/v1/video/file/j1');
    expect(video.controls).toBe(true);
    const rows = screen.getAllByTestId('result-row');
    expect(rows.map((r) => r.dataset.frameIndex)).toEqual(['0', '10', '20']);
    expect(within(rows[0]!).getByTestId('result-detection').dataset.className).toBe('person');
    expect(within(rows[0]!).getByTestId('result-detection').textContent).toBe('person 91%');
    expect(within(rows[1]!).getByTestId('result-detection').dataset.className).toBe('cat');
    expect(within(rows[2]!).queryByTestId('result-detection')).toBeNull();
    expect(within(rows[2]!).getByTestId('result-text').textContent).toBe('HELLO WORLD');
    expect(screen.getByText(/3 frames analysed/)).toBeTruthy();
    expect(screen.getAllByRole('columnheader').map((th) => th.textContent)).toEqual(['Frame', 'Time', 'Detections', 'Text']);
  });

  it('draws the result of the latest frame at or before the playback position', async () => {
    await open();
    const overlay = screen.getByTestId('overlay');
    const video = screen.getByTestId<HTMLVideoElement>('job-video');
    expect(overlay.dataset.frameIndex).toBe('0');
    expect(overlay.dataset.detections).toBe('person');

    setVideoTime(video, 1.5);
    expect(overlay.dataset.frameIndex).toBe('10');
    expect(overlay.dataset.detections).toBe('cat');
    expect(within(overlay).getByTestId('detection').dataset.className).toBe('cat');
    const current = screen.getAllByTestId('result-row').filter((r) => r.getAttribute('aria-current') === 'true');
    expect(current.map((r) => r.dataset.frameIndex)).toEqual(['10']);

    setVideoTime(video, 2.9);
    expect(overlay.dataset.frameIndex).toBe('20');
    expect(within(overlay).getByTestId('ocr-block').dataset.text).toBe('HELLO WORLD');

    setVideoTime(video, 0.99);
    expect(overlay.dataset.frameIndex).toBe('0');
  });

  it('seeks the video to a frame chosen in the list', async () => {
    await open();
    const video = screen.getByTestId<HTMLVideoElement>('job-video');
    fireEvent.click(screen.getByRole('button', { name: 'Show frame 20' }));
    expect(pause).toHaveBeenCalled();
    expect(video.currentTime).toBe(2);
    expect(screen.getByTestId('overlay').dataset.frameIndex).toBe('20');
  });

  it('shows only the columns the pipeline answers', async () => {
    const server = fakeServer();
    const yoloOnly = { ...body, pipeline_id: 'yolo', results: body.results.slice(0, 2) };
    server.state.routes.set('GET /v1/video/results/j1', () => jsonResponse(yoloOnly));
    render(<JobResultsView jobId="j1" onClose={vi.fn()} />);
    await screen.findByTestId('results-table');
    expect(screen.getAllByRole('columnheader').map((th) => th.textContent)).toEqual(['Frame', 'Time', 'Detections']);
  });

  it('explains when the results are not ready', async () => {
    const server = fakeServer();
    server.state.routes.set('GET /v1/video/results/j2', () =>
      jsonResponse({ error: 'job_not_completed', detail: 'Job j2 is running' }, 404),
    );
    render(<JobResultsView jobId="j2" onClose={vi.fn()} />);
    const alert = await screen.findByTestId('job-results-error');
    expect(alert.textContent).toContain('Results not ready');
    expect(alert.textContent).toContain('Job j2 is running');
    expect(screen.queryByTestId('job-video')).toBeNull();
  });

  describe('tracks', () => {
    const tracked = (track_id: number, class_name: string, class_id: number) => ({ ...det(class_name, class_id), track_id });
    const trackedBody = {
      ...body,
      pipeline_id: 'yolo_track',
      results: [
        { frame_index: 0, timestamp_ms: 0, result: { image: { width: 640, height: 480 }, detections: [det('person', 0)] } },
        {
          frame_index: 10,
          timestamp_ms: 1000,
          result: { image: { width: 640, height: 480 }, detections: [tracked(1, 'person', 0), det('bottle', 39)] },
        },
        {
          frame_index: 20,
          timestamp_ms: 2000,
          result: { image: { width: 640, height: 480 }, detections: [tracked(1, 'person', 0), tracked(3, 'motorcycle', 3)] },
        },
      ],
      tracks: [
        { track_id: 3, class_id: 3, class_name: 'motorcycle', first_frame: 20, last_frame: 20, frames_seen: 1 },
        { track_id: 1, class_id: 0, class_name: 'person', first_frame: 10, last_frame: 20, frames_seen: 2 },
      ],
    };

    async function openTracked(data: unknown = trackedBody) {
      const server = fakeServer();
      server.state.routes.set('GET /v1/video/results/j1', () => jsonResponse(data));
      render(<JobResultsView jobId="j1" onClose={vi.fn()} />);
      await screen.findByTestId('results-table');
    }

    it('lists the tracks by id with their class, frames and the colour the overlay draws them in', async () => {
      await openTracked();
      const rows = screen.getAllByTestId('job-track-row');
      expect(rows.map((r) => [r.dataset.trackId, r.dataset.className])).toEqual([
        ['1', 'person'],
        ['3', 'motorcycle'],
      ]);
      expect([...rows[0]!.querySelectorAll('td')].map((td) => td.textContent)).toEqual(['#1', 'person', '#10', '#20', '2']);
      // Compared through the DOM, which may normalise the colour notation.
      const probe = document.createElement('span');
      const swatch = (row: HTMLElement) => row.querySelector<HTMLElement>('.track-swatch')?.style.backgroundColor;
      probe.style.backgroundColor = trackColour(1);
      expect(swatch(rows[0]!)).not.toBe('');
      expect(swatch(rows[0]!)).toBe(probe.style.backgroundColor);
      probe.style.backgroundColor = trackColour(3);
      expect(swatch(rows[1]!)).toBe(probe.style.backgroundColor);
      expect(within(screen.getByTestId('job-tracks')).getAllByRole('columnheader').map((th) => th.textContent)).toEqual([
        'Track',
        'Class',
        'First',
        'Last',
        'Frames seen',
      ]);
    });

    it("seeks the video to a track's first frame", async () => {
      await openTracked();
      const video = screen.getByTestId<HTMLVideoElement>('job-video');
      fireEvent.click(screen.getByRole('button', { name: 'Show track 3 from frame 20' }));
      expect(pause).toHaveBeenCalled();
      expect(video.currentTime).toBe(2);
      const overlay = screen.getByTestId('overlay');
      expect(overlay.dataset.frameIndex).toBe('20');
      const boxes = within(overlay).getAllByTestId('detection');
      expect(boxes.map((b) => b.dataset.trackId)).toEqual(['1', '3']);

      fireEvent.click(screen.getByRole('button', { name: 'Show track 1 from frame 10' }));
      expect(video.currentTime).toBe(1);
      expect(overlay.dataset.frameIndex).toBe('10');
    });

    it('seeks to the next analysed frame when a track starts on a frame without a result', async () => {
      const tracks = [{ track_id: 5, class_id: 0, class_name: 'person', first_frame: 15, last_frame: 20, frames_seen: 1 }];
      await openTracked({ ...trackedBody, tracks });
      fireEvent.click(screen.getByRole('button', { name: 'Show track 5 from frame 15' }));
      expect(screen.getByTestId<HTMLVideoElement>('job-video').currentTime).toBe(2);
      expect(screen.getByTestId('overlay').dataset.frameIndex).toBe('20');
    });

    it('shows the track id of tracked detections in the frame rows', async () => {
      await openTracked();
      const rows = screen.getAllByTestId('result-row');
      const [untracked] = within(rows[0]!).getAllByTestId('result-detection');
      expect(untracked?.textContent).toBe('person 91%');
      expect(untracked?.dataset.trackId).toBeUndefined();
      const frame20 = within(rows[2]!).getAllByTestId('result-detection');
      expect(frame20.map((d) => d.textContent)).toEqual(['person #1 91%', 'motorcycle #3 91%']);
      expect(frame20.map((d) => d.dataset.trackId)).toEqual(['1', '3']);
      const frame10 = within(rows[1]!).getAllByTestId('result-detection');
      expect(frame10.map((d) => d.dataset.trackId ?? null)).toEqual(['1', null]);
    });

    it('shows no tracks section when the job has no tracks', async () => {
      await openTracked({ ...trackedBody, tracks: [] });
      expect(screen.queryByTestId('job-tracks')).toBeNull();
      cleanup();
      await openTracked({ ...trackedBody, tracks: undefined }); // left out of the JSON
      expect(screen.queryByTestId('job-tracks')).toBeNull();
      expect(screen.queryAllByTestId('job-track-row')).toHaveLength(0);
    });
  });

  it('closes', () => {
    const onClose = vi.fn();
    const server = fakeServer();
    server.state.routes.set('GET /v1/video/results/j1', () => jsonResponse(body));
    render(<JobResultsView jobId="j1" onClose={onClose} />);
    fireEvent.click(screen.getByTestId('job-results-close'));
    expect(onClose).toHaveBeenCalled();
  });
});
