//! Per-frame cost of the session's bookkeeping (admit, policy, complete) and of writing each message.
#![allow(missing_docs)] // criterion_main! generates an undocumented `main`.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use stream_protocol::{Detection, FrameResult, ImageSize, ServerMessage};
use stream_session::{SessionConfig, SessionManager};
use tokio::time::Instant;

const FRAME: &[u8] = include_bytes!("../../../fixtures/images/astronaut_640x480.jpg");

fn bookkeeping(c: &mut Criterion) {
    let frame = Bytes::from_static(FRAME);
    let now = Instant::now();
    c.bench_function("session/admit+complete (no drop)", |b| {
        let mut session = SessionManager::new("yolo", SessionConfig::default());
        b.iter(|| {
            black_box(session.admit(black_box(frame.clone()), now));
            black_box(session.complete_frame(Duration::from_millis(30)));
        });
    });
    c.bench_function("session/admit (overload: replace + drop)", |b| {
        let mut session = SessionManager::new("yolo", SessionConfig::default());
        b.iter(|| black_box(session.admit(black_box(frame.clone()), now)));
    });
}

fn messages(c: &mut Criterion) {
    let mut result = FrameResult::new(ImageSize { width: 640, height: 480 });
    result.detections = Some(
        (0..5)
            .map(|i| Detection {
                xyxy: [10.0 * i as f32, 20.0, 300.5, 470.25],
                confidence: 0.91,
                class_id: i,
                class_name: "person".into(),
                track_id: None,
            })
            .collect(),
    );
    result.timings_ms.record_ms("decode", 1.1);
    result.timings_ms.record_ms("detect", 24.0);
    let message = ServerMessage::Result { frame_index: 1234, result: Box::new(result) };
    c.bench_function("protocol/to_json result (5 detections)", |b| b.iter(|| black_box(&message).to_json()));
    let dropped = ServerMessage::Dropped { frame_index: 1234 };
    c.bench_function("protocol/to_json dropped", |b| b.iter(|| black_box(&dropped).to_json()));
}

criterion_group!(benches, bookkeeping, messages);
criterion_main!(benches);
