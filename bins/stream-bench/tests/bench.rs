//! The load generator against a real server on 127.0.0.1 port 0 with a test pipeline of known duration.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] functions.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use stream_bench::{BenchConfig, EXIT_FAILED, EXIT_OK, Report, load_frames};
use stream_protocol::http::{PipelineInfo, PipelineSummary};
use stream_protocol::{FrameResult, ImageSize};
use stream_server::{PipelineCatalog, Server, ServerConfig};
use stream_session::PipelineError;
use tokio::sync::oneshot;

/// How long the test pipeline takes per frame.
const PIPELINE_MS: u64 = 20;

/// One pipeline, `sleep`, that takes [`PIPELINE_MS`] and reports it in `timings_ms`.
struct SleepCatalog;

impl PipelineCatalog for SleepCatalog {
    fn list(&self) -> Vec<PipelineSummary> {
        vec![PipelineSummary { id: "sleep".into(), name: "Sleep".into() }]
    }

    fn info(&self, id: &str) -> Option<PipelineInfo> {
        self.is_valid_pipeline(id).then(|| PipelineInfo {
            id: id.into(),
            name: "Sleep".into(),
            node_count: 1,
            edge_count: 0,
            entry_nodes: vec!["sleep".into()],
            output_nodes: vec!["sleep".into()],
            classes: vec![],
            input_size: None,
            nodes: vec![],
        })
    }

    fn is_valid_pipeline(&self, id: &str) -> bool {
        id == "sleep"
    }

    fn run_on_frame(&self, _: &str, _: u64, _: &[u8]) -> Result<FrameResult, PipelineError> {
        std::thread::sleep(Duration::from_millis(PIPELINE_MS));
        let mut result = FrameResult::new(ImageSize { width: 640, height: 480 });
        result.timings_ms.record_ms("sleep", PIPELINE_MS as f64);
        Ok(result)
    }

    fn run_on_image(
        &self,
        id: &str,
        index: u64,
        _: &stream_server::Frame,
    ) -> Result<FrameResult, PipelineError> {
        self.run_on_frame(id, index, &[])
    }
}

struct TestServer {
    url: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    async fn start() -> Self {
        let config = ServerConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            // No video jobs: nothing is written to a data directory.
            job_workers: 0,
            web_dir: "/nonexistent/web-ui/dist".into(),
            inference_threads: 2,
            ..ServerConfig::default()
        };
        let server = Server::bind(&config, Arc::new(SleepCatalog)).await.unwrap();
        let url = format!("ws://{}", server.local_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Self { url, stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task).await.unwrap().unwrap().unwrap();
    }
}

fn config(url: &str, pipeline: &str, sessions: usize, fps: f64, duration_ms: u64) -> BenchConfig {
    let frames = load_frames(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images")).unwrap();
    BenchConfig::stream(url, pipeline, sessions, fps, Duration::from_millis(duration_ms), frames).unwrap()
}

/// Every frame got exactly one answer and the server broke no rule.
fn assert_each_frame_answered_once(report: &Report) {
    for s in report.per_session.iter().chain([&report.total]) {
        assert_eq!(s.results + s.drops, s.sent, "session {}", s.session);
        assert_eq!(s.unanswered, 0, "session {}", s.session);
        assert_eq!(s.anomalies.total(), 0, "session {}: {:?}", s.session, s.anomalies);
        assert!(s.errors.is_empty(), "session {}: {:?}", s.session, s.errors);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_capacity_every_frame_is_processed() {
    let server = TestServer::start().await;
    let report = stream_bench::run(&config(&server.url, "sleep", 2, 10.0, 1500)).await;
    println!("{}", report.to_text());
    assert_eq!(report.exit_code(), EXIT_OK);
    assert_each_frame_answered_once(&report);
    let total = &report.total;
    assert!(total.sent >= 20, "{total:?}"); // 2 sessions x 10 FPS x 1.5 s = 30 on an idle machine.
    assert_eq!(total.drops, 0);
    assert_eq!(total.slow_downs, 0);
    assert_eq!(total.results, total.sent);
    let rtt = total.result_rtt_ms.unwrap();
    assert!(rtt.p50 >= PIPELINE_MS as f64, "{rtt:?}");
    assert_eq!(total.pipeline_ms.unwrap().p50, PIPELINE_MS as f64);
    let overhead = total.server_overhead_ms.unwrap();
    assert!(overhead.p50 >= 0.0 && overhead.p50 < rtt.p50, "{overhead:?}");
    assert!(total.drop_rtt_ms.is_none());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_capacity_frames_are_dropped_and_each_session_slowed_once() {
    let server = TestServer::start().await;
    // 100 FPS against a 20 ms pipeline: about half of the frames must be dropped.
    let report = stream_bench::run(&config(&server.url, "sleep", 2, 100.0, 1500)).await;
    println!("{}", report.to_text());
    assert_eq!(report.exit_code(), EXIT_OK);
    assert_each_frame_answered_once(&report);
    for s in &report.per_session {
        assert!(s.drops > 0, "{s:?}");
        assert!(s.results > 0, "{s:?}");
        assert_eq!(s.slow_downs, 1, "session {}", s.session);
        assert!(s.drop_rtt_ms.is_some());
    }
    // Drops are answered at once, without waiting for the pipeline.
    let drops = report.total.drop_rtt_ms.unwrap();
    let results = report.total.result_rtt_ms.unwrap();
    assert!(drops.p50 < results.p50, "drops {drops:?} results {results:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_pipeline_is_an_error() {
    let server = TestServer::start().await;
    let report = stream_bench::run(&config(&server.url, "no_such_pipeline", 2, 10.0, 500)).await;
    println!("{}", report.to_text());
    assert_eq!(report.sessions_connected, 2);
    assert_eq!(report.total.errors.get("invalid_pipeline"), Some(&2));
    assert_eq!(report.total.results, 0);
    assert_eq!(report.per_session[0].close_code, Some(1008));
    let detail = report.per_session[0].first_error.as_deref().unwrap();
    assert!(detail.contains("Unknown pipeline_id: no_such_pipeline"), "{detail}");
    assert!(report.to_text().contains("errors: invalid_pipeline x2"));
    assert_eq!(report.exit_code(), EXIT_FAILED);
    server.stop().await;
}

#[tokio::test]
async fn unreachable_server_is_an_error() {
    // A port that was free a moment ago: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let report = stream_bench::run(&config(&format!("ws://127.0.0.1:{port}"), "sleep", 1, 10.0, 200)).await;
    assert_eq!(report.sessions_connected, 0);
    assert_eq!(report.total.errors.get("connect_failed"), Some(&1));
    assert_eq!(report.exit_code(), EXIT_FAILED);
}

#[test]
fn command_line_exit_codes() {
    use clap::Parser;
    let run = |args: &[&str]| {
        let args = stream_bench::Args::try_parse_from(args).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = stream_bench::cli_main(args, &mut out, &mut err);
        (code, String::from_utf8(err).unwrap())
    };
    let (code, err) = run(&["stream-bench", "--frames", "/nonexistent/frames"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--frames /nonexistent/frames"), "{err}");
    let (code, err) = run(&["stream-bench", "--url", "http://127.0.0.1:1"]);
    assert_eq!(code, 2, "{err}");

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let frames = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/images");
    let url = format!("ws://127.0.0.1:{port}");
    let (code, err) = run(&["stream-bench", "--url", &url, "--frames", frames, "--duration", "100ms"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("could not reach the server"), "{err}");
}
