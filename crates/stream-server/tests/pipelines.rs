//! The real pipelines behind the real server: a fixture frame over a WebSocket gives real detections.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, OnceLock};

use common::{FRAME, Reply, TestServer};
use pipeline_dag::{PipelineRegistry, RegistryConfig};
use stream_protocol::ServerMessage;
use stream_protocol::http::PipelineInfo;

/// The registry is loaded once per test binary: building the tract plans takes a moment.
fn registry() -> Arc<PipelineRegistry> {
    static REGISTRY: OnceLock<Arc<PipelineRegistry>> = OnceLock::new();
    let models = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/models");
    Arc::clone(
        REGISTRY.get_or_init(|| Arc::new(PipelineRegistry::load(&RegistryConfig::new(models)).unwrap())),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_astronaut_frame_gives_a_person_at_frame_index_0() {
    let server = TestServer::start_with(TestServer::config(), registry()).await;
    let mut client = server.connect("?pipeline_id=yolo").await;
    client.send_frame(FRAME).await;
    let Reply::Message(ServerMessage::Result { frame_index, result }) = client.reply().await else {
        panic!()
    };
    assert_eq!(frame_index, 0);
    let detections = result.detections.unwrap();
    let person = detections.iter().find(|d| &*d.class_name == "person").expect("a person");
    assert!(person.confidence > 0.4, "{person:?}");
    // The astronaut fills the middle of the frame.
    let [x1, y1, x2, y2] = person.xyxy;
    assert!(x1 < 200.0 && x2 > 350.0 && y1 < 100.0 && y2 > 400.0, "{person:?}");
    assert!(result.timings_ms.get("decode").is_some());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_http_api_describes_the_builtin_pipelines() {
    let server = TestServer::start_with(TestServer::config(), registry()).await;
    let (_, body) = server.get("/v1/pipelines/list").await;
    for id in ["ocr", "yolo", "yolo_ocr"] {
        assert!(body.contains(&format!(r#""id":"{id}""#)), "{body}");
    }
    let (status, body) = server.get("/v1/pipelines/yolo/info").await;
    assert_eq!(status, 200);
    let info: PipelineInfo = serde_json::from_str(&body).unwrap();
    assert_eq!(info.classes.len(), 80);
    assert_eq!(info.classes[0], "person");
    assert!(info.input_size.is_some());
    server.stop().await;
}
