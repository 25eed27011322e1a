//! Several replicas on one PostgreSQL job store: real `stream-server` processes sharing a throw-away cluster
//! (Debian's postgresql, started here), each with its own data directory — no shared filesystem.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../../crates/video-jobs/tests/common/postgres.rs"]
mod postgres_cluster;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use common::Server;
use common::http::http_get;
use postgres_cluster::TempPostgres;
use serde_json::Value;

fn finished(status: &Value) -> bool {
    status["status"] == "completed" || status["status"] == "failed"
}

/// The frame indices of a completed job's results, read from `server`.
async fn result_frames(server: &Server, job_id: &str) -> Vec<u64> {
    let (code, body) = http_get(server.addr, &format!("/v1/video/results/{job_id}")).await;
    assert_eq!(code, 200, "{body}");
    let results: Value = serde_json::from_str(&body).unwrap();
    results["results"].as_array().unwrap().iter().map(|r| r["frame_index"].as_u64().unwrap()).collect()
}

/// Job ids in `server`'s log events `message`.
fn job_ids(server: &Server, message: &str) -> Vec<String> {
    server.events(message).iter().map(|e| e["fields"]["job_id"].as_str().unwrap().to_owned()).collect()
}

/// Six jobs submitted across two replicas: both replicas work the one queue, every job completes exactly once,
/// and every frame's result is stored once, readable from either replica.
#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_share_one_queue_and_store_each_frame_once() {
    let cluster = TempPostgres::start();
    let url = cluster.database("replicas");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = ["--job-store", url.as_str(), "--job-lease-s", "5"];
    let a = Server::start(dir_a.path(), &args);
    let b = Server::start(dir_b.path(), &args);

    let mut jobs = Vec::new();
    for i in 0..6 {
        let replica = if i % 2 == 0 { &a } else { &b };
        jobs.push(replica.submit("yolo", "5").await);
    }
    for job in &jobs {
        let status = b.wait_for_job(job, finished).await;
        assert_eq!(status["status"], "completed", "{status}");
        assert_eq!(
            (status["frames_processed"].as_u64(), status["frames_total"].as_u64()),
            (Some(10), Some(10))
        );
        let frames = result_frames(&a, job).await;
        assert_eq!(frames, (0..50).step_by(5).collect::<Vec<u64>>(), "job {job}: each sampled frame once");
    }

    // Every job completed exactly once, across the two replicas, and both took part.
    let mut completed: BTreeMap<String, usize> = BTreeMap::new();
    for id in job_ids(&a, "job_completed").into_iter().chain(job_ids(&b, "job_completed")) {
        *completed.entry(id).or_default() += 1;
    }
    assert_eq!(
        completed.keys().cloned().collect::<BTreeSet<_>>(),
        jobs.iter().cloned().collect(),
        "{completed:?}"
    );
    assert!(completed.values().all(|&n| n == 1), "a job completed twice: {completed:?}");
    let (ran_a, ran_b) = (job_ids(&a, "job_started").len(), job_ids(&b, "job_started").len());
    assert!(ran_a > 0 && ran_b > 0, "both replicas run jobs: {ran_a} and {ran_b}");

    // The uploads live in the database: no replica keeps one on disk once its jobs are done.
    for dir in [&dir_a, &dir_b] {
        let left: Vec<_> =
            std::fs::read_dir(dir.path().join("uploads")).unwrap().flatten().map(|e| e.path()).collect();
        assert!(left.is_empty(), "{left:?}");
    }
    // Either replica serves any job's video.
    let (code, _) = http_get(b.addr, &format!("/v1/video/file/{}", jobs[0])).await;
    assert_eq!(code, 200);
}

/// A replica killed (SIGKILL) in the middle of a job: once its lease expires the other replica takes the job
/// over, resumes after the last stored frame, and finishes it; no frame is stored twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_replica_killed_mid_job_has_its_job_finished_by_another() {
    let cluster = TempPostgres::start();
    let url = cluster.database("killed");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = ["--job-store", url.as_str(), "--job-lease-s", "3"];
    let mut a = Server::start(dir_a.path(), &args);
    let job = a.submit("yolo", "1").await;
    let status = a.wait_for_job(&job, |s| s["frames_processed"].as_u64().is_some_and(|n| n >= 3)).await;
    assert_eq!(status["status"], "running", "{status}");
    a.child.kill().unwrap();
    a.child.wait().unwrap();

    let b = Server::start(dir_b.path(), &args);
    let status = b.wait_for_job(&job, finished).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["frames_processed"].as_u64(), Some(50), "{status}");
    assert_eq!(result_frames(&b, &job).await, (0..50).collect::<Vec<u64>>(), "every frame once");
    assert_eq!(job_ids(&b, "job_requeued"), std::slice::from_ref(&job), "the expired lease was taken back");
    let started = b.events("job_started");
    let resumed = started.iter().find(|e| e["fields"]["job_id"] == job.as_str()).unwrap();
    assert!(resumed["fields"]["resume_after"].as_u64().is_some_and(|n| n >= 2), "{resumed}");
}

/// A benchmark, not a check (`just bench-replicas`; figures in docs/jobs.md): a queue of 8 jobs (the fixture
/// clip, every second frame: 200 frames) run by one replica with both cores (2 inference threads, 2 workers)
/// and by two replicas with one core's worth each (1 thread, 1 worker), alternated A B A B, on one
/// PostgreSQL store. Prints frames/s and the ratio.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: run with `just bench-replicas`"]
async fn replica_throughput() {
    #![allow(clippy::print_stderr)]
    let cluster = TempPostgres::start();
    let setups: [(&str, usize, &[&str]); 2] = [
        ("one replica, 2 threads, 2 workers", 1, &["--inference-threads", "2", "--job-workers", "2"]),
        (
            "two replicas, 1 thread + 1 worker each",
            2,
            &["--inference-threads", "1", "--model-threads", "1", "--job-workers", "1"],
        ),
    ];
    let mut figures: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for round in 0..2 {
        for (i, &(label, replicas, extra)) in setups.iter().enumerate() {
            let url = cluster.database(&format!("throughput_{round}_{i}"));
            let dirs: Vec<_> = (0..replicas).map(|_| tempfile::tempdir().unwrap()).collect();
            let mut args = vec!["--job-store", url.as_str()];
            args.extend_from_slice(extra);
            let servers: Vec<Server> = dirs.iter().map(|d| Server::start(d.path(), &args)).collect();
            let started = Instant::now();
            let mut jobs = Vec::new();
            for j in 0..8 {
                jobs.push(servers[j % replicas].submit("yolo", "2").await);
            }
            let mut frames = 0;
            for job in &jobs {
                let status = servers[0].wait_for_job(job, finished).await;
                assert_eq!(status["status"], "completed", "{status}");
                frames += status["frames_processed"].as_u64().unwrap();
            }
            let per_second = frames as f64 / started.elapsed().as_secs_f64();
            eprintln!("round {round}, {label}: {frames} frames, {per_second:.1} frames/s");
            figures.entry(label).or_default().push(per_second);
        }
    }
    let mean = |label: &str| figures[label].iter().sum::<f64>() / figures[label].len() as f64;
    let (one, two) = (mean(setups[0].0), mean(setups[1].0));
    eprintln!("mean: one replica {one:.1} frames/s, two replicas {two:.1} frames/s, ratio {:.2}", two / one);
}
