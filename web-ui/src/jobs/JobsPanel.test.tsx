import { act, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { JobsPanel } from './JobsPanel';
import { fakeServer, job, mp4File } from '../test/fakeJobsServer';

/** Lets fake time pass and settles the fetch promises and React updates it causes. */
async function elapse(ms = 0) {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

function progressOf(jobId: string) {
  const item = screen.getAllByTestId('job').find((el) => el.dataset.jobId === jobId);
  if (!item) throw new Error(`no job ${jobId} in the list`);
  return within(item).getByRole('progressbar');
}

describe('JobsPanel: polling', () => {
  it('polls GET /v1/jobs every second while a job runs, and stops once all are finished', async () => {
    const server = fakeServer([job({ job_id: 'a', status: 'running', progress: 40, frames_total: 50, frames_processed: 20 })]);
    render(<JobsPanel pollMs={1000} />);
    await elapse();
    expect(server.callsTo('GET', '/v1/jobs')).toBe(1);
    expect(progressOf('a').getAttribute('aria-valuenow')).toBe('40');

    await elapse(999);
    expect(server.callsTo('GET', '/v1/jobs')).toBe(1);
    server.state.jobs = [job({ job_id: 'a', status: 'running', progress: 70, frames_total: 50, frames_processed: 35 })];
    await elapse(1);
    expect(server.callsTo('GET', '/v1/jobs')).toBe(2);
    expect(progressOf('a').getAttribute('aria-valuenow')).toBe('70');

    server.state.jobs = [job({ job_id: 'a', status: 'completed', progress: 100, frames_total: 50, frames_processed: 50 })];
    await elapse(1000);
    expect(server.callsTo('GET', '/v1/jobs')).toBe(3);
    expect(progressOf('a').getAttribute('aria-valuenow')).toBe('100');
    expect(screen.getByTestId('job-status').textContent).toBe('completed');
    expect(screen.getByTestId('job-view')).toBeTruthy();

    await elapse(10_000);
    expect(server.callsTo('GET', '/v1/jobs')).toBe(3);
  });

  it('does not poll when nothing is active, and resumes after an upload until the new job finishes', async () => {
    const server = fakeServer([job({ job_id: 'old', status: 'completed', progress: 100 })]);
    render(<JobsPanel pollMs={1000} />);
    await elapse();
    await elapse(5000);
    expect(server.callsTo('GET', '/v1/jobs')).toBe(1);

    fireEvent.change(screen.getByTestId('upload-file'), { target: { files: [mp4File('new.mp4')] } });
    fireEvent.click(screen.getByTestId('upload-submit'));
    await elapse();
    expect(server.callsTo('POST', '/v1/video/submit')).toBe(1);
    // The list is fetched right after the upload, and shows the new pending job first.
    expect(server.callsTo('GET', '/v1/jobs')).toBe(2);
    const items = screen.getAllByTestId('job');
    expect(items.map((el) => el.dataset.status)).toEqual(['pending', 'completed']);
    expect(items[0]!.textContent).toContain('new.mp4');

    await elapse(1000);
    expect(server.callsTo('GET', '/v1/jobs')).toBe(3);
    server.state.jobs = server.state.jobs.map((j) => ({ ...j, status: 'completed', progress: 100 }));
    await elapse(1000);
    expect(server.callsTo('GET', '/v1/jobs')).toBe(4);
    await elapse(5000);
    expect(server.callsTo('GET', '/v1/jobs')).toBe(4);
  });

  it('keeps polling through a failed poll and clears the error when the list comes back', async () => {
    const server = fakeServer([job({ job_id: 'a', status: 'running', progress: 10 })]);
    render(<JobsPanel pollMs={1000} />);
    await elapse();
    server.state.routes.set('GET /v1/jobs', () => {
      throw new TypeError('Failed to fetch');
    });
    await elapse(1000);
    expect(screen.getByTestId('jobs-error').textContent).toContain('server not reachable');
    // The last known list stays on screen.
    expect(progressOf('a').getAttribute('aria-valuenow')).toBe('10');
    server.state.routes.delete('GET /v1/jobs');
    server.state.jobs = [job({ job_id: 'a', status: 'running', progress: 30 })];
    await elapse(1000);
    expect(server.callsTo('GET', '/v1/jobs')).toBe(3);
    expect(screen.queryByTestId('jobs-error')).toBeNull();
    expect(progressOf('a').getAttribute('aria-valuenow')).toBe('30');
  });
});

describe('JobsPanel: delete and results', () => {
  it('deletes a job with DELETE /v1/jobs/{id} and drops it from the list', async () => {
    const server = fakeServer([
      job({ job_id: 'a', status: 'completed', progress: 100 }),
      job({ job_id: 'b', status: 'failed', progress: 20, error_message: 'No H.264 video track' }),
    ]);
    render(<JobsPanel />);
    await elapse();
    expect(screen.getByTestId('job-error').textContent).toBe('No H.264 video track');

    fireEvent.click(screen.getByRole('button', { name: 'Delete b.mp4' }));
    await elapse();
    expect(server.callsTo('DELETE', '/v1/jobs/b')).toBe(1);
    expect(screen.getAllByTestId('job').map((el) => el.dataset.jobId)).toEqual(['a']);
    // The list was fetched again after the delete.
    expect(server.callsTo('GET', '/v1/jobs')).toBe(2);
  });

  it('keeps the job and shows the error when the delete fails', async () => {
    const server = fakeServer([job({ job_id: 'a', status: 'completed', progress: 100 })]);
    server.state.routes.set(
      'DELETE /v1/jobs/a',
      () => new Response(JSON.stringify({ error: 'internal', detail: 'disk full' }), { status: 500 }),
    );
    render(<JobsPanel />);
    await elapse();
    fireEvent.click(screen.getByRole('button', { name: 'Delete a.mp4' }));
    await elapse();
    expect(screen.getByTestId('jobs-error').textContent).toContain('disk full');
    expect(screen.getAllByTestId('job')).toHaveLength(1);
  });

  it('opens the results of a completed job and closes them when the job is deleted', async () => {
    const server = fakeServer([job({ job_id: 'a', status: 'completed', progress: 100 })]);
    server.state.routes.set('GET /v1/video/results/a', () =>
      Response.json({
        job_id: 'a',
        pipeline_id: 'yolo',
        results: [
          {
            frame_index: 0,
            timestamp_ms: 0,
            result: {
              image: { width: 640, height: 480 },
              detections: [{ xyxy: [1, 2, 3, 4], confidence: 0.9, class_id: 0, class_name: 'person' }],
            },
          },
        ],
      }),
    );
    render(<JobsPanel />);
    await elapse();
    fireEvent.click(screen.getByTestId('job-view'));
    await elapse();
    const results = screen.getByTestId('job-results');
    expect(within(results).getByTestId('result-detection').dataset.className).toBe('person');
    fireEvent.click(screen.getByRole('button', { name: 'Delete a.mp4' }));
    await elapse();
    expect(screen.queryByTestId('job-results')).toBeNull();
  });
});
