//! Command line and the resolved configuration of a run.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use frame_validate::{FrameLimits, validate_jpeg};

/// The path every streaming session connects to.
pub const STREAM_PATH: &str = "/ws/video/stream";

/// The highest frame rate a session can be asked for: the scheduler's resolution is one millisecond.
pub const MAX_FPS: f64 = 1000.0;

/// How long a session may take to connect (TCP + WebSocket handshake) before it counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Load generator for ForgeSyte Stream.
///
/// Opens N WebSocket sessions to /ws/video/stream?pipeline_id=ID, each sending the JPEG frames of a folder
/// (cycled) at a steady rate, and matches every server message to its frame by frame_index. Reports sent
/// frames, results, drop notices, slow-down warnings, errors by code, unanswered frames, results/s, the drop
/// rate and round-trip latency (send of frame k -> arrival of its message) p50/p90/p99/max for results and
/// drops, plus the pipeline time from the results' timings_ms and the server overhead (round trip - pipeline
/// time), per session and in total.
///
/// Exit status: 0 success; 1 the server could not be reached, a session received an error or the connection
/// broke, or the server broke the protocol (a frame answered twice, an unknown frame_index, results out of
/// order, an unparsable message); 2 bad arguments.
#[derive(Debug, Clone, Parser)]
#[command(name = "stream-bench", version)]
pub struct Args {
    /// Server address: ws://HOST:PORT. /ws/video/stream is appended unless the URL already ends with it.
    #[arg(long, value_name = "URL", default_value = "ws://127.0.0.1:8080")]
    pub url: String,

    /// Pipeline id every session streams to.
    #[arg(long, value_name = "ID", default_value = "yolo")]
    pub pipeline: String,

    /// Number of concurrent streaming sessions.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub sessions: u32,

    /// Frames per second each session sends (steady schedule; ticks missed because the socket is blocked are
    /// skipped, not sent late in a burst). Sessions are staggered evenly within one frame interval.
    #[arg(long, value_name = "F", default_value_t = 15.0, value_parser = parse_fps)]
    pub fps: f64,

    /// How long to measure (e.g. 30s, 500ms, 5m; a bare number is seconds). In --idle-sessions mode: how
    /// long to keep the sessions open.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Time to stream before measuring. Frames sent during the warm-up are answered but not counted; slow-down
    /// warnings and errors are counted over the whole run.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// How long to wait for answers to outstanding frames after the last frame was sent. Frames still
    /// unanswered then are reported as unanswered.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub grace: Duration,

    /// Folder of JPEG frames (*.jpg, *.jpeg; sub-folders are ignored), read once, sent in file-name order and
    /// cycled. Session i starts at frame i.
    #[arg(long, value_name = "DIR", default_value = "fixtures/images")]
    pub frames: PathBuf,

    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Sample the resident memory (VmRSS in /proc/PID/status) of this process, normally the server: at
    /// start, every second, and at the end.
    #[arg(long, value_name = "PID")]
    pub rss_pid: Option<u32>,

    /// Idle mode: open N sessions that send nothing, keep them open for --duration, then close them; with
    /// --rss-pid, reports the memory each idle session costs. The server closes silent sessions after its
    /// idle timeout (default 30 s): start it with a larger --idle-timeout-s than --duration for this
    /// measurement.
    #[arg(long, value_name = "N", conflicts_with_all = ["sessions", "fps", "warmup"],
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub idle_sessions: Option<u32>,
}

/// Why the arguments cannot be used. Reported with exit status 2.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArgError {
    /// The URL is not a plain `ws://` URL.
    #[error("--url {0:?}: expected ws://HOST:PORT (without query; wss:// is not supported)")]
    Url(String),
    /// The pipeline id is empty.
    #[error("--pipeline must not be empty")]
    EmptyPipeline,
    /// The frame rate is not in `(0, 1000]`.
    #[error("--fps {0}: expected frames per second in (0, 1000]")]
    Fps(f64),
    /// The frames folder cannot be read.
    #[error("--frames {path}: {source}")]
    FramesDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The frames folder holds no JPEG file.
    #[error("--frames {0}: no .jpg or .jpeg file in this folder")]
    NoFrames(PathBuf),
    /// A frame file is not a JPEG the server would accept.
    #[error("--frames: {path} is not a valid JPEG frame: {detail}")]
    BadFrame {
        /// The file.
        path: PathBuf,
        /// What the validator said.
        detail: String,
    },
    /// The process whose memory should be sampled cannot be read.
    #[error("--rss-pid {pid}: cannot read its VmRSS from /proc/{pid}/status")]
    RssPid {
        /// The process id.
        pid: u32,
    },
    /// The JSON report's folder does not exist.
    #[error("--json {0}: its folder does not exist")]
    JsonDir(PathBuf),
}

/// What the sessions do.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Workload {
    /// Sessions that stream frames at a steady rate.
    Stream {
        /// Number of sessions.
        sessions: usize,
        /// Frames per second per session.
        fps: f64,
        /// The frames, cycled.
        frames: Arc<[Bytes]>,
        /// Streaming time before measuring.
        warmup: Duration,
    },
    /// Sessions that only connect and stay silent.
    Idle {
        /// Number of sessions.
        sessions: usize,
    },
}

impl Workload {
    /// Number of sessions.
    pub fn sessions(&self) -> usize {
        match self {
            Self::Stream { sessions, .. } | Self::Idle { sessions } => *sessions,
        }
    }
}

/// A validated run: everything [`run`](crate::run) needs.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The full session URL, `ws://HOST:PORT/ws/video/stream?pipeline_id=ID`.
    pub url: String,
    /// The pipeline id (for the report).
    pub pipeline: String,
    /// What the sessions do.
    pub workload: Workload,
    /// Measured time (stream mode) or how long idle sessions stay open.
    pub duration: Duration,
    /// How long to wait for outstanding answers after the last frame.
    pub grace: Duration,
    /// Process whose VmRSS is sampled, if any.
    pub rss_pid: Option<u32>,
}

impl BenchConfig {
    /// A streaming run with no warm-up, a 2 s grace period and no memory sampling.
    pub fn stream(
        base_url: &str,
        pipeline: &str,
        sessions: usize,
        fps: f64,
        duration: Duration,
        frames: Arc<[Bytes]>,
    ) -> Result<Self, ArgError> {
        if !(fps > 0.0 && fps <= MAX_FPS) {
            return Err(ArgError::Fps(fps));
        }
        Ok(Self {
            url: stream_url(base_url, pipeline)?,
            pipeline: pipeline.to_owned(),
            workload: Workload::Stream { sessions, fps, frames, warmup: Duration::ZERO },
            duration,
            grace: Duration::from_secs(2),
            rss_pid: None,
        })
    }
}

impl Args {
    /// Checks the arguments and loads the frames.
    pub fn into_config(self) -> Result<BenchConfig, ArgError> {
        let url = stream_url(&self.url, &self.pipeline)?;
        if let Some(pid) = self.rss_pid {
            crate::rss::read_vm_rss_kb(pid).map_err(|_| ArgError::RssPid { pid })?;
        }
        if let Some(json) = &self.json {
            let parent = json.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if !parent.is_dir() {
                return Err(ArgError::JsonDir(json.clone()));
            }
        }
        let workload = match self.idle_sessions {
            Some(n) => Workload::Idle { sessions: n as usize },
            None => Workload::Stream {
                sessions: self.sessions as usize,
                fps: self.fps,
                frames: load_frames(&self.frames)?,
                warmup: self.warmup,
            },
        };
        Ok(BenchConfig {
            url,
            pipeline: self.pipeline,
            workload,
            duration: self.duration,
            grace: self.grace,
            rss_pid: self.rss_pid,
        })
    }
}

/// Parses a duration: `30s`, `500ms`, `1.5s`, `5m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("unknown unit {other:?} in {text:?} (use ms, s, m or h)")),
    };
    let value: f64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 30s or 500ms"))?;
    Duration::try_from_secs_f64(value * scale).map_err(|_| format!("{text:?} is out of range"))
}

/// Parses a frame rate: a finite number in `(0, 1000]`.
fn parse_fps(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(fps) if fps > 0.0 && fps <= MAX_FPS => Ok(fps),
        _ => Err(format!("{text:?}: expected frames per second in (0, 1000]")),
    }
}

/// The session URL for a server address and a pipeline id, with the id percent-encoded.
pub fn stream_url(base: &str, pipeline: &str) -> Result<String, ArgError> {
    if pipeline.is_empty() {
        return Err(ArgError::EmptyPipeline);
    }
    let trimmed = base.trim().trim_end_matches('/');
    let host_and_path = trimmed.strip_prefix("ws://").ok_or_else(|| ArgError::Url(base.to_owned()))?;
    if host_and_path.is_empty() || trimmed.contains(['?', '#', ' ']) {
        return Err(ArgError::Url(base.to_owned()));
    }
    let path = if trimmed.ends_with(STREAM_PATH) { "" } else { STREAM_PATH };
    Ok(format!("{trimmed}{path}?pipeline_id={}", percent_encode(pipeline)))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Reads every `.jpg`/`.jpeg` file of `dir` (not recursively) in file-name order, each checked with the
/// server's own validator so that a bad file fails here rather than closing a session.
pub fn load_frames(dir: &Path) -> Result<Arc<[Bytes]>, ArgError> {
    let dir_error = |source| ArgError::FramesDir { path: dir.to_owned(), source };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(dir_error)? {
        let path = entry.map_err(dir_error)?.path();
        let is_jpeg = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg"));
        if is_jpeg && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(ArgError::NoFrames(dir.to_owned()));
    }
    let limits = FrameLimits::default();
    let mut frames = Vec::with_capacity(paths.len());
    for path in paths {
        let bytes =
            std::fs::read(&path).map_err(|source| ArgError::FramesDir { path: path.clone(), source })?;
        if let Err(e) = validate_jpeg(&bytes, &limits) {
            return Err(ArgError::BadFrame { path, detail: e.detail() });
        }
        frames.push(Bytes::from(bytes));
    }
    Ok(frames.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("3 weeks").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1e300h").is_err());
    }

    #[test]
    fn urls() {
        let url = |base| stream_url(base, "yolo").map_err(|e| e.to_string());
        assert_eq!(
            url("ws://127.0.0.1:8080").unwrap(),
            "ws://127.0.0.1:8080/ws/video/stream?pipeline_id=yolo"
        );
        assert_eq!(url("ws://h:1/").unwrap(), "ws://h:1/ws/video/stream?pipeline_id=yolo");
        assert_eq!(url("ws://h:1/ws/video/stream").unwrap(), "ws://h:1/ws/video/stream?pipeline_id=yolo");
        assert!(url("http://h:1").is_err());
        assert!(url("wss://h:1").is_err());
        assert!(url("ws://").is_err());
        assert!(url("ws://h:1/?x=1").is_err());
        assert_eq!(
            stream_url("ws://h:1", "a b&c/é").unwrap(),
            "ws://h:1/ws/video/stream?pipeline_id=a%20b%26c%2F%C3%A9"
        );
        assert!(matches!(stream_url("ws://h:1", ""), Err(ArgError::EmptyPipeline)));
        for fps in [0.0, -1.0, f64::NAN, f64::INFINITY, 1000.5] {
            let config =
                BenchConfig::stream("ws://h:1", "p", 1, fps, Duration::from_secs(1), Arc::from(vec![]));
            assert!(matches!(config, Err(ArgError::Fps(_))), "{fps}");
        }
    }

    #[test]
    fn args_parse_and_conflict() {
        let args =
            Args::try_parse_from(["stream-bench", "--sessions", "4", "--fps", "15", "--duration", "2s"])
                .unwrap();
        assert_eq!((args.sessions, args.fps, args.duration), (4, 15.0, Duration::from_secs(2)));
        for bad in [
            &["stream-bench", "--sessions", "0"][..],
            &["stream-bench", "--fps", "0"],
            &["stream-bench", "--fps", "nan"],
            &["stream-bench", "--duration", "soon"],
            &["stream-bench", "--idle-sessions", "10", "--fps", "5"],
        ] {
            let error = Args::try_parse_from(bad).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{bad:?}");
        }
        let idle = Args::try_parse_from(["stream-bench", "--idle-sessions", "100"]).unwrap();
        assert!(matches!(idle.into_config().unwrap().workload, Workload::Idle { sessions: 100 }));
    }

    #[test]
    fn frames_folder() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images");
        let frames = load_frames(&fixtures).unwrap();
        assert!(!frames.is_empty());
        assert!(frames.iter().all(|f| f.starts_with(&[0xFF, 0xD8])));
        assert!(matches!(load_frames(Path::new("/nonexistent/frames")), Err(ArgError::FramesDir { .. })));
        // A folder without JPEG files.
        assert!(matches!(load_frames(Path::new(env!("CARGO_MANIFEST_DIR"))), Err(ArgError::NoFrames(_))));
    }
}
