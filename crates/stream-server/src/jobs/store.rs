//! The job store: one SQLite database (WAL mode) under `STREAM_DATA_DIR`, schema versioned in code.
//!
//! Every method is synchronous and short; async callers go through `spawn_blocking`. One connection behind a
//! mutex is plenty: a job writes one row per processed frame (tens per second at most).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Row, params};
use stream_protocol::http::{JobFrameResult, JobState, JobStatus, VideoInfo};

/// The schema, one entry per version: entry `i` migrates version `i` to `i + 1` (`PRAGMA user_version`).
const MIGRATIONS: &[&str] = &[
    // 1: jobs and their per-frame results.
    "CREATE TABLE jobs (
        seq              INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id           TEXT NOT NULL UNIQUE,
        pipeline_id      TEXT NOT NULL,
        file_name        TEXT NOT NULL,
        input_path       TEXT NOT NULL,
        status           TEXT NOT NULL,
        progress         INTEGER NOT NULL DEFAULT 0,
        frame_stride     INTEGER NOT NULL,
        max_frames       INTEGER,
        frames_total     INTEGER,
        frames_processed INTEGER NOT NULL DEFAULT 0,
        detections       INTEGER NOT NULL DEFAULT 0,
        text_blocks      INTEGER NOT NULL DEFAULT 0,
        video            TEXT,
        error_message    TEXT,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL
    );
    CREATE INDEX jobs_by_status ON jobs (status, seq);
    CREATE TABLE results (
        job_id       TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
        frame_index  INTEGER NOT NULL,
        timestamp_ms INTEGER NOT NULL,
        result       TEXT NOT NULL,
        PRIMARY KEY (job_id, frame_index)
    ) WITHOUT ROWID;",
];

/// SQLite's clock as RFC 3339 UTC with milliseconds: `2026-11-25T12:40:03.120Z`.
const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

const STATUS_COLUMNS: &str = "job_id, pipeline_id, file_name, status, progress, frame_stride, max_frames, \
     frames_total, frames_processed, detections, text_blocks, error_message, created_at, updated_at";

/// A store failure: the database could not be opened, migrated, read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("job database {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("job database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("job database: stored result is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("job database: unknown status `{0}`")]
    Status(String),
    #[error("job database was written by a newer version (schema {found}, this build knows {known})")]
    TooNew { found: i64, known: i64 },
}

/// What a new job needs.
#[derive(Debug, Clone)]
pub(crate) struct NewJob {
    pub(crate) job_id: String,
    pub(crate) pipeline_id: String,
    pub(crate) file_name: String,
    pub(crate) input_path: PathBuf,
    pub(crate) frame_stride: u32,
    pub(crate) max_frames: Option<u32>,
}

/// A job a worker has claimed: what it needs to process it, and where a previous run stopped.
#[derive(Debug, Clone)]
pub(crate) struct ClaimedJob {
    pub(crate) job_id: String,
    pub(crate) pipeline_id: String,
    pub(crate) input_path: PathBuf,
    pub(crate) frame_stride: u32,
    pub(crate) max_frames: Option<u32>,
    /// The last frame stored by an earlier run of this job (after a restart), if any.
    pub(crate) resume_after: Option<u64>,
}

/// One processed frame and what it adds to the job's counters.
#[derive(Debug)]
pub(crate) struct FrameRow<'a> {
    pub(crate) frame_index: u64,
    pub(crate) timestamp_ms: u64,
    pub(crate) result_json: &'a str,
    pub(crate) detections: u64,
    pub(crate) text_blocks: u64,
}

/// Whether a write found its job (a job deleted while running is not an error, but the worker must stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    Yes,
    JobGone,
}

/// The database.
#[derive(Debug)]
pub(crate) struct JobStore {
    conn: Mutex<Connection>,
}

impl JobStore {
    /// Opens (creating if needed) `dir/jobs.sqlite3` and brings its schema up to date.
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("jobs.sqlite3");
        let open = |path: &Path| -> rusqlite::Result<Connection> {
            let conn = Connection::open(path)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", true)?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            Ok(conn)
        };
        let mut conn = open(&path).map_err(|source| StoreError::Open { path: path.clone(), source })?;
        migrate(&mut conn)?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (transactions roll back on drop).
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn insert(&self, job: &NewJob) -> Result<(), StoreError> {
        self.conn().execute(
            &format!(
                "INSERT INTO jobs (job_id, pipeline_id, file_name, input_path, status, frame_stride, max_frames,
                                   created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, {NOW}, {NOW})"
            ),
            params![
                job.job_id,
                job.pipeline_id,
                job.file_name,
                job.input_path.to_string_lossy(),
                job.frame_stride,
                job.max_frames
            ],
        )?;
        Ok(())
    }

    pub(crate) fn status(&self, job_id: &str) -> Result<Option<JobStatus>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {STATUS_COLUMNS} FROM jobs WHERE job_id = ?1"))?;
        stmt.query_row([job_id], status_from_row).optional()?.transpose()
    }

    /// Every job, newest first.
    pub(crate) fn list(&self) -> Result<Vec<JobStatus>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {STATUS_COLUMNS} FROM jobs ORDER BY seq DESC"))?;
        let rows = stmt.query_map([], status_from_row)?;
        rows.map(|row| row?).collect()
    }

    /// The stored video description and every stored frame, in video order.
    pub(crate) fn results(
        &self,
        job_id: &str,
    ) -> Result<(Option<VideoInfo>, Vec<JobFrameResult>), StoreError> {
        let conn = self.conn();
        let video: Option<String> = conn
            .query_row("SELECT video FROM jobs WHERE job_id = ?1", [job_id], |row| row.get(0))
            .optional()?
            .flatten();
        let video = video.map(|v| serde_json::from_str(&v)).transpose()?;
        let mut stmt = conn.prepare_cached(
            "SELECT frame_index, timestamp_ms, result FROM results WHERE job_id = ?1 ORDER BY frame_index",
        )?;
        let rows = stmt.query_map([job_id], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, String>(2)?))
        })?;
        let mut results = Vec::new();
        for row in rows {
            let (frame_index, timestamp_ms, result) = row?;
            results.push(JobFrameResult {
                frame_index: frame_index as u64,
                timestamp_ms: timestamp_ms as u64,
                result: serde_json::from_str(&result)?,
            });
        }
        Ok((video, results))
    }

    /// Claims the oldest pending job for a worker: it becomes `running`.
    pub(crate) fn claim_next(&self) -> Result<Option<ClaimedJob>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let claimed = tx
            .query_row(
                &format!(
                    "UPDATE jobs SET status = 'running', updated_at = {NOW}
                     WHERE seq = (SELECT seq FROM jobs WHERE status = 'pending' ORDER BY seq LIMIT 1)
                     RETURNING job_id, pipeline_id, input_path, frame_stride, max_frames"
                ),
                [],
                |row| {
                    Ok(ClaimedJob {
                        job_id: row.get(0)?,
                        pipeline_id: row.get(1)?,
                        input_path: PathBuf::from(row.get::<_, String>(2)?),
                        frame_stride: row.get(3)?,
                        max_frames: row.get(4)?,
                        resume_after: None,
                    })
                },
            )
            .optional()?;
        let Some(mut job) = claimed else { return Ok(None) };
        job.resume_after = tx
            .query_row("SELECT MAX(frame_index) FROM results WHERE job_id = ?1", [&job.job_id], |row| {
                row.get::<_, Option<i64>>(0)
            })?
            .map(|i| i as u64);
        tx.commit()?;
        Ok(Some(job))
    }

    /// Records what the worker learnt from the video's index.
    pub(crate) fn set_video(
        &self,
        job_id: &str,
        video: &VideoInfo,
        frames_total: u64,
    ) -> Result<Written, StoreError> {
        let changed = self.conn().execute(
            &format!("UPDATE jobs SET video = ?2, frames_total = ?3, updated_at = {NOW} WHERE job_id = ?1"),
            params![job_id, serde_json::to_string(video)?, frames_total as i64],
        )?;
        Ok(if changed == 1 { Written::Yes } else { Written::JobGone })
    }

    /// Stores one frame's result and the job's new counters in one transaction.
    pub(crate) fn add_frame(&self, job_id: &str, frame: &FrameRow<'_>) -> Result<Written, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let changed = tx.execute(
            &format!(
                "UPDATE jobs SET frames_processed = frames_processed + 1,
                                 detections = detections + ?2,
                                 text_blocks = text_blocks + ?3,
                                 progress = CASE WHEN frames_total > 0
                                     THEN MIN(99, (frames_processed + 1) * 100 / frames_total) ELSE 0 END,
                                 updated_at = {NOW}
                 WHERE job_id = ?1 AND status = 'running'"
            ),
            params![job_id, frame.detections as i64, frame.text_blocks as i64],
        )?;
        if changed == 0 {
            return Ok(Written::JobGone);
        }
        tx.execute(
            "INSERT INTO results (job_id, frame_index, timestamp_ms, result) VALUES (?1, ?2, ?3, ?4)",
            params![job_id, frame.frame_index as i64, frame.timestamp_ms as i64, frame.result_json],
        )?;
        tx.commit()?;
        Ok(Written::Yes)
    }

    pub(crate) fn complete(&self, job_id: &str) -> Result<Written, StoreError> {
        let changed = self.conn().execute(
            &format!(
                "UPDATE jobs SET status = 'completed', progress = 100, frames_total = frames_processed,
                                 updated_at = {NOW}
                 WHERE job_id = ?1 AND status = 'running'"
            ),
            [job_id],
        )?;
        Ok(if changed == 1 { Written::Yes } else { Written::JobGone })
    }

    pub(crate) fn fail(&self, job_id: &str, message: &str) -> Result<Written, StoreError> {
        let changed = self.conn().execute(
            &format!(
                "UPDATE jobs SET status = 'failed', error_message = ?2, updated_at = {NOW}
                 WHERE job_id = ?1 AND status IN ('pending', 'running')"
            ),
            params![job_id, message],
        )?;
        Ok(if changed == 1 { Written::Yes } else { Written::JobGone })
    }

    /// Puts a running job back in the queue (shutdown, or a worker that stopped without finishing it).
    pub(crate) fn requeue(&self, job_id: &str) -> Result<(), StoreError> {
        self.conn().execute(
            &format!("UPDATE jobs SET status = 'pending', updated_at = {NOW} WHERE job_id = ?1 AND status = 'running'"),
            [job_id],
        )?;
        Ok(())
    }

    /// At start-up: every job a previous process left `running` goes back to `pending`. Returns their ids.
    pub(crate) fn requeue_interrupted(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "UPDATE jobs SET status = 'pending', updated_at = {NOW} WHERE status = 'running' RETURNING job_id"
        ))?;
        let ids = stmt.query_map([], |row| row.get(0))?.collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }

    /// Removes a job and its results; returns its upload's path if it existed.
    pub(crate) fn delete(&self, job_id: &str) -> Result<Option<PathBuf>, StoreError> {
        let path: Option<String> = self
            .conn()
            .query_row("DELETE FROM jobs WHERE job_id = ?1 RETURNING input_path", [job_id], |row| row.get(0))
            .optional()?;
        Ok(path.map(PathBuf::from))
    }

    /// The upload's path of a job, if the job exists.
    pub(crate) fn input_path(&self, job_id: &str) -> Result<Option<PathBuf>, StoreError> {
        let path: Option<String> = self
            .conn()
            .query_row("SELECT input_path FROM jobs WHERE job_id = ?1", [job_id], |row| row.get(0))
            .optional()?;
        Ok(path.map(PathBuf::from))
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn status_from_row(row: &Row<'_>) -> rusqlite::Result<Result<JobStatus, StoreError>> {
    let status: String = row.get(3)?;
    let Some(state) = JobState::parse(&status) else { return Ok(Err(StoreError::Status(status))) };
    Ok(Ok(JobStatus {
        job_id: row.get(0)?,
        pipeline_id: row.get(1)?,
        file_name: row.get(2)?,
        status: state,
        progress: row.get::<_, i64>(4)?.clamp(0, 100) as u8,
        frame_stride: row.get(5)?,
        max_frames: row.get(6)?,
        frames_total: row.get::<_, Option<i64>>(7)?.map(|n| n as u64),
        frames_processed: row.get::<_, i64>(8)? as u64,
        detections: row.get::<_, i64>(9)? as u64,
        text_blocks: row.get::<_, i64>(10)? as u64,
        error_message: row.get(11)?,
        created_at: row.get(12)?,
        updated_at: row.get(13)?,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn job(id: &str) -> NewJob {
        NewJob {
            job_id: id.into(),
            pipeline_id: "yolo".into(),
            file_name: "clip.mp4".into(),
            input_path: format!("/uploads/{id}.mp4").into(),
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
        }
    }

    #[test]
    fn a_job_goes_pending_running_completed_with_progress_and_results() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(dir.path()).unwrap();
        store.insert(&job("a")).unwrap();
        let status = store.status("a").unwrap().unwrap();
        assert_eq!((status.status, status.progress, status.frames_total), (JobState::Pending, 0, None));
        assert!(status.created_at.ends_with('Z') && status.created_at.len() == 24, "{}", status.created_at);

        let claimed = store.claim_next().unwrap().unwrap();
        assert_eq!((claimed.job_id.as_str(), claimed.frame_stride, claimed.max_frames), ("a", 2, Some(10)));
        assert!(claimed.resume_after.is_none());
        assert!(store.claim_next().unwrap().is_none(), "a running job is not claimed twice");

        let video = VideoInfo { width: 4, height: 2, duration_ms: 1000, frames: 8 };
        assert_eq!(store.set_video("a", &video, 4).unwrap(), Written::Yes);
        for i in [0, 2, 4] {
            assert_eq!(store.add_frame("a", &row(i)).unwrap(), Written::Yes);
        }
        let status = store.status("a").unwrap().unwrap();
        assert_eq!((status.status, status.progress, status.frames_processed), (JobState::Running, 75, 3));
        assert_eq!((status.detections, status.text_blocks), (6, 3));

        assert_eq!(store.complete("a").unwrap(), Written::Yes);
        let status = store.status("a").unwrap().unwrap();
        assert_eq!(
            (status.status, status.progress, status.frames_total),
            (JobState::Completed, 100, Some(3))
        );
        let (stored_video, results) = store.results("a").unwrap();
        assert_eq!(stored_video, Some(video));
        assert_eq!(results.iter().map(|r| r.frame_index).collect::<Vec<_>>(), [0, 2, 4]);
        assert_eq!(results[2].timestamp_ms, 400);
    }

    #[test]
    fn jobs_are_listed_newest_first_and_claimed_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(dir.path()).unwrap();
        for id in ["first", "second", "third"] {
            store.insert(&job(id)).unwrap();
        }
        let ids: Vec<_> = store.list().unwrap().into_iter().map(|j| j.job_id).collect();
        assert_eq!(ids, ["third", "second", "first"]);
        assert_eq!(store.claim_next().unwrap().unwrap().job_id, "first");
    }

    #[test]
    fn reopening_requeues_interrupted_jobs_and_resumes_after_the_last_stored_frame() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = JobStore::open(dir.path()).unwrap();
            store.insert(&job("done")).unwrap();
            store.insert(&job("busy")).unwrap();
            store.claim_next().unwrap();
            store.complete("done").unwrap();
            store.claim_next().unwrap();
            store.add_frame("busy", &row(0)).unwrap();
            store.add_frame("busy", &row(2)).unwrap();
        } // the process "dies" here, with `busy` running
        let store = JobStore::open(dir.path()).unwrap();
        assert_eq!(store.requeue_interrupted().unwrap(), ["busy"]);
        assert_eq!(store.status("done").unwrap().unwrap().status, JobState::Completed);
        let claimed = store.claim_next().unwrap().unwrap();
        assert_eq!((claimed.job_id.as_str(), claimed.resume_after), ("busy", Some(2)));
    }

    #[test]
    fn a_deleted_job_stops_its_writer_and_takes_its_results_along() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(dir.path()).unwrap();
        store.insert(&job("a")).unwrap();
        store.claim_next().unwrap();
        store.add_frame("a", &row(0)).unwrap();
        assert_eq!(store.delete("a").unwrap(), Some(PathBuf::from("/uploads/a.mp4")));
        assert_eq!(store.add_frame("a", &row(2)).unwrap(), Written::JobGone);
        assert_eq!(store.complete("a").unwrap(), Written::JobGone);
        assert!(store.status("a").unwrap().is_none());
        assert!(store.results("a").unwrap().1.is_empty());
        assert_eq!(store.delete("a").unwrap(), None);
    }

    #[test]
    fn a_failed_job_keeps_its_reason_and_a_finished_job_cannot_fail() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(dir.path()).unwrap();
        store.insert(&job("a")).unwrap();
        store.claim_next().unwrap();
        assert_eq!(store.fail("a", "The MP4 has no video track").unwrap(), Written::Yes);
        assert_eq!(store.fail("a", "again").unwrap(), Written::JobGone);
        let status = store.status("a").unwrap().unwrap();
        assert_eq!(status.status, JobState::Failed);
        assert_eq!(status.error_message.as_deref(), Some("The MP4 has no video track"));
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(JobStore::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join("jobs.sqlite3")).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let error = JobStore::open(dir.path()).unwrap_err();
        assert!(error.to_string().contains("schema 99"), "{error}");
    }
}
