//! The real pipelines behind the real server: a fixture frame over a WebSocket gives real detections.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::http::{Form, http_get, post_multipart};
use common::{FRAME, Reply, TestServer};
use pipeline_dag::{PipelineRegistry, RegistryConfig};
use stream_protocol::Detection;
use stream_protocol::ServerMessage;
use stream_protocol::http::{JobResults, JobState, JobStatus, JobSubmitted, PipelineInfo};

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
    for id in ["ocr", "yolo", "yolo_ocr", "yolo_track"] {
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

fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: [f32; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    inter / (area(a) + area(b) - inter)
}

/// The fixture video through the real `yolo` pipeline as a job: every sampled frame has the detections of the
/// image it shows (fixtures/video/fixtures_640x480.expected.json).
#[tokio::test(flavor = "multi_thread")]
async fn an_mp4_job_finds_what_the_reference_frames_hold() {
    let server = TestServer::start_with(TestServer::config(), registry()).await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let video = std::fs::read(root.join("video/fixtures_640x480.mp4")).unwrap();
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("video/fixtures_640x480.expected.json")).unwrap())
            .unwrap();
    let form =
        Form::new().text("pipeline_id", "yolo").text("frame_stride", "5").file("file", "clip.mp4", &video);
    let (code, body) = post_multipart(server.addr, "/v1/video/submit", &form).await;
    assert_eq!(code, 202, "{body}");
    let job_id = serde_json::from_str::<JobSubmitted>(&body).unwrap().job_id;
    let mut status: Option<JobStatus> = None;
    for _ in 0..600 {
        let (_, body) = http_get(server.addr, &format!("/v1/video/status/{job_id}")).await;
        let now: JobStatus = serde_json::from_str(&body).unwrap();
        let done = now.status.is_finished();
        status = Some(now);
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = status.unwrap();
    assert_eq!((status.status, status.frames_processed), (JobState::Completed, 10), "{status:?}");
    let (_, body) = http_get(server.addr, &format!("/v1/video/results/{job_id}")).await;
    let results: JobResults = serde_json::from_str(&body).unwrap();

    let min_confidence = spec["min_confidence"].as_f64().unwrap() as f32;
    let min_iou = spec["min_iou"].as_f64().unwrap() as f32;
    let max_delta = spec["max_confidence_delta"].as_f64().unwrap() as f32;
    let mut checked = 0;
    for frame in &results.results {
        let segment = spec["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| {
                (s["first_frame"].as_u64().unwrap()..=s["last_frame"].as_u64().unwrap())
                    .contains(&frame.frame_index)
            })
            .unwrap();
        let reference: serde_json::Value = serde_json::from_slice(
            &std::fs::read(
                root.join(spec["references"].as_str().unwrap()).join(segment["expected"].as_str().unwrap()),
            )
            .unwrap(),
        )
        .unwrap();
        let expected: Vec<Detection> =
            serde_json::from_value(reference["by_input_size"]["416"].clone()).unwrap();
        let found = frame.result.detections.as_deref().unwrap();
        for want in expected.iter().filter(|d| d.confidence >= min_confidence) {
            let hit = found.iter().find(|d| {
                d.class_id == want.class_id
                    && iou(d.xyxy, want.xyxy) >= min_iou
                    && (d.confidence - want.confidence).abs() <= max_delta
            });
            assert!(hit.is_some(), "frame {}: {want:?} not in {found:?}", frame.frame_index);
            checked += 1;
        }
    }
    // The person, the cat, the cup and the motorcycle, twice each at least.
    assert!(checked >= 8, "only {checked} reference detections checked");
    assert_eq!(results.results[0].frame_index, 0);
    assert!(
        results.results[0].result.detections.as_deref().unwrap().iter().any(|d| &*d.class_name == "person")
    );
    server.stop().await;
}

/// `yolo_track` over a real WebSocket: frames of a panning camera, each answered before the next is sent;
/// the motorcycle keeps one track id, the result counts it, and a new connection starts its ids afresh.
#[tokio::test(flavor = "multi_thread")]
async fn yolo_track_keeps_the_motorcycles_id_across_a_live_pan() {
    let server = TestServer::start_with(TestServer::config(), registry()).await;
    let pan = |f: usize| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/images/pan");
        std::fs::read(format!("{dir}/pan_{f:02}.jpg")).unwrap()
    };
    let mut client = server.connect("?pipeline_id=yolo_track").await;
    let mut ids = Vec::new();
    for f in 0..8 {
        client.send_frame(&pan(f)).await;
        let Reply::Message(ServerMessage::Result { frame_index, result }) = client.reply().await else {
            panic!("frame {f}: no result")
        };
        assert_eq!(frame_index, f as u64);
        let detections = result.detections.unwrap();
        let motorcycle = detections
            .iter()
            .filter(|d| &*d.class_name == "motorcycle")
            .max_by(|a, b| a.confidence.total_cmp(&b.confidence))
            .unwrap_or_else(|| panic!("frame {f}: no motorcycle in {detections:?}"));
        ids.push(motorcycle.track_id.unwrap_or_else(|| panic!("frame {f}: untracked {motorcycle:?}")));
        assert_eq!(result.tracking.unwrap().counts.get("motorcycle"), Some(&1), "frame {f}");
    }
    assert!(ids.iter().all(|&id| id == ids[0]), "{ids:?}");
    drop(client);
    // A new session is a new stream: nothing carried over.
    let mut again = server.connect("?pipeline_id=yolo_track").await;
    again.send_frame(&pan(0)).await;
    let Reply::Message(ServerMessage::Result { result, .. }) = again.reply().await else { panic!() };
    let mut fresh: Vec<u64> = result.detections.unwrap().iter().filter_map(|d| d.track_id).collect();
    fresh.sort_unstable();
    assert_eq!(fresh.first(), Some(&1), "{fresh:?}");
    server.stop().await;
}

/// `yolo_track` on the fixture video as a job, every second frame: the motorcycle (frames 30-39) is
/// confirmed on its second frame and keeps that id to its last, and ids run on from the earlier frames'
/// objects rather than restarting.
#[tokio::test(flavor = "multi_thread")]
async fn a_tracked_job_keeps_the_motorcycles_id() {
    let server = TestServer::start_with(TestServer::config(), registry()).await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let video = std::fs::read(root.join("video/fixtures_640x480.mp4")).unwrap();
    let form = Form::new()
        .text("pipeline_id", "yolo_track")
        .text("frame_stride", "2")
        .file("file", "clip.mp4", &video);
    let (code, body) = post_multipart(server.addr, "/v1/video/submit", &form).await;
    assert_eq!(code, 202, "{body}");
    let job_id = serde_json::from_str::<JobSubmitted>(&body).unwrap().job_id;
    for _ in 0..600 {
        let (_, body) = http_get(server.addr, &format!("/v1/video/status/{job_id}")).await;
        if serde_json::from_str::<JobStatus>(&body).unwrap().status.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, body) = http_get(server.addr, &format!("/v1/video/results/{job_id}")).await;
    let results: JobResults = serde_json::from_str(&body).unwrap();
    assert_eq!(results.results.len(), 25, "every second frame of 50");
    let mut ids = std::collections::BTreeSet::new();
    let mut seen = 0;
    for frame in results.results.iter().filter(|f| (30..40).contains(&f.frame_index)) {
        let detections = frame.result.detections.as_deref().unwrap();
        let motorcycle = detections
            .iter()
            .filter(|d| &*d.class_name == "motorcycle")
            .max_by(|a, b| a.confidence.total_cmp(&b.confidence))
            .unwrap_or_else(|| panic!("frame {}: no motorcycle in {detections:?}", frame.frame_index));
        if frame.frame_index == 30 {
            // First seen: a tentative track, confirmed (and given its id) when matched again.
            assert_eq!(motorcycle.track_id, None, "{motorcycle:?}");
            continue;
        }
        ids.insert(motorcycle.track_id.unwrap_or_else(|| panic!("frame {}: untracked", frame.frame_index)));
        seen += 1;
    }
    assert_eq!((seen, ids.len()), (4, 1), "{ids:?}");
    // One stream for the whole job: the astronaut of frame 0 was track 1, so the motorcycle's id is later.
    assert!(ids.first().is_some_and(|&id| id > 1), "{ids:?}");
    let last = results.results.last().unwrap().result.tracking.as_ref().unwrap();
    assert_eq!(last.counts.get("motorcycle"), Some(&1), "{last:?}");

    // The job's track list says what the frames say: for each id, its class, first and last frame, and how
    // many frames carry it.
    let mut from_frames = std::collections::BTreeMap::<u64, (String, u64, u64, u64)>::new();
    for frame in &results.results {
        for d in frame.result.detections.as_deref().unwrap().iter() {
            if let Some(id) = d.track_id {
                let entry =
                    from_frames.entry(id).or_insert((d.class_name.to_string(), frame.frame_index, 0, 0));
                entry.2 = frame.frame_index;
                entry.3 += 1;
            }
        }
    }
    let tracks = results.tracks.as_deref().expect("the first page lists the job's tracks");
    let listed: std::collections::BTreeMap<_, _> = tracks
        .iter()
        .map(|t| (t.track_id, (t.class_name.clone(), t.first_frame, t.last_frame, t.frames_seen)))
        .collect();
    assert_eq!(listed, from_frames);
    let motorcycle = &listed[ids.first().unwrap()];
    assert_eq!((motorcycle.0.as_str(), motorcycle.1), ("motorcycle", 32), "{motorcycle:?}");
    assert!(motorcycle.3 >= 4, "{motorcycle:?}");
    // Later pages do not repeat it.
    let (_, body) = http_get(server.addr, &format!("/v1/video/results/{job_id}?after=10&limit=5")).await;
    let page: JobResults = serde_json::from_str(&body).unwrap();
    assert_eq!((page.tracks, page.results.len()), (None, 5));
    server.stop().await;
}
