//! Video jobs over HTTP (docs/jobs.md) against a real server on 127.0.0.1 port 0, with the fixture MP4 and
//! test pipelines (the real models on the video are exercised in `tests/pipelines.rs`).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::http::{Form, http_delete, http_get, post_multipart, request};
use common::{FRAME, Reply, TestServer, metric};
use stream_protocol::ServerMessage;
use stream_protocol::http::{HttpError, JobList, JobResults, JobState, JobStatus, JobSubmitted, VideoInfo};
use stream_server::ServerConfig;

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/video").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn video() -> Vec<u8> {
    fixture("fixtures_640x480.mp4")
}

async fn submit(server: &TestServer, form: Form) -> (u16, String) {
    post_multipart(server.addr, "/v1/video/submit", &form).await
}

/// Submits and returns the job id, asserting 202.
async fn submit_ok(server: &TestServer, pipeline: &str, bytes: &[u8], extra: &[(&str, &str)]) -> String {
    let mut form = Form::new().text("pipeline_id", pipeline);
    for (name, value) in extra {
        form = form.text(name, value);
    }
    let (status, body) = submit(server, form.file("file", "clip.mp4", bytes)).await;
    assert_eq!(status, 202, "{body}");
    serde_json::from_str::<JobSubmitted>(&body).unwrap().job_id
}

async fn status(server: &TestServer, job_id: &str) -> JobStatus {
    let (code, body) = http_get(server.addr, &format!("/v1/video/status/{job_id}")).await;
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Polls until the job is finished.
async fn finished(server: &TestServer, job_id: &str) -> JobStatus {
    for _ in 0..1200 {
        let status = status(server, job_id).await;
        if status.status.is_finished() {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {job_id} did not finish in 60 s");
}

fn error(body: &str) -> HttpError {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn uploads(server: &TestServer) -> Vec<PathBuf> {
    let dir = server.data_dir.as_ref().unwrap().path().join("uploads");
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect()
}

#[tokio::test]
async fn an_mp4_becomes_a_job_with_one_result_per_sampled_frame_then_is_deleted() {
    let server = TestServer::start(TestServer::config()).await;
    let job_id = submit_ok(&server, "echo", &video(), &[("frame_stride", "10")]).await;
    let done = finished(&server, &job_id).await;
    assert_eq!(done.status, JobState::Completed, "{done:?}");
    assert_eq!((done.progress, done.frames_total, done.frames_processed), (100, Some(5), 5));
    assert_eq!(
        (done.pipeline_id.as_str(), done.file_name.as_str(), done.frame_stride),
        ("echo", "clip.mp4", 10)
    );
    assert!(done.error_message.is_none());

    let (code, body) = http_get(server.addr, &format!("/v1/video/results/{job_id}")).await;
    assert_eq!(code, 200, "{body}");
    let results: JobResults = serde_json::from_str(&body).unwrap();
    assert_eq!(results.video, Some(VideoInfo { width: 640, height: 480, duration_ms: 5000, frames: 50 }));
    let frames: Vec<_> = results.results.iter().map(|r| (r.frame_index, r.timestamp_ms)).collect();
    assert_eq!(frames, [(0, 0), (10, 1000), (20, 2000), (30, 3000), (40, 4000)]);
    assert!(results.results.iter().all(|r| (r.result.image.width, r.result.image.height) == (640, 480)));

    let (code, body) = http_get(server.addr, "/v1/jobs").await;
    assert_eq!(code, 200);
    let list: JobList = serde_json::from_str(&body).unwrap();
    assert_eq!(list.jobs, [done]);

    // The uploaded video is served back for the UI's player, byte for byte.
    let (code, bytes) = request(server.addr, "GET", &format!("/v1/video/file/{job_id}"), "", &[]).await;
    assert_eq!((code, bytes.len()), (200, video().len()));

    let (_, page) = server.get("/metrics").await;
    assert_eq!(metric(&page, "stream_jobs_submitted"), Some(1.0));
    assert_eq!(metric(&page, "stream_jobs_finished{status=\"completed\"}"), Some(1.0));
    assert_eq!(metric(&page, "stream_job_frames_processed"), Some(5.0));

    assert_eq!(uploads(&server).len(), 1);
    assert_eq!(http_delete(server.addr, &format!("/v1/jobs/{job_id}")).await, 204);
    assert!(uploads(&server).is_empty(), "the upload is removed with the job");
    for path in ["/v1/video/status/", "/v1/video/results/", "/v1/video/file/"] {
        let (code, body) = http_get(server.addr, &format!("{path}{job_id}")).await;
        assert_eq!((code, error(&body).error.as_str()), (404, "not_found"), "{path}");
    }
    assert_eq!(http_delete(server.addr, &format!("/v1/jobs/{job_id}")).await, 404);
    server.stop().await;
}

#[tokio::test]
async fn max_frames_stops_early_and_jobs_are_listed_newest_first() {
    let server = TestServer::start(TestServer::config()).await;
    let first = submit_ok(&server, "echo", &video(), &[("max_frames", "3")]).await;
    let second = submit_ok(&server, "echo", &video(), &[("frame_stride", "7"), ("max_frames", "100")]).await;
    let (a, b) = (finished(&server, &first).await, finished(&server, &second).await);
    assert_eq!((a.status, a.frames_processed, a.max_frames), (JobState::Completed, 3, Some(3)));
    assert_eq!((b.status, b.frames_processed), (JobState::Completed, 8), "50 frames, every 7th");
    let (_, body) = http_get(server.addr, &format!("/v1/video/results/{first}")).await;
    let results: JobResults = serde_json::from_str(&body).unwrap();
    assert_eq!(results.results.iter().map(|r| r.frame_index).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(results.results[1].timestamp_ms, 100);
    let (_, body) = http_get(server.addr, "/v1/jobs").await;
    let ids: Vec<_> =
        serde_json::from_str::<JobList>(&body).unwrap().jobs.into_iter().map(|j| j.job_id).collect();
    assert_eq!(ids, [second, first]);
    server.stop().await;
}

#[tokio::test]
async fn not_an_mp4_is_400_invalid_mp4_and_leaves_nothing_on_disk() {
    let server = TestServer::start(TestServer::config()).await;
    for bytes in [FRAME, b"tiny".as_slice(), &[]] {
        let (code, body) =
            submit(&server, Form::new().text("pipeline_id", "echo").file("file", "x.mp4", bytes)).await;
        let error = error(&body);
        assert_eq!(
            (code, error.error.as_str(), error.detail.as_str()),
            (400, "invalid_mp4", "Invalid MP4 file")
        );
    }
    assert!(uploads(&server).is_empty());
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_pipeline_is_400_and_leaves_nothing_on_disk() {
    let server = TestServer::start(TestServer::config()).await;
    // The file comes first, so it is on disk by the time the pipeline is checked.
    let form = Form::new().file("file", "clip.mp4", &video()).text("pipeline_id", "yolo_foo");
    let (code, body) = submit(&server, form).await;
    let error = error(&body);
    assert_eq!((code, error.error.as_str()), (400, "invalid_pipeline"));
    assert_eq!(error.detail, "Unknown pipeline_id: yolo_foo");
    assert!(uploads(&server).is_empty());
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_upload_is_413_and_leaves_nothing_on_disk() {
    let server = TestServer::start(ServerConfig { max_upload_mb: 1, ..TestServer::config() }).await;
    let mut big = video();
    big.resize(1536 * 1024, 0);
    let (code, body) =
        submit(&server, Form::new().text("pipeline_id", "echo").file("file", "big.mp4", &big)).await;
    let error = error(&body);
    assert_eq!(
        (code, error.error.as_str(), error.detail.as_str()),
        (413, "upload_too_large", "Upload exceeds 1MB")
    );
    assert!(uploads(&server).is_empty());
    // Just under the limit is fine.
    big.truncate(1000 * 1024);
    let (code, body) =
        submit(&server, Form::new().text("pipeline_id", "echo").file("file", "ok.mp4", &big)).await;
    assert_eq!(code, 202, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn malformed_submissions_are_400_bad_request() {
    let server = TestServer::start(TestServer::config()).await;
    let cases = [
        (Form::new().text("pipeline_id", "echo"), "Missing file field"),
        (Form::new().file("file", "clip.mp4", &video()), "Missing pipeline_id field"),
        (
            Form::new().text("pipeline_id", "echo").text("frame_stride", "0").file("file", "c.mp4", &video()),
            "frame_stride must be a positive whole number, got \"0\"",
        ),
        (
            Form::new().text("pipeline_id", "echo").text("max_frames", "lots").file(
                "file",
                "c.mp4",
                &video(),
            ),
            "max_frames must be a positive whole number, got \"lots\"",
        ),
    ];
    for (form, detail) in cases {
        let (code, body) = submit(&server, form).await;
        let error = error(&body);
        assert_eq!((code, error.error.as_str(), error.detail.as_str()), (400, "bad_request", detail));
    }
    let (code, body) = request(server.addr, "POST", "/v1/video/submit", "application/json", b"{}").await;
    assert_eq!((code, error(&String::from_utf8_lossy(&body)).error.as_str()), (400, "bad_request"));
    assert!(uploads(&server).is_empty());
    server.stop().await;
}

#[tokio::test]
async fn results_are_404_until_completed_and_a_running_job_can_be_deleted() {
    let server = TestServer::start(TestServer::config()).await;
    // 50 frames at 100 ms each: about five seconds of work.
    let job_id = submit_ok(&server, "slow", &video(), &[]).await;
    let (code, body) = http_get(server.addr, &format!("/v1/video/results/{job_id}")).await;
    let error = error(&body);
    assert_eq!((code, error.error.as_str()), (404, "job_not_completed"));
    assert!(error.detail.starts_with(&format!("Job {job_id} is ")), "{}", error.detail);

    for _ in 0..200 {
        if status(&server, &job_id).await.frames_processed >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let running = status(&server, &job_id).await;
    assert_eq!(running.status, JobState::Running);
    assert!(running.progress > 0 && running.progress < 100, "{running:?}");
    assert_eq!(http_delete(server.addr, &format!("/v1/jobs/{job_id}")).await, 204);
    assert_eq!(http_get(server.addr, &format!("/v1/video/status/{job_id}")).await.0, 404);
    assert!(uploads(&server).is_empty());
    // The worker noticed and moved on: the next job completes.
    let next = submit_ok(&server, "echo", &video(), &[("frame_stride", "25")]).await;
    assert_eq!(finished(&server, &next).await.status, JobState::Completed);
    server.stop().await;
}

#[tokio::test]
async fn damaged_and_unsupported_videos_fail_their_job_with_a_clear_message() {
    let server = TestServer::start(TestServer::config()).await;
    let whole = video();
    let truncated = &whole[..whole.len() * 6 / 10];
    let cases: [(&[u8], &str); 3] = [
        (truncated, "The MP4 is truncated or damaged: "),
        (&fixture("mpeg4_part2.mp4"), "The video track is "),
        (&fixture("audio_only.mp4"), "The MP4 has no video track"),
    ];
    let mut ids = Vec::new();
    for (bytes, _) in &cases {
        ids.push(submit_ok(&server, "echo", bytes, &[]).await);
    }
    for ((_, expected), id) in cases.iter().zip(&ids) {
        let status = finished(&server, id).await;
        assert_eq!(status.status, JobState::Failed, "{status:?}");
        let message = status.error_message.unwrap();
        assert!(message.starts_with(expected), "{message}");
        let (code, body) = http_get(server.addr, &format!("/v1/video/results/{id}")).await;
        assert_eq!(code, 404);
        assert_eq!(error(&body).detail, format!("Job {id} failed: {message}"));
    }
    let status = finished(&server, &ids[1]).await;
    assert!(status.error_message.unwrap().ends_with("not H.264: only H.264 video is supported"));
    let (_, page) = server.get("/metrics").await;
    assert_eq!(metric(&page, "stream_jobs_finished{status=\"failed\"}"), Some(3.0));
    server.stop().await;
}

#[tokio::test]
async fn a_failing_or_panicking_pipeline_fails_only_its_job() {
    let server = TestServer::start(TestServer::config()).await;
    let failing = submit_ok(&server, "fail", &video(), &[]).await;
    let panicking = submit_ok(&server, "panic", &video(), &[]).await;
    let healthy = submit_ok(&server, "echo", &video(), &[("frame_stride", "10")]).await;
    let status = finished(&server, &failing).await;
    assert_eq!(status.error_message.as_deref(), Some("Pipeline failed at frame 0: YOLO inference failed"));
    let status = finished(&server, &panicking).await;
    assert_eq!(status.status, JobState::Failed);
    assert_eq!(status.error_message.as_deref(), Some("Internal error: panic while processing the video"));
    assert_eq!(status.frames_processed, 1, "frame 0 was stored before the panic at frame 1");
    assert_eq!(finished(&server, &healthy).await.status, JobState::Completed);
    server.stop().await;
}

#[tokio::test]
async fn two_jobs_and_two_live_sessions_all_finish() {
    let server = TestServer::start(ServerConfig { job_workers: 2, ..TestServer::config() }).await;
    let jobs = [
        submit_ok(&server, "echo", &video(), &[("frame_stride", "2")]).await,
        submit_ok(&server, "echo", &video(), &[("frame_stride", "3")]).await,
    ];
    let mut sessions = [server.connect("?pipeline_id=echo").await, server.connect("?pipeline_id=echo").await];
    // Each live session keeps getting results while both jobs run.
    for round in 0..20u64 {
        for client in &mut sessions {
            client.send_frame(FRAME).await;
            let reply = client.reply().await;
            assert!(
                matches!(reply, Reply::Message(ServerMessage::Result { frame_index, .. }) if frame_index == round),
                "{reply:?}"
            );
        }
    }
    for (job, frames) in jobs.iter().zip([25, 17]) {
        let done = finished(&server, job).await;
        assert_eq!((done.status, done.frames_processed), (JobState::Completed, frames));
    }
    server.stop().await;
}

#[tokio::test]
async fn zero_job_workers_turn_the_jobs_api_off() {
    let server = TestServer::start(ServerConfig { job_workers: 0, ..TestServer::config() }).await;
    let (code, body) =
        submit(&server, Form::new().text("pipeline_id", "echo").file("file", "c.mp4", &video())).await;
    assert_eq!((code, error(&body).error.as_str()), (503, "jobs_disabled"));
    let (code, _) = http_get(server.addr, "/v1/jobs").await;
    assert_eq!(code, 503);
    assert!(std::fs::read_dir(server.data_dir.as_ref().unwrap().path()).unwrap().next().is_none());
    server.stop().await;
}
