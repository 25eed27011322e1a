import { fireEvent, render, screen, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { JobList } from './JobList';
import { job } from '../test/fakeJobsServer';

const jobs = [
  job({ job_id: 'r', file_name: 'running.mp4', status: 'running', progress: 42, frames_total: 90, frames_processed: 38, detections: 51 }),
  job({ job_id: 'p', file_name: 'pending.mp4', status: 'pending' }),
  job({ job_id: 'c', file_name: 'done.mp4', pipeline_id: 'ocr', status: 'completed', progress: 100, frames_total: 5, frames_processed: 5, text_blocks: 12 }),
  job({ job_id: 'f', file_name: 'broken.mp4', status: 'failed', progress: 0, error_message: 'Video codec is not H.264' }),
];

function item(jobId: string) {
  const el = screen.getAllByTestId('job').find((e) => e.dataset.jobId === jobId);
  if (!el) throw new Error(`no job ${jobId}`);
  return el;
}

describe('JobList', () => {
  it('shows each job in the given (newest first) order with name, pipeline, status and a progress bar', () => {
    render(<JobList jobs={jobs} loaded onView={vi.fn()} onDelete={vi.fn()} />);
    expect(screen.getAllByTestId('job').map((e) => e.dataset.jobId)).toEqual(['r', 'p', 'c', 'f']);
    const bars = screen.getAllByRole('progressbar');
    expect(bars.map((b) => b.getAttribute('aria-valuenow'))).toEqual(['42', '0', '100', '0']);
    expect(bars[0]!.getAttribute('aria-valuemin')).toBe('0');
    expect(bars[0]!.getAttribute('aria-valuemax')).toBe('100');
    expect(screen.getByRole('progressbar', { name: 'Progress of running.mp4' })).toBe(bars[0]);
    expect((bars[0]!.firstElementChild as HTMLElement).style.width).toBe('42%');

    const running = item('r');
    expect(running.textContent).toContain('running.mp4');
    expect(running.textContent).toContain('yolo');
    expect(within(running).getByTestId('job-status').textContent).toBe('running');
    expect(running.textContent).toContain('38 / 90 frames');
    expect(running.textContent).toContain('51 detections');
    expect(item('p').textContent).toContain('waiting for a worker');
    expect(item('c').textContent).toContain('12 text blocks');
  });

  it("shows a failed job's error_message", () => {
    render(<JobList jobs={jobs} loaded onView={vi.fn()} onDelete={vi.fn()} />);
    expect(within(item('f')).getByTestId('job-error').textContent).toBe('Video codec is not H.264');
    expect(screen.getAllByTestId('job-error')).toHaveLength(1);
  });

  it('offers "View results" only for completed jobs, and Delete for every job', () => {
    const onView = vi.fn();
    const onDelete = vi.fn();
    render(<JobList jobs={jobs} loaded onView={onView} onDelete={onDelete} />);
    const view = screen.getAllByTestId('job-view');
    expect(view).toHaveLength(1);
    fireEvent.click(view[0]!);
    expect(onView).toHaveBeenCalledWith('c');
    expect(screen.getAllByTestId('job-delete')).toHaveLength(4);
    fireEvent.click(screen.getByRole('button', { name: 'Delete pending.mp4' }));
    expect(onDelete).toHaveBeenCalledWith('p');
  });

  it('says when there are no jobs, or while the first list loads', () => {
    const { rerender } = render(<JobList jobs={[]} loaded={false} onView={vi.fn()} onDelete={vi.fn()} />);
    expect(screen.getByText('Loading jobs…')).toBeTruthy();
    rerender(<JobList jobs={[]} loaded onView={vi.fn()} onDelete={vi.fn()} />);
    expect(screen.getByTestId('jobs-empty')).toBeTruthy();
  });
});
