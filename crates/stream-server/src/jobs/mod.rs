//! Video jobs over HTTP (docs/jobs.md): the `video-jobs` crate holds the store, the MP4 decoding and the
//! workers; this module serves its API and runs its frames on the server's shared inference pool.

pub(crate) mod api;
mod upload;

use std::sync::Arc;
use std::time::Duration;

use pipeline_dag::stages::Frame;
use stream_protocol::FrameResult;
use stream_session::PipelineError;
use video_jobs::{FrameRunner, RunError};

use crate::pool::InferencePool;

/// Job frames on the shared inference pool: a job holds at most one of its permits at a time, so
/// `STREAM_JOB_WORKERS` bounds the share of the pool jobs can take.
#[derive(Debug)]
pub(crate) struct PoolRunner(pub(crate) Arc<InferencePool>);

impl FrameRunner for PoolRunner {
    fn is_valid_pipeline(&self, pipeline_id: &str) -> bool {
        self.0.catalog().is_valid_pipeline(pipeline_id)
    }

    fn run_frame(
        &self,
        pipeline_id: &str,
        frame_index: u64,
        at: Duration,
        frame: &Frame,
        stream: &mut Option<Box<dyn std::any::Any + Send>>,
    ) -> Result<FrameResult, RunError> {
        // Workers call this on a blocking thread of the runtime, so its handle is there.
        let runtime = tokio::runtime::Handle::current();
        self.0.run_image_blocking(&runtime, pipeline_id, frame_index, at, frame, stream).map_err(|error| {
            let internal = match &error {
                PipelineError::Internal(reason) => Some(reason.to_string()),
                _ => None,
            };
            RunError { detail: error.client_detail().into_owned(), internal }
        })
    }
}
