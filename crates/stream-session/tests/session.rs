//! The session loop over channels, with a test pipeline whose delay is controlled and paused time: every row
//! of the WebSocket contract (SPEC §2) and the backpressure behaviour (SPEC §3), without sockets.
#![allow(clippy::unwrap_used)] // Test helpers outside #[test] fns unwrap too.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_channel::mpsc;
use futures_util::{SinkExt, StreamExt};
use stream_protocol::{CloseCode, ErrorCode, FrameResult, ImageSize, ServerMessage};
use stream_session::{
    FrameJob, FramePipeline, Inbound, Outbound, PipelineError, SessionConfig, SessionEnd, SessionManager,
    SessionSummary, run_session,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep};

const FRAME: &[u8] = include_bytes!("../../../fixtures/images/astronaut_640x480.jpg");

fn frame() -> Inbound {
    Inbound::Frame(Bytes::from_static(FRAME))
}

/// What the test pipeline does with frame `n`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    None,
    FailAt(u64),
    PanicAt(u64),
    UndecodableAt(u64),
}

/// Sleeps `delay` per frame, then reports the frame's size from its header (or fails as told).
struct TestPipeline {
    delay: Duration,
    fault: Fault,
    /// Runs that were dropped before completing (cancelled).
    cancelled: Arc<AtomicUsize>,
}

impl TestPipeline {
    fn new(delay: Duration) -> Self {
        Self { delay, fault: Fault::None, cancelled: Arc::default() }
    }

    fn with_fault(delay: Duration, fault: Fault) -> Self {
        Self { fault, ..Self::new(delay) }
    }
}

/// Counts a run as cancelled unless it was disarmed by completing.
struct CancelGuard(Option<Arc<AtomicUsize>>);

impl CancelGuard {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if let Some(cancelled) = &self.0 {
            cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl FramePipeline for TestPipeline {
    fn process(
        &self,
        job: FrameJob,
    ) -> impl Future<Output = Result<FrameResult, PipelineError>> + Send + 'static {
        let (delay, fault) = (self.delay, self.fault);
        let mut guard = CancelGuard(Some(Arc::clone(&self.cancelled)));
        async move {
            sleep(delay).await;
            guard.disarm();
            match fault {
                Fault::FailAt(n) if n == job.frame_index => {
                    return Err(PipelineError::Failed("YOLO inference failed".into()));
                }
                Fault::PanicAt(n) if n == job.frame_index => panic!("test pipeline panics on frame {n}"),
                Fault::UndecodableAt(n) if n == job.frame_index => {
                    return Err(PipelineError::InvalidFrame("Not a valid JPEG image: undecodable".into()));
                }
                _ => {}
            }
            let info = frame_validate::validate_jpeg(&job.jpeg, &Default::default()).expect("validated");
            Ok(FrameResult::new(ImageSize { width: info.width.into(), height: info.height.into() }))
        }
    }
}

/// What the client sees.
#[derive(Debug, PartialEq)]
enum Reply {
    Message(ServerMessage),
    Close(CloseCode),
}

struct Client {
    tx: mpsc::UnboundedSender<Inbound>,
    rx: mpsc::UnboundedReceiver<Outbound>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<SessionSummary>,
    /// How many answers each frame index has had so far.
    answered: Vec<u32>,
}

impl Client {
    fn connect(pipeline: TestPipeline, config: SessionConfig) -> Self {
        Self::connect_shared(Arc::new(pipeline), config)
    }

    fn connect_shared(pipeline: Arc<TestPipeline>, config: SessionConfig) -> Self {
        // Every log event's fields are built (and must not panic), as they are under the server's subscriber.
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(std::io::sink)
            .try_init();
        let (tx, inbound) = mpsc::unbounded();
        let (outbound, rx) = mpsc::unbounded();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let session = SessionManager::new("test", config);
        let task = tokio::spawn(async move {
            let shutdown = async move {
                // A dropped sender is not a shutdown.
                if shutdown_rx.await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            run_session(session, inbound, outbound.sink_map_err(|_| ()), pipeline, &(), shutdown).await
        });
        Self { tx, rx, shutdown: Some(shutdown_tx), task, answered: Vec::new() }
    }

    fn send(&self, message: Inbound) {
        self.tx.unbounded_send(message).expect("session is reading");
    }

    async fn reply(&mut self) -> Reply {
        match self.rx.next().await.expect("session ended without closing") {
            Outbound::Text(json) => Reply::Message(ServerMessage::from_json(&json).expect("valid message")),
            Outbound::Close { code, .. } => Reply::Close(code),
        }
    }

    /// Reads one message (not a close), keeping count of the answers each frame has had.
    async fn message(&mut self) -> ServerMessage {
        let Reply::Message(message) = self.reply().await else { panic!("closed early") };
        if let ServerMessage::Result { frame_index, .. } | ServerMessage::Dropped { frame_index } = &message {
            let index = usize::try_from(*frame_index).unwrap();
            if index >= self.answered.len() {
                self.answered.resize(index + 1, 0);
            }
            self.answered[index] += 1;
            assert_eq!(self.answered[index], 1, "frame {index} was answered twice");
        }
        message
    }

    /// Reads messages until every one of frames `0..n` has been answered; returns the messages read by this
    /// call.
    async fn replies_for(&mut self, n: u64) -> Vec<ServerMessage> {
        let n = usize::try_from(n).unwrap();
        let mut replies = Vec::new();
        while self.answered.len() < n || self.answered[..n].contains(&0) {
            replies.push(self.message().await);
        }
        assert_eq!(self.answered.len(), n, "answers for frames that were not sent");
        replies
    }

    async fn expect_error(&mut self, code: ErrorCode, detail: &str) -> SessionSummary {
        assert_eq!(self.reply().await, Reply::Message(ServerMessage::error(code, detail.to_owned())));
        assert_eq!(self.reply().await, Reply::Close(code.close_code()));
        assert!(self.rx.next().await.is_none(), "nothing may follow the close");
        let summary = (&mut self.task).await.unwrap();
        assert_eq!(summary.end, SessionEnd::Error(code));
        summary
    }

    async fn hang_up(self) -> SessionSummary {
        drop(self.tx);
        self.task.await.unwrap()
    }
}

fn results(replies: &[ServerMessage]) -> Vec<u64> {
    replies
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Result { frame_index, result } => {
                assert_eq!(result.image, ImageSize { width: 640, height: 480 });
                Some(*frame_index)
            }
            _ => None,
        })
        .collect()
}

fn drops(replies: &[ServerMessage]) -> Vec<u64> {
    replies
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Dropped { frame_index } => Some(*frame_index),
            _ => None,
        })
        .collect()
}

fn slow_downs(replies: &[ServerMessage]) -> usize {
    replies.iter().filter(|m| matches!(m, ServerMessage::SlowDown(_))).count()
}

// === backpressure ===

#[tokio::test(start_paused = true)]
async fn burst_faster_than_the_pipeline_answers_every_frame_once_in_order() {
    let mut client = Client::connect(TestPipeline::new(Duration::from_millis(100)), SessionConfig::default());
    for _ in 0..60 {
        client.send(frame());
        sleep(Duration::from_millis(10)).await;
    }
    let replies = client.replies_for(60).await;
    let results = results(&replies);
    assert!(results.windows(2).all(|w| w[0] < w[1]), "results out of order: {results:?}");
    assert!(drops(&replies).len() >= 40, "a 10x overload drops most frames: {replies:?}");
    assert_eq!(*results.last().unwrap(), 59, "the newest frame is never dropped");
    assert_eq!(slow_downs(&replies), 1, "exactly one slow_down per episode");
    let ServerMessage::SlowDown(warning) =
        replies.iter().find(|m| matches!(m, ServerMessage::SlowDown(_))).unwrap()
    else {
        unreachable!()
    };
    assert!(warning.drop_rate > 0.3);
    assert_eq!(warning.suggested_fps, Some(10.0), "the pipeline sustains 1 frame per 100 ms");

    let summary = client.hang_up().await;
    assert_eq!(summary.end, SessionEnd::ClientClosed);
    assert_eq!((summary.frames, summary.processed + summary.dropped, summary.slow_downs), (60, 60, 1));
}

#[tokio::test(start_paused = true)]
async fn a_client_slower_than_the_pipeline_never_sees_a_drop() {
    let mut client = Client::connect(TestPipeline::new(Duration::from_millis(50)), SessionConfig::default());
    for _ in 0..40 {
        client.send(frame());
        sleep(Duration::from_millis(60)).await;
    }
    let replies = client.replies_for(40).await;
    assert_eq!(results(&replies), (0..40).collect::<Vec<_>>());
    assert_eq!(slow_downs(&replies), 0);
    assert_eq!(client.hang_up().await.dropped, 0);
}

#[tokio::test(start_paused = true)]
async fn the_receive_loop_never_waits_for_inference() {
    let mut client = Client::connect(TestPipeline::new(Duration::from_secs(10)), SessionConfig::default());
    let start = Instant::now();
    for _ in 0..5 {
        client.send(frame());
    }
    // Frames 1, 2 and 3 are each pushed out of the waiting slot by the next one while frame 0 is still in
    // the pipeline: their drop notices come at once, not after the 10 s inference.
    for dropped in 1..=3 {
        assert_eq!(client.message().await, ServerMessage::Dropped { frame_index: dropped });
    }
    assert!(start.elapsed() < Duration::from_secs(1));
    let replies = client.replies_for(5).await;
    assert_eq!(results(&replies), [0, 4]);
    assert_eq!(start.elapsed(), Duration::from_secs(20), "two runs back to back, no queueing");
}

#[tokio::test(start_paused = true)]
async fn recovers_to_normal_and_warns_once_per_episode() {
    let mut client = Client::connect(TestPipeline::new(Duration::from_millis(100)), SessionConfig::default());
    let mut sent = 0;
    for episode in 0..3 {
        // Five times faster than the pipeline, for three windows.
        for _ in 0..90 {
            client.send(frame());
            sleep(Duration::from_millis(20)).await;
        }
        // Then slower than the pipeline for more than a window: the state falls back to normal.
        for _ in 0..40 {
            client.send(frame());
            sleep(Duration::from_millis(150)).await;
        }
        sent += 130;
        let replies = client.replies_for(sent).await;
        assert_eq!(slow_downs(&replies), 1, "episode {episode}");
        let slow_phase = sent - 40;
        assert!(drops(&replies).iter().all(|&index| index < slow_phase), "no drops once the client slowed");
    }
    assert_eq!(client.hang_up().await.slow_downs, 3);
}

// === errors and close codes ===

#[tokio::test(start_paused = true)]
async fn text_message_is_invalid_message_1003() {
    let mut client = Client::connect(TestPipeline::new(Duration::from_millis(10)), SessionConfig::default());
    client.send(Inbound::Text);
    client.expect_error(ErrorCode::InvalidMessage, "Expected binary frame payload").await;
}

#[tokio::test(start_paused = true)]
async fn invalid_jpegs_are_invalid_frame_1007() {
    let truncated = &FRAME[..FRAME.len() - 2];
    let mut no_soi = FRAME.to_vec();
    no_soi[0] = 0;
    let cases: [(&[u8], &str); 4] = [
        (b"", "Not a valid JPEG image: "),
        (&no_soi, "Not a valid JPEG image: "),
        (truncated, "Not a valid JPEG image: "),
        (b"GIF89a not a jpeg at all", "Not a valid JPEG image: "),
    ];
    for (bytes, prefix) in cases {
        let mut client =
            Client::connect(TestPipeline::new(Duration::from_millis(10)), SessionConfig::default());
        client.send(frame());
        client.send(Inbound::Frame(Bytes::copy_from_slice(bytes)));
        // The good frame before it is still answered; the bad one ends the session.
        let mut reply = client.reply().await;
        if let Reply::Message(ServerMessage::Result { frame_index, .. }) = reply {
            assert_eq!(frame_index, 0);
            reply = client.reply().await;
        }
        let Reply::Message(ServerMessage::Error { error, detail }) = reply else { panic!("{reply:?}") };
        assert_eq!(error, ErrorCode::InvalidFrame);
        assert!(detail.starts_with(prefix), "{detail}");
        assert_eq!(client.reply().await, Reply::Close(CloseCode::INVALID_PAYLOAD));
        let summary = client.task.await.unwrap();
        assert_eq!((summary.frames, summary.end), (1, SessionEnd::Error(ErrorCode::InvalidFrame)));
    }
}

#[tokio::test(start_paused = true)]
async fn undecodable_frame_reported_by_the_pipeline_is_invalid_frame() {
    let pipeline = TestPipeline::with_fault(Duration::from_millis(10), Fault::UndecodableAt(0));
    let mut client = Client::connect(pipeline, SessionConfig::default());
    client.send(frame());
    client.expect_error(ErrorCode::InvalidFrame, "Not a valid JPEG image: undecodable").await;
}

#[tokio::test(start_paused = true)]
async fn oversized_frames_are_frame_too_large_1009() {
    // Refused by the transport while reading.
    let mut client = Client::connect(TestPipeline::new(Duration::from_millis(10)), SessionConfig::default());
    client.send(Inbound::TooLarge { len: Some(6 << 20) });
    client.expect_error(ErrorCode::FrameTooLarge, "Frame exceeds 5MB").await;

    // A complete frame over a smaller configured limit.
    let mut config = SessionConfig::default();
    config.frame_limits.max_frame_bytes = FRAME.len() - 1;
    let mut client = Client::connect(TestPipeline::new(Duration::from_millis(10)), config);
    client.send(frame());
    let Reply::Message(ServerMessage::Error { error, .. }) = client.reply().await else { panic!() };
    assert_eq!(error, ErrorCode::FrameTooLarge);
    assert_eq!(client.reply().await, Reply::Close(CloseCode::MESSAGE_TOO_BIG));
}

#[tokio::test(start_paused = true)]
async fn idle_session_times_out_1001() {
    let mut client = Client::connect(TestPipeline::new(Duration::from_millis(10)), SessionConfig::default());
    let start = Instant::now();
    // A frame at 20 s restarts the clock: the timeout comes 30 s after it.
    sleep(Duration::from_secs(20)).await;
    client.send(frame());
    assert!(matches!(client.reply().await, Reply::Message(ServerMessage::Result { frame_index: 0, .. })));
    client.expect_error(ErrorCode::IdleTimeout, "No frame received for 30s").await;
    assert_eq!(start.elapsed(), Duration::from_secs(50));
}

#[tokio::test(start_paused = true)]
async fn pipeline_failure_closes_1011_after_earlier_results() {
    let pipeline = TestPipeline::with_fault(Duration::from_millis(10), Fault::FailAt(2));
    let mut client = Client::connect(pipeline, SessionConfig::default());
    for _ in 0..3 {
        client.send(frame());
        sleep(Duration::from_millis(20)).await;
    }
    let replies = client.replies_for(2).await;
    assert_eq!(results(&replies), [0, 1]);
    let summary = client.expect_error(ErrorCode::PipelineFailure, "YOLO inference failed").await;
    assert_eq!(summary.processed, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_internal_error_and_other_sessions_keep_going() {
    let panicking = TestPipeline::with_fault(Duration::from_millis(5), Fault::PanicAt(1));
    let mut victim = Client::connect(panicking, SessionConfig::default());
    let mut bystander =
        Client::connect(TestPipeline::new(Duration::from_millis(5)), SessionConfig::default());
    for _ in 0..2 {
        victim.send(frame());
        bystander.send(frame());
        sleep(Duration::from_millis(20)).await;
    }
    assert!(matches!(victim.reply().await, Reply::Message(ServerMessage::Result { frame_index: 0, .. })));
    victim.expect_error(ErrorCode::InternalError, "Unexpected error occurred").await;

    for _ in 0..3 {
        bystander.send(frame());
        sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(results(&bystander.replies_for(5).await), [0, 1, 2, 3, 4]);
    assert_eq!(bystander.hang_up().await.end, SessionEnd::ClientClosed);
}

// === lifecycle ===

#[tokio::test(start_paused = true)]
async fn shutdown_closes_1001() {
    let mut client = Client::connect(TestPipeline::new(Duration::from_millis(10)), SessionConfig::default());
    client.send(frame());
    assert!(matches!(client.reply().await, Reply::Message(ServerMessage::Result { .. })));
    client.shutdown.take().unwrap().send(()).unwrap();
    assert_eq!(client.reply().await, Reply::Close(CloseCode::GOING_AWAY));
    assert_eq!(client.task.await.unwrap().end, SessionEnd::Shutdown);
}

#[tokio::test(start_paused = true)]
async fn hanging_up_cancels_the_frame_in_flight() {
    let pipeline = Arc::new(TestPipeline::new(Duration::from_secs(5)));
    let client = Client::connect_shared(Arc::clone(&pipeline), SessionConfig::default());
    client.send(frame());
    client.send(frame());
    sleep(Duration::from_secs(1)).await;
    let summary = client.hang_up().await;
    assert_eq!((summary.frames, summary.processed, summary.dropped), (2, 0, 0));
    assert_eq!(summary.end, SessionEnd::ClientClosed);
    tokio::task::yield_now().await;
    assert_eq!(pipeline.cancelled.load(Ordering::SeqCst), 1, "the running frame was cancelled");
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_ends_the_session_cleanly() {
    let mut client = Client::connect(TestPipeline::new(Duration::from_millis(10)), SessionConfig::default());
    client.rx.close();
    client.send(frame());
    let summary = client.task.await.unwrap();
    assert_eq!(summary.end, SessionEnd::SendFailed);

    // Its first answer due is a drop notice (frame 1 pushed out by frame 2 while frame 0 runs).
    let mut client = Client::connect(TestPipeline::new(Duration::from_secs(1)), SessionConfig::default());
    client.rx.close();
    for _ in 0..3 {
        client.send(frame());
    }
    let summary = client.task.await.unwrap();
    assert_eq!((summary.end, summary.dropped), (SessionEnd::SendFailed, 1));
}

#[tokio::test(start_paused = true)]
async fn a_slow_down_that_cannot_be_sent_ends_the_session() {
    let (tx, inbound) = mpsc::unbounded();
    let (outbound, mut rx) = mpsc::unbounded::<Outbound>();
    // A connection that breaks exactly when the warning is due.
    let outbound = outbound.sink_map_err(|_| ()).with(|message: Outbound| {
        let warning = matches!(&message, Outbound::Text(json)
            if matches!(ServerMessage::from_json(json), Ok(ServerMessage::SlowDown(_))));
        futures_util::future::ready(if warning { Err(()) } else { Ok(message) })
    });
    let session = SessionManager::new("test", SessionConfig::default());
    let pipeline = Arc::new(TestPipeline::new(Duration::from_millis(100)));
    let task = tokio::spawn(async move {
        run_session(session, inbound, outbound, pipeline, &(), std::future::pending::<()>()).await
    });
    // Five times faster than the pipeline: the drop rate passes the slow-down threshold within a window.
    for _ in 0..60 {
        if tx.unbounded_send(frame()).is_err() {
            break;
        }
        sleep(Duration::from_millis(20)).await;
    }
    let summary = task.await.unwrap();
    assert_eq!(summary.end, SessionEnd::SendFailed);
    assert!(summary.frames < 60, "the session ended when the warning failed, not when the client stopped");
    let window = SessionConfig::default().backpressure.window;
    assert!(summary.dropped * 10 > window as u64 * 3, "{} drops in a window of {window}", summary.dropped);
    let mut drops = 0;
    while let Some(Outbound::Text(json)) = rx.next().await {
        match ServerMessage::from_json(&json).unwrap() {
            ServerMessage::Dropped { .. } => drops += 1,
            ServerMessage::Result { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(drops, summary.dropped, "every drop but none after the failed warning reached the client");
}

#[tokio::test(start_paused = true)]
async fn an_overloaded_transport_is_server_busy_and_a_mislabelled_size_still_too_large() {
    let mut client = Client::connect(TestPipeline::new(Duration::from_millis(10)), SessionConfig::default());
    client.send(Inbound::Overloaded);
    let detail = "The server has no memory left for more frames; try again later";
    client.expect_error(ErrorCode::ServerBusy, detail).await;

    // A transport that refuses a frame as too large while naming a size within the limit still gets the
    // limit in the message.
    let mut client = Client::connect(TestPipeline::new(Duration::from_millis(10)), SessionConfig::default());
    client.send(Inbound::TooLarge { len: Some(10) });
    client.expect_error(ErrorCode::FrameTooLarge, "Frame exceeds 5MB").await;
    let mut client = Client::connect(TestPipeline::new(Duration::from_millis(10)), SessionConfig::default());
    client.send(Inbound::TooLarge { len: None });
    client.expect_error(ErrorCode::FrameTooLarge, "Frame exceeds 5MB").await;
}

#[tokio::test(start_paused = true)]
async fn a_client_that_takes_no_message_for_the_send_timeout_is_ended() {
    let (tx, inbound) = mpsc::unbounded();
    // A socket whose peer never reads: the first answer fills it, the next waits for ever.
    let (outbound, _never_read) = mpsc::channel::<Outbound>(0);
    let session = SessionManager::new("test", SessionConfig::default());
    let pipeline = Arc::new(TestPipeline::new(Duration::from_millis(10)));
    let started = Instant::now();
    let task = tokio::spawn(async move {
        let outbound = outbound.sink_map_err(|_| ());
        run_session(session, inbound, outbound, pipeline, &(), std::future::pending::<()>()).await
    });
    for _ in 0..4 {
        tx.unbounded_send(frame()).unwrap();
        sleep(Duration::from_millis(20)).await;
    }
    let summary = task.await.unwrap();
    assert_eq!(summary.end, SessionEnd::SendTimeout);
    let send_timeout = SessionConfig::default().send_timeout;
    assert!(
        started.elapsed() >= send_timeout && started.elapsed() < send_timeout * 2,
        "{:?}",
        started.elapsed()
    );
}

/// The small public pieces embedders use besides the loop: end names, error codes, the stream slot.
#[test]
fn ends_errors_and_stream_slots() {
    let ends = [
        SessionEnd::ClientClosed,
        SessionEnd::Error(ErrorCode::InvalidFrame),
        SessionEnd::SendFailed,
        SessionEnd::SendTimeout,
        SessionEnd::Shutdown,
    ];
    assert_eq!(
        ends.map(SessionEnd::as_str),
        ["client_closed", "invalid_frame", "send_failed", "send_timeout", "shutdown"]
    );

    let internal = PipelineError::Internal("engine state: x".into());
    assert_eq!(internal.code(), ErrorCode::InternalError);
    assert_eq!(
        internal.client_detail(),
        stream_session::INTERNAL_ERROR_DETAIL,
        "internals never reach the client"
    );
    assert_eq!(PipelineError::Failed("boom".into()).code(), ErrorCode::PipelineFailure);

    // A run that panics while it holds the slot clears the stream's state; the next frame starts afresh.
    let slot = stream_session::StreamSlot::default();
    *slot.lock() = Some(Box::new(7_u32));
    let poisoner = slot.clone();
    let panicked = std::thread::spawn(move || {
        let _guard = poisoner.lock();
        panic!("a pipeline run panics");
    })
    .join();
    assert!(panicked.is_err());
    assert!(slot.lock().is_none());
    assert_eq!(format!("{slot:?}"), "StreamSlot");

    let session = SessionManager::new("test", SessionConfig::default());
    assert_eq!(session.backpressure_state(), backpressure::BackpressureState::Normal);
}
