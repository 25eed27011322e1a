//! The HTTP API (SPEC §5) and the static web UI, over real sockets.
#![allow(clippy::unwrap_used)]

mod common;

use common::TestServer;
use stream_protocol::http::{Health, HealthStatus, HttpError, PipelineInfo, PipelineList};

#[tokio::test]
async fn health_lists_and_info() {
    let server = TestServer::start(TestServer::config()).await;

    let (status, body) = server.get("/v1/health").await;
    assert_eq!(status, 200);
    let health: Health = serde_json::from_str(&body).unwrap();
    assert_eq!(health.status, HealthStatus::Healthy);
    assert_eq!(health.pipelines_loaded, 4);
    assert_eq!(health.version, env!("CARGO_PKG_VERSION"));

    let (status, body) = server.get("/v1/pipelines/list").await;
    assert_eq!(status, 200);
    let list: PipelineList = serde_json::from_str(&body).unwrap();
    let ids: Vec<_> = list.pipelines.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["echo", "fail", "panic", "slow"]);

    let (status, body) = server.get("/v1/pipelines/echo/info").await;
    assert_eq!(status, 200);
    let info: PipelineInfo = serde_json::from_str(&body).unwrap();
    assert_eq!((info.id.as_str(), info.node_count, info.edge_count), ("echo", 1, 0));

    let (status, body) = server.get("/v1/pipelines/nope/info").await;
    assert_eq!(status, 404);
    let error: HttpError = serde_json::from_str(&body).unwrap();
    assert_eq!(error.detail, "Unknown pipeline_id: nope");
    server.stop().await;
}

#[tokio::test]
async fn metrics_page_names_every_series() {
    let server = TestServer::start(TestServer::config()).await;
    let (status, page) = server.get("/metrics").await;
    assert_eq!(status, 200);
    for name in [
        "stream_sessions_active",
        "stream_frames_processed",
        "stream_frames_dropped",
        "stream_slowdown_signals",
        "stream_errors",
    ] {
        assert!(page.contains(name), "{name} missing from\n{page}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_plain_get_on_the_websocket_path_is_426() {
    let server = TestServer::start(TestServer::config()).await;
    let (status, body) = server.get("/ws/video/stream?pipeline_id=echo").await;
    assert_eq!(status, 426);
    assert!(body.contains("Expected a WebSocket upgrade"));
    server.stop().await;
}

#[tokio::test]
async fn the_web_ui_is_served_when_built_and_explained_when_not() {
    let server = TestServer::start(TestServer::config()).await;
    let (status, body) = server.get("/").await;
    assert_eq!(status, 404);
    assert!(body.contains("web UI has not been built"), "{body}");
    server.stop().await;

    let dir = std::env::temp_dir().join(format!("forgesyte-web-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>ForgeSyte</title><div id=root></div>")
        .unwrap();
    std::fs::write(dir.join("assets/app.js"), "console.log('ok')").unwrap();
    let mut config = TestServer::config();
    config.web_dir = dir.clone();
    let server = TestServer::start(config).await;
    let (status, body) = server.get("/").await;
    assert_eq!((status, body.contains("<div id=root>")), (200, true));
    let (status, body) = server.get("/assets/app.js").await;
    assert_eq!((status, body.as_str()), (200, "console.log('ok')"));
    // Client-side routes fall back to the app.
    let (status, body) = server.get("/jobs/123").await;
    assert_eq!((status, body.contains("<div id=root>")), (200, true));
    server.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}
