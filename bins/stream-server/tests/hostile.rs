//! Hostile clients against the real binary, where memory is the point (its RSS is read from /proc) and where
//! the process itself must survive: many half-sent frames, an endless multipart preamble, and a job that keeps
//! being cut off by the process dying. The bounds asserted are the ones docs/operations.md states.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::Server;
use common::http::http_get;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MIB: u64 = 1024 * 1024;

/// The child's resident memory.
fn rss(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

async fn healthy(server: &Server) {
    let (code, body) = http_get(server.addr, "/v1/health").await;
    assert_eq!(code, 200, "{body}");
}

/// Opens a WebSocket by hand and sends a binary frame header announcing `announced` bytes and `sent` of them
/// (masked with key 0, so the payload is sent as is). Returns the socket, still open.
async fn half_sent_frame(server: &Server, announced: u64, payload: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "GET /ws/video/stream?pipeline_id=yolo HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        server.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    while !response.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        response.push(byte[0]);
    }
    assert!(response.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&response));
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&announced.to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    stream.write_all(&frame).await.unwrap();
    // A server that refused the frame stops reading: that is fine, it is what this test is about.
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(payload)).await;
    stream
}

/// 150 sessions each send 3 MiB of a 4 MiB frame and stall. Without a budget that is 450 MiB held; with the
/// frame budget at 64 MiB, the server holds at most that (plus one read per session), refuses the rest with
/// `server_busy`, and keeps serving.
#[tokio::test(flavor = "multi_thread")]
async fn many_half_sent_frames_stay_within_the_frame_budget() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &["--frame-budget-mb", "64", "--session-limit", "200", "--idle-timeout-s", "60"],
    );
    healthy(&server).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss(&server);
    let payload = vec![0u8; 3 * MIB as usize];
    let mut sockets = Vec::new();
    for _ in 0..150 {
        sockets.push(half_sent_frame(&server, 4 * MIB, &payload).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = rss(&server);
    let growth = during.saturating_sub(before);
    // Budget (64 MiB) + one 64 KiB read per session (~10 MiB) + per-connection buffers and tasks.
    assert!(
        growth < 120 * MIB,
        "RSS grew by {} MiB (from {} to {} MiB)",
        growth / MIB,
        before / MIB,
        during / MIB
    );
    healthy(&server).await;
    let (_, body) = http_get(server.addr, "/metrics").await;
    let refused = body
        .lines()
        .find(|l| l.starts_with("stream_errors{code=\"server_busy\"} "))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    drop(sockets);
    // 64 MiB hold about 21 of the 150 frames' first 3 MiB: most sessions were refused.
    assert!(refused >= 100.0, "{refused} sessions refused for the budget:\n{body}");
}

/// A 64 MiB multipart preamble (chunked, so no declared length stops it) is refused after the framing
/// allowance; memory does not grow with it.
#[tokio::test(flavor = "multi_thread")]
async fn an_endless_multipart_preamble_does_not_grow_memory() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    healthy(&server).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss(&server);
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /v1/video/submit HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary=XYZ\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = {
        let mut c = format!("{:x}\r\n", 64 * 1024).into_bytes();
        c.extend(std::iter::repeat_n(b'p', 64 * 1024));
        c.extend_from_slice(b"\r\n");
        c
    };
    let mut peak = before;
    for _ in 0..1024 {
        if !matches!(tokio::time::timeout(Duration::from_secs(2), stream.write_all(&chunk)).await, Ok(Ok(())))
        {
            break;
        }
        peak = peak.max(rss(&server));
    }
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    let growth = peak.saturating_sub(before);
    assert!(growth < 16 * MIB, "RSS grew by {} MiB", growth / MIB);
    healthy(&server).await;
}

/// A job whose processing is cut off twice by the process dying is failed at the next start, not retried
/// forever: a video that kills the server cannot make it crash in a loop.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_cut_off_twice_by_a_dying_process_is_failed_at_the_next_start() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(data.path(), &[]);
    let job = server.submit("yolo", "1").await;
    for round in 0..2 {
        server.wait_for_job(&job, |s| s["status"] == "running").await;
        server.wait_for_event("job_started").await;
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        drop(server);
        server = Server::start(data.path(), &[]);
        if round == 0 {
            let requeued = server.wait_for_event("job_requeued").await;
            assert_eq!(requeued["fields"]["job_id"], job.as_str());
        }
    }
    let status: Value = server.status(&job).await;
    assert_eq!(status["status"], "failed", "{status}");
    let message = status["error_message"].as_str().unwrap();
    assert!(message.starts_with("The server stopped twice while processing this video"), "{message}");
    let started = Instant::now();
    while std::fs::read_dir(data.path().join("uploads")).unwrap().count() > 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "the failed job's upload is removed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    healthy(&server).await;
}
