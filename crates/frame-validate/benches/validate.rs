//! How long `validate_jpeg` takes on the five real 640×480 fixture frames (target: at most 20 µs per frame).
//!
//! Run with `cargo bench -p frame-validate`.

use std::{hint::black_box, path::PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use frame_validate::{FrameLimits, validate_jpeg};

const FRAMES: [&str; 5] = [
    "astronaut_640x480.jpg",
    "chelsea_640x480.jpg",
    "coffee_640x480.jpg",
    "motorcycle_left_640x480.jpg",
    "page_640x480.jpg",
];

fn validate_fixture_frames(c: &mut Criterion) {
    let images = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images");
    let limits = FrameLimits::default();
    let mut group = c.benchmark_group("validate_jpeg");
    for name in FRAMES {
        let path = images.join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
        // A bench over an invalid frame would measure the error path: refuse to run instead.
        if let Err(err) = validate_jpeg(&bytes, &limits) {
            panic!("{name} does not validate: {err}");
        }
        group.bench_function(name, |b| b.iter(|| validate_jpeg(black_box(&bytes), black_box(&limits))));
    }
    group.finish();
}

criterion_group!(benches, validate_fixture_frames);
criterion_main!(benches);
