//! The real binary as an operator runs it: a child process with the real models, its JSON log on stdout.
//! SIGKILL during a video job and a restart on the same data directory; the log events a session writes;
//! SIGTERM; start-up errors of the inference engine.
//!
//! The servers run on the engine named by `STREAM_ENGINE` (inherited; `just test-onnxruntime` sets
//! `onnxruntime`), so these tests pass on both engines.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::http::http_get;
use common::{Server, root};
use futures_util::SinkExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

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
    // `STREAM_ENGINE` when set; otherwise `auto`, which finds the library `just onnxruntime` fetched, if it did.
    let library = root().join("target/onnxruntime/libonnxruntime.so.").display().to_string()
        + pipeline_dag::ONNXRUNTIME_VERSION;
    let (asked, runs) = match std::env::var("STREAM_ENGINE") {
        Ok(engine) => (engine.clone(), engine),
        Err(_) if Path::new(&library).is_file() => ("auto".to_owned(), "onnxruntime".to_owned()),
        Err(_) => ("auto".to_owned(), "tract".to_owned()),
    };
    let config = server.wait_for_event("server_config").await;
    assert!(config["fields"]["settings"].as_str().unwrap().contains(&format!("engine={asked} ")), "{config}");
    let selected = server.wait_for_event("engine_selected").await;
    assert_eq!(selected["fields"]["engine"], runs.as_str(), "{selected}");
    let (_, health) = http_get(server.addr, "/v1/health").await;
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["engine"], runs.as_str());
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
    assert!(stderr.contains("expected auto, tract or onnxruntime"), "{stderr}");
}

/// `engine = auto` with no library anywhere it looks: the server starts on tract and says why.
#[tokio::test(flavor = "multi_thread")]
async fn auto_falls_back_to_tract_when_no_onnxruntime_library_loads() {
    let data = tempfile::tempdir().unwrap();
    // Run from an empty directory, so the relative default path (target/onnxruntime/…) does not exist either.
    let server = common::Server::start_in(
        data.path(),
        data.path(),
        &["--engine", "auto", "--onnxruntime-library", "/nonexistent/libonnxruntime.so"],
    );
    let selected = server.wait_for_event("engine_selected").await;
    assert_eq!(selected["fields"]["engine"], "tract", "{selected}");
    let reason = selected["fields"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "tract: no onnxruntime library loaded (looked at /nonexistent/libonnxruntime.so (absent)"
        ),
        "{reason}"
    );
    let (_, health) = http_get(server.addr, "/v1/health").await;
    assert_eq!(serde_json::from_str::<Value>(&health).unwrap()["engine"], "tract");
}
