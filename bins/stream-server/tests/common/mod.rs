//! The real `stream-server` binary as a child process, with its JSON log collected (shared by this crate's
//! tests).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)] // Each test binary uses a different part.

#[path = "../../../../crates/stream-server/tests/common/http.rs"]
pub mod http;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Form, http_get, post_multipart};
use serde_json::Value;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A running `stream-server` whose stdout (JSON log lines) is collected.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<Value>>>,
}

impl Server {
    pub fn start(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_in(&root(), data_dir, extra)
    }

    /// Starts the server with `working_dir` as its working directory.
    pub fn start_in(working_dir: &Path, data_dir: &Path, extra: &[&str]) -> Self {
        // Two inference threads unless the test says otherwise.
        let threads: &[&str] =
            if extra.contains(&"--inference-threads") { &[] } else { &["--inference-threads", "2"] };
        let mut child = Command::new(env!("CARGO_BIN_EXE_stream-server"))
            .current_dir(working_dir)
            .args(["--bind", "127.0.0.1:0", "--log-format", "json"])
            .args(threads)
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
    pub fn events(&self, message: &str) -> Vec<Value> {
        let log = self.log.lock().unwrap();
        log.iter().filter(|e| e["fields"]["message"] == message).cloned().collect()
    }

    pub async fn wait_for_event(&self, message: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(event) = self.events(message).pop() {
                return event;
            }
            assert!(Instant::now() < deadline, "no {message} in the log");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn status(&self, job_id: &str) -> Value {
        let (code, body) = http_get(self.addr, &format!("/v1/video/status/{job_id}")).await;
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Polls until `done(status)`.
    pub async fn wait_for_job(&self, job_id: &str, done: impl Fn(&Value) -> bool) -> Value {
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

    pub async fn submit(&self, pipeline: &str, stride: &str) -> String {
        let video = std::fs::read(root().join("fixtures/video/fixtures_640x480.mp4")).unwrap();
        let form = Form::new()
            .text("pipeline_id", pipeline)
            .text("frame_stride", stride)
            .file("file", "c.mp4", &video);
        let (code, body) = post_multipart(self.addr, "/v1/video/submit", &form).await;
        assert_eq!(code, 202, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["job_id"].as_str().unwrap().to_owned()
    }

    pub fn signal(&self, name: &str) {
        let status =
            Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }

    pub fn wait(mut self) -> std::process::ExitStatus {
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
