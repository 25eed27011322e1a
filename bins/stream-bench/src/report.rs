//! The report of a run, as a text table and as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::rss::RssReport;
use crate::session::{Anomalies, SessionStats};
use crate::stats::Summary;

/// Exit status of a successful run.
pub const EXIT_OK: u8 = 0;
/// Exit status when the server could not be reached, a session got an error, or the server broke the protocol.
pub const EXIT_FAILED: u8 = 1;
/// Exit status for bad arguments.
pub const EXIT_USAGE: u8 = 2;

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `"stream"` or `"idle"`.
    pub mode: &'static str,
    /// The session URL.
    pub url: String,
    /// The pipeline id.
    pub pipeline: String,
    /// Sessions requested.
    pub sessions: usize,
    /// Sessions that connected.
    pub sessions_connected: usize,
    /// Target frames per second per session (stream mode).
    pub fps: Option<f64>,
    /// Number of distinct frames cycled (stream mode).
    pub frame_files: Option<usize>,
    /// Measured time (stream mode) or how long idle sessions stayed open, in seconds.
    pub duration_s: f64,
    /// Warm-up before measuring, in seconds.
    pub warmup_s: f64,
    /// Wall-clock time of the whole run, connecting and closing included, in seconds.
    pub elapsed_s: f64,
    /// All sessions together; latency percentiles are over every sample of every session.
    pub total: SessionReport,
    /// One entry per session, in order.
    pub per_session: Vec<SessionReport>,
    /// Memory of the `--rss-pid` process.
    pub rss: Option<RssReport>,
}

/// What one session (or all of them) saw. Counts and latencies cover measured frames only.
#[derive(Debug, Clone, Serialize)]
pub struct SessionReport {
    /// Session number from 0, or `"total"`.
    pub session: String,
    /// Frames sent after the warm-up.
    pub sent: u64,
    /// Frames sent during the warm-up (answered, not counted).
    pub warmup_sent: u64,
    /// `{"frame_index":N,"result":…}` messages.
    pub results: u64,
    /// `{"frame_index":N,"dropped":true}` messages.
    pub drops: u64,
    /// Frames with no answer by the end of the grace period.
    pub unanswered: u64,
    /// `slow_down` warnings, over the whole run.
    pub slow_downs: u64,
    /// Errors by wire code, or `connect_failed`, `connection_closed`, `connection_lost`.
    pub errors: BTreeMap<String, u64>,
    /// The first error with its detail.
    pub first_error: Option<String>,
    /// Protocol violations by the server.
    pub anomalies: Anomalies,
    /// The server's close code, when it closed first.
    pub close_code: Option<u16>,
    /// Frames sent per second over the measured time.
    pub sent_per_s: f64,
    /// Results per second over the measured time.
    pub results_per_s: f64,
    /// `drops / sent`.
    pub drop_rate: f64,
    /// Round trip of processed frames: send of frame k to arrival of its result, in ms.
    pub result_rtt_ms: Option<Summary>,
    /// Round trip of dropped frames: send of frame k to arrival of its drop notice, in ms.
    pub drop_rtt_ms: Option<Summary>,
    /// Drop notice of frame k from the send of frame k + 1 (the arrival that drops k), in ms.
    pub drop_notice_ms: Option<Summary>,
    /// Pipeline time: the sum of each result's `timings_ms`, in ms.
    pub pipeline_ms: Option<Summary>,
    /// Server overhead: round trip minus pipeline time, per result, in ms.
    pub server_overhead_ms: Option<Summary>,
}

impl SessionReport {
    pub(crate) fn new(session: String, stats: &SessionStats, measured_s: f64) -> Self {
        let per_s = |n: u64| if measured_s > 0.0 { round3(n as f64 / measured_s) } else { 0.0 };
        Self {
            session,
            sent: stats.sent,
            warmup_sent: stats.warmup_sent,
            results: stats.results,
            drops: stats.drops,
            unanswered: stats.unanswered,
            slow_downs: stats.slow_downs,
            errors: stats.errors.clone(),
            first_error: stats.error_detail.clone(),
            anomalies: stats.anomalies,
            close_code: stats.close_code,
            sent_per_s: per_s(stats.sent),
            results_per_s: per_s(stats.results),
            drop_rate: if stats.sent > 0 { round3(stats.drops as f64 / stats.sent as f64) } else { 0.0 },
            result_rtt_ms: stats.result_rtt.summary(),
            drop_rtt_ms: stats.drop_rtt.summary(),
            drop_notice_ms: stats.drop_notice.summary(),
            pipeline_ms: stats.pipeline.summary(),
            server_overhead_ms: stats.overhead.summary(),
        }
    }

    /// Number of errors of every code.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

impl Report {
    /// [`EXIT_FAILED`] when a session could not connect, got an error or saw a protocol violation, else
    /// [`EXIT_OK`]. Drops, slow-downs and unanswered frames are measurements, not failures.
    pub fn exit_code(&self) -> u8 {
        if self.total.error_count() > 0 || self.total.anomalies.total() > 0 { EXIT_FAILED } else { EXIT_OK }
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Every key is a string and every float finite, so serialisation cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The report as a human-readable table.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_text(&mut out);
        out
    }

    fn write_text(&self, out: &mut String) -> std::fmt::Result {
        let rows: Vec<&SessionReport> = self.per_session.iter().chain([&self.total]).collect();
        match self.mode {
            "idle" => {
                writeln!(
                    out,
                    "stream-bench idle: {} sessions ({} connected) to {} held {:.1} s",
                    self.sessions, self.sessions_connected, self.url, self.duration_s
                )?;
            }
            _ => {
                writeln!(
                    out,
                    "stream-bench: pipeline {}, {} session(s) x {} fps, {:.1} s measured (warm-up {:.1} s), \
                     {} frame file(s)",
                    self.pipeline,
                    self.sessions,
                    self.fps.unwrap_or_default(),
                    self.duration_s,
                    self.warmup_s,
                    self.frame_files.unwrap_or_default()
                )?;
                writeln!(out, "url: {}", self.url)?;
                writeln!(out)?;
                writeln!(
                    out,
                    "{:>8} {:>7} {:>8} {:>7} {:>7} {:>10} {:>10} {:>7} {:>9}",
                    "session",
                    "sent",
                    "results",
                    "drops",
                    "drop %",
                    "slow-downs",
                    "unanswered",
                    "errors",
                    "results/s"
                )?;
                for row in &rows {
                    writeln!(
                        out,
                        "{:>8} {:>7} {:>8} {:>7} {:>6.1}% {:>10} {:>10} {:>7} {:>9.2}",
                        row.session,
                        row.sent,
                        row.results,
                        row.drops,
                        row.drop_rate * 100.0,
                        row.slow_downs,
                        row.unanswered,
                        row.error_count(),
                        row.results_per_s
                    )?;
                }
                writeln!(out)?;
                writeln!(
                    out,
                    "{:>8}  {:<31}  {:<31}  {:>8}  {:>8}  {:>8}",
                    "", "result round trip (ms)", "drop round trip (ms)", "notice", "pipeline", "overhead"
                )?;
                writeln!(
                    out,
                    "{:>8}  {:>7} {:>7} {:>7} {:>7}  {:>7} {:>7} {:>7} {:>7}  {:>8}  {:>8}  {:>8}",
                    "session", "p50", "p90", "p99", "max", "p50", "p90", "p99", "max", "p99", "p50", "p50"
                )?;
                for row in &rows {
                    writeln!(
                        out,
                        "{:>8}  {}  {}  {:>8}  {:>8}  {:>8}",
                        row.session,
                        percentiles(row.result_rtt_ms.as_ref()),
                        percentiles(row.drop_rtt_ms.as_ref()),
                        ms(row.drop_notice_ms.map(|s| s.p99)),
                        ms(row.pipeline_ms.map(|s| s.p50)),
                        ms(row.server_overhead_ms.map(|s| s.p50)),
                    )?;
                }
                writeln!(out)?;
                let answered_once = self.total.unanswered == 0
                    && self.total.anomalies.total() == 0
                    && self.total.results + self.total.drops == self.total.sent;
                writeln!(
                    out,
                    "every frame answered exactly once: {}",
                    if answered_once { "yes" } else { "no" }
                )?;
            }
        }
        let errors = &self.total.errors;
        if errors.is_empty() {
            writeln!(out, "errors: none")?;
        } else {
            let list: Vec<String> = errors.iter().map(|(code, n)| format!("{code} x{n}")).collect();
            writeln!(out, "errors: {}", list.join(", "))?;
            for row in &self.per_session {
                if let Some(detail) = &row.first_error {
                    writeln!(out, "  session {}: {detail}", row.session)?;
                }
            }
        }
        let a = &self.total.anomalies;
        if a.total() > 0 {
            writeln!(
                out,
                "protocol violations: {} duplicate answers, {} unknown frame_index, {} results out of order, \
                 {} malformed messages",
                a.duplicate_answers, a.unknown_frame_index, a.results_out_of_order, a.malformed_messages
            )?;
        }
        if let Some(rss) = &self.rss {
            write!(out, "server RSS (pid {}): start {}", rss.pid, mib(Some(rss.start_kb)))?;
            if rss.open_kb.is_some() {
                write!(out, ", sessions open {}", mib(rss.open_kb))?;
            }
            write!(out, ", max {}, end {}", mib(Some(rss.max_kb)), mib(rss.end_kb))?;
            if let Some(per_session) = rss.per_idle_session_kb {
                write!(out, "; {per_session:.1} KiB per idle session")?;
            }
            writeln!(out)?;
        }
        Ok(())
    }
}

/// `p50 p90 p99 max` columns, or dashes when there are no samples.
fn percentiles(summary: Option<&Summary>) -> String {
    match summary {
        Some(s) => format!("{:>7.2} {:>7.2} {:>7.2} {:>7.2}", s.p50, s.p90, s.p99, s.max),
        None => format!("{:>7} {:>7} {:>7} {:>7}", "-", "-", "-", "-"),
    }
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
}

fn mib(kb: Option<u64>) -> String {
    kb.map_or_else(|| "?".to_owned(), |kb| format!("{:.1} MiB", kb as f64 / 1024.0))
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_report() -> Report {
        let mut a =
            SessionStats { connected: true, sent: 20, results: 15, drops: 5, ..SessionStats::default() };
        a.slow_downs = 1;
        for i in 0..15 {
            a.result_rtt.push(21.0 + f64::from(i));
            a.pipeline.push(20.0);
            a.overhead.push(1.0 + f64::from(i));
        }
        for _ in 0..5 {
            a.drop_rtt.push(50.5);
            a.drop_notice.push(0.5);
        }
        let b = SessionStats::connect_failed("Connection refused".into());
        let mut total = SessionStats::default();
        total.merge(&a);
        total.merge(&b);
        Report {
            mode: "stream",
            url: "ws://h:1/ws/video/stream?pipeline_id=yolo".into(),
            pipeline: "yolo".into(),
            sessions: 2,
            sessions_connected: 1,
            fps: Some(20.0),
            frame_files: Some(5),
            duration_s: 1.0,
            warmup_s: 0.0,
            elapsed_s: 1.2,
            total: SessionReport::new("total".into(), &total, 1.0),
            per_session: vec![
                SessionReport::new("0".into(), &a, 1.0),
                SessionReport::new("1".into(), &b, 1.0),
            ],
            rss: Some(RssReport {
                pid: 42,
                start_kb: 10_240,
                open_kb: None,
                end_kb: Some(11_264),
                max_kb: 12_288,
                per_idle_session_kb: None,
                samples: vec![(0.0, 10_240)],
            }),
        }
    }

    #[test]
    fn text_table() {
        let text = sample_report().to_text();
        let expected = "\
stream-bench: pipeline yolo, 2 session(s) x 20 fps, 1.0 s measured (warm-up 0.0 s), 5 frame file(s)
url: ws://h:1/ws/video/stream?pipeline_id=yolo

 session    sent  results   drops  drop % slow-downs unanswered  errors results/s
       0      20       15       5   25.0%          1          0       0     15.00
       1       0        0       0    0.0%          0          0       1      0.00
   total      20       15       5   25.0%          1          0       1     15.00

          result round trip (ms)           drop round trip (ms)               notice  pipeline  overhead
 session      p50     p90     p99     max      p50     p90     p99     max       p99       p50       p50
       0    28.00   34.00   35.00   35.00    50.50   50.50   50.50   50.50      0.50     20.00      8.00
       1        -       -       -       -        -       -       -       -         -         -         -
   total    28.00   34.00   35.00   35.00    50.50   50.50   50.50   50.50      0.50     20.00      8.00

every frame answered exactly once: yes
errors: connect_failed x1
  session 1: connect_failed: Connection refused
server RSS (pid 42): start 10.0 MiB, max 12.0 MiB, end 11.0 MiB
";
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn json_and_exit_code() {
        let report = sample_report();
        assert_eq!(report.exit_code(), EXIT_FAILED);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["total"]["results"], 15);
        assert_eq!(json["total"]["drop_rate"], 0.25);
        assert_eq!(json["total"]["results_per_s"], 15.0);
        assert_eq!(json["total"]["errors"]["connect_failed"], 1);
        assert_eq!(json["total"]["result_rtt_ms"]["p50"], 28.0);
        assert_eq!(json["total"]["result_rtt_ms"]["p99"], 35.0);
        assert_eq!(json["total"]["server_overhead_ms"]["p50"], 8.0);
        assert_eq!(json["total"]["drop_notice_ms"]["p99"], 0.5);
        assert_eq!(json["per_session"][1]["result_rtt_ms"], serde_json::Value::Null);
        assert_eq!(json["rss"]["max_kb"], 12_288);

        let mut ok = sample_report();
        ok.per_session.pop();
        ok.total = ok.per_session[0].clone();
        assert_eq!(ok.exit_code(), EXIT_OK);
        ok.total.anomalies.duplicate_answers = 1;
        assert_eq!(ok.exit_code(), EXIT_FAILED);
    }
}
