//! The embedded store: one SQLite database (WAL mode) under the data directory, schema versioned in code.
//!
//! One connection behind a mutex is plenty: a job writes one row per processed frame (tens per second at most).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params};
use stream_protocol::http::{JobState, JobStatus, JobTrack, VideoInfo};

use super::{
    ClaimedJob, FinishedJob, FrameRow, INTERRUPTED_MESSAGE, Interrupted, JobStore, MAX_INTERRUPTIONS, NewJob,
    ResultRow, StoreError, Written, whole_seconds,
};

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
    // 4: claims and leases (see the module docs of `store`).
    "ALTER TABLE jobs ADD COLUMN claim INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE jobs ADD COLUMN lease_until TEXT;",
];

/// SQLite's clock as RFC 3339 UTC with milliseconds: `2026-11-25T12:40:03.120Z`.
const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// That clock `?N` seconds from now (a bound parameter holding the seconds).
fn now_plus(param: usize) -> String {
    format!("strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?{param} || ' seconds')")
}

const STATUS_COLUMNS: &str = "job_id, pipeline_id, file_name, status, progress, frame_stride, max_frames, \
     frames_total, frames_processed, detections, text_blocks, error_message, created_at, updated_at";

/// The SQLite database of one process.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) `dir/jobs.sqlite3` and brings its schema up to date.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("jobs.sqlite3");
        let open = |path: &Path| -> rusqlite::Result<Connection> {
            let conn = Connection::open(path)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", true)?;
            conn.busy_timeout(Duration::from_secs(5))?;
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

    /// Runs `sql` (parameters: job id, claim, then `extra`) and says whether it changed the claimed job.
    fn claimed_write(
        &self,
        sql: &str,
        job: &ClaimedJob,
        extra: &[&dyn rusqlite::ToSql],
    ) -> Result<Written, StoreError> {
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![&job.job_id, &job.claim];
        values.extend_from_slice(extra);
        let changed = self.conn().execute(sql, values.as_slice())?;
        Ok(if changed == 1 { Written::Yes } else { Written::JobGone })
    }
}

/// The condition every write of a claimed run carries: the job is still running under this claim.
const CLAIMED: &str = "job_id = ?1 AND claim = ?2 AND status = 'running'";

impl JobStore for SqliteStore {
    fn exclusive(&self) -> bool {
        true
    }

    fn keeps_uploads(&self) -> bool {
        false
    }

    fn read_upload(&self, _job_id: &str, _out: &mut dyn std::io::Write) -> Result<bool, StoreError> {
        Ok(false)
    }

    fn insert(&self, job: &NewJob, _upload: &mut dyn std::io::Read) -> Result<(), StoreError> {
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

    fn status(&self, job_id: &str) -> Result<Option<JobStatus>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {STATUS_COLUMNS} FROM jobs WHERE job_id = ?1"))?;
        stmt.query_row([job_id], status_from_row).optional()?.transpose()
    }

    fn list(&self, after: Option<&str>, limit: usize) -> Result<(Vec<JobStatus>, bool), StoreError> {
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

    fn video(&self, job_id: &str) -> Result<Option<VideoInfo>, StoreError> {
        let video: Option<String> = self
            .conn()
            .query_row("SELECT video FROM jobs WHERE job_id = ?1", [job_id], |row| row.get(0))
            .optional()?
            .flatten();
        Ok(video.map(|v| serde_json::from_str(&v)).transpose()?)
    }

    fn result_rows(
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
        let rows = stmt.query_map(params![job_id, after, limit.min(i64::MAX as usize) as i64], |row| {
            Ok(ResultRow {
                frame_index: row.get::<_, i64>(0)? as u64,
                timestamp_ms: row.get::<_, i64>(1)? as u64,
                result_json: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn tracks(&self, job_id: &str) -> Result<Vec<JobTrack>, StoreError> {
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

    fn claim_next(&self, lease: Duration) -> Result<Option<ClaimedJob>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let claimed = tx
            .query_row(
                &format!(
                    "UPDATE jobs SET status = 'running', claim = claim + 1, lease_until = {}, updated_at = {NOW}
                     WHERE seq = (SELECT seq FROM jobs WHERE status = 'pending' ORDER BY seq LIMIT 1)
                     RETURNING job_id, pipeline_id, input_path, frame_stride, max_frames, claim",
                    now_plus(1)
                ),
                [whole_seconds(lease)],
                |row| {
                    Ok(ClaimedJob {
                        job_id: row.get(0)?,
                        pipeline_id: row.get(1)?,
                        input_path: PathBuf::from(row.get::<_, String>(2)?),
                        frame_stride: row.get(3)?,
                        max_frames: row.get(4)?,
                        resume_after: None,
                        track_ids_after: 0,
                        claim: row.get(5)?,
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

    fn renew(&self, job: &ClaimedJob, lease: Duration) -> Result<Written, StoreError> {
        self.claimed_write(
            &format!("UPDATE jobs SET lease_until = {} WHERE {CLAIMED}", now_plus(3)),
            job,
            &[&whole_seconds(lease)],
        )
    }

    fn set_video(
        &self,
        job: &ClaimedJob,
        video: &VideoInfo,
        frames_total: u64,
    ) -> Result<Written, StoreError> {
        self.claimed_write(
            &format!("UPDATE jobs SET video = ?3, frames_total = ?4, updated_at = {NOW} WHERE {CLAIMED}"),
            job,
            &[&serde_json::to_string(video)?, &(frames_total as i64)],
        )
    }

    fn add_frame(&self, job: &ClaimedJob, frame: &FrameRow<'_>) -> Result<Written, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let changed = tx.execute(
            &format!(
                "UPDATE jobs SET frames_processed = frames_processed + 1,
                                 detections = detections + ?3,
                                 text_blocks = text_blocks + ?4,
                                 progress = CASE WHEN frames_total > 0
                                     THEN MIN(99, (frames_processed + 1) * 100 / frames_total) ELSE 0 END,
                                 updated_at = {NOW}
                 WHERE {CLAIMED}"
            ),
            params![job.job_id, job.claim, frame.detections as i64, frame.text_blocks as i64],
        )?;
        if changed == 0 {
            return Ok(Written::JobGone);
        }
        tx.execute(
            "INSERT INTO results (job_id, frame_index, timestamp_ms, result) VALUES (?1, ?2, ?3, ?4)",
            params![job.job_id, frame.frame_index as i64, frame.timestamp_ms as i64, frame.result_json],
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
                    job.job_id,
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

    fn complete(&self, job: &ClaimedJob) -> Result<Written, StoreError> {
        self.claimed_write(
            &format!(
                "UPDATE jobs SET status = 'completed', progress = 100, frames_total = frames_processed,
                                 lease_until = NULL, updated_at = {NOW}
                 WHERE {CLAIMED}"
            ),
            job,
            &[],
        )
    }

    fn fail(&self, job: &ClaimedJob, message: &str) -> Result<Written, StoreError> {
        self.claimed_write(
            &format!(
                "UPDATE jobs SET status = 'failed', error_message = ?3, lease_until = NULL, updated_at = {NOW}
                 WHERE {CLAIMED}"
            ),
            job,
            &[&message],
        )
    }

    fn requeue(&self, job: &ClaimedJob) -> Result<(), StoreError> {
        self.claimed_write(
            &format!(
                "UPDATE jobs SET status = 'pending', lease_until = NULL, updated_at = {NOW} WHERE {CLAIMED}"
            ),
            job,
            &[],
        )?;
        Ok(())
    }

    fn recover(&self, all_running: bool) -> Result<Interrupted, StoreError> {
        let cut_off = if all_running {
            "status = 'running'".to_owned()
        } else {
            format!("status = 'running' AND (lease_until IS NULL OR lease_until < {NOW})")
        };
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let failed = {
            let mut stmt = tx.prepare(&format!(
                "UPDATE jobs SET status = 'failed', interruptions = interruptions + 1, error_message = ?1,
                                 lease_until = NULL, updated_at = {NOW}
                 WHERE {cut_off} AND interruptions + 1 >= ?2 RETURNING job_id, input_path"
            ))?;
            stmt.query_map(params![INTERRUPTED_MESSAGE, MAX_INTERRUPTIONS], |row| {
                Ok((row.get::<_, String>(0)?, PathBuf::from(row.get::<_, String>(1)?)))
            })?
            .collect::<Result<Vec<_>, _>>()?
        };
        let requeued = {
            let mut stmt = tx.prepare(&format!(
                "UPDATE jobs SET status = 'pending', interruptions = interruptions + 1, lease_until = NULL,
                                 updated_at = {NOW}
                 WHERE {cut_off} RETURNING job_id"
            ))?;
            stmt.query_map([], |row| row.get(0))?.collect::<Result<Vec<String>, _>>()?
        };
        tx.commit()?;
        Ok(Interrupted { requeued, failed })
    }

    fn input_paths(&self) -> Result<Vec<PathBuf>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT input_path FROM jobs")?;
        let paths = stmt.query_map([], |row| row.get::<_, String>(0))?;
        Ok(paths.map(|p| p.map(PathBuf::from)).collect::<Result<Vec<_>, _>>()?)
    }

    fn upload_bytes(&self) -> Result<u64, StoreError> {
        let bytes: i64 =
            self.conn().query_row("SELECT COALESCE(SUM(input_bytes), 0) FROM jobs", [], |row| row.get(0))?;
        Ok(bytes.max(0) as u64)
    }

    fn release_upload(&self, job_id: &str) -> Result<(), StoreError> {
        self.conn().execute("UPDATE jobs SET input_bytes = 0 WHERE job_id = ?1", [job_id])?;
        Ok(())
    }

    fn finished_oldest_first(&self, retention: Option<Duration>) -> Result<Vec<FinishedJob>, StoreError> {
        // With no retention the cutoff is the empty string, before every time.
        let seconds = retention.map(|age| format!("-{} seconds", whole_seconds(age)));
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT job_id, input_bytes,
                    updated_at < COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1), '')
             FROM jobs WHERE status IN ('completed', 'failed') ORDER BY updated_at, seq",
        )?;
        let rows = stmt.query_map([seconds], |row| {
            Ok(FinishedJob {
                job_id: row.get(0)?,
                input_bytes: row.get::<_, i64>(1)?.max(0) as u64,
                expired: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn delete(&self, job_id: &str) -> Result<Option<PathBuf>, StoreError> {
        let path: Option<String> = self
            .conn()
            .query_row("DELETE FROM jobs WHERE job_id = ?1 RETURNING input_path", [job_id], |row| row.get(0))
            .optional()?;
        Ok(path.map(PathBuf::from))
    }

    fn input_path(&self, job_id: &str) -> Result<Option<PathBuf>, StoreError> {
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
