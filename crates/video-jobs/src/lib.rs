//! Video jobs for ForgeSyte Stream (docs/jobs.md): an uploaded MP4 becomes a persistent job that background
//! workers decode frame by frame and run through a pipeline, storing each frame's result.
//!
//! - [`video`]: H.264 MP4 → RGB frames, every size checked against the file before it is trusted;
//! - [`store`]: the job store — SQLite (one replica) or PostgreSQL (shared by replicas), one trait: jobs,
//!   per-frame results, tracks, claims and leases;
//! - [`Jobs`]: the service — claiming, workers, retention, the upload quota.
//!
//! The crate knows no HTTP and no sessions: it runs frames through a [`FrameRunner`] the embedder provides
//! (`stream-server` gives its shared inference pool), and the embedder serves the API over [`Jobs::store`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use video_jobs::store::NewJob;
//! use video_jobs::{FrameRunner, JobMetrics, JobSettings, Jobs, RunError};
//!
//! /// Runs each frame through a `PipelineRegistry` (a tracked pipeline would keep a `PipelineStream` in
//! /// `stream`, as stream-server's catalog does).
//! struct Runner(pipeline_dag::PipelineRegistry);
//!
//! impl FrameRunner for Runner {
//!     fn is_valid_pipeline(&self, pipeline_id: &str) -> bool {
//!         self.0.is_valid_pipeline(pipeline_id)
//!     }
//!     fn run_frame(
//!         &self,
//!         pipeline_id: &str,
//!         frame_index: u64,
//!         _at: Duration,
//!         frame: &pipeline_dag::stages::Frame,
//!         _stream: &mut Option<Box<dyn std::any::Any + Send>>,
//!     ) -> Result<stream_protocol::FrameResult, RunError> {
//!         self.0.run_on_image(pipeline_id, frame_index, frame).map_err(|error| RunError {
//!             detail: "the pipeline failed".into(),
//!             internal: Some(error.to_string()),
//!         })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = pipeline_dag::PipelineRegistry::load(&pipeline_dag::RegistryConfig::new("models"))?;
//! let jobs = Arc::new(Jobs::open(&JobSettings::new("data".into()), Arc::new(Runner(registry)))?);
//! let (tracker, shutdown) = (tokio_util::task::TaskTracker::new(), tokio_util::sync::CancellationToken::new());
//! jobs.start_workers(&tracker, &shutdown, Arc::new(JobMetrics::default()));
//! // With the MP4 saved at `jobs.upload_path("job-1")`:
//! jobs.insert(&NewJob {
//!     job_id: "job-1".into(),
//!     pipeline_id: "yolo".into(),
//!     file_name: "clip.mp4".into(),
//!     input_path: jobs.upload_path("job-1"),
//!     input_bytes: 1_000_000,
//!     frame_stride: 5,
//!     max_frames: None,
//! })?;
//! jobs.wake();
//! # Ok(()) }
//! ```

pub mod store;
pub mod video;

mod service;

pub use service::{
    FrameRunner, JobMetrics, JobSettings, Jobs, OpenError, ParseStoreError, RunError, StoreConfig,
    UploadReservation,
};
