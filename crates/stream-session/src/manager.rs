//! `SessionManager`: the state of one connection, from accept to close.

use std::sync::Arc;
use std::time::Duration;

use backpressure::{
    Admission, BackpressureConfig, BackpressureState, Decision, DropPolicy, FrameSlots, Outcome,
};
use bytes::Bytes;
use frame_validate::FrameLimits;
use tokio::time::Instant;
use uuid::Uuid;

use crate::pipeline::StreamSlot;

/// Settings of every session, built once by the server from its configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionConfig {
    /// Drop thresholds and window (`STREAM_DROP_THRESHOLD`, `STREAM_SLOWDOWN_THRESHOLD`, `STREAM_DROP_WINDOW`).
    pub backpressure: BackpressureConfig,
    /// Frame size and pixel limits (`STREAM_MAX_FRAME_SIZE_MB`, `STREAM_MAX_PIXELS`).
    pub frame_limits: FrameLimits,
    /// Close a session that sends no frame for this long (`STREAM_IDLE_TIMEOUT_S`). Default 30 s.
    pub idle_timeout: Duration,
    /// End a session whose client has not taken a message for this long (`STREAM_SEND_TIMEOUT_S`): a client
    /// that stops reading must not pin its session, its slot and its frames. Default 10 s.
    pub send_timeout: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            backpressure: BackpressureConfig::default(),
            frame_limits: FrameLimits::default(),
            idle_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(10),
        }
    }
}

/// A valid frame that has been admitted but not yet answered.
#[derive(Debug, Clone)]
pub struct PendingFrame {
    /// Index among the session's valid frames, from 0.
    pub index: u64,
    /// The JPEG bytes, as received (shared, never copied).
    pub jpeg: Bytes,
    /// When the frame was read from the client.
    pub received_at: Instant,
}

/// The result of admitting one valid frame.
#[derive(Debug)]
pub struct Admitted {
    /// The index the frame was given.
    pub index: u64,
    /// What to do: start it, leave it waiting, or drop the frame it replaced.
    pub action: Admission<PendingFrame>,
    /// The policy's decision if a frame's fate was settled by this admission (started or dropped).
    pub decision: Option<Decision>,
}

/// The state of one streaming session: identity, counters and the backpressure policy.
///
/// Created when a connection is accepted, dropped when it closes; nothing of it outlives the connection.
/// Per frame it allocates nothing: the drop window is allocated once here, and frames move through two
/// fixed slots.
#[derive(Debug)]
pub struct SessionManager {
    session_id: Uuid,
    pipeline_id: Arc<str>,
    config: SessionConfig,
    /// Valid frames received so far, which is also the index the next valid frame gets.
    frame_index: u64,
    processed_frames: u64,
    dropped_frames: u64,
    slow_down_signals: u64,
    /// Exponentially weighted mean of the pipeline's time per frame, in seconds.
    service_time_ewma: Option<f64>,
    policy: DropPolicy,
    slots: FrameSlots<PendingFrame>,
    started_at: Instant,
    /// The pipeline's state for this session's stream, dropped with the session.
    stream: StreamSlot,
}

impl SessionManager {
    /// A new session for `pipeline_id` with a fresh UUID v4.
    pub fn new(pipeline_id: impl Into<Arc<str>>, config: SessionConfig) -> Self {
        Self {
            session_id: Uuid::new_v4(),
            pipeline_id: pipeline_id.into(),
            config,
            frame_index: 0,
            processed_frames: 0,
            dropped_frames: 0,
            slow_down_signals: 0,
            service_time_ewma: None,
            policy: DropPolicy::new(config.backpressure),
            slots: FrameSlots::new(),
            started_at: Instant::now(),
            stream: StreamSlot::default(),
        }
    }

    // === identity and settings ===

    /// The session's UUID v4.
    pub fn session_id(&self) -> Uuid {
        self.session_id
    }

    /// The pipeline every frame of this session runs through.
    pub fn pipeline_id(&self) -> &Arc<str> {
        &self.pipeline_id
    }

    /// The settings in force.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    // === counters ===

    /// Valid frames received so far; also the index the next valid frame will get.
    pub fn frame_index(&self) -> u64 {
        self.frame_index
    }

    /// Frames answered with a result.
    pub fn processed_frames(&self) -> u64 {
        self.processed_frames
    }

    /// Frames answered with a drop notice.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames
    }

    /// `slow_down` warnings sent.
    pub fn slow_down_signals(&self) -> u64 {
        self.slow_down_signals
    }

    /// The current backpressure state.
    pub fn backpressure_state(&self) -> BackpressureState {
        self.policy.state()
    }

    /// Drop rate over the sliding window.
    pub fn drop_rate(&self) -> f64 {
        self.policy.drop_rate()
    }

    /// How long the session has been open.
    pub fn age(&self) -> Duration {
        self.started_at.elapsed()
    }

    /// When the session opened: frames' [`FrameJob::at`](crate::FrameJob::at) count from here.
    pub(crate) fn started_at(&self) -> Instant {
        self.started_at
    }

    /// The pipeline's state for this session's stream.
    pub(crate) fn stream(&self) -> &StreamSlot {
        &self.stream
    }

    /// Frames per second the pipeline has been sustaining for this session, if a frame has completed.
    pub fn sustainable_fps(&self) -> Option<f64> {
        self.service_time_ewma.filter(|&s| s > 0.0).map(|s| (10.0 / s).floor() / 10.0)
    }

    // === policy ===

    /// Whether a frame arriving now would push out a waiting frame (one is in flight and one waits).
    pub fn should_drop_frame(&self) -> bool {
        self.slots.would_drop()
    }

    /// Whether entering `critical` now would send a `slow_down` (the warning is armed), and the session is
    /// critical.
    pub fn should_slow_down(&self) -> bool {
        backpressure::should_slow_down(self.policy.state(), self.policy.is_armed())
    }

    /// Counts one more valid frame and returns its index.
    fn increment_frame(&mut self) -> u64 {
        let index = self.frame_index;
        self.frame_index += 1;
        index
    }

    /// Records that a frame was dropped.
    fn mark_drop(&mut self) -> Decision {
        self.dropped_frames += 1;
        self.record(Outcome::Dropped)
    }

    /// Records that a frame went into the pipeline.
    fn mark_started(&mut self) -> Decision {
        self.record(Outcome::Processed)
    }

    fn record(&mut self, outcome: Outcome) -> Decision {
        let decision = self.policy.record(outcome);
        self.slow_down_signals += u64::from(decision.slow_down);
        decision
    }

    /// Admits a valid frame: gives it the next index, then starts it, parks it, or parks it and drops the
    /// frame that was waiting.
    pub fn admit(&mut self, jpeg: Bytes, received_at: Instant) -> Admitted {
        let index = self.increment_frame();
        let action = self.slots.admit(PendingFrame { index, jpeg, received_at });
        let decision = match &action {
            Admission::Start(_) => Some(self.mark_started()),
            Admission::Parked => None,
            Admission::Replaced(_) => Some(self.mark_drop()),
        };
        Admitted { index, action, decision }
    }

    /// The in-flight frame has been answered with a result after `service_time` in the pipeline. Returns the
    /// waiting frame, now started, with the policy's decision, if one was waiting.
    pub fn complete_frame(&mut self, service_time: Duration) -> Option<(PendingFrame, Decision)> {
        self.processed_frames += 1;
        let seconds = service_time.as_secs_f64();
        self.service_time_ewma = Some(match self.service_time_ewma {
            Some(mean) => 0.8 * mean + 0.2 * seconds,
            None => seconds,
        });
        let next = self.slots.finish()?;
        let decision = self.mark_started();
        Some((next, decision))
    }

    /// Ends the session's frame flow: returns the frame that was waiting, if any (it is neither processed nor
    /// reported as dropped, since the connection is going away).
    pub fn clear(&mut self) -> Option<PendingFrame> {
        self.slots.clear()
    }
}
