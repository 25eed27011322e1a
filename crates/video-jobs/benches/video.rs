//! MP4 → frames for video jobs: demux + H.264 decode (openh264) of the 640×480 fixture clip, with and without
//! the RGB conversion of every frame. Figures in docs/jobs.md ("Choosing the decoder").
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use video_jobs::video::{Sampling, VideoFrames};

fn decode_all(path: &Path, sampling: Sampling) -> u64 {
    let mut frames = VideoFrames::open(path, sampling, u64::MAX).expect("opens");
    let mut n = 0;
    while let Some(frame) = frames.next_frame().expect("decodes") {
        black_box(&frame);
        n += 1;
    }
    n
}

fn video(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/video/fixtures_640x480.mp4");
    let mut group = c.benchmark_group("mp4_640x480_50_frames");
    group.throughput(Throughput::Elements(50));
    group.bench_function("decode+rgb every frame", |b| {
        b.iter(|| assert_eq!(decode_all(&path, Sampling { stride: 1, max_frames: None }), 50))
    });
    group.bench_function("decode, rgb of frame 0 only", |b| {
        b.iter(|| assert_eq!(decode_all(&path, Sampling { stride: 50, max_frames: None }), 1))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = video
}
criterion_main!(benches);
