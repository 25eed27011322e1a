//! One WebSocket session: a writer task that sends frames on a steady schedule and a reader that matches every
//! server message to its frame.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use stream_protocol::ServerMessage;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::stats::Samples;

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long closing may take (our close frame out, the server's back) before the socket is simply dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Client-side error codes, next to the server's wire codes in [`SessionStats::errors`].
pub(crate) mod client_error {
    /// The TCP connection or the WebSocket handshake failed.
    pub(crate) const CONNECT_FAILED: &str = "connect_failed";
    /// The server closed the session without an error message before the run ended.
    pub(crate) const CONNECTION_CLOSED: &str = "connection_closed";
    /// The connection broke (reset, end of stream without a close frame).
    pub(crate) const CONNECTION_LOST: &str = "connection_lost";
}

/// Ways the server broke the protocol. Every counter is 0 for a correct server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Anomalies {
    /// A frame answered more than once.
    pub duplicate_answers: u64,
    /// A `frame_index` of a frame that was never sent.
    pub unknown_frame_index: u64,
    /// A result whose `frame_index` is not larger than the previous result's.
    pub results_out_of_order: u64,
    /// A message that is not one of the contract's JSON shapes (or a binary message).
    pub malformed_messages: u64,
}

impl Anomalies {
    /// Sum of every counter.
    pub fn total(&self) -> u64 {
        self.duplicate_answers
            + self.unknown_frame_index
            + self.results_out_of_order
            + self.malformed_messages
    }

    fn add(&mut self, other: &Self) {
        self.duplicate_answers += other.duplicate_answers;
        self.unknown_frame_index += other.unknown_frame_index;
        self.results_out_of_order += other.results_out_of_order;
        self.malformed_messages += other.malformed_messages;
    }
}

/// What one session (or all of them, merged) saw. Counts and latencies cover the measured frames: those sent
/// after the warm-up.
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionStats {
    pub(crate) connected: bool,
    pub(crate) sent: u64,
    pub(crate) warmup_sent: u64,
    pub(crate) results: u64,
    pub(crate) drops: u64,
    pub(crate) unanswered: u64,
    /// Over the whole run, warm-up included.
    pub(crate) slow_downs: u64,
    /// By wire code, or by a [`client_error`] code.
    pub(crate) errors: BTreeMap<String, u64>,
    /// The first error's detail.
    pub(crate) error_detail: Option<String>,
    pub(crate) anomalies: Anomalies,
    /// The server's close code, when it closed first.
    pub(crate) close_code: Option<u16>,
    pub(crate) result_rtt: Samples,
    pub(crate) drop_rtt: Samples,
    /// Drop notice of frame k measured from the send of frame k + 1, whose arrival is what drops k.
    pub(crate) drop_notice: Samples,
    /// Sum of each result's `timings_ms`.
    pub(crate) pipeline: Samples,
    /// Round trip minus pipeline time, per result.
    pub(crate) overhead: Samples,
}

impl SessionStats {
    pub(crate) fn connect_failed(detail: String) -> Self {
        Self::failed(client_error::CONNECT_FAILED, detail)
    }

    /// A session that ended before it could stream, with this error.
    pub(crate) fn failed(code: &str, detail: impl Into<String>) -> Self {
        let mut stats = Self::default();
        stats.error(code, detail);
        stats
    }

    fn error(&mut self, code: &str, detail: impl Into<String>) {
        *self.errors.entry(code.to_owned()).or_default() += 1;
        self.error_detail.get_or_insert_with(|| format!("{code}: {}", detail.into()));
    }

    /// Adds `other`'s counts and samples to these.
    pub(crate) fn merge(&mut self, other: &Self) {
        self.connected |= other.connected;
        self.sent += other.sent;
        self.warmup_sent += other.warmup_sent;
        self.results += other.results;
        self.drops += other.drops;
        self.unanswered += other.unanswered;
        self.slow_downs += other.slow_downs;
        for (code, n) in &other.errors {
            *self.errors.entry(code.clone()).or_default() += n;
        }
        if self.error_detail.is_none() {
            self.error_detail.clone_from(&other.error_detail);
        }
        self.anomalies.add(&other.anomalies);
        self.result_rtt.extend(&other.result_rtt);
        self.drop_rtt.extend(&other.drop_rtt);
        self.drop_notice.extend(&other.drop_notice);
        self.pipeline.extend(&other.pipeline);
        self.overhead.extend(&other.overhead);
    }
}

/// Connects one session.
pub(crate) async fn connect(url: &str, timeout: Duration) -> Result<Socket, String> {
    match tokio::time::timeout(timeout, tokio_tungstenite::connect_async(url)).await {
        Ok(Ok((socket, _response))) => Ok(socket),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no handshake within {} s", timeout.as_secs_f64())),
    }
}

/// When and what a streaming session sends.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pub(crate) frames: Arc<[Bytes]>,
    /// Index into `frames` of the first frame sent.
    pub(crate) first_frame: usize,
    pub(crate) period: Duration,
    /// First send.
    pub(crate) start: Instant,
    /// Frames sent from here on are measured.
    pub(crate) measure_from: Instant,
    /// No frame is sent from here on.
    pub(crate) stop_at: Instant,
    /// How long to wait for outstanding answers after the last frame.
    pub(crate) grace: Duration,
}

// === streaming session ===

/// Streams frames on `schedule` and returns what the session saw once every frame is answered, the grace
/// period is over, or the server ended the session.
pub(crate) async fn stream(socket: Socket, schedule: Schedule) -> SessionStats {
    let (sink, mut stream) = socket.split();
    let sent_at = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut writer = tokio::spawn(write_frames(sink, schedule.clone(), Arc::clone(&sent_at), stop_rx));
    let mut tracker = Tracker::new(Arc::clone(&sent_at), schedule.measure_from);

    // `Some` once the writer is done: its sink (to close the socket with) and the grace deadline.
    let mut writer_done: Option<(Option<SplitSink<Socket, Message>>, Instant)> = None;
    let mut server_closed = false;
    loop {
        if writer_done.is_some() && tracker.all_answered() {
            break;
        }
        let deadline = writer_done.as_ref().map(|(_, deadline)| *deadline);
        let grace_over = async move {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            joined = &mut writer, if writer_done.is_none() => {
                writer_done = Some((joined.ok(), Instant::now() + schedule.grace));
            }
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => tracker.on_text(&text),
                Some(Ok(Message::Binary(_))) => tracker.stats.anomalies.malformed_messages += 1,
                Some(Ok(Message::Close(frame))) => {
                    tracker.stats.close_code = Some(frame.map_or(1005, |f| u16::from(f.code)));
                    if !tracker.saw_error {
                        let detail = format!("closed by the server ({})", tracker.stats.close_code.unwrap_or(1005));
                        tracker.stats.error(client_error::CONNECTION_CLOSED, detail);
                    }
                    server_closed = true;
                    break;
                }
                Some(Ok(_)) => {} // Ping, pong, raw frames: tungstenite answers pings itself.
                Some(Err(error)) => {
                    if !tracker.saw_error {
                        tracker.stats.error(client_error::CONNECTION_LOST, error.to_string());
                    }
                    server_closed = true;
                    break;
                }
                None => {
                    if !tracker.saw_error {
                        tracker.stats.error(client_error::CONNECTION_LOST, "connection ended without a close frame");
                    }
                    server_closed = true;
                    break;
                }
            },
            () = grace_over => break,
        }
    }

    let _ = stop_tx.send(true);
    let sink = match writer_done {
        Some((sink, _)) => sink,
        None => writer.await.ok(),
    };
    if let Some(mut sink) = sink {
        // Sends our close frame; the server answers with its own, which the drain below reads.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
    }
    if !server_closed {
        let drain = async {
            while let Some(Ok(message)) = stream.next().await {
                if message.is_close() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, drain).await;
    }
    tracker.finish()
}

/// Sends one frame per tick until `schedule.stop_at` or until told to stop; returns the sink. Every frame's
/// send time is recorded before the frame goes out, so the reader always finds it.
async fn write_frames(
    mut sink: SplitSink<Socket, Message>,
    schedule: Schedule,
    sent_at: Arc<Mutex<Vec<Instant>>>,
    mut stop: watch::Receiver<bool>,
) -> SplitSink<Socket, Message> {
    let mut ticks = tokio::time::interval_at(schedule.start, schedule.period);
    // A tick missed because the socket was blocked (or the machine busy) is skipped: sending a burst to catch
    // up would measure the client, not the server.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut next_frame = schedule.first_frame;
    loop {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => break,
            _ = ticks.tick() => {}
        }
        let now = Instant::now();
        if now >= schedule.stop_at || schedule.frames.is_empty() {
            break;
        }
        let frame = schedule.frames[next_frame % schedule.frames.len()].clone();
        next_frame = next_frame.wrapping_add(1);
        sent_at.lock().unwrap_or_else(PoisonError::into_inner).push(now);
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => break,
            sent = sink.send(Message::Binary(frame)) => if sent.is_err() { break },
        }
    }
    sink
}

/// Matches server messages to frames.
struct Tracker {
    sent_at: Arc<Mutex<Vec<Instant>>>,
    measure_from: Instant,
    answered: Vec<bool>,
    n_answered: usize,
    last_result: Option<u64>,
    saw_error: bool,
    stats: SessionStats,
}

impl Tracker {
    fn new(sent_at: Arc<Mutex<Vec<Instant>>>, measure_from: Instant) -> Self {
        Self {
            sent_at,
            measure_from,
            answered: Vec::new(),
            n_answered: 0,
            last_result: None,
            saw_error: false,
            stats: SessionStats { connected: true, ..SessionStats::default() },
        }
    }

    fn n_sent(&self) -> usize {
        self.sent_at.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn all_answered(&self) -> bool {
        self.n_answered >= self.n_sent()
    }

    fn on_text(&mut self, text: &str) {
        let arrived = Instant::now();
        match ServerMessage::from_json(text) {
            Ok(ServerMessage::Result { frame_index, result }) => {
                if let Some(rtt_ms) = self.answer(frame_index, arrived) {
                    if self.last_result.is_some_and(|last| frame_index <= last) {
                        self.stats.anomalies.results_out_of_order += 1;
                    }
                    self.last_result = Some(frame_index);
                    if let Some(rtt_ms) = rtt_ms {
                        let pipeline_ms: f64 = result.timings_ms.iter().map(|(_, ms)| ms).sum();
                        self.stats.results += 1;
                        self.stats.result_rtt.push(rtt_ms);
                        self.stats.pipeline.push(pipeline_ms);
                        self.stats.overhead.push(rtt_ms - pipeline_ms);
                    }
                }
            }
            Ok(ServerMessage::Dropped { frame_index }) => {
                if let Some(Some(rtt_ms)) = self.answer(frame_index, arrived) {
                    self.stats.drops += 1;
                    self.stats.drop_rtt.push(rtt_ms);
                    // The server drops a waiting frame when a newer one arrives (SPEC §3): how fast it says so.
                    let replaced_by = {
                        let sent_at = self.sent_at.lock().unwrap_or_else(PoisonError::into_inner);
                        usize::try_from(frame_index + 1).ok().and_then(|i| sent_at.get(i).copied())
                    };
                    if let Some(next) = replaced_by {
                        let notice = arrived.saturating_duration_since(next);
                        self.stats.drop_notice.push(notice.as_micros() as f64 / 1000.0);
                    }
                }
            }
            Ok(ServerMessage::SlowDown(_)) => self.stats.slow_downs += 1,
            Ok(ServerMessage::Error { error, detail }) => {
                self.saw_error = true;
                self.stats.error(error.as_str(), detail);
            }
            Ok(_) | Err(_) => self.stats.anomalies.malformed_messages += 1,
        }
    }

    /// Marks frame `frame_index` answered. `None` when the answer is an anomaly; `Some(None)` for a warm-up
    /// frame; `Some(Some(round trip in ms))` for a measured frame.
    fn answer(&mut self, frame_index: u64, arrived: Instant) -> Option<Option<f64>> {
        let sent = {
            let sent_at = self.sent_at.lock().unwrap_or_else(PoisonError::into_inner);
            usize::try_from(frame_index).ok().and_then(|i| sent_at.get(i).copied())
        };
        let Some(sent) = sent else {
            self.stats.anomalies.unknown_frame_index += 1;
            return None;
        };
        // The index is below the number of frames sent, so it fits in memory.
        let index = frame_index as usize;
        if self.answered.len() <= index {
            self.answered.resize(index + 1, false);
        }
        if std::mem::replace(&mut self.answered[index], true) {
            self.stats.anomalies.duplicate_answers += 1;
            return None;
        }
        self.n_answered += 1;
        let rtt = arrived.saturating_duration_since(sent);
        Some((sent >= self.measure_from).then(|| rtt.as_micros() as f64 / 1000.0))
    }

    fn finish(mut self) -> SessionStats {
        let sent_at = self.sent_at.lock().unwrap_or_else(PoisonError::into_inner);
        for (index, &sent) in sent_at.iter().enumerate() {
            let measured = sent >= self.measure_from;
            if measured {
                self.stats.sent += 1;
            } else {
                self.stats.warmup_sent += 1;
            }
            if measured && !self.answered.get(index).copied().unwrap_or(false) {
                self.stats.unanswered += 1;
            }
        }
        drop(sent_at);
        self.stats
    }
}

// === idle session ===

/// Keeps a connected session open and silent until `until`, then closes it. Whatever the server says in the
/// meantime (normally nothing; `idle_timeout` if its timeout is shorter than the run) is recorded.
pub(crate) async fn idle(socket: Socket, until: Instant) -> SessionStats {
    let (mut sink, mut stream) = socket.split();
    let mut tracker = Tracker::new(Arc::default(), until);
    let mut server_closed = false;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(until) => break,
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => tracker.on_text(&text),
                Some(Ok(Message::Binary(_))) => tracker.stats.anomalies.malformed_messages += 1,
                Some(Ok(Message::Close(frame))) => {
                    tracker.stats.close_code = Some(frame.map_or(1005, |f| u16::from(f.code)));
                    if !tracker.saw_error {
                        tracker.stats.error(client_error::CONNECTION_CLOSED, "closed by the server");
                    }
                    server_closed = true;
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    if !tracker.saw_error {
                        tracker.stats.error(client_error::CONNECTION_LOST, "connection broke");
                    }
                    server_closed = true;
                    break;
                }
            },
        }
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
    if !server_closed {
        let drain = async {
            while let Some(Ok(message)) = stream.next().await {
                if message.is_close() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, drain).await;
    }
    tracker.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker_with(n_frames: usize, measure_from_frame: usize) -> (Tracker, Vec<Instant>) {
        let base = Instant::now();
        let times: Vec<Instant> =
            (0..n_frames).map(|i| base + Duration::from_millis(10 * i as u64)).collect();
        let measure_from = times.get(measure_from_frame).copied().unwrap_or(base);
        (Tracker::new(Arc::new(Mutex::new(times.clone())), measure_from), times)
    }

    #[test]
    fn matches_messages_to_frames() {
        let (mut tracker, _) = tracker_with(4, 1);
        tracker
            .on_text(r#"{"frame_index":0,"result":{"image":{"width":1,"height":1},"timings_ms":{"a":1.0}}}"#);
        tracker.on_text(r#"{"frame_index":1,"dropped":true}"#);
        tracker.on_text(r#"{"warning":"slow_down","drop_rate":0.5}"#);
        tracker.on_text(
            r#"{"frame_index":2,"result":{"image":{"width":1,"height":1},"timings_ms":{"a":1.5,"b":2.5}}}"#,
        );
        assert!(!tracker.all_answered());
        let stats = tracker.finish();
        // Frame 0 is warm-up; frames 1..=3 are measured; frame 3 got no answer.
        assert_eq!((stats.warmup_sent, stats.sent, stats.results, stats.drops), (1, 3, 1, 1));
        assert_eq!((stats.unanswered, stats.slow_downs), (1, 1));
        assert_eq!(stats.pipeline.summary().unwrap().p50, 4.0);
        assert_eq!(stats.anomalies, Anomalies::default());
        assert!(stats.errors.is_empty());
    }

    #[test]
    fn counts_anomalies_and_errors_without_panicking() {
        let (mut tracker, _) = tracker_with(3, 0);
        tracker.on_text(r#"{"frame_index":1,"result":{"image":{"width":1,"height":1},"timings_ms":{}}}"#);
        tracker.on_text(r#"{"frame_index":0,"result":{"image":{"width":1,"height":1},"timings_ms":{}}}"#);
        tracker.on_text(r#"{"frame_index":1,"dropped":true}"#);
        tracker.on_text(r#"{"frame_index":99,"dropped":true}"#);
        tracker.on_text(r#"{"frame_index":18446744073709551615,"dropped":true}"#);
        tracker.on_text("not json");
        tracker.on_text(r#"{"frame_index":-1,"dropped":true}"#);
        tracker.on_text(r#"{"error":"pipeline_failure","detail":"YOLO inference failed"}"#);
        tracker.on_text(r#"{"error":"some_new_code","detail":"?"}"#);
        let stats = tracker.finish();
        assert_eq!(
            stats.anomalies,
            Anomalies {
                duplicate_answers: 1,
                unknown_frame_index: 2,
                results_out_of_order: 1,
                malformed_messages: 3
            }
        );
        assert_eq!(stats.errors.get("pipeline_failure"), Some(&1));
        assert_eq!(stats.error_detail.as_deref(), Some("pipeline_failure: YOLO inference failed"));
        assert_eq!((stats.sent, stats.results, stats.unanswered), (3, 2, 1));
    }
}
