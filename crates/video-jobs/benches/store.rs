//! What the job store costs a worker, per processed frame and per job, on both stores — PostgreSQL in a
//! throw-away cluster on this machine (loopback TCP, `fsync` off as in the tests: the figures are the store's
//! own work and round trips, not the disk's). Figures in docs/jobs.md ("Store costs").
#![allow(missing_docs, clippy::unwrap_used)]

#[path = "../tests/common/postgres.rs"]
mod postgres_cluster;

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use postgres_cluster::TempPostgres;
use video_jobs::store::{ClaimedJob, FrameRow, JobStore, NewJob, PostgresStore, SqliteStore, TrackSeen};

const LEASE: Duration = Duration::from_secs(30);

/// A result of the size a detection frame gives (a few boxes): ~600 bytes of JSON.
const RESULT: &str = r#"{"image":{"width":640,"height":480},"detections":[{"xyxy":[87.4,6.5,423.3,479.9],"confidence":0.66,"class_id":0,"class_name":"person","track_id":1},{"xyxy":[10.0,20.0,30.0,40.0],"confidence":0.51,"class_id":2,"class_name":"car","track_id":2},{"xyxy":[100.0,120.0,160.0,200.0],"confidence":0.48,"class_id":2,"class_name":"car"}],"tracking":{"counts":{"person":1,"car":1},"lines":[]},"timings_ms":{"decode":1.2,"yolo":40.1,"track":0.07}}"#;

fn new_job(id: &str) -> NewJob {
    NewJob {
        job_id: id.into(),
        pipeline_id: "yolo_track".into(),
        file_name: "clip.mp4".into(),
        input_path: format!("/uploads/{id}.mp4").into(),
        input_bytes: 1000,
        frame_stride: 1,
        max_frames: None,
    }
}

fn claim(store: &dyn JobStore, id: &str) -> ClaimedJob {
    store.insert(&new_job(id), &mut &b"video"[..]).unwrap();
    store.claim_next(LEASE).unwrap().unwrap()
}

fn costs(c: &mut Criterion, name: &str, store: &dyn JobStore) {
    let mut group = c.benchmark_group(format!("job_store/{name}"));
    let tracks = [
        TrackSeen { track_id: 1, class_id: 0, class_name: "person".into() },
        TrackSeen { track_id: 2, class_id: 2, class_name: "car".into() },
    ];
    // One frame's write: counters, the result row and two tracks, in one transaction, fenced by the claim.
    let job = claim(store, &format!("{name}-frames"));
    let mut frame_index = 0u64;
    group.bench_function("add_frame (result + 2 tracks)", |b| {
        b.iter(|| {
            let row = FrameRow {
                frame_index,
                timestamp_ms: frame_index * 33,
                result_json: RESULT,
                detections: 3,
                text_blocks: 0,
                tracks: &tracks,
            };
            frame_index += 1;
            store.add_frame(&job, &row).unwrap()
        })
    });
    // A lease renewal (every third of the lease, 10 s by default: per frame it is this divided by the frames
    // of 10 s).
    group.bench_function("renew", |b| b.iter(|| store.renew(&job, LEASE).unwrap()));
    // Per job: the expired-lease check every worker does before claiming, the claim, and the completion.
    let mut n = 0u64;
    group.bench_function("recover + claim + complete (per job)", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                store.insert(&new_job(&format!("{name}-job-{n}")), &mut &b"video"[..]).unwrap();
                let started = Instant::now();
                store.recover(false).unwrap();
                let job = store.claim_next(LEASE).unwrap().unwrap();
                store.complete(&job).unwrap();
                spent += started.elapsed();
            }
            spent
        })
    });
    group.finish();
}

fn stores(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path()).unwrap();
    let cluster = TempPostgres::start();
    let postgres = PostgresStore::open(&cluster.database("bench")).unwrap();
    // Alternated, store by store, so drift on this machine hits both alike.
    for round in 0..2 {
        costs(c, &format!("sqlite-{round}"), &sqlite);
        costs(c, &format!("postgres-{round}"), &postgres);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = stores
}
criterion_main!(benches);
