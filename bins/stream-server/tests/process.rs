//! The real binary as an operator runs it: a child process with the real models, its JSON log on stdout.
//! SIGKILL during a video job and a restart on the same data directory; the log events a session writes;
//! SIGTERM; start-up errors of the inference engine.
//!
//! The servers run on the engine named by `STREAM_ENGINE` (inherited; `just test-onnxruntime` sets
//! `onnxruntime`), so these tests pass on both engines.
#![allow(clippy::unwrap_used)]

#[path = "../../../crates/stream-server/tests/common/http.rs"]
mod http;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use http::{Form, http_get, post_multipart};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A running `stream-server` whose stdout (JSON log lines) is collected.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Value>>>,
}

impl Server {
    fn start(data_dir: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stream-server"))
            .args(["--bind", "127.0.0.1:0", "--log-format", "json", "--inference-threads", "2"])
            .arg("--models-dir")
            .arg(root().join("fixtures/models"))
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--web-dir")
            .arg("/nonexistent")
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = BufReader::new(child.stdout.take().unwrap());
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                let Ok(event) = serde_json::from_str::<Value>(&line) else { continue };
                if event["fields"]["message"] == "server_listening" {
                    let _ = tx.send(event["fields"]["addr"].as_str().unwrap().parse::<SocketAddr>().unwrap());
                }
                sink.lock().unwrap().push(event);
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(120)).expect("the server logs server_listening");
        Self { child, addr, log }
    }

    /// Log events with this message.
    fn events(&self, message: &str) -> Vec<Value> {
        let log = self.log.lock().unwrap();
        log.iter().filter(|e| e["fields"]["message"] == message).cloned().collect()
    }

    async fn wait_for_event(&self, message: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(event) = self.events(message).pop() {
                return event;
            }
            assert!(Instant::now() < deadline, "no {message} in the log");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn status(&self, job_id: &str) -> Value {
        let (code, body) = http_get(self.addr, &format!("/v1/video/status/{job_id}")).await;
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Polls until `done(status)`.
    async fn wait_for_job(&self, job_id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let status = self.status(job_id).await;
            if done(&status) {
                return status;
            }
            assert!(Instant::now() < deadline, "job {job_id} stuck at {status}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn submit(&self, pipeline: &str, stride: &str) -> String {
        let video = std::fs::read(root().join("fixtures/video/fixtures_640x480.mp4")).unwrap();
        let form = Form::new()
            .text("pipeline_id", pipeline)
            .text("frame_stride", stride)
            .file("file", "c.mp4", &video);
        let (code, body) = post_multipart(self.addr, "/v1/video/submit", &form).await;
        assert_eq!(code, 202, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["job_id"].as_str().unwrap().to_owned()
    }

    fn signal(&self, name: &str) {
        let status =
            Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }

    fn wait(mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_survives_sigkill_and_other_jobs_stay_intact() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let small = server.submit("yolo", "25").await;
    let small_done = server.wait_for_job(&small, |s| s["status"] == "completed").await;
    // Every frame of the video: long enough to be killed in the middle.
    let big = server.submit("yolo", "1").await;
    server.wait_for_job(&big, |s| s["frames_processed"].as_u64().unwrap() >= 3).await;
    let mut killed = server;
    killed.child.kill().unwrap(); // SIGKILL: no shutdown code runs
    killed.child.wait().unwrap();
    drop(killed);

    let server = Server::start(data.path(), &[]);
    let requeued = server.wait_for_event("job_requeued").await;
    assert_eq!(requeued["fields"]["job_id"], big.as_str());
    let done = server.wait_for_job(&big, |s| s["status"] != "pending" && s["status"] != "running").await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["frames_processed"], 50);
    let (_, body) = http_get(server.addr, &format!("/v1/video/results/{big}")).await;
    let results: Value = serde_json::from_str(&body).unwrap();
    let indices: Vec<u64> =
        results["results"].as_array().unwrap().iter().map(|r| r["frame_index"].as_u64().unwrap()).collect();
    assert_eq!(indices, (0..50).collect::<Vec<_>>(), "each frame exactly once, in order");
    // The job that had completed before the crash is untouched.
    assert_eq!(server.status(&small).await, small_done);
    let started = server.events("job_started");
    assert_eq!(started[0]["fields"]["resume_after"].as_u64().map(|n| n >= 2), Some(true), "{started:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_writes_the_named_log_events_and_sigterm_requeues_a_running_job_and_exits_0() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let frame = std::fs::read(root().join("fixtures/images/astronaut_640x480.jpg")).unwrap();
    let url = format!("ws://{}/ws/video/stream?pipeline_id=yolo", server.addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    socket.send(Message::Binary(frame.into())).await.unwrap();
    use futures_util::StreamExt;
    let reply = socket.next().await.unwrap().unwrap();
    let result: Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    assert_eq!(result["frame_index"], 0, "{reply}");
    let detections = result["result"]["detections"].as_array().unwrap_or_else(|| panic!("{reply}"));
    assert!(detections.iter().any(|d| d["class_name"] == "person"), "{reply}");
    let engine = std::env::var("STREAM_ENGINE").unwrap_or_else(|_| "tract".to_owned());
    let config = server.wait_for_event("server_config").await;
    assert!(
        config["fields"]["settings"].as_str().unwrap().contains(&format!("engine={engine} ")),
        "{config}"
    );
    socket.send(Message::Binary(b"not a jpeg".to_vec().into())).await.unwrap();
    while socket.next().await.is_some_and(|m| m.is_ok()) {}

    let connect = server.wait_for_event("stream_connect").await;
    let session_id = connect["fields"]["session_id"].as_str().unwrap().to_owned();
    assert_eq!(connect["fields"]["pipeline_id"], "yolo");
    assert_eq!(connect["level"], "INFO");
    let disconnect = server.wait_for_event("stream_disconnect").await;
    assert_eq!(disconnect["fields"]["session_id"], session_id.as_str());
    assert_eq!(disconnect["fields"]["pipeline_id"], "yolo");
    assert_eq!(
        (&disconnect["fields"]["frames"], &disconnect["fields"]["processed"]),
        (&1.into(), &1.into()),
        "the invalid frame is not counted"
    );
    assert_eq!(disconnect["fields"]["dropped"], 0);
    assert_eq!(disconnect["fields"]["end"], "invalid_frame");
    assert!(disconnect["fields"]["duration_ms"].is_number(), "{disconnect}");

    // A job in the middle of its frames when SIGTERM arrives goes back to the queue, once.
    let job = server.submit("yolo", "1").await;
    server.wait_for_job(&job, |s| s["frames_processed"].as_u64().unwrap() >= 1).await;
    server.signal("TERM");
    let log = Arc::clone(&server.log);
    let status = server.wait();
    assert_eq!(status.code(), Some(0));
    let log = log.lock().unwrap();
    assert!(log.iter().any(|e| e["fields"]["message"] == "server_stopped"));
    let requeued: Vec<_> = log.iter().filter(|e| e["fields"]["message"] == "job_requeued").collect();
    assert_eq!(requeued.len(), 1, "{requeued:?}");
    assert_eq!(requeued[0]["fields"]["job_id"], job.as_str());
    assert_eq!(log.iter().filter(|e| e["fields"]["message"] == "job_started").count(), 1);
}

/// Runs the binary until it exits; returns its exit code and stderr.
fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_stream-server"))
        .args(["--bind", "127.0.0.1:0", "--web-dir", "/nonexistent"])
        .arg("--models-dir")
        .arg(root().join("fixtures/models"))
        .args(args)
        .env_remove("STREAM_ENGINE")
        .env_remove("STREAM_ONNXRUNTIME_LIBRARY")
        .output()
        .unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_missing_or_wrong_onnxruntime_library_is_a_start_up_error_not_a_panic() {
    let compiled_in =
        pipeline_dag::Engine::OnnxRuntime(pipeline_dag::OnnxRuntimeConfig::new("x")).is_compiled_in();
    let (code, stderr) =
        run_to_exit(&["--engine", "onnxruntime", "--onnxruntime-library", "/nonexistent/libonnxruntime.so"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("error: cannot load the pipelines: cannot start the onnxruntime inference engine: "),
        "{stderr}"
    );
    if compiled_in {
        assert!(stderr.contains("onnxruntime library /nonexistent/libonnxruntime.so not found"), "{stderr}");
    } else {
        assert!(stderr.contains("this build has no onnxruntime engine"), "{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A file that is not a shared library.
    let bogus = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bogus.path(), b"not a library").unwrap();
    let (code, stderr) =
        run_to_exit(&["--engine", "onnxruntime", "--onnxruntime-library", bogus.path().to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    if compiled_in {
        assert!(stderr.contains("cannot load onnxruntime from"), "{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");

    // An engine that does not exist is a configuration error.
    let (code, stderr) = run_to_exit(&["--engine", "tensorflow"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("expected tract or onnxruntime"), "{stderr}");
}
