//! Video jobs (docs/jobs.md): uploaded MP4s processed in the background by a few workers on the shared
//! inference pool, persisted in SQLite so that a restart loses none.

pub(crate) mod api;
mod store;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use stream_session::PipelineError;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::JobMetrics;
use crate::pool::InferencePool;
use crate::video::{Sampling, VideoError, VideoFrames};
use crate::{PipelineCatalog, ServerError};
pub(crate) use store::StoreError;
use store::{ClaimedJob, FrameRow, JobStore, Written};

/// How often an idle worker looks for pending jobs even without a wake-up (jobs submitted by another replica
/// sharing the store, or requeued ones).
const POLL: Duration = Duration::from_secs(2);

/// The job service: the store, where uploads go, and what workers need.
pub(crate) struct Jobs {
    store: JobStore,
    uploads: PathBuf,
    catalog: Arc<dyn PipelineCatalog>,
    pool: Arc<InferencePool>,
    max_pixels: u64,
    pub(crate) max_upload_bytes: u64,
    workers: usize,
    wake: Notify,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs").field("uploads", &self.uploads).field("workers", &self.workers).finish()
    }
}

/// Settings the job service takes from the server's configuration.
#[derive(Debug, Clone)]
pub(crate) struct JobSettings {
    pub(crate) data_dir: PathBuf,
    pub(crate) workers: usize,
    pub(crate) max_upload_bytes: u64,
    pub(crate) max_pixels: u64,
}

impl Jobs {
    /// Opens the store under `settings.data_dir` and puts jobs a previous process left running back in the queue.
    pub(crate) fn open(
        settings: &JobSettings,
        catalog: Arc<dyn PipelineCatalog>,
        pool: Arc<InferencePool>,
    ) -> Result<Self, ServerError> {
        let uploads = settings.data_dir.join("uploads");
        std::fs::create_dir_all(&uploads)
            .map_err(|source| ServerError::DataDir { path: uploads.clone(), source })?;
        let store = JobStore::open(&settings.data_dir).map_err(|e| ServerError::JobStore(e.to_string()))?;
        let requeued = store.requeue_interrupted().map_err(|e| ServerError::JobStore(e.to_string()))?;
        for job_id in &requeued {
            tracing::warn!(job_id, "job_requeued");
        }
        remove_partial_uploads(&uploads);
        Ok(Self {
            store,
            uploads,
            catalog,
            pool,
            max_pixels: settings.max_pixels,
            max_upload_bytes: settings.max_upload_bytes,
            workers: settings.workers,
            wake: Notify::new(),
        })
    }

    /// Starts the workers on `tracker`; they stop (requeueing what they were doing) when `shutdown` fires.
    pub(crate) fn start_workers(
        self: &Arc<Self>,
        tracker: &TaskTracker,
        shutdown: &CancellationToken,
        metrics: Arc<JobMetrics>,
    ) {
        for worker in 0..self.workers {
            let (jobs, shutdown, metrics) = (Arc::clone(self), shutdown.clone(), Arc::clone(&metrics));
            tracker.spawn(async move { jobs.worker(worker, shutdown, metrics).await });
        }
    }

    /// Where job `job_id`'s upload lives.
    pub(crate) fn upload_path(&self, job_id: &str) -> PathBuf {
        self.uploads.join(format!("{job_id}.mp4"))
    }

    /// Where job `job_id`'s upload is written while it arrives.
    pub(crate) fn partial_path(&self, job_id: &str) -> PathBuf {
        self.uploads.join(format!("{job_id}.part"))
    }

    pub(crate) fn store(&self) -> &JobStore {
        &self.store
    }

    pub(crate) fn catalog(&self) -> &dyn PipelineCatalog {
        &*self.catalog
    }

    /// Tells an idle worker there is work.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    async fn worker(self: Arc<Self>, worker: usize, shutdown: CancellationToken, metrics: Arc<JobMetrics>) {
        loop {
            // A job interrupted by shutdown is back in the queue: it must not be claimed again by this process.
            if shutdown.is_cancelled() {
                return;
            }
            let claimed = {
                let jobs = Arc::clone(&self);
                tokio::task::spawn_blocking(move || jobs.store.claim_next()).await
            };
            match claimed {
                Ok(Ok(Some(job))) => {
                    let jobs = Arc::clone(&self);
                    let (token, metrics) = (shutdown.clone(), Arc::clone(&metrics));
                    let runtime = tokio::runtime::Handle::current();
                    let run =
                        tokio::task::spawn_blocking(move || jobs.process(&job, &runtime, &token, &metrics));
                    if let Err(error) = run.await {
                        tracing::error!(worker, error = %error, "job worker task failed");
                    }
                    continue;
                }
                Ok(Ok(None)) => {}
                Ok(Err(error)) => tracing::error!(worker, error = %error, "cannot claim a job"),
                Err(error) => tracing::error!(worker, error = %error, "job worker task failed"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Runs one claimed job to its end on the calling (blocking) thread and records how it ended.
    fn process(
        &self,
        job: &ClaimedJob,
        runtime: &tokio::runtime::Handle,
        shutdown: &CancellationToken,
        metrics: &JobMetrics,
    ) {
        let job_id = job.job_id.as_str();
        tracing::info!(job_id, pipeline_id = job.pipeline_id, resume_after = job.resume_after, "job_started");
        // A panic in a decoder or a pipeline fails this job, never the worker or the server.
        let outcome =
            std::panic::catch_unwind(AssertUnwindSafe(|| self.run(job, runtime, shutdown, metrics)))
                .unwrap_or_else(|_| Err(JobFailure::Internal("panic while processing the video".into())));
        let recorded = match outcome {
            Ok(Ended::Completed) => self.store.complete(job_id).map(|written| {
                if written == Written::Yes {
                    metrics.completed.increment(1);
                    tracing::info!(job_id, "job_completed");
                }
            }),
            Ok(Ended::Gone) => {
                tracing::info!(job_id, "job_deleted_while_running");
                Ok(())
            }
            Ok(Ended::Stopped) => {
                tracing::info!(job_id, "job_requeued");
                self.store.requeue(job_id)
            }
            Err(failure) => {
                let message = failure.to_string();
                tracing::warn!(job_id, error_message = message, "job_failed");
                self.store.fail(job_id, &message).map(|written| {
                    if written == Written::Yes {
                        metrics.failed.increment(1);
                    }
                })
            }
        };
        if let Err(error) = recorded {
            tracing::error!(job_id, error = %error, "cannot record how the job ended");
        }
    }

    fn run(
        &self,
        job: &ClaimedJob,
        runtime: &tokio::runtime::Handle,
        shutdown: &CancellationToken,
        metrics: &JobMetrics,
    ) -> Result<Ended, JobFailure> {
        if !self.catalog.is_valid_pipeline(&job.pipeline_id) {
            return Err(JobFailure::Pipeline(format!("Unknown pipeline_id: {}", job.pipeline_id)));
        }
        if !job.input_path.is_file() {
            return Err(JobFailure::Internal("the uploaded file is missing from the data directory".into()));
        }
        let sampling = Sampling { stride: job.frame_stride, max_frames: job.max_frames };
        let mut frames = VideoFrames::open(&job.input_path, sampling, self.max_pixels)?;
        if self.store.set_video(&job.job_id, &frames.info(), frames.frames_total())? == Written::JobGone {
            return Ok(Ended::Gone);
        }
        while let Some(video_frame) = frames.next_frame()? {
            if shutdown.is_cancelled() {
                return Ok(Ended::Stopped);
            }
            if job.resume_after.is_some_and(|last| video_frame.index <= last) {
                continue;
            }
            let result = self
                .pool
                .run_image_blocking(runtime, &job.pipeline_id, video_frame.index, &video_frame.frame)
                .map_err(|error| {
                    if let PipelineError::Internal(reason) = &error {
                        tracing::error!(job_id = job.job_id, frame_index = video_frame.index, %reason, "job_pipeline_error");
                    }
                    let detail = error.client_detail();
                    JobFailure::Pipeline(format!("Pipeline failed at frame {}: {detail}", video_frame.index))
                })?;
            let result_json = serde_json::to_string(&result)
                .map_err(|e| JobFailure::Internal(format!("cannot serialise a result: {e}")))?;
            let row = FrameRow {
                frame_index: video_frame.index,
                timestamp_ms: video_frame.timestamp_ms,
                result_json: &result_json,
                detections: result.detections.as_ref().map_or(0, |d| d.len() as u64),
                text_blocks: result.ocr.as_ref().map_or(0, |o| o.blocks.len() as u64),
            };
            if self.store.add_frame(&job.job_id, &row)? == Written::JobGone {
                return Ok(Ended::Gone);
            }
            metrics.frames_processed.increment(1);
        }
        Ok(Ended::Completed)
    }
}

/// How a job run ended without failing.
enum Ended {
    Completed,
    /// Deleted while it ran.
    Gone,
    /// Interrupted by shutdown; it goes back to the queue.
    Stopped,
}

/// Why a job failed: the message becomes its `error_message`.
#[derive(Debug, thiserror::Error)]
enum JobFailure {
    #[error(transparent)]
    Video(#[from] VideoError),
    #[error("{0}")]
    Pipeline(String),
    #[error("Internal error: {0}")]
    Internal(String),
    #[error("Internal error: {0}")]
    Store(#[from] StoreError),
}

/// Removes uploads that never completed (the process died mid-upload): they belong to no job.
fn remove_partial_uploads(uploads: &Path) {
    let Ok(entries) = std::fs::read_dir(uploads) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "part") {
            let _ = std::fs::remove_file(&path);
        }
    }
}
