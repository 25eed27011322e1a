import type { JobStatus } from './api';

export interface JobListProps {
  jobs: JobStatus[];
  loaded: boolean;
  /** The job whose results are open, if any. */
  selectedId?: string | null;
  onView: (jobId: string) => void;
  onDelete: (jobId: string) => void;
}

function framesText(job: JobStatus): string {
  if (job.frames_total === null) return job.status === 'pending' ? 'waiting for a worker' : 'reading the video…';
  return `${job.frames_processed} / ${job.frames_total} frames`;
}

function countsText(job: JobStatus): string {
  const parts = [`${job.detections} detection${job.detections === 1 ? '' : 's'}`];
  if (job.text_blocks > 0) parts.push(`${job.text_blocks} text block${job.text_blocks === 1 ? '' : 's'}`);
  return parts.join(', ');
}

/** The uploaded videos' jobs, newest first: status, progress bar, error, delete and "View results". */
export function JobList({ jobs, loaded, selectedId = null, onView, onDelete }: JobListProps) {
  if (!loaded) return <p className="muted">Loading jobs…</p>;
  if (jobs.length === 0) {
    return (
      <p className="muted" data-testid="jobs-empty">
        No uploaded videos yet.
      </p>
    );
  }
  return (
    <ul className="job-list" data-testid="job-list" aria-label="Video jobs">
      {jobs.map((job) => {
        const name = job.file_name || job.job_id;
        return (
          <li
            key={job.job_id}
            className={job.job_id === selectedId ? 'job selected' : 'job'}
            data-testid="job"
            data-job-id={job.job_id}
            data-status={job.status}
          >
            <div className="job-head">
              <strong className="job-name" title={job.job_id}>
                {name}
              </strong>
              <span className="muted job-pipeline">{job.pipeline_id}</span>
              <span className={`status status-job-${job.status}`} data-testid="job-status">
                {job.status}
              </span>
              <span className="job-actions">
                {job.status === 'completed' && (
                  <button
                    type="button"
                    className="primary"
                    data-testid="job-view"
                    aria-label={`View results of ${name}`}
                    onClick={() => {
                      onView(job.job_id);
                    }}
                  >
                    View results
                  </button>
                )}
                <button
                  type="button"
                  data-testid="job-delete"
                  aria-label={`Delete ${name}`}
                  onClick={() => {
                    onDelete(job.job_id);
                  }}
                >
                  Delete
                </button>
              </span>
            </div>
            <div
              className={`progress progress-${job.status}`}
              role="progressbar"
              aria-label={`Progress of ${name}`}
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={job.progress}
              aria-valuetext={`${job.progress}%`}
              data-testid="job-progress"
            >
              <div className="progress-fill" style={{ width: `${job.progress}%` }} />
            </div>
            <div className="job-meta muted">
              <span data-testid="job-progress-text">{job.progress}%</span>
              <span>{framesText(job)}</span>
              {job.frames_processed > 0 && <span>{countsText(job)}</span>}
              {job.frame_stride !== null && job.frame_stride > 1 && <span>stride {job.frame_stride}</span>}
            </div>
            {job.status === 'failed' && (
              <p className="job-error" data-testid="job-error">
                {job.error_message ?? 'The job failed.'}
              </p>
            )}
          </li>
        );
      })}
    </ul>
  );
}
