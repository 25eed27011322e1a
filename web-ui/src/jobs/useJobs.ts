import { useCallback, useEffect, useRef, useState } from 'react';
import { deleteJob, describeJobsError, isActive, listJobs, type JobStatus } from './api';

export interface JobsState {
  /** Newest first, as the server lists them. */
  jobs: JobStatus[];
  /** The first list has arrived (or failed). */
  loaded: boolean;
  /** A failed delete (until the next delete) or else a failed list (until the next successful list), as text. */
  error: string | null;
  /** True while some job is pending or running, i.e. while the list is polled. */
  polling: boolean;
  /** Fetches the list now (e.g. after an upload); polling then resumes by itself if a job is active. */
  refresh: () => void;
  remove: (jobId: string) => Promise<void>;
}

export const DEFAULT_POLL_MS = 1000;

/**
 * The job list from GET /v1/jobs. Polls every `pollMs` only while some job is pending or running, and stops once
 * all are finished; a `refresh()` (e.g. after an upload) that brings an active job starts it again.
 */
export function useJobs(pollMs: number = DEFAULT_POLL_MS): JobsState {
  const [jobs, setJobs] = useState<JobStatus[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [listError, setListError] = useState<string | null>(null);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  // Each bump fetches the list once; a newer fetch aborts an older one still in flight.
  const [requested, setRequested] = useState(0);
  // Bumped when a fetch ends (answer or failure), so the next poll is scheduled even after a failure.
  const [answered, setAnswered] = useState(0);
  const alive = useRef(true);

  useEffect(() => {
    alive.current = true;
    return () => {
      alive.current = false;
    };
  }, []);

  useEffect(() => {
    const controller = new AbortController();
    listJobs(controller.signal)
      .then((list) => {
        if (controller.signal.aborted) return;
        setJobs(list);
        setListError(null);
      })
      .catch((err: unknown) => {
        if (controller.signal.aborted) return;
        const { title, detail } = describeJobsError(err);
        setListError(`Could not load jobs: ${title.toLowerCase()} (${detail}).`);
      })
      .finally(() => {
        if (controller.signal.aborted) return;
        setLoaded(true);
        setAnswered((n) => n + 1);
      });
    return () => {
      controller.abort();
    };
  }, [requested]);

  const refresh = useCallback(() => {
    setRequested((n) => n + 1);
  }, []);

  const polling = jobs.some(isActive);
  useEffect(() => {
    if (!polling) return undefined;
    const timer = setTimeout(() => {
      setRequested((n) => n + 1);
    }, pollMs);
    return () => {
      clearTimeout(timer);
    };
  }, [polling, answered, pollMs]);

  const remove = useCallback(async (jobId: string) => {
    setDeleteError(null);
    try {
      await deleteJob(jobId);
    } catch (err) {
      const { code, title, detail } = describeJobsError(err);
      // `not_found`: already gone, so it leaves the list like a deleted one.
      if (code !== 'not_found') {
        if (alive.current) setDeleteError(`Could not delete the job: ${title.toLowerCase()} (${detail}).`);
        return;
      }
    }
    if (!alive.current) return;
    setJobs((list) => list.filter((j) => j.job_id !== jobId));
    setRequested((n) => n + 1);
  }, []);

  return { jobs, loaded, error: deleteError ?? listError, polling, refresh, remove };
}
