//! What a session needs from the code that runs pipelines, and what it tells the code that watches it.

use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use backpressure::BackpressureState;
use bytes::Bytes;
use stream_protocol::{ErrorCode, FrameResult};

/// One frame to run through a pipeline.
#[derive(Debug, Clone)]
pub struct FrameJob {
    /// The session's pipeline.
    pub pipeline_id: Arc<str>,
    /// Index of the frame in its session.
    pub frame_index: u64,
    /// When the frame arrived, measured from the session's start: the time a tracker steps by.
    pub at: Duration,
    /// The validated JPEG bytes.
    pub jpeg: Bytes,
    /// The session's pipeline state (a tracker's tracks, say): opened by the [`FramePipeline`] on the first
    /// frame, kept for the session's life, dropped with it.
    pub stream: StreamSlot,
}

/// A place for the state a [`FramePipeline`] keeps for one session's stream. The session only holds it (one
/// per session, created empty, dropped when the session ends) and hands it to every frame; what goes in it
/// is the pipeline's business. Frames of one session run one at a time, so the lock is never contended.
#[derive(Clone, Default)]
pub struct StreamSlot(Arc<Mutex<Option<Box<dyn Any + Send>>>>);

impl StreamSlot {
    /// The slot's content, locked for the frame that runs. A lock poisoned by a panicking run is cleared
    /// along with its content: the next frame starts the stream's state afresh.
    pub fn lock(&self) -> MutexGuard<'_, Option<Box<dyn Any + Send>>> {
        self.0.lock().unwrap_or_else(|poisoned| {
            self.0.clear_poison();
            let mut guard = poisoned.into_inner();
            *guard = None;
            guard
        })
    }
}

impl std::fmt::Debug for StreamSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamSlot")
    }
}

/// Why a pipeline could not produce a result. Each variant ends the session with its error code.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PipelineError {
    /// The frame passed the header checks but could not be decoded (`invalid_frame`).
    InvalidFrame(Cow<'static, str>),
    /// The pipeline failed on a valid frame (`pipeline_failure`), with a detail safe to show a client, such as
    /// `YOLO inference failed`.
    Failed(Cow<'static, str>),
    /// A bug: a panic or a broken invariant (`internal_error`). The detail is never shown to the client.
    Internal(Cow<'static, str>),
}

impl PipelineError {
    /// The wire code this error is reported with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidFrame(_) => ErrorCode::InvalidFrame,
            Self::Failed(_) => ErrorCode::PipelineFailure,
            Self::Internal(_) => ErrorCode::InternalError,
        }
    }

    /// The detail sent to the client.
    pub fn client_detail(&self) -> Cow<'static, str> {
        match self {
            Self::InvalidFrame(detail) | Self::Failed(detail) => detail.clone(),
            Self::Internal(_) => Cow::Borrowed(INTERNAL_ERROR_DETAIL),
        }
    }
}

/// The detail of every `internal_error`: internals never reach the client.
pub const INTERNAL_ERROR_DETAIL: &str = "Unexpected error occurred";

/// Runs frames through pipelines. The server implements it over its inference pool; tests implement it with
/// a delay they control.
///
/// The returned future is spawned as its own task, so the session keeps reading the socket while it runs,
/// and a panic inside it is caught and reported as `internal_error` to this session only.
pub trait FramePipeline: Send + Sync + 'static {
    /// Runs one frame.
    fn process(
        &self,
        job: FrameJob,
    ) -> impl Future<Output = Result<FrameResult, PipelineError>> + Send + 'static;
}

/// Hooks for metrics: every method has an empty default. Called on the session's task, so keep them cheap
/// (counter increments, histogram records).
pub trait SessionObserver: Send + Sync {
    /// A result was sent, `round_trip` after the frame was read.
    fn frame_processed(&self, pipeline_id: &str, round_trip: Duration, result: &FrameResult) {
        let _ = (pipeline_id, round_trip, result);
    }

    /// A drop notice was sent.
    fn frame_dropped(&self, pipeline_id: &str) {
        let _ = pipeline_id;
    }

    /// A `slow_down` warning was sent.
    fn slow_down(&self, pipeline_id: &str, drop_rate: f64) {
        let _ = (pipeline_id, drop_rate);
    }

    /// The session moved from one backpressure state to another.
    fn state_changed(&self, from: BackpressureState, to: BackpressureState) {
        let _ = (from, to);
    }

    /// The session is ending with an error sent to the client.
    fn error(&self, code: ErrorCode) {
        let _ = code;
    }
}

/// Observes nothing.
impl SessionObserver for () {}
