//! The job store: one SQLite database (WAL mode) under `STREAM_DATA_DIR`, schema versioned in code.
//!
//! Every method is synchronous and short; async callers go through `spawn_blocking`. One connection behind a
//! mutex is plenty: a job writes one row per processed frame (tens per second at most).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Row, params};
use stream_protocol::http::{JobState, JobStatus, JobTrack, VideoInfo};

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
    // 2: how often a job was cut off by a process that died while running it, and its upload's size (for the
    // disk quota).
    "ALTER TABLE jobs ADD COLUMN interruptions INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE jobs ADD COLUMN input_bytes INTEGER NOT NULL DEFAULT 0;
     CREATE INDEX jobs_by_update ON jobs (status, updated_at);",
    // 3: the objects a `track` node followed through a job.
    "CREATE TABLE tracks (
        job_id      TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
        track_id    INTEGER NOT NULL,
        class_id    INTEGER NOT NULL,
        class_name  TEXT NOT NULL,
        first_frame INTEGER NOT NULL,
        last_frame  INTEGER NOT NULL,
        frames_seen INTEGER NOT NULL,
        PRIMARY KEY (job_id, track_id)
    ) WITHOUT ROWID;",
];

/// A job whose processing was cut off this many times by a process that died is failed, not requeued: it may
/// be what kills the process.
pub const MAX_INTERRUPTIONS: i64 = 2;

/// The message of a job failed for that reason.
pub const INTERRUPTED_MESSAGE: &str = "The server stopped twice while processing this video; it is not \
     retried again (if the video is what stopped it, the server log says more)";

/// SQLite's clock as RFC 3339 UTC with milliseconds: `2026-11-25T12:40:03.120Z`.
const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

const STATUS_COLUMNS: &str = "job_id, pipeline_id, file_name, status, progress, frame_stride, max_frames, \
     frames_total, frames_processed, detections, text_blocks, error_message, created_at, updated_at";

/// A store failure: the database could not be opened, migrated, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
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
pub struct NewJob {
    pub job_id: String,
    pub pipeline_id: String,
    pub file_name: String,
    pub input_path: PathBuf,
    pub input_bytes: u64,
    pub frame_stride: u32,
    pub max_frames: Option<u32>,
}

/// A job a worker has claimed: what it needs to process it, and where a previous run stopped.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub job_id: String,
    pub pipeline_id: String,
    pub input_path: PathBuf,
    pub frame_stride: u32,
    pub max_frames: Option<u32>,
    /// The last frame stored by an earlier run of this job (after a restart), if any.
    pub resume_after: Option<u64>,
    /// The highest `track_id` an earlier run stored (0: none). A resumed run's tracker starts again at 1, so
    /// its ids are shifted above this one: ids stay unique within the job.
    pub track_ids_after: u64,
}

/// One processed frame and what it adds to the job's counters.
#[derive(Debug)]
pub struct FrameRow<'a> {
    pub frame_index: u64,
    pub timestamp_ms: u64,
    pub result_json: &'a str,
    pub detections: u64,
    pub text_blocks: u64,
    /// The tracks matched in this frame.
    pub tracks: &'a [TrackSeen],
}

/// A track matched in a processed frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackSeen {
    pub track_id: u64,
    pub class_id: u32,
    pub class_name: std::sync::Arc<str>,
}

/// What [`JobStore::requeue_interrupted`] did.
#[derive(Debug, Default)]
pub struct Interrupted {
    /// Jobs back in the queue.
    pub requeued: Vec<String>,
    /// Jobs failed for being interrupted too often, with their upload's path.
    pub failed: Vec<(String, PathBuf)>,
}

/// A completed or failed job, for retention.
#[derive(Debug, Clone)]
pub struct FinishedJob {
    pub job_id: String,
    pub input_bytes: u64,
    /// Finished before the retention cutoff.
    pub expired: bool,
}

/// One stored frame, its result as stored JSON text.
#[derive(Debug, Clone)]
pub struct ResultRow {
    pub frame_index: u64,
    pub timestamp_ms: u64,
    pub result_json: String,
}

/// Whether a write found its job (a job deleted while running is not an error, but the worker must stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Yes,
    JobGone,
}

/// The database.
#[derive(Debug)]
pub struct JobStore {
    conn: Mutex<Connection>,
}

impl JobStore {
    /// Opens (creating if needed) `dir/jobs.sqlite3` and brings its schema up to date.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
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

    pub fn insert(&self, job: &NewJob) -> Result<(), StoreError> {
        self.conn().execute(
            &format!(
                "INSERT INTO jobs (job_id, pipeline_id, file_name, input_path, input_bytes, status, frame_stride,
                                   max_frames, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, {NOW}, {NOW})"
            ),
            params![
                job.job_id,
                job.pipeline_id,
                job.file_name,
                job.input_path.to_string_lossy(),
                job.input_bytes as i64,
                job.frame_stride,
                job.max_frames
            ],
        )?;
        Ok(())
    }

    pub fn status(&self, job_id: &str) -> Result<Option<JobStatus>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {STATUS_COLUMNS} FROM jobs WHERE job_id = ?1"))?;
        stmt.query_row([job_id], status_from_row).optional()?.transpose()
    }

    /// At most `limit` jobs, newest first, starting after the job `after` (a `job_id` from an earlier page;
    /// `None`: the newest). The second value is whether more jobs follow.
    pub fn list(&self, after: Option<&str>, limit: usize) -> Result<(Vec<JobStatus>, bool), StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {STATUS_COLUMNS} FROM jobs
             WHERE ?1 IS NULL OR seq < COALESCE((SELECT seq FROM jobs WHERE job_id = ?1), 0)
             ORDER BY seq DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![after, limit as i64 + 1], status_from_row)?;
        let mut jobs = rows.map(|row| row?).collect::<Result<Vec<_>, _>>()?;
        let more = jobs.len() > limit;
        jobs.truncate(limit);
        Ok((jobs, more))
    }

    /// The stored video description of a job.
    pub fn video(&self, job_id: &str) -> Result<Option<VideoInfo>, StoreError> {
        let video: Option<String> = self
            .conn()
            .query_row("SELECT video FROM jobs WHERE job_id = ?1", [job_id], |row| row.get(0))
            .optional()?
            .flatten();
        Ok(video.map(|v| serde_json::from_str(&v)).transpose()?)
    }

    /// At most `limit` stored frames after frame `after` (`None`: from the first), in video order, each with
    /// its result as the stored JSON text (spliced into responses as is, never parsed again).
    pub fn result_rows(
        &self,
        job_id: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ResultRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT frame_index, timestamp_ms, result FROM results
             WHERE job_id = ?1 AND frame_index > ?2 ORDER BY frame_index LIMIT ?3",
        )?;
        let after = after.map_or(-1, |a| a as i64);
        let rows = stmt.query_map(params![job_id, after, limit as i64], |row| {
            Ok(ResultRow {
                frame_index: row.get::<_, i64>(0)? as u64,
                timestamp_ms: row.get::<_, i64>(1)? as u64,
                result_json: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Every track of a job, by id.
    pub fn tracks(&self, job_id: &str) -> Result<Vec<JobTrack>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT track_id, class_id, class_name, first_frame, last_frame, frames_seen FROM tracks
             WHERE job_id = ?1 ORDER BY track_id",
        )?;
        let rows = stmt.query_map([job_id], |row| {
            Ok(JobTrack {
                track_id: row.get::<_, i64>(0)? as u64,
                class_id: row.get(1)?,
                class_name: row.get(2)?,
                first_frame: row.get::<_, i64>(3)? as u64,
                last_frame: row.get::<_, i64>(4)? as u64,
                frames_seen: row.get::<_, i64>(5)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The stored video description and every stored frame, in video order (tests; the API pages).
    #[cfg(test)]
    pub fn results(
        &self,
        job_id: &str,
    ) -> Result<(Option<VideoInfo>, Vec<stream_protocol::http::JobFrameResult>), StoreError> {
        let rows = self.result_rows(job_id, None, usize::MAX >> 1)?;
        let results = rows
            .into_iter()
            .map(|row| {
                Ok(stream_protocol::http::JobFrameResult {
                    frame_index: row.frame_index,
                    timestamp_ms: row.timestamp_ms,
                    result: serde_json::from_str(&row.result_json)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((self.video(job_id)?, results))
    }

    /// Claims the oldest pending job for a worker: it becomes `running`.
    pub fn claim_next(&self) -> Result<Option<ClaimedJob>, StoreError> {
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
                        track_ids_after: 0,
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
        job.track_ids_after = tx
            .query_row(
                "SELECT COALESCE(MAX(track_id), 0) FROM tracks WHERE job_id = ?1",
                [&job.job_id],
                |row| row.get::<_, i64>(0),
            )?
            .max(0) as u64;
        tx.commit()?;
        Ok(Some(job))
    }

    /// Records what the worker learnt from the video's index.
    pub fn set_video(
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
    pub fn add_frame(&self, job_id: &str, frame: &FrameRow<'_>) -> Result<Written, StoreError> {
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
        if !frame.tracks.is_empty() {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO tracks (job_id, track_id, class_id, class_name, first_frame, last_frame, frames_seen)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, 1)
                 ON CONFLICT (job_id, track_id) DO UPDATE SET last_frame = excluded.last_frame,
                                                              frames_seen = frames_seen + 1",
            )?;
            for track in frame.tracks {
                upsert.execute(params![
                    job_id,
                    track.track_id as i64,
                    track.class_id,
                    &*track.class_name,
                    frame.frame_index as i64
                ])?;
            }
        }
        tx.commit()?;
        Ok(Written::Yes)
    }

    pub fn complete(&self, job_id: &str) -> Result<Written, StoreError> {
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

    pub fn fail(&self, job_id: &str, message: &str) -> Result<Written, StoreError> {
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
    pub fn requeue(&self, job_id: &str) -> Result<(), StoreError> {
        self.conn().execute(
            &format!("UPDATE jobs SET status = 'pending', updated_at = {NOW} WHERE job_id = ?1 AND status = 'running'"),
            [job_id],
        )?;
        Ok(())
    }

    /// At start-up: every job a previous process left `running` was cut off by that process's death. It goes
    /// back to `pending`, unless this has happened [`MAX_INTERRUPTIONS`] times: then it is failed with
    /// [`INTERRUPTED_MESSAGE`], so a video that kills the process cannot make it crash in a loop.
    pub fn requeue_interrupted(&self) -> Result<Interrupted, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let failed = {
            let mut stmt = tx.prepare(&format!(
                "UPDATE jobs SET status = 'failed', interruptions = interruptions + 1, error_message = ?1,
                                 updated_at = {NOW}
                 WHERE status = 'running' AND interruptions + 1 >= ?2 RETURNING job_id, input_path"
            ))?;
            stmt.query_map(params![INTERRUPTED_MESSAGE, MAX_INTERRUPTIONS], |row| {
                Ok((row.get::<_, String>(0)?, PathBuf::from(row.get::<_, String>(1)?)))
            })?
            .collect::<Result<Vec<_>, _>>()?
        };
        let requeued = {
            let mut stmt = tx.prepare(&format!(
                "UPDATE jobs SET status = 'pending', interruptions = interruptions + 1, updated_at = {NOW}
                 WHERE status = 'running' RETURNING job_id"
            ))?;
            stmt.query_map([], |row| row.get(0))?.collect::<Result<Vec<String>, _>>()?
        };
        tx.commit()?;
        Ok(Interrupted { requeued, failed })
    }

    /// Every upload path a job refers to (to find files no job owns).
    pub fn input_paths(&self) -> Result<Vec<PathBuf>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT input_path FROM jobs")?;
        let paths = stmt.query_map([], |row| row.get::<_, String>(0))?;
        Ok(paths.map(|p| p.map(PathBuf::from)).collect::<Result<Vec<_>, _>>()?)
    }

    /// Bytes of uploads held by jobs that still have theirs (see [`release_upload`](Self::release_upload)).
    pub fn upload_bytes(&self) -> Result<u64, StoreError> {
        let bytes: i64 =
            self.conn().query_row("SELECT COALESCE(SUM(input_bytes), 0) FROM jobs", [], |row| row.get(0))?;
        Ok(bytes.max(0) as u64)
    }

    /// Records that a job's upload was removed from disk (it failed): it no longer counts against the quota.
    pub fn release_upload(&self, job_id: &str) -> Result<(), StoreError> {
        self.conn().execute("UPDATE jobs SET input_bytes = 0 WHERE job_id = ?1", [job_id])?;
        Ok(())
    }

    /// Finished (completed or failed) jobs, oldest first, with their upload's size, and whether each
    /// finished before `cutoff` (an RFC 3339 UTC time with milliseconds, as the store writes them).
    pub fn finished_oldest_first(&self, cutoff: &str) -> Result<Vec<FinishedJob>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT job_id, input_bytes, updated_at < ?1 FROM jobs
             WHERE status IN ('completed', 'failed') ORDER BY updated_at, seq",
        )?;
        let rows = stmt.query_map([cutoff], |row| {
            Ok(FinishedJob {
                job_id: row.get(0)?,
                input_bytes: row.get::<_, i64>(1)?.max(0) as u64,
                expired: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The time `seconds` ago, as the store writes times (RFC 3339 UTC with milliseconds).
    pub fn time_ago(&self, seconds: u64) -> Result<String, StoreError> {
        let modifier = format!("-{seconds} seconds");
        Ok(self
            .conn()
            .query_row("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1)", [modifier], |row| row.get(0))?)
    }

    /// Removes a job and its results; returns its upload's path if it existed.
    pub fn delete(&self, job_id: &str) -> Result<Option<PathBuf>, StoreError> {
        let path: Option<String> = self
            .conn()
            .query_row("DELETE FROM jobs WHERE job_id = ?1 RETURNING input_path", [job_id], |row| row.get(0))
            .optional()?;
        Ok(path.map(PathBuf::from))
    }

    /// The upload's path of a job, if the job exists.
    pub fn input_path(&self, job_id: &str) -> Result<Option<PathBuf>, StoreError> {
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
        let ids = |(page, more): (Vec<JobStatus>, bool)| {
            (page.into_iter().map(|j| j.job_id).collect::<Vec<_>>(), more)
        };
        assert_eq!(
            ids(store.list(None, 10).unwrap()),
            (vec!["third".into(), "second".into(), "first".into()], false)
        );
        // Pages follow each other without gaps or repeats; an unknown cursor gives an empty page.
        assert_eq!(ids(store.list(None, 2).unwrap()), (vec!["third".into(), "second".into()], true));
        assert_eq!(ids(store.list(Some("second"), 2).unwrap()), (vec!["first".into()], false));
        assert!(store.list(Some("nope"), 2).unwrap().0.is_empty());
        assert_eq!(store.claim_next().unwrap().unwrap().job_id, "first");
    }

    #[test]
    fn results_are_read_in_pages_in_video_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(dir.path()).unwrap();
        store.insert(&job("a")).unwrap();
        store.claim_next().unwrap();
        for i in [4, 0, 2, 6] {
            store.add_frame("a", &row(i)).unwrap();
        }
        let frames = |rows: Vec<ResultRow>| rows.iter().map(|r| r.frame_index).collect::<Vec<_>>();
        assert_eq!(frames(store.result_rows("a", None, 3).unwrap()), [0, 2, 4]);
        assert_eq!(frames(store.result_rows("a", Some(4), 3).unwrap()), [6]);
        assert!(store.result_rows("a", Some(6), 3).unwrap().is_empty());
        assert_eq!(store.result_rows("a", None, 1).unwrap()[0].result_json, row(0).result_json);
    }

    #[test]
    fn a_job_cut_off_twice_by_a_dying_process_is_failed_not_requeued() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(dir.path()).unwrap();
        store.insert(&job("killer")).unwrap();
        // A graceful stop (requeue) does not count; a death does.
        store.claim_next().unwrap();
        store.requeue("killer").unwrap();
        store.claim_next().unwrap();
        let first = store.requeue_interrupted().unwrap();
        assert_eq!((first.requeued, first.failed.len()), (vec!["killer".to_owned()], 0));
        store.claim_next().unwrap();
        let second = store.requeue_interrupted().unwrap();
        assert!(second.requeued.is_empty());
        assert_eq!(second.failed, [("killer".to_owned(), PathBuf::from("/uploads/killer.mp4"))]);
        let status = store.status("killer").unwrap().unwrap();
        assert_eq!(
            (status.status, status.error_message.as_deref()),
            (JobState::Failed, Some(INTERRUPTED_MESSAGE))
        );
        assert!(store.claim_next().unwrap().is_none());
    }

    #[test]
    fn retention_sees_finished_jobs_oldest_first_and_the_bytes_they_hold() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(dir.path()).unwrap();
        for id in ["a", "b", "c"] {
            store.insert(&job(id)).unwrap();
        }
        assert_eq!(store.upload_bytes().unwrap(), 3000);
        store.claim_next().unwrap();
        store.complete("a").unwrap();
        store.claim_next().unwrap();
        store.fail("b", "broken").unwrap();
        store.release_upload("b").unwrap();
        assert_eq!(store.upload_bytes().unwrap(), 2000);
        let ids =
            |jobs: Vec<FinishedJob>| jobs.into_iter().map(|j| (j.job_id, j.expired)).collect::<Vec<_>>();
        let future = "9999-12-31T00:00:00.000Z";
        assert_eq!(
            ids(store.finished_oldest_first(future).unwrap()),
            [("a".into(), true), ("b".into(), true)]
        );
        let past = store.time_ago(3600).unwrap();
        assert_eq!(
            ids(store.finished_oldest_first(&past).unwrap()),
            [("a".into(), false), ("b".into(), false)]
        );
        assert_eq!(store.input_paths().unwrap().len(), 3);
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
        assert_eq!(store.requeue_interrupted().unwrap().requeued, ["busy"]);
        assert_eq!(store.status("done").unwrap().unwrap().status, JobState::Completed);
        let claimed = store.claim_next().unwrap().unwrap();
        assert_eq!((claimed.job_id.as_str(), claimed.resume_after), ("busy", Some(2)));
    }

    #[test]
    fn tracks_gather_first_and_last_frame_and_a_resumed_run_gets_ids_above_the_stored_ones() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = JobStore::open(dir.path()).unwrap();
            store.insert(&job("a")).unwrap();
            store.insert(&job("b")).unwrap();
            assert_eq!(store.claim_next().unwrap().unwrap().track_ids_after, 0);
            let person = || TrackSeen { track_id: 1, class_id: 0, class_name: "person".into() };
            let car = || TrackSeen { track_id: 2, class_id: 2, class_name: "car".into() };
            for (frame, tracks) in
                [(0, vec![person()]), (2, vec![person(), car()]), (4, vec![]), (6, vec![car()])]
            {
                store.add_frame("a", &FrameRow { tracks: &tracks, ..row(frame) }).unwrap();
            }
            let summary =
                |t: &JobTrack| (t.track_id, t.class_name.clone(), t.first_frame, t.last_frame, t.frames_seen);
            assert_eq!(
                store.tracks("a").unwrap().iter().map(summary).collect::<Vec<_>>(),
                [(1, "person".into(), 0, 2, 2), (2, "car".into(), 2, 6, 2)]
            );
            assert!(store.tracks("b").unwrap().is_empty(), "tracks belong to their job");
        } // the process dies with `a` running
        let store = JobStore::open(dir.path()).unwrap();
        store.requeue_interrupted().unwrap();
        let resumed = store.claim_next().unwrap().unwrap();
        assert_eq!(
            (resumed.job_id.as_str(), resumed.resume_after, resumed.track_ids_after),
            ("a", Some(6), 2)
        );
        store.delete("a").unwrap();
        assert!(store.tracks("a").unwrap().is_empty(), "a job's tracks go with it");
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
