import { useState } from 'react';
import { JobList } from './JobList';
import { JobResultsView } from './JobResultsView';
import { UploadForm } from './UploadForm';
import { DEFAULT_POLL_MS, useJobs } from './useJobs';

export interface JobsPanelProps {
  /** Job list poll interval while a job is pending or running. */
  pollMs?: number;
}

/** MP4 upload (SPEC §8): the upload form, the job list with progress, and a completed job's results. */
export function JobsPanel({ pollMs = DEFAULT_POLL_MS }: JobsPanelProps) {
  const { jobs, loaded, error, refresh, remove } = useJobs(pollMs);
  const [viewing, setViewing] = useState<string | null>(null);
  // A job that was deleted (here or elsewhere) closes its results.
  const viewed = viewing === null ? undefined : jobs.find((j) => j.job_id === viewing);
  const openId = viewed ? viewing : null;

  return (
    <section className="jobs" data-testid="jobs-panel" aria-labelledby="jobs-title">
      <div className="jobs-header">
        <h2 id="jobs-title">Upload a video</h2>
        <p className="muted">No camera? Upload an MP4 and it is analysed in the background.</p>
      </div>
      <UploadForm onSubmitted={refresh} />
      {error && (
        <p className="field-error" role="status" data-testid="jobs-error">
          {error}
        </p>
      )}
      <JobList
        jobs={jobs}
        loaded={loaded}
        selectedId={openId}
        onView={setViewing}
        onDelete={(jobId) => {
          void remove(jobId);
        }}
      />
      {openId !== null && (
        <JobResultsView
          key={openId}
          jobId={openId}
          fileName={viewed?.file_name}
          onClose={() => {
            setViewing(null);
          }}
        />
      )}
    </section>
  );
}
