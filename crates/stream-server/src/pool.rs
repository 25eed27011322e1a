//! The bounded inference pool: at most `STREAM_INFERENCE_THREADS` pipeline runs at once, across all sessions.

use std::sync::Arc;

use pipeline_dag::stages::Frame;
use stream_protocol::FrameResult;
use stream_session::{FrameJob, FramePipeline, PipelineError};
use tokio::sync::Semaphore;

use crate::PipelineCatalog;

/// Runs frames on blocking threads, never on the async runtime's workers, with a fair (FIFO) permit per run.
///
/// Each session has at most one frame in flight, so FIFO permits serve sessions in turn: a busy session cannot
/// starve the others.
#[derive(Clone)]
pub(crate) struct InferencePool {
    catalog: Arc<dyn PipelineCatalog>,
    permits: Arc<Semaphore>,
}

impl InferencePool {
    pub(crate) fn new(catalog: Arc<dyn PipelineCatalog>, threads: usize) -> Self {
        Self { catalog, permits: Arc::new(Semaphore::new(threads.max(1))) }
    }

    pub(crate) fn catalog(&self) -> &dyn PipelineCatalog {
        &*self.catalog
    }
}

impl InferencePool {
    /// Runs a decoded frame on the calling thread once a permit is free; for job workers, which already run on
    /// a blocking thread. A job holds at most one permit at a time, so `STREAM_JOB_WORKERS` bounds the share
    /// of the pool jobs can take. `None` when the pool is closed.
    /// The frame is the next of the job's stream (`stream`, kept by the worker for the job's run; `at` is the
    /// frame's time in the video), so tracked pipelines follow objects across the job's frames.
    pub(crate) fn run_image_blocking(
        &self,
        runtime: &tokio::runtime::Handle,
        pipeline_id: &str,
        frame_index: u64,
        at: std::time::Duration,
        frame: &Frame,
        stream: &mut Option<Box<dyn std::any::Any + Send>>,
    ) -> Result<FrameResult, PipelineError> {
        let _permit = runtime
            .block_on(self.permits.acquire())
            .map_err(|_| PipelineError::Internal("inference pool closed".into()))?;
        self.catalog.run_image_in_stream(pipeline_id, frame_index, at, frame, stream)
    }
}

impl std::fmt::Debug for InferencePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InferencePool").field("available", &self.permits.available_permits()).finish()
    }
}

impl FramePipeline for InferencePool {
    fn process(
        &self,
        job: FrameJob,
    ) -> impl Future<Output = Result<FrameResult, PipelineError>> + Send + 'static {
        let catalog = Arc::clone(&self.catalog);
        let permits = Arc::clone(&self.permits);
        async move {
            let permit = permits
                .acquire_owned()
                .await
                .map_err(|_| PipelineError::Internal("inference pool closed".into()))?;
            // The permit moves into the blocking closure: if the session goes away meanwhile, the run still
            // holds its place until it really finishes, so the pool is never oversubscribed.
            let run = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let mut stream = job.stream.lock();
                catalog.run_in_stream(&job.pipeline_id, job.frame_index, job.at, &job.jpeg, &mut stream)
            });
            match run.await {
                Ok(result) => result,
                Err(join_error) if join_error.is_panic() => {
                    Err(PipelineError::Internal("pipeline panicked".into()))
                }
                Err(_) => Err(PipelineError::Internal("pipeline run cancelled".into())),
            }
        }
    }
}
