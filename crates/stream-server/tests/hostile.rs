//! Hostile clients against a real server on 127.0.0.1 (docs/operations.md, "Limits and hardening"): damaged
//! MP4s, unbounded bodies, stalled connections, clients that never read, other web pages, disk use, and the
//! bad frames that were already handled. Every test ends by checking that the server still answers
//! `/v1/health`. Memory is measured on the real binary (bins/stream-server/tests/hostile.rs).
//!
//! Timeouts are set to a second or two here so the suite runs in seconds; the defaults are 10–30 s.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::http::{Form, http_delete, post_multipart, request};
use common::{FRAME, Reply, TestServer, http_get};
use futures_util::SinkExt;
use stream_protocol::ErrorCode;
use stream_protocol::http::{JobList, JobState, JobStatus, JobSubmitted};
use stream_server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const VIDEO: &[u8] = include_bytes!("../../../fixtures/video/fixtures_640x480.mp4");

fn malformed_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/video/malformed"))
}

async fn assert_healthy(server: &TestServer) {
    let (code, body) = server.get("/v1/health").await;
    assert_eq!(code, 200, "{body}");
}

async fn job_status(server: &TestServer, job_id: &str) -> JobStatus {
    let (code, body) = server.get(&format!("/v1/video/status/{job_id}")).await;
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

async fn finished(server: &TestServer, job_id: &str) -> JobStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = job_status(server, job_id).await;
        if matches!(status.status, JobState::Completed | JobState::Failed) {
            return status;
        }
        assert!(Instant::now() < deadline, "job {job_id} did not finish: {status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn submit(server: &TestServer, bytes: &[u8]) -> (u16, String) {
    let form = Form::new().text("pipeline_id", "echo").file("file", "clip.mp4", bytes);
    post_multipart(server.addr, "/v1/video/submit", &form).await
}

async fn submit_ok(server: &TestServer, bytes: &[u8]) -> String {
    let (code, body) = submit(server, bytes).await;
    assert_eq!(code, 202, "{body}");
    serde_json::from_str::<JobSubmitted>(&body).unwrap().job_id
}

fn uploads(server: &TestServer) -> Vec<String> {
    let dir = server.data_dir.as_ref().unwrap().path().join("uploads");
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

/// Reads until the server closes the connection; returns what it sent and how long that took.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + within).into(), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return (received, started.elapsed()),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open for {within:?}"),
        }
    }
}

// 1. MP4s that cannot be parsed fail their job; none aborts the process.

/// Each file of fixtures/video/malformed/ (the first aborted the process before the box-tree check) fails its
/// job with a message saying why, and the server keeps serving.
#[tokio::test]
async fn every_malformed_mp4_fails_its_job_and_the_server_keeps_serving() {
    let server = TestServer::start(TestServer::config()).await;
    let mut names: Vec<_> = std::fs::read_dir(malformed_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    names.sort();
    assert!(names.len() >= 7, "{names:?}");
    for path in names {
        let job_id = submit_ok(&server, &std::fs::read(&path).unwrap()).await;
        let status = finished(&server, &job_id).await;
        assert_eq!(status.status, JobState::Failed, "{}", path.display());
        let message = status.error_message.unwrap();
        assert!(
            message.starts_with("Not a readable MP4 file: ")
                || message.starts_with("The MP4 is truncated or damaged: "),
            "{}: {message}",
            path.display()
        );
        assert_healthy(&server).await;
    }
    // A failed job's upload is deleted: nothing is left in the uploads folder.
    assert_eq!(uploads(&server), Vec::<String>::new());
    server.stop().await;
}

// 2. Memory bounded by configuration: bodies and multipart framing.

/// A request head and body written by hand (the test client's `request` always sends a complete body).
async fn raw(server: &TestServer, head: &str) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Writes `total` bytes of `fill` in chunks until the server stops reading or closes; returns the response.
async fn send_body(mut stream: TcpStream, total: usize, fill: u8, chunked: bool) -> (u16, String) {
    let chunk = vec![fill; 64 * 1024];
    let mut sent = 0;
    while sent < total {
        let n = chunk.len().min(total - sent);
        let written = if chunked {
            let mut framed = format!("{n:x}\r\n").into_bytes();
            framed.extend_from_slice(&chunk[..n]);
            framed.extend_from_slice(b"\r\n");
            tokio::time::timeout(Duration::from_secs(2), stream.write_all(&framed)).await
        } else {
            tokio::time::timeout(Duration::from_secs(2), stream.write_all(&chunk[..n])).await
        };
        if !matches!(written, Ok(Ok(()))) {
            break;
        }
        sent += n;
    }
    if chunked {
        let _ = stream.write_all(b"0\r\n\r\n").await;
    }
    let (response, _) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// The head of an upload with this content type (`boundary=XYZ` when `None`) and length (chunked if `None`).
fn upload_head(addr: std::net::SocketAddr, content_type: Option<&str>, length: Option<usize>) -> String {
    let framing = match length {
        Some(n) => format!("Content-Length: {n}\r\n"),
        None => "Transfer-Encoding: chunked\r\n".to_owned(),
    };
    let content_type = content_type.unwrap_or("multipart/form-data; boundary=XYZ");
    format!(
        "POST /v1/video/submit HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: {content_type}\r\n{framing}\r\n"
    )
}

#[tokio::test]
async fn a_multipart_preamble_or_header_that_never_ends_is_refused_early() {
    let server = TestServer::start(TestServer::config()).await;
    // 64 MiB of preamble, declared and chunked: refused after the framing allowance, not buffered.
    for length in [Some(64 << 20), None] {
        let stream = raw(&server, &upload_head(server.addr, None, length)).await;
        let (status, text) = send_body(stream, 64 << 20, b'a', length.is_none()).await;
        assert_eq!(status, 400, "{length:?}: {text}");
        assert!(text.contains("multipart framing holds more than"), "{text}");
    }
    // Part headers that never end.
    let mut stream = raw(&server, &upload_head(server.addr, None, None)).await;
    let start = "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\nX-Pad: ";
    stream.write_all(format!("{:x}\r\n{start}\r\n", start.len()).as_bytes()).await.unwrap();
    let (status, text) = send_body(stream, 16 << 20, b'h', true).await;
    assert_eq!(status, 400, "{text}");
    // A chunked body over the upload limit is 413, with nothing left on disk.
    let config = ServerConfig { max_upload_mb: 1, ..TestServer::config() };
    let small = TestServer::start(config).await;
    let form = Form::new().text("pipeline_id", "echo").file("file", "a.mp4", &VIDEO[..64]);
    let mut body = form.body();
    body.truncate(body.len() - 40); // Drop the file's end and the closing boundary: more file bytes follow.
    let mut stream = raw(&small, &upload_head(small.addr, Some(&form.content_type()), None)).await;
    stream.write_all(format!("{:x}\r\n", body.len()).as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    stream.write_all(b"\r\n").await.unwrap();
    let (status, text) = send_body(stream, 3 << 20, b'v', true).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("upload_too_large"), "{text}");
    assert_eq!(uploads(&small), Vec::<String>::new());
    assert_healthy(&server).await;
    assert_healthy(&small).await;
    server.stop().await;
    small.stop().await;
}

#[tokio::test]
async fn too_many_form_fields_and_bodies_on_routes_that_take_none_are_refused() {
    let server = TestServer::start(TestServer::config()).await;
    let mut form = Form::new();
    for i in 0..20 {
        form = form.text(&format!("extra{i}"), "x");
    }
    let (code, body) = post_multipart(server.addr, "/v1/video/submit", &form).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("More than 16 form fields"), "{body}");
    // A DELETE with a 1 MiB body is refused unread.
    let (code, _) = request(server.addr, "DELETE", "/v1/jobs/x", "text/plain", &vec![b'x'; 1 << 20]).await;
    assert_eq!(code, 413);
    assert_healthy(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn sessions_beyond_the_hard_limit_are_server_busy_even_when_not_enforced() {
    let config = ServerConfig { session_limit: 3, enforce_max_sessions: false, ..TestServer::config() };
    let server = TestServer::start(config).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut client = server.connect("?pipeline_id=echo").await;
        client.send_frame(FRAME).await;
        assert!(matches!(client.reply().await, Reply::Message(_)));
        held.push(client);
    }
    let mut extra = server.connect("?pipeline_id=echo").await;
    let detail = extra.expect_error(ErrorCode::ServerBusy).await;
    assert_eq!(detail, "Server is at its session limit (3)");
    drop(held);
    assert_healthy(&server).await;
    server.stop().await;
}

/// Partial frames beyond the frame budget: the session whose read would go over it is closed with
/// `server_busy`; the others keep their place, and a complete frame releases its bytes.
#[tokio::test]
async fn partly_received_frames_share_one_budget() {
    let config = ServerConfig { frame_budget_mb: 2, ..TestServer::config() };
    let server = TestServer::start(config).await;
    // A masked binary frame header announcing 1.5 MiB, and 1 MiB of its payload (mask key 0).
    let header = |len: u64| {
        let mut h = vec![0x82, 0x80 | 127];
        h.extend_from_slice(&len.to_be_bytes());
        h.extend_from_slice(&[0, 0, 0, 0]);
        h
    };
    let mut first = server.connect("?pipeline_id=echo").await;
    tcp(&mut first).write_all(&header(3 << 19)).await.unwrap();
    tcp(&mut first).write_all(&vec![0u8; 1 << 20]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut second = server.connect("?pipeline_id=echo").await;
    tcp(&mut second).write_all(&header(3 << 19)).await.unwrap();
    let _ = tcp(&mut second).write_all(&vec![0u8; 3 << 19]).await;
    let detail = second.expect_error(ErrorCode::ServerBusy).await;
    assert!(detail.contains("no memory left for more frames"), "{detail}");
    // The refused session keeps its share until its connection is gone.
    drop(second);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The first session is unaffected: a complete, valid frame after it is still answered... once its own
    // (invalid, all-zero) frame completes, which ends it as invalid_frame.
    tcp(&mut first).write_all(&vec![0u8; 1 << 19]).await.unwrap();
    first.expect_error(ErrorCode::InvalidFrame).await;
    // Its bytes went back: a new session can use the whole budget again.
    let mut third = server.connect("?pipeline_id=echo").await;
    third.send_frame(FRAME).await;
    assert!(matches!(third.reply().await, Reply::Message(_)));
    assert_healthy(&server).await;
    server.stop().await;
}

/// The test client's TCP socket, for writing raw WebSocket frames.
fn tcp(client: &mut common::Client) -> &mut TcpStream {
    match client.socket.get_mut() {
        tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp,
        _ => unreachable!("tests use plain TCP"),
    }
}

// 3. Connections that stall are closed.

fn quick() -> ServerConfig {
    ServerConfig { header_timeout_s: 1, body_timeout_s: 1, send_timeout_s: 1, ..TestServer::config() }
}

#[tokio::test]
async fn silent_connections_and_stalled_heads_are_closed_after_the_header_timeout() {
    let server = TestServer::start(quick()).await;
    let heads = [
        "",
        "GET /v1/health HTTP/1.1\r\nHost: 127.0",
        "GET /ws/video/stream?pipeline_id=echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
    ];
    for head in heads {
        let mut stream = raw(&server, head).await;
        let (_, took) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
        assert!(took >= Duration::from_millis(900), "{head:?} closed after {took:?}");
    }
    // A keep-alive connection that goes quiet after a response is closed too.
    let mut stream = raw(&server, &format!("GET /v1/health HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr)).await;
    let (response, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200"));
    assert_healthy(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_trickled_upload_is_aborted_and_its_partial_file_removed() {
    let config = ServerConfig { upload_min_rate_kib: 1, ..quick() };
    let server = TestServer::start(config).await;
    let form = Form::new().text("pipeline_id", "echo").file("file", "a.mp4", &VIDEO[..4096]);
    let mut body = form.body();
    body.truncate(body.len() - 40);
    let head = upload_head(server.addr, Some(&form.content_type()), Some(body.len() + 100_000));
    let mut stream = raw(&server, &head).await;
    stream.write_all(&body).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(uploads(&server).len(), 1, "the upload is being written");
    // One byte every 300 ms: far under 1 KiB/s.
    let mut response = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if stream.write_all(b"v").await.is_err() {
            break;
        }
        let mut buf = [0u8; 4096];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await {
            response.extend_from_slice(&buf[..n]);
            if n == 0 || response.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("upload_too_slow"), "{text}");
    assert_eq!(uploads(&server), Vec::<String>::new(), "the partial file is removed");
    assert_healthy(&server).await;
    server.stop().await;
}

/// The connection cap: while `max_connections` silent connections are open, a new one waits; once they time
/// out, it is served.
#[tokio::test]
async fn connections_beyond_the_cap_wait_until_places_free_up() {
    let config = ServerConfig { max_connections: 4, ..quick() };
    let server = TestServer::start(config).await;
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(raw(&server, "").await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waiting = tokio::spawn({
        let addr = server.addr;
        async move {
            let started = Instant::now();
            let reply = http_get(addr, "/v1/health").await;
            (reply, started.elapsed())
        }
    });
    let ((code, _), took) = waiting.await.unwrap();
    assert_eq!(code, 200);
    assert!(took >= Duration::from_millis(500), "served at once ({took:?}) although the cap was reached");
    drop(silent);
    assert_healthy(&server).await;
    server.stop().await;
}

// 4. A client that never reads does not pin its session.

#[tokio::test]
async fn a_client_that_never_reads_loses_its_session_after_the_send_timeout() {
    let server = TestServer::start(quick()).await;
    let client = server.connect("?pipeline_id=echo").await;
    let mut socket = client.socket;
    // The smallest valid frame, sent as fast as the server takes it; every one is answered (result or drop
    // notice), and nothing reads the answers.
    let tiny = vec![0xFF, 0xD8, 0xFF, 0xC0, 0, 11, 8, 0, 1, 0, 2, 1, 1, 0x11, 0, 0xFF, 0xD9];
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let sent =
            tokio::time::timeout(Duration::from_secs(2), socket.send(Message::Binary(tiny.clone().into())))
                .await;
        if !matches!(sent, Ok(Ok(()))) {
            break; // the server stopped reading (its send is blocked) or closed
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = server.get("/v1/health").await;
        let health: serde_json::Value = serde_json::from_str(&body).unwrap();
        if health["sessions_active"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the session is still counted: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(socket);
    server.stop().await;
}

// 5. Other web pages.

#[tokio::test]
async fn foreign_origins_and_hosts_are_refused_and_own_ones_served() {
    let server = TestServer::start(TestServer::config()).await;
    let url = format!("ws://{}/ws/video/stream?pipeline_id=echo", server.addr);
    let with_origin = |origin: &str| {
        let mut request = url.as_str().into_client_request().unwrap();
        request.headers_mut().insert("Origin", origin.parse().unwrap());
        request
    };
    let refused = tokio_tungstenite::connect_async(with_origin("http://evil.example")).await.unwrap_err();
    assert!(refused.to_string().contains("403"), "{refused}");
    let own = format!("http://{}", server.addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(with_origin(&own)).await.unwrap();
    socket.send(Message::Binary(FRAME.to_vec().into())).await.unwrap();
    drop(socket);

    // A cross-site form post creates no job.
    let form = Form::new().text("pipeline_id", "echo").file("file", "clip.mp4", VIDEO);
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let body = form.body();
    let head = format!(
        "POST /v1/video/submit HTTP/1.1\r\nHost: {}\r\nOrigin: http://evil.example\r\nConnection: close\r\n\
         Content-Type: {}\r\nContent-Length: {}\r\n\r\n",
        server.addr,
        form.content_type(),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(&body).await;
    let (response, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 403") && text.contains("forbidden_origin"), "{text}");
    let (_, list) = server.get("/v1/jobs").await;
    assert!(serde_json::from_str::<JobList>(&list).unwrap().jobs.is_empty());

    // A DNS-rebinding page (its own name, resolving to 127.0.0.1) reads nothing.
    let mut stream =
        raw(&server, "GET /v1/jobs HTTP/1.1\r\nHost: rebind.evil.example:8080\r\nConnection: close\r\n\r\n")
            .await;
    let (response, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 403") && text.contains("forbidden_host"), "{text}");
    assert_healthy(&server).await;
    server.stop().await;

    // An allowed origin passes.
    let config =
        ServerConfig { allowed_origins: vec!["http://localhost:5173".into()], ..TestServer::config() };
    let server = TestServer::start(config).await;
    let url = format!("ws://{}/ws/video/stream?pipeline_id=echo", server.addr);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("Origin", "http://localhost:5173".parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap();
    server.stop().await;
}

// 6. Disk.

#[tokio::test]
async fn uploads_nobody_owns_are_removed_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig { data_dir: dir.path().to_owned(), ..TestServer::config() };
    let server = TestServer::start(config.clone()).await;
    let job_id = submit_ok(&server, VIDEO).await;
    assert_eq!(finished(&server, &job_id).await.status, JobState::Completed);
    server.stop().await;
    let uploads = dir.path().join("uploads");
    std::fs::write(uploads.join("stray.mp4"), b"left by a crash").unwrap();
    std::fs::write(uploads.join("half.part"), b"cut off").unwrap();
    let server = TestServer::start(config).await;
    let mut left: Vec<_> =
        std::fs::read_dir(&uploads).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    left.sort();
    assert_eq!(left, [format!("{job_id}.mp4")]);
    assert_healthy(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn the_storage_limit_evicts_finished_jobs_and_refuses_what_cannot_fit() {
    // 1 MiB of uploads: two copies of the 464 KB clip fit, a third evicts the oldest finished job.
    let config = ServerConfig { max_storage_mb: 1, ..TestServer::config() };
    let server = TestServer::start(config).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let job_id = submit_ok(&server, VIDEO).await;
        assert_eq!(finished(&server, &job_id).await.status, JobState::Completed);
        ids.push(job_id);
    }
    let (code, _) = server.get(&format!("/v1/video/status/{}", ids[0])).await;
    assert_eq!(code, 404, "the oldest finished job made room");
    assert_eq!(job_status(&server, &ids[2]).await.status, JobState::Completed);
    assert_eq!(uploads(&server).len(), 2);
    // Larger than the whole limit: 507 before it is stored.
    let mut big = VIDEO.to_vec();
    big.extend(std::iter::repeat_n(0u8, 700_000));
    let (code, body) = submit(&server, &big).await;
    assert_eq!(code, 507, "{body}");
    assert!(body.contains("storage_full"), "{body}");
    assert_eq!(uploads(&server).len(), 2, "the refused upload left nothing");
    assert_healthy(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_bad_pipeline_id_sent_first_is_refused_before_the_file_is_read() {
    let server = TestServer::start(TestServer::config()).await;
    let form = Form::new().text("pipeline_id", "nope").file("file", "clip.mp4", VIDEO);
    let (code, body) = post_multipart(server.addr, "/v1/video/submit", &form).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("Unknown pipeline_id: nope"), "{body}");
    assert_eq!(uploads(&server), Vec::<String>::new());
    server.stop().await;
}

#[tokio::test]
async fn job_lists_and_results_come_in_pages() {
    let server = TestServer::start(TestServer::config()).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(submit_ok(&server, VIDEO).await);
    }
    for id in &ids {
        finished(&server, id).await;
    }
    let (_, body) = server.get("/v1/jobs?limit=2").await;
    let page: JobList = serde_json::from_str(&body).unwrap();
    assert_eq!(page.jobs.iter().map(|j| j.job_id.as_str()).collect::<Vec<_>>(), [&ids[2], &ids[1]]);
    let after = page.next_after.unwrap();
    let (_, body) = server.get(&format!("/v1/jobs?limit=2&after={after}")).await;
    let page: JobList = serde_json::from_str(&body).unwrap();
    assert_eq!(page.jobs.iter().map(|j| j.job_id.as_str()).collect::<Vec<_>>(), [&ids[0]]);
    assert!(page.next_after.is_none());

    let (_, body) = server.get(&format!("/v1/video/results/{}", ids[0])).await;
    let all: serde_json::Value = serde_json::from_str(&body).unwrap();
    let frames = all["results"].as_array().unwrap().len();
    assert!(frames > 3, "{frames}");
    let mut seen = Vec::new();
    let mut after = None::<u64>;
    loop {
        let query = after.map_or_else(|| "?limit=3".to_owned(), |a| format!("?limit=3&after={a}"));
        let (code, body) = server.get(&format!("/v1/video/results/{}{query}", ids[0])).await;
        assert_eq!(code, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        seen.extend(page["results"].as_array().unwrap().iter().map(|r| r["frame_index"].as_u64().unwrap()));
        match page["next_after"].as_u64() {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let expected: Vec<u64> =
        all["results"].as_array().unwrap().iter().map(|r| r["frame_index"].as_u64().unwrap()).collect();
    assert_eq!(seen, expected);
    for id in &ids {
        assert_eq!(http_delete(server.addr, &format!("/v1/jobs/{id}")).await, 204);
    }
    server.stop().await;
}

// 7. Smaller: echoed ids, and the bad input that was already handled.

#[tokio::test]
async fn error_bodies_echo_at_most_a_short_prefix_of_what_they_were_sent() {
    let server = TestServer::start(TestServer::config()).await;
    let long = "x".repeat(20_000);
    for path in [format!("/v1/video/status/{long}"), format!("/v1/pipelines/{long}/info")] {
        let (code, body) = server.get(&path).await;
        assert_eq!(code, 404);
        assert!(body.len() < 400, "{} bytes", body.len());
    }
    let form = Form::new().text("pipeline_id", &"p".repeat(250)).file("file", "clip.mp4", VIDEO);
    let (code, body) = post_multipart(server.addr, "/v1/video/submit", &form).await;
    assert_eq!(code, 400);
    assert!(body.len() < 400, "{body}");
    assert_healthy(&server).await;
    server.stop().await;
}

/// The bad frames and protocol violations that were handled before this suite existed: each gets its error
/// and close code, and the server serves the next client.
#[tokio::test]
async fn bad_frames_and_protocol_violations_end_only_their_session() {
    let server = TestServer::start(TestServer::config()).await;
    let pixel_bomb = {
        // A valid header declaring 65500 × 65500 pixels.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xC0, 0, 11, 8, 0xFF, 0xDC, 0xFF, 0xDC, 1, 1, 0x11, 0];
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
        jpeg
    };
    let cases: Vec<(Message, ErrorCode)> = vec![
        (Message::Text("hello".into()), ErrorCode::InvalidMessage),
        (Message::Binary(Vec::new().into()), ErrorCode::InvalidFrame),
        (Message::Binary(b"GIF89a not a jpeg".to_vec().into()), ErrorCode::InvalidFrame),
        (Message::Binary(FRAME[..FRAME.len() / 2].to_vec().into()), ErrorCode::InvalidFrame),
        (Message::Binary(pixel_bomb.into()), ErrorCode::InvalidFrame),
        (Message::Binary(vec![0xFF; 6 << 20].into()), ErrorCode::FrameTooLarge),
    ];
    for (message, code) in cases {
        let mut client = server.connect("?pipeline_id=echo").await;
        let _ = client.socket.send(message).await;
        client.expect_error(code).await;
        assert_healthy(&server).await;
    }
    // Fragmented frames are reassembled; traversal in a pipeline id is just an unknown id.
    let mut client = server.connect("?pipeline_id=../../etc/passwd").await;
    client.expect_error(ErrorCode::InvalidPipeline).await;
    let mut client = server.connect("?pipeline_id=echo").await;
    let (head, tail) = FRAME.split_at(FRAME.len() / 2);
    use tokio_tungstenite::tungstenite::protocol::frame::{
        Frame,
        coding::{Data, OpCode},
    };
    let first = Frame::message(head.to_vec(), OpCode::Data(Data::Binary), false);
    let rest = Frame::message(tail.to_vec(), OpCode::Data(Data::Continue), true);
    client.socket.send(Message::Frame(first)).await.unwrap();
    client.socket.send(Message::Frame(rest)).await.unwrap();
    assert!(matches!(
        client.reply().await,
        Reply::Message(stream_protocol::ServerMessage::Result { frame_index: 0, .. })
    ));
    let (code, _) = server.get("/v1/../../etc/passwd").await;
    assert_ne!(code, 200);
    assert_healthy(&server).await;
    server.stop().await;
}
