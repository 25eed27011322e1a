//! The per-connection loop: SPEC §2–3 over any stream of client messages and any sink of server messages.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use backpressure::{Admission, Decision};
use bytes::Bytes;
use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use stream_protocol::{CloseCode, ErrorCode, FrameResult, ServerMessage, SlowDown};
use tokio::task::{JoinError, JoinHandle};
use tokio::time::{Instant, sleep};
use uuid::Uuid;

use crate::{FrameJob, FramePipeline, PendingFrame, PipelineError, SessionManager, SessionObserver};

/// A message from the client, as the transport hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A complete binary message: one frame, not yet validated.
    Frame(Bytes),
    /// A text message (always refused with `invalid_message`).
    Text,
    /// A binary message over the size limit, refused by the transport before it was buffered whole.
    TooLarge {
        /// Bytes announced or read when the transport gave up, if known.
        len: Option<usize>,
    },
    /// The transport cannot buffer more of this client's frame without going over the server's memory budget
    /// for partly received frames: the session ends with `server_busy`.
    Overloaded,
}

/// A message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// A JSON text message (a [`ServerMessage`]).
    Text(String),
    /// Close the connection with this code and reason; nothing follows it.
    Close {
        /// The WebSocket close code.
        code: CloseCode,
        /// A short reason (at most 123 bytes, as close frames require).
        reason: Cow<'static, str>,
    },
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEnd {
    /// The client closed the connection (or its stream ended).
    ClientClosed,
    /// The server sent this error and closed.
    Error(ErrorCode),
    /// Sending to the client failed: the connection is gone.
    SendFailed,
    /// The client took no message for the send timeout: it stopped reading.
    SendTimeout,
    /// The server is shutting down (close 1001).
    Shutdown,
}

impl SessionEnd {
    /// A short name for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientClosed => "client_closed",
            Self::Error(code) => code.as_str(),
            Self::SendFailed => "send_failed",
            Self::SendTimeout => "send_timeout",
            Self::Shutdown => "shutdown",
        }
    }
}

/// What a finished session did, for the disconnect log line and the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary {
    /// The session's UUID.
    pub session_id: Uuid,
    /// Its pipeline.
    pub pipeline_id: Arc<str>,
    /// Valid frames received.
    pub frames: u64,
    /// Frames answered with a result.
    pub processed: u64,
    /// Frames answered with a drop notice.
    pub dropped: u64,
    /// `slow_down` warnings sent.
    pub slow_downs: u64,
    /// How long the session lasted.
    pub duration: Duration,
    /// How it ended.
    pub end: SessionEnd,
}

/// The frame in the pipeline.
struct Running {
    frame_index: u64,
    received_at: Instant,
    started_at: Instant,
    task: JoinHandle<Result<FrameResult, PipelineError>>,
}

/// Waits for the running frame, or forever when none is running.
async fn completion(running: &mut Option<Running>) -> Result<Result<FrameResult, PipelineError>, JoinError> {
    match running {
        Some(run) => (&mut run.task).await,
        None => std::future::pending().await,
    }
}

/// Runs one session to its end: reads frames from `inbound`, answers each on `outbound`, and closes.
///
/// - Every valid frame gets exactly one answer (a result or a drop notice); results go out in frame order.
/// - At most one frame is in the pipeline and one waits; a newer frame replaces the waiting one, which is
///   answered as dropped at once. The loop keeps reading while the pipeline works.
/// - Text messages, invalid and oversized frames, pipeline errors and panics, and the idle timeout end the
///   session with the contract's error message and close code. A panic is contained in this session.
/// - `shutdown` resolving closes the session with 1001.
/// - A send the client does not take within [`SessionConfig::send_timeout`](crate::SessionConfig::send_timeout) ends the session
///   ([`SessionEnd::SendTimeout`]); so does a shutdown while a send is blocked.
///
/// `inbound` ending means the client went away. The transport handles ping/pong and the close handshake.
pub async fn run_session<I, O, P, Obs, S>(
    mut session: SessionManager,
    mut inbound: I,
    mut outbound: O,
    pipeline: Arc<P>,
    observer: &Obs,
    shutdown: S,
) -> SessionSummary
where
    I: Stream<Item = Inbound> + Unpin,
    O: Sink<Outbound> + Unpin,
    P: FramePipeline,
    Obs: SessionObserver + ?Sized,
    S: Future<Output = ()>,
{
    let idle_timeout = session.config().idle_timeout;
    let limits = session.config().frame_limits;
    let idle = sleep(idle_timeout);
    // Fused: a send blocked at shutdown, and the close sent after it, poll it again once it has completed.
    let shutdown = shutdown.fuse();
    tokio::pin!(idle, shutdown);
    let mut running: Option<Running> = None;
    let mut out = Out {
        sink: &mut outbound,
        observer,
        send_timeout: session.config().send_timeout,
        timed_out: false,
        shutdown: shutdown.as_mut(),
    };

    let end = loop {
        tokio::select! {
            biased;
            () = out.shutdown.as_mut() => {
                out.close(CloseCode::GOING_AWAY, "Server shutting down").await;
                break SessionEnd::Shutdown;
            }
            joined = completion(&mut running) => {
                let Some(done) = running.take() else { continue };
                let result = match joined {
                    Ok(Ok(result)) => result,
                    Ok(Err(error)) => {
                        tracing::error!(
                            session_id = %session.session_id(),
                            pipeline_id = %session.pipeline_id(),
                            frame_index = done.frame_index,
                            code = error.code().as_str(),
                            reason = ?error,
                            "stream_pipeline_error"
                        );
                        break out.fail(error.code(), error.client_detail()).await;
                    }
                    Err(join_error) => {
                        tracing::error!(
                            session_id = %session.session_id(),
                            pipeline_id = %session.pipeline_id(),
                            frame_index = done.frame_index,
                            code = ErrorCode::InternalError.as_str(),
                            panic = join_error.is_panic(),
                            "stream_pipeline_error"
                        );
                        break out.fail(ErrorCode::InternalError, crate::INTERNAL_ERROR_DETAIL).await;
                    }
                };
                // Start the waiting frame before sending, so the pipeline is not idle while we write.
                if let Some((next, decision)) = session.complete_frame(done.started_at.elapsed()) {
                    running = Some(start(&pipeline, &session, next));
                    if !out.decided(&session, decision).await {
                        break out.send_failed();
                    }
                }
                let round_trip = done.received_at.elapsed();
                observer.frame_processed(session.pipeline_id(), round_trip, &result);
                let message = ServerMessage::Result { frame_index: done.frame_index, result: Box::new(result) };
                if !out.send(&message).await {
                    break out.send_failed();
                }
            }
            message = inbound.next() => {
                let jpeg = match message {
                    None => break SessionEnd::ClientClosed,
                    Some(Inbound::Frame(jpeg)) => jpeg,
                    Some(Inbound::Text) => {
                        break out.fail(ErrorCode::InvalidMessage, "Expected binary frame payload").await;
                    }
                    Some(Inbound::TooLarge { len }) => {
                        let len = len.unwrap_or(limits.max_frame_bytes.saturating_add(1));
                        let detail = match frame_validate::check_frame_size(len, &limits) {
                            Err(error) => error.detail(),
                            Ok(()) => frame_validate::check_frame_size(usize::MAX, &limits)
                                .err()
                                .map_or_else(|| "Frame too large".to_owned(), |e| e.detail()),
                        };
                        break out.fail(ErrorCode::FrameTooLarge, detail).await;
                    }
                    Some(Inbound::Overloaded) => {
                        let detail = "The server has no memory left for more frames; try again later";
                        break out.fail(ErrorCode::ServerBusy, detail).await;
                    }
                };
                if let Err(error) = frame_validate::validate_jpeg(&jpeg, &limits) {
                    break out.fail(error.code(), error.detail()).await;
                }
                let now = Instant::now();
                idle.as_mut().reset(now + idle_timeout);
                let admitted = session.admit(jpeg, now);
                match admitted.action {
                    Admission::Start(frame) => running = Some(start(&pipeline, &session, frame)),
                    Admission::Parked => {}
                    Admission::Replaced(dropped) => {
                        tracing::debug!(
                            session_id = %session.session_id(),
                            pipeline_id = %session.pipeline_id(),
                            frame_index = dropped.index,
                            "stream_frame_dropped"
                        );
                        observer.frame_dropped(session.pipeline_id());
                        if !out.send(&ServerMessage::Dropped { frame_index: dropped.index }).await {
                            break out.send_failed();
                        }
                    }
                }
                if let Some(decision) = admitted.decision
                    && !out.decided(&session, decision).await
                {
                    break out.send_failed();
                }
            }
            () = &mut idle => {
                let detail = format!("No frame received for {}s", idle_timeout.as_secs());
                break out.fail(ErrorCode::IdleTimeout, detail).await;
            }
        }
    };

    if let Some(run) = running.take() {
        run.task.abort();
    }
    session.clear();
    SessionSummary {
        session_id: session.session_id(),
        pipeline_id: Arc::clone(session.pipeline_id()),
        frames: session.frame_index(),
        processed: session.processed_frames(),
        dropped: session.dropped_frames(),
        slow_downs: session.slow_down_signals(),
        duration: session.age(),
        end,
    }
}

/// Spawns the pipeline run of one frame as its own task.
fn start<P: FramePipeline>(pipeline: &Arc<P>, session: &SessionManager, frame: PendingFrame) -> Running {
    let job = FrameJob {
        pipeline_id: Arc::clone(session.pipeline_id()),
        frame_index: frame.index,
        at: frame.received_at.saturating_duration_since(session.started_at()),
        jpeg: frame.jpeg,
        stream: session.stream().clone(),
    };
    Running {
        frame_index: frame.index,
        received_at: frame.received_at,
        started_at: Instant::now(),
        task: tokio::spawn(pipeline.process(job)),
    }
}

/// The sending half of a session, with the observer that counts what is sent.
struct Out<'a, O, Obs: ?Sized, S> {
    sink: &'a mut O,
    observer: &'a Obs,
    send_timeout: Duration,
    /// A send did not complete within `send_timeout`: the client stopped reading.
    timed_out: bool,
    /// The server's shutdown, also watched while a send is blocked.
    shutdown: Pin<&'a mut futures_util::future::Fuse<S>>,
}

impl<O, Obs, S> Out<'_, O, Obs, S>
where
    O: Sink<Outbound> + Unpin,
    Obs: SessionObserver + ?Sized,
    S: Future<Output = ()>,
{
    /// Sends one message; `false` when the connection is gone, the client took nothing for the send timeout,
    /// or the server is shutting down.
    async fn send(&mut self, message: &ServerMessage) -> bool {
        self.deliver(Outbound::Text(message.to_json())).await
    }

    /// Never called again once it returned `false`: every caller then ends the session.
    async fn deliver(&mut self, message: Outbound) -> bool {
        tokio::select! {
            biased;
            sent = tokio::time::timeout(self.send_timeout, self.sink.send(message)) => match sent {
                Ok(result) => result.is_ok(),
                Err(_) => {
                    self.timed_out = true;
                    false
                }
            },
            () = self.shutdown.as_mut() => false,
        }
    }

    /// How the session ends after a failed send.
    fn send_failed(&self) -> SessionEnd {
        if self.timed_out { SessionEnd::SendTimeout } else { SessionEnd::SendFailed }
    }

    async fn close(&mut self, code: CloseCode, reason: &'static str) {
        // The connection may already be gone; there is nobody left to tell.
        let _ = self.deliver(Outbound::Close { code, reason: Cow::Borrowed(reason) }).await;
    }

    /// Sends the error and the close frame that goes with it.
    async fn fail(&mut self, code: ErrorCode, detail: impl Into<Cow<'static, str>>) -> SessionEnd {
        self.observer.error(code);
        if self.send(&ServerMessage::error(code, detail)).await {
            self.close(code.close_code(), code.as_str()).await;
        }
        SessionEnd::Error(code)
    }

    /// Acts on a policy decision: logs state changes and sends `slow_down` when it says so.
    async fn decided(&mut self, session: &SessionManager, decision: Decision) -> bool {
        if decision.changed() {
            self.observer.state_changed(decision.previous, decision.state);
            tracing::debug!(
                session_id = %session.session_id(),
                pipeline_id = %session.pipeline_id(),
                from = decision.previous.as_str(),
                to = decision.state.as_str(),
                drop_rate = decision.drop_rate,
                "stream_backpressure_state"
            );
        }
        if !decision.slow_down {
            return true;
        }
        tracing::warn!(
            session_id = %session.session_id(),
            pipeline_id = %session.pipeline_id(),
            frame_index = session.frame_index().saturating_sub(1),
            drop_rate = decision.drop_rate,
            "stream_slow_down"
        );
        self.observer.slow_down(session.pipeline_id(), decision.drop_rate);
        let warning = SlowDown { drop_rate: decision.drop_rate, suggested_fps: session.sustainable_fps() };
        self.send(&ServerMessage::SlowDown(warning)).await
    }
}
