//! The WebSocket contract (SPEC §2–3) against a real server on 127.0.0.1 port 0 with a real client: one test
//! per row of the contract, with test pipelines (the real models are exercised in `tests/pipelines.rs`).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{FRAME, Reply, TestServer, metric};
use futures_util::{SinkExt, StreamExt};
use stream_protocol::{ErrorCode, ImageSize, ServerMessage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_valid_frame_gets_a_result_at_index_0() {
    let server = TestServer::start(TestServer::config()).await;
    let mut client = server.connect("?pipeline_id=echo").await;
    client.send_frame(FRAME).await;
    let Reply::Message(ServerMessage::Result { frame_index, result }) = client.reply().await else {
        panic!()
    };
    assert_eq!(frame_index, 0);
    assert_eq!(result.image, ImageSize { width: 640, height: 480 });
    client.send_frame(FRAME).await;
    assert!(matches!(client.reply().await, Reply::Message(ServerMessage::Result { frame_index: 1, .. })));
    server.stop().await;
}

#[tokio::test]
async fn missing_and_unknown_pipeline_are_invalid_pipeline_1008() {
    let server = TestServer::start(TestServer::config()).await;
    let mut client = server.connect("").await;
    assert_eq!(client.expect_error(ErrorCode::InvalidPipeline).await, "Missing pipeline_id");
    let mut client = server.connect("?pipeline_id=yolo_foo").await;
    assert_eq!(client.expect_error(ErrorCode::InvalidPipeline).await, "Unknown pipeline_id: yolo_foo");
    server.stop().await;
}

#[tokio::test]
async fn a_ping_is_answered_and_the_session_goes_on() {
    let server = TestServer::start(TestServer::config()).await;
    let mut client = server.connect("?pipeline_id=echo").await;
    client.socket.send(Message::Ping(vec![1, 2, 3].into())).await.unwrap();
    client.send_frame(FRAME).await;
    let (mut pong, mut result) = (false, None);
    while result.is_none() {
        let next = tokio::time::timeout(Duration::from_secs(10), client.socket.next()).await.unwrap();
        match next.unwrap().unwrap() {
            Message::Pong(payload) => pong = payload.as_ref() == [1, 2, 3],
            Message::Text(text) => result = Some(ServerMessage::from_json(&text).unwrap()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pong, "the ping was answered");
    assert!(matches!(result, Some(ServerMessage::Result { frame_index: 0, .. })), "{result:?}");
    server.stop().await;
}

/// An upgrade request without `Connection: upgrade` or with another WebSocket version is not upgraded.
#[tokio::test]
async fn an_incomplete_upgrade_request_is_426() {
    let server = TestServer::start(TestServer::config()).await;
    for headers in [
        "Connection: keep-alive\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13",
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8",
    ] {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let request = format!(
            "GET /ws/video/stream?pipeline_id=echo HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = vec![0; 4096];
        let n =
            tokio::time::timeout(Duration::from_secs(10), stream.read(&mut response)).await.unwrap().unwrap();
        let response = String::from_utf8_lossy(&response[..n]);
        assert!(response.starts_with("HTTP/1.1 426"), "{headers}: {response}");
        assert!(response.contains("upgrade_required"), "{response}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_text_message_is_invalid_message_1003() {
    let server = TestServer::start(TestServer::config()).await;
    let mut client = server.connect("?pipeline_id=echo").await;
    client.socket.send(Message::Text("hello".into())).await.unwrap();
    assert_eq!(client.expect_error(ErrorCode::InvalidMessage).await, "Expected binary frame payload");
    server.stop().await;
}

#[tokio::test]
async fn an_invalid_jpeg_is_invalid_frame_1007() {
    let server = TestServer::start(TestServer::config()).await;
    let mut client = server.connect("?pipeline_id=echo").await;
    client.send_frame(b"definitely not a jpeg").await;
    let detail = client.expect_error(ErrorCode::InvalidFrame).await;
    assert!(detail.starts_with("Not a valid JPEG image"), "{detail}");
    server.stop().await;
}

#[tokio::test]
async fn a_6_mb_frame_is_frame_too_large_1009_and_the_client_can_read_it() {
    let server = TestServer::start(TestServer::config()).await;
    let mut client = server.connect("?pipeline_id=echo").await;
    let mut big = vec![0u8; 6 * 1024 * 1024];
    big[..2].copy_from_slice(&[0xFF, 0xD8]);
    // The server refuses the frame from its header and keeps draining while we are still sending.
    let _ = client.socket.send(Message::Binary(big.into())).await;
    assert_eq!(client.expect_error(ErrorCode::FrameTooLarge).await, "Frame exceeds 5MB");
    server.stop().await;
}

#[tokio::test]
async fn a_burst_is_answered_once_per_frame_in_order_with_one_slow_down() {
    let server = TestServer::start(TestServer::config()).await;
    let mut client = server.connect("?pipeline_id=slow").await;
    let n = 40u64;
    for _ in 0..n {
        client.send_frame(FRAME).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut answers = vec![0u32; n as usize];
    let (mut results, mut slow_downs) = (Vec::new(), 0);
    while answers.contains(&0) {
        match client.reply().await {
            Reply::Message(ServerMessage::Result { frame_index, .. }) => {
                answers[frame_index as usize] += 1;
                results.push(frame_index);
            }
            Reply::Message(ServerMessage::Dropped { frame_index }) => answers[frame_index as usize] += 1,
            Reply::Message(ServerMessage::SlowDown(_)) => slow_downs += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(answers.iter().all(|&a| a == 1), "{answers:?}");
    assert!(results.windows(2).all(|w| w[0] < w[1]), "{results:?}");
    assert!(results.len() < n as usize / 2, "most frames of a 10x burst are dropped: {results:?}");
    assert_eq!(slow_downs, 1);

    let (_, page) = server.get("/metrics").await;
    let processed = metric(&page, r#"stream_frames_processed{pipeline="slow"}"#).unwrap();
    let dropped = metric(&page, r#"stream_frames_dropped{pipeline="slow"}"#).unwrap();
    assert_eq!(processed + dropped, n as f64);
    assert_eq!(metric(&page, r#"stream_slowdown_signals{pipeline="slow"}"#), Some(1.0));
    server.stop().await;
}

#[tokio::test]
async fn an_idle_session_times_out_1001() {
    let mut config = TestServer::config();
    config.idle_timeout_s = 1;
    let server = TestServer::start(config).await;
    let mut client = server.connect("?pipeline_id=echo").await;
    assert_eq!(client.expect_error(ErrorCode::IdleTimeout).await, "No frame received for 1s");
    server.stop().await;
}

#[tokio::test]
async fn pipeline_failure_is_1011() {
    let server = TestServer::start(TestServer::config()).await;
    let mut client = server.connect("?pipeline_id=fail").await;
    client.send_frame(FRAME).await;
    assert_eq!(client.expect_error(ErrorCode::PipelineFailure).await, "YOLO inference failed");
    server.stop().await;
}

#[tokio::test]
async fn a_panic_is_internal_error_1011_and_other_sessions_keep_going() {
    let server = TestServer::start(TestServer::config()).await;
    let mut victim = server.connect("?pipeline_id=panic").await;
    let mut bystander = server.connect("?pipeline_id=echo").await;
    victim.send_frame(FRAME).await;
    assert!(matches!(victim.reply().await, Reply::Message(ServerMessage::Result { frame_index: 0, .. })));
    victim.send_frame(FRAME).await;
    assert_eq!(victim.expect_error(ErrorCode::InternalError).await, "Unexpected error occurred");
    for index in 0..3 {
        bystander.send_frame(FRAME).await;
        let reply = bystander.reply().await;
        assert!(
            matches!(reply, Reply::Message(ServerMessage::Result { frame_index, .. }) if frame_index == index)
        );
    }
    // A new session after the panic works too.
    let mut late = server.connect("?pipeline_id=echo").await;
    late.send_frame(FRAME).await;
    assert!(matches!(late.reply().await, Reply::Message(ServerMessage::Result { frame_index: 0, .. })));
    server.stop().await;
}

#[tokio::test]
async fn enforced_session_limit_is_server_busy_1013() {
    let mut config = TestServer::config();
    config.max_sessions = 1;
    config.enforce_max_sessions = true;
    let server = TestServer::start(config).await;
    let mut first = server.connect("?pipeline_id=echo").await;
    first.send_frame(FRAME).await;
    assert!(matches!(first.reply().await, Reply::Message(ServerMessage::Result { .. })));
    let mut second = server.connect("?pipeline_id=echo").await;
    let detail = second.expect_error(ErrorCode::ServerBusy).await;
    assert!(detail.contains("session limit"), "{detail}");
    server.stop().await;
}

#[tokio::test]
async fn the_sessions_gauge_returns_to_zero_however_sessions_end() {
    let server = TestServer::start(TestServer::config()).await;
    let mut clean = server.connect("?pipeline_id=echo").await;
    let mut erroring = server.connect("?pipeline_id=echo").await;
    let vanishing = server.connect("?pipeline_id=echo").await;
    clean.send_frame(FRAME).await;
    assert!(matches!(clean.reply().await, Reply::Message(ServerMessage::Result { .. })));
    let (_, page) = server.get("/metrics").await;
    assert_eq!(metric(&page, "stream_sessions_active"), Some(3.0));

    clean.socket.close(None).await.unwrap();
    erroring.send_frame(b"nope").await;
    erroring.expect_error(ErrorCode::InvalidFrame).await;
    drop(vanishing); // No close frame: the TCP connection just goes away.

    let mut active = None;
    for _ in 0..50 {
        let (_, page) = server.get("/metrics").await;
        active = metric(&page, "stream_sessions_active");
        if active == Some(0.0) {
            assert_eq!(metric(&page, r#"stream_errors{code="invalid_frame"}"#), Some(1.0));
            assert_eq!(metric(&page, "stream_sessions_total"), Some(3.0));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(active, Some(0.0));
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_sessions_with_1001() {
    let server = TestServer::start(TestServer::config()).await;
    let mut client = server.connect("?pipeline_id=echo").await;
    client.send_frame(FRAME).await;
    assert!(matches!(client.reply().await, Reply::Message(ServerMessage::Result { .. })));
    let stopping = tokio::spawn(server.stop());
    assert_eq!(client.reply().await, Reply::Close(1001));
    stopping.await.unwrap();
}
