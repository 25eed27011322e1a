//! The ForgeSyte Stream load generator: N WebSocket sessions on `/ws/video/stream`, each sending JPEG frames at
//! a target rate for a duration, with every server message matched to its frame.
//!
//! The server numbers a session's valid frames from 0 in arrival order, so the answer to the k-th frame sent
//! carries `frame_index` k; the round trip of frame k is the time from its send to the arrival of its result or
//! drop notice. Each session runs a writer task on a steady schedule (`MissedTickBehavior::Skip`) and a reader,
//! so sending never waits for answers. Percentiles are exact (every sample kept and sorted). Optionally the
//! resident memory of the server process is sampled from `/proc`.
//!
//! This crate is a client: it knows the wire contract (`stream-protocol`) and nothing of the server's insides.
//! Main items: [`Args`] (the command line), [`BenchConfig`], [`run`] and its [`Report`].
//!
//! ```
//! use stream_bench::{parse_duration, percentile, stream_url};
//!
//! assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
//! assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 50.0), Some(2.0));
//! assert_eq!(
//!     stream_url("ws://127.0.0.1:8080", "yolo").unwrap(),
//!     "ws://127.0.0.1:8080/ws/video/stream?pipeline_id=yolo"
//! );
//! ```
#![deny(missing_docs)]

mod config;
mod report;
mod rss;
mod session;
mod stats;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use crate::session::{Schedule, SessionStats};
pub use crate::{
    config::{
        ArgError, Args, BenchConfig, CONNECT_TIMEOUT, MAX_FPS, STREAM_PATH, Workload, load_frames,
        parse_duration, stream_url,
    },
    report::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, Report, SessionReport},
    rss::{RssReport, parse_vm_rss_kb, read_vm_rss_kb},
    session::Anomalies,
    stats::{Samples, Summary, percentile},
};

/// Delay between the last session connecting and the first frame, so that every session starts on time.
const START_DELAY: Duration = Duration::from_millis(50);

/// Runs the command line: checks the arguments, runs, prints the report to `out` (and the JSON file), and
/// returns the exit status. Problems go to `err`.
pub fn cli_main(args: Args, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let json_path = args.json.clone();
    let config = match args.into_config() {
        Ok(config) => config,
        Err(error) => {
            let _ = writeln!(err, "stream-bench: {error}");
            return EXIT_USAGE;
        }
    };
    if let Workload::Idle { .. } = config.workload {
        let _ = writeln!(
            err,
            "stream-bench: idle mode; the server closes silent sessions after its idle timeout (default 30 s): \
             start it with --idle-timeout-s above --duration"
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = writeln!(err, "stream-bench: cannot start the async runtime: {error}");
            return EXIT_FAILED;
        }
    };
    let report = runtime.block_on(run(&config));
    let _ = out.write_all(report.to_text().as_bytes());
    if let Some(path) = json_path
        && let Err(error) = std::fs::write(&path, report.to_json() + "\n")
    {
        let _ = writeln!(err, "stream-bench: cannot write {}: {error}", path.display());
        return EXIT_FAILED;
    }
    if report.sessions_connected == 0 {
        let _ = writeln!(err, "stream-bench: could not reach the server at {}", config.url);
    }
    report.exit_code()
}

/// Runs the sessions of `config` and reports what they saw. Never panics on what the server sends.
pub async fn run(config: &BenchConfig) -> Report {
    let started = Instant::now();
    let rss = RssSampler::start(config.rss_pid, started);

    let sockets =
        join_all((0..config.workload.sessions()).map(|_| session::connect(&config.url, CONNECT_TIMEOUT)))
            .await;
    let sessions_connected = sockets.iter().filter(|s| s.is_ok()).count();

    let mut fps = None;
    let mut frame_files = None;
    let mut warmup = Duration::ZERO;
    let mut open_kb = None;
    let tasks: Vec<_> = match &config.workload {
        Workload::Stream { sessions, fps: rate, frames, warmup: warm } => {
            fps = Some(*rate);
            frame_files = Some(frames.len());
            warmup = *warm;
            // `BenchConfig::stream` and the command line keep the rate in (0, MAX_FPS]; clamp anyway, since a
            // zero or infinite period would make the scheduler panic.
            let period = Duration::try_from_secs_f64(1.0 / rate)
                .unwrap_or(Duration::from_secs(3600))
                .clamp(Duration::from_millis(1), Duration::from_secs(3600));
            let first = Instant::now() + START_DELAY;
            sockets
                .into_iter()
                .enumerate()
                .map(|(i, socket)| {
                    // Sessions are spread evenly over one frame interval, as independent cameras would be.
                    let start = first + period.mul_f64(i as f64 / *sessions as f64);
                    let schedule = Schedule {
                        frames: Arc::clone(frames),
                        first_frame: i,
                        period,
                        start,
                        measure_from: start + warmup,
                        stop_at: start + warmup + config.duration,
                        grace: config.grace,
                    };
                    socket.map(|socket| tokio::spawn(session::stream(socket, schedule)))
                })
                .collect()
        }
        Workload::Idle { .. } => {
            let until = Instant::now() + config.duration;
            let tasks =
                sockets.into_iter().map(|s| s.map(|s| tokio::spawn(session::idle(s, until)))).collect();
            // Sample with every session open, just before they close.
            tokio::time::sleep_until(until - Duration::from_millis(100).min(config.duration)).await;
            open_kb = config.rss_pid.and_then(|pid| read_vm_rss_kb(pid).ok());
            tasks
        }
    };

    let mut per_session = Vec::with_capacity(tasks.len());
    for task in tasks {
        let stats = match task {
            // A session task only fails by panicking, which would be a bug in this crate.
            Ok(task) => {
                task.await.unwrap_or_else(|_| SessionStats::failed("bench_bug", "session task panicked"))
            }
            Err(detail) => SessionStats::connect_failed(detail),
        };
        per_session.push(stats);
    }

    let rss = match rss {
        Some(sampler) => {
            // Let the server release what the closed sessions held before the last sample.
            tokio::time::sleep(Duration::from_millis(500)).await;
            sampler.finish(open_kb, sessions_connected).await
        }
        None => None,
    };

    let measured_s = config.duration.as_secs_f64();
    let mut total = SessionStats::default();
    for stats in &per_session {
        total.merge(stats);
    }
    Report {
        mode: match config.workload {
            Workload::Idle { .. } => "idle",
            Workload::Stream { .. } => "stream",
        },
        url: config.url.clone(),
        pipeline: config.pipeline.clone(),
        sessions: config.workload.sessions(),
        sessions_connected,
        fps,
        frame_files,
        duration_s: measured_s,
        warmup_s: warmup.as_secs_f64(),
        elapsed_s: (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        total: SessionReport::new("total".into(), &total, measured_s),
        per_session: per_session
            .iter()
            .enumerate()
            .map(|(i, stats)| SessionReport::new(i.to_string(), stats, measured_s))
            .collect(),
        rss,
    }
}

/// Samples a process's VmRSS every second in the background.
struct RssSampler {
    pid: u32,
    start_kb: u64,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<(f64, u64)>>,
    started: Instant,
}

impl RssSampler {
    fn start(pid: Option<u32>, started: Instant) -> Option<Self> {
        let pid = pid?;
        // An unreadable process was refused as an argument; if it vanished since, report 0.
        let start_kb = read_vm_rss_kb(pid).unwrap_or(0);
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut samples = vec![(0.0, start_kb)];
            let mut ticks =
                tokio::time::interval_at(started + Duration::from_secs(1), Duration::from_secs(1));
            ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = stopped.wait_for(|stop| *stop) => break,
                    _ = ticks.tick() => {
                        if let Ok(kb) = read_vm_rss_kb(pid) {
                            samples.push(((started.elapsed().as_secs_f64() * 10.0).round() / 10.0, kb));
                        }
                    }
                }
            }
            samples
        });
        Some(Self { pid, start_kb, stop, task, started })
    }

    async fn finish(self, open_kb: Option<u64>, sessions_opened: usize) -> Option<RssReport> {
        let _ = self.stop.send(true);
        let mut samples = self.task.await.unwrap_or_default();
        let end_kb = read_vm_rss_kb(self.pid).ok();
        if let Some(kb) = end_kb {
            samples.push(((self.started.elapsed().as_secs_f64() * 10.0).round() / 10.0, kb));
        }
        let max_kb = samples.iter().map(|&(_, kb)| kb).chain(open_kb).max().unwrap_or(self.start_kb);
        let per_idle_session_kb = open_kb.filter(|_| sessions_opened > 0).map(|open| {
            let per = (open as f64 - self.start_kb as f64) / sessions_opened as f64;
            (per * 10.0).round() / 10.0
        });
        Some(RssReport {
            pid: self.pid,
            start_kb: self.start_kb,
            open_kb,
            end_kb,
            max_kb,
            per_idle_session_kb,
            samples,
        })
    }
}
