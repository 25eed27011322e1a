//! One suite, both stores: every case runs on SQLite (a temporary data directory) and on PostgreSQL (a
//! throw-away cluster, a fresh database per case). "Reopening" a store is what a restarted process, or
//! another replica, does.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::postgres::TempPostgres;
use stream_protocol::http::{JobState, JobStatus, JobTrack, VideoInfo};
use video_jobs::store::{
    FrameRow, INTERRUPTED_MESSAGE, JobStore, NewJob, PostgresStore, ResultRow, SqliteStore, TrackSeen,
    Written,
};

/// Where one case's store lives; each `open` is a new connection to it (a restarted process, or a replica).
trait Site {
    fn open(&self) -> Box<dyn JobStore>;
}

struct Sqlite(tempfile::TempDir);

impl Site for Sqlite {
    fn open(&self) -> Box<dyn JobStore> {
        Box::new(SqliteStore::open(self.0.path()).unwrap())
    }
}

struct Postgres(String);

impl Site for Postgres {
    fn open(&self) -> Box<dyn JobStore> {
        Box::new(PostgresStore::open(&self.0).unwrap())
    }
}

const LEASE: Duration = Duration::from_secs(30);

fn job(id: &str) -> NewJob {
    NewJob {
        job_id: id.into(),
        pipeline_id: "yolo".into(),
        file_name: "clip.mp4".into(),
        input_path: format!("/uploads/{id}.mp4").into(),
        input_bytes: 1000,
        frame_stride: 2,
        max_frames: Some(10),
    }
}

fn row(frame_index: u64) -> FrameRow<'static> {
    FrameRow {
        frame_index,
        timestamp_ms: frame_index * 100,
        result_json: r#"{"image":{"width":4,"height":2},"timings_ms":{}}"#,
        detections: 2,
        text_blocks: 1,
        tracks: &[],
    }
}

/// Inserts job `id` with a small "video".
fn insert(store: &dyn JobStore, id: &str) {
    store.insert(&job(id), &mut &b"not really a video"[..]).unwrap();
}

fn frames(rows: Vec<ResultRow>) -> Vec<u64> {
    rows.iter().map(|r| r.frame_index).collect()
}

fn a_job_goes_pending_running_completed_with_progress_and_results(site: &dyn Site) {
    let store = site.open();
    insert(&*store, "a");
    let status = store.status("a").unwrap().unwrap();
    assert_eq!((status.status, status.progress, status.frames_total), (JobState::Pending, 0, None));
    assert!(status.created_at.ends_with('Z') && status.created_at.len() == 24, "{}", status.created_at);

    let claimed = store.claim_next(LEASE).unwrap().unwrap();
    assert_eq!((claimed.job_id.as_str(), claimed.frame_stride, claimed.max_frames), ("a", 2, Some(10)));
    assert!(claimed.resume_after.is_none());
    assert!(store.claim_next(LEASE).unwrap().is_none(), "a running job is not claimed twice");

    let video = VideoInfo { width: 4, height: 2, duration_ms: 1000, frames: 8 };
    assert_eq!(store.set_video(&claimed, &video, 4).unwrap(), Written::Yes);
    for i in [0, 2, 4] {
        assert_eq!(store.add_frame(&claimed, &row(i)).unwrap(), Written::Yes);
    }
    let status = store.status("a").unwrap().unwrap();
    assert_eq!((status.status, status.progress, status.frames_processed), (JobState::Running, 75, 3));
    assert_eq!((status.detections, status.text_blocks), (6, 3));

    assert_eq!(store.complete(&claimed).unwrap(), Written::Yes);
    let status = store.status("a").unwrap().unwrap();
    assert_eq!((status.status, status.progress, status.frames_total), (JobState::Completed, 100, Some(3)));
    assert_eq!(store.video("a").unwrap(), Some(video));
    let rows = store.result_rows("a", None, 100).unwrap();
    assert_eq!(frames(rows.clone()), [0, 2, 4]);
    assert_eq!((rows[2].timestamp_ms, rows[2].result_json.as_str()), (400, row(4).result_json));
    assert!(store.status("nope").unwrap().is_none());
}

fn jobs_are_listed_newest_first_and_claimed_oldest_first(site: &dyn Site) {
    let store = site.open();
    for id in ["first", "second", "third"] {
        insert(&*store, id);
    }
    let ids =
        |(page, more): (Vec<JobStatus>, bool)| (page.into_iter().map(|j| j.job_id).collect::<Vec<_>>(), more);
    assert_eq!(
        ids(store.list(None, 10).unwrap()),
        (vec!["third".into(), "second".into(), "first".into()], false)
    );
    // Pages follow each other without gaps or repeats; an unknown cursor gives an empty page.
    assert_eq!(ids(store.list(None, 2).unwrap()), (vec!["third".into(), "second".into()], true));
    assert_eq!(ids(store.list(Some("second"), 2).unwrap()), (vec!["first".into()], false));
    assert!(store.list(Some("nope"), 2).unwrap().0.is_empty());
    assert_eq!(store.claim_next(LEASE).unwrap().unwrap().job_id, "first");
}

fn results_are_read_in_pages_in_video_order(site: &dyn Site) {
    let store = site.open();
    insert(&*store, "a");
    let claimed = store.claim_next(LEASE).unwrap().unwrap();
    for i in [4, 0, 2, 6] {
        store.add_frame(&claimed, &row(i)).unwrap();
    }
    assert_eq!(frames(store.result_rows("a", None, 3).unwrap()), [0, 2, 4]);
    assert_eq!(frames(store.result_rows("a", Some(4), 3).unwrap()), [6]);
    assert!(store.result_rows("a", Some(6), 3).unwrap().is_empty());
    assert_eq!(frames(store.result_rows("a", None, usize::MAX).unwrap()), [0, 2, 4, 6]);
}

fn a_job_cut_off_twice_is_failed_not_requeued(site: &dyn Site) {
    let store = site.open();
    insert(&*store, "killer");
    // A graceful stop (requeue) does not count; a death does.
    let claimed = store.claim_next(LEASE).unwrap().unwrap();
    store.requeue(&claimed).unwrap();
    store.claim_next(LEASE).unwrap();
    let first = site.open().recover(true).unwrap();
    assert_eq!((first.requeued, first.failed.len()), (vec!["killer".to_owned()], 0));
    store.claim_next(LEASE).unwrap();
    let second = site.open().recover(true).unwrap();
    assert!(second.requeued.is_empty());
    assert_eq!(second.failed, [("killer".to_owned(), PathBuf::from("/uploads/killer.mp4"))]);
    let status = store.status("killer").unwrap().unwrap();
    assert_eq!(
        (status.status, status.error_message.as_deref()),
        (JobState::Failed, Some(INTERRUPTED_MESSAGE))
    );
    assert!(store.claim_next(LEASE).unwrap().is_none());
}

fn retention_sees_finished_jobs_oldest_first_and_the_bytes_they_hold(site: &dyn Site) {
    let store = site.open();
    for id in ["a", "b", "c"] {
        insert(&*store, id);
    }
    assert_eq!(store.upload_bytes().unwrap(), 3000);
    let a = store.claim_next(LEASE).unwrap().unwrap();
    store.complete(&a).unwrap();
    let b = store.claim_next(LEASE).unwrap().unwrap();
    store.fail(&b, "broken").unwrap();
    store.release_upload("b").unwrap();
    assert_eq!(store.upload_bytes().unwrap(), 2000);
    let ids = |jobs: Vec<video_jobs::store::FinishedJob>| {
        jobs.into_iter().map(|j| (j.job_id, j.expired)).collect::<Vec<_>>()
    };
    assert_eq!(ids(store.finished_oldest_first(None).unwrap()), [("a".into(), false), ("b".into(), false)]);
    let hour = Some(Duration::from_secs(3600));
    assert_eq!(ids(store.finished_oldest_first(hour).unwrap()), [("a".into(), false), ("b".into(), false)]);
    std::thread::sleep(Duration::from_millis(1100));
    let second = Some(Duration::from_secs(1));
    assert_eq!(ids(store.finished_oldest_first(second).unwrap()), [("a".into(), true), ("b".into(), true)]);
    assert_eq!(store.input_paths().unwrap().len(), 3);
    assert_eq!(store.input_path("c").unwrap(), Some(PathBuf::from("/uploads/c.mp4")));
}

fn reopening_requeues_interrupted_jobs_and_resumes_after_the_last_stored_frame(site: &dyn Site) {
    {
        let store = site.open();
        insert(&*store, "done");
        insert(&*store, "busy");
        let done = store.claim_next(LEASE).unwrap().unwrap();
        store.complete(&done).unwrap();
        let busy = store.claim_next(LEASE).unwrap().unwrap();
        store.add_frame(&busy, &row(0)).unwrap();
        store.add_frame(&busy, &row(2)).unwrap();
    } // the process "dies" here, with `busy` running
    let store = site.open();
    assert_eq!(store.recover(true).unwrap().requeued, ["busy"]);
    assert_eq!(store.status("done").unwrap().unwrap().status, JobState::Completed);
    let claimed = store.claim_next(LEASE).unwrap().unwrap();
    assert_eq!((claimed.job_id.as_str(), claimed.resume_after), ("busy", Some(2)));
}

fn tracks_gather_first_and_last_frame_and_a_resumed_run_gets_ids_above_the_stored_ones(site: &dyn Site) {
    {
        let store = site.open();
        insert(&*store, "a");
        insert(&*store, "b");
        let a = store.claim_next(LEASE).unwrap().unwrap();
        assert_eq!(a.track_ids_after, 0);
        let person = || TrackSeen { track_id: 1, class_id: 0, class_name: "person".into() };
        let car = || TrackSeen { track_id: 2, class_id: 2, class_name: "car".into() };
        for (frame, tracks) in
            [(0, vec![person()]), (2, vec![person(), car()]), (4, vec![]), (6, vec![car()])]
        {
            store.add_frame(&a, &FrameRow { tracks: &tracks, ..row(frame) }).unwrap();
        }
        let summary = |t: &JobTrack| {
            (t.track_id, t.class_id, t.class_name.clone(), t.first_frame, t.last_frame, t.frames_seen)
        };
        assert_eq!(
            store.tracks("a").unwrap().iter().map(summary).collect::<Vec<_>>(),
            [(1, 0, "person".into(), 0, 2, 2), (2, 2, "car".into(), 2, 6, 2)]
        );
        assert!(store.tracks("b").unwrap().is_empty(), "tracks belong to their job");
    } // the process dies with `a` running
    let store = site.open();
    store.recover(true).unwrap();
    let resumed = store.claim_next(LEASE).unwrap().unwrap();
    assert_eq!((resumed.job_id.as_str(), resumed.resume_after, resumed.track_ids_after), ("a", Some(6), 2));
    store.delete("a").unwrap();
    assert!(store.tracks("a").unwrap().is_empty(), "a job's tracks go with it");
}

fn a_deleted_job_stops_its_writer_and_takes_its_results_along(site: &dyn Site) {
    let store = site.open();
    insert(&*store, "a");
    let claimed = store.claim_next(LEASE).unwrap().unwrap();
    store.add_frame(&claimed, &row(0)).unwrap();
    assert_eq!(store.delete("a").unwrap(), Some(PathBuf::from("/uploads/a.mp4")));
    assert_eq!(store.add_frame(&claimed, &row(2)).unwrap(), Written::JobGone);
    assert_eq!(store.renew(&claimed, LEASE).unwrap(), Written::JobGone);
    assert_eq!(store.complete(&claimed).unwrap(), Written::JobGone);
    assert!(store.result_rows("a", None, 10).unwrap().is_empty());
    assert_eq!(store.delete("a").unwrap(), None);
}

/// A replica that stalls past its lease loses the job to another, which resumes after the last stored frame;
/// the stalled one can write nothing more, so no frame is stored twice.
fn an_expired_lease_hands_the_job_over_and_fences_the_old_claim(site: &dyn Site) {
    let (stalled, taker) = (site.open(), site.open());
    insert(&*stalled, "a");
    let old = stalled.claim_next(Duration::from_secs(1)).unwrap().unwrap();
    stalled.add_frame(&old, &row(0)).unwrap();
    assert!(taker.recover(false).unwrap().requeued.is_empty(), "a live lease is left alone");
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(taker.recover(false).unwrap().requeued, ["a"]);
    let new = taker.claim_next(LEASE).unwrap().unwrap();
    assert!(new.claim > old.claim);
    assert_eq!(new.resume_after, Some(0));
    assert_eq!(stalled.add_frame(&old, &row(2)).unwrap(), Written::JobGone, "the old claim is fenced off");
    assert_eq!(stalled.renew(&old, LEASE).unwrap(), Written::JobGone);
    assert_eq!(stalled.complete(&old).unwrap(), Written::JobGone);
    assert_eq!(taker.add_frame(&new, &row(2)).unwrap(), Written::Yes);
    assert_eq!(taker.complete(&new).unwrap(), Written::Yes);
    assert_eq!(frames(taker.result_rows("a", None, 10).unwrap()), [0, 2]);
    assert_eq!(taker.status("a").unwrap().unwrap().frames_processed, 2);
}

fn a_renewed_lease_holds(site: &dyn Site) {
    let store = site.open();
    insert(&*store, "a");
    let claimed = store.claim_next(Duration::from_secs(1)).unwrap().unwrap();
    assert_eq!(store.renew(&claimed, Duration::from_secs(30)).unwrap(), Written::Yes);
    std::thread::sleep(Duration::from_millis(1300));
    assert!(site.open().recover(false).unwrap().requeued.is_empty());
    assert_eq!(store.add_frame(&claimed, &row(0)).unwrap(), Written::Yes);
}

/// Two replicas claiming from one queue at once: every job is claimed exactly once.
fn concurrent_claims_take_each_job_once(site: &dyn Site) {
    let store = site.open();
    for i in 0..20 {
        insert(&*store, &format!("j{i:02}"));
    }
    let claimed: Vec<Vec<String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let replica: Arc<dyn JobStore> = Arc::from(site.open());
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    while let Some(job) = replica.claim_next(LEASE).unwrap() {
                        mine.push(job.job_id);
                    }
                    mine
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let all: Vec<&String> = claimed.iter().flatten().collect();
    assert_eq!(all.len(), 20, "{claimed:?}");
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 20, "a job claimed twice: {claimed:?}");
}

/// A store that keeps uploads gives every replica the bytes it was given, in chunks; the others keep none.
fn uploads_are_kept_by_a_shared_store_and_released_with_a_failure(site: &dyn Site) {
    let (receiver, other) = (site.open(), site.open());
    let video: Vec<u8> = (0..2_500_000u32).map(|i| (i % 251) as u8).collect();
    receiver.insert(&job("a"), &mut video.as_slice()).unwrap();
    let mut copy = Vec::new();
    let found = other.read_upload("a", &mut copy).unwrap();
    assert_eq!(found, receiver.keeps_uploads());
    if found {
        assert!(copy == video, "{} bytes back for {}", copy.len(), video.len());
        other.release_upload("a").unwrap();
        assert!(!other.read_upload("a", &mut Vec::new()).unwrap(), "a released upload is gone");
    }
    assert!(!other.read_upload("nope", &mut Vec::new()).unwrap());
}

type Case = (&'static str, fn(&dyn Site));

const CASES: &[Case] = &[
    ("lifecycle", a_job_goes_pending_running_completed_with_progress_and_results),
    ("list and claim order", jobs_are_listed_newest_first_and_claimed_oldest_first),
    ("result pages", results_are_read_in_pages_in_video_order),
    ("cut off twice", a_job_cut_off_twice_is_failed_not_requeued),
    ("retention", retention_sees_finished_jobs_oldest_first_and_the_bytes_they_hold),
    ("reopen and resume", reopening_requeues_interrupted_jobs_and_resumes_after_the_last_stored_frame),
    ("tracks", tracks_gather_first_and_last_frame_and_a_resumed_run_gets_ids_above_the_stored_ones),
    ("delete", a_deleted_job_stops_its_writer_and_takes_its_results_along),
    ("expired lease", an_expired_lease_hands_the_job_over_and_fences_the_old_claim),
    ("renewed lease", a_renewed_lease_holds),
    ("concurrent claims", concurrent_claims_take_each_job_once),
    ("uploads", uploads_are_kept_by_a_shared_store_and_released_with_a_failure),
];

#[test]
fn the_sqlite_store_passes_the_suite() {
    for (name, case) in CASES {
        eprintln!("sqlite: {name}");
        case(&Sqlite(tempfile::tempdir().unwrap()));
    }
}

#[test]
fn the_postgres_store_passes_the_suite() {
    let cluster = TempPostgres::start();
    for (i, (name, case)) in CASES.iter().enumerate() {
        eprintln!("postgres: {name}");
        case(&Postgres(cluster.database(&format!("suite_{i}"))));
    }
}

#[test]
fn a_postgres_store_migrates_once_when_replicas_start_together() {
    let cluster = TempPostgres::start();
    let url = cluster.database("together");
    let opened: Vec<bool> = std::thread::scope(|scope| {
        let starts: Vec<_> = (0..4).map(|_| scope.spawn(|| PostgresStore::open(&url).is_ok())).collect();
        starts.into_iter().map(|s| s.join().unwrap()).collect()
    });
    assert_eq!(opened, [true; 4]);
    let store = PostgresStore::open(&url).unwrap();
    insert(&store, "a");
    assert_eq!(store.status("a").unwrap().unwrap().status, JobState::Pending);
}
