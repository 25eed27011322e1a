//! The shared store: a PostgreSQL database that several replicas use at once (`STREAM_JOB_STORE=postgres://…`).
//!
//! Migrations live in code (below) and run at start-up under an advisory lock, so replicas starting together
//! apply each once. Jobs are claimed with `FOR UPDATE SKIP LOCKED`; times come from the database's clock, so
//! replicas' clocks need not agree. One connection per store behind a mutex, reconnected when it breaks (a
//! database restart costs the calls made while it is down, not the replica).
//!
//! The client is `postgres`, the synchronous face of `tokio-postgres`: it drives its connection on a small
//! runtime of its own, so — like every store call — opening the store and its methods must run on a thread
//! that is not driving async tasks (`spawn_blocking`, or a plain thread). Dropping it is safe anywhere: the
//! connection is closed on a thread of its own.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use postgres::{Client, NoTls, Row, Transaction};
use stream_protocol::http::{JobState, JobStatus, JobTrack, VideoInfo};

use super::{
    ClaimedJob, FinishedJob, FrameRow, INTERRUPTED_MESSAGE, Interrupted, JobStore, MAX_INTERRUPTIONS, NewJob,
    ResultRow, StoreError, Written, whole_seconds,
};

/// The schema, one entry per version: entry `i` migrates version `i` to `i + 1` (`job_store_schema.version`).
const MIGRATIONS: &[&str] = &[
    // 1: jobs (with claims and leases), per-frame results, tracks.
    "CREATE TABLE jobs (
        seq              BIGSERIAL PRIMARY KEY,
        job_id           TEXT NOT NULL UNIQUE,
        pipeline_id      TEXT NOT NULL,
        file_name        TEXT NOT NULL,
        input_path       TEXT NOT NULL,
        input_bytes      BIGINT NOT NULL DEFAULT 0,
        status           TEXT NOT NULL,
        progress         INTEGER NOT NULL DEFAULT 0,
        frame_stride     INTEGER NOT NULL,
        max_frames       INTEGER,
        frames_total     BIGINT,
        frames_processed BIGINT NOT NULL DEFAULT 0,
        detections       BIGINT NOT NULL DEFAULT 0,
        text_blocks      BIGINT NOT NULL DEFAULT 0,
        video            TEXT,
        error_message    TEXT,
        interruptions    INTEGER NOT NULL DEFAULT 0,
        claim            BIGINT NOT NULL DEFAULT 0,
        lease_until      TIMESTAMPTZ,
        created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE INDEX jobs_by_status ON jobs (status, seq);
    CREATE INDEX jobs_by_update ON jobs (status, updated_at);
    CREATE TABLE results (
        job_id       TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
        frame_index  BIGINT NOT NULL,
        timestamp_ms BIGINT NOT NULL,
        result       TEXT NOT NULL,
        PRIMARY KEY (job_id, frame_index)
    );
    CREATE TABLE tracks (
        job_id      TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
        track_id    BIGINT NOT NULL,
        class_id    BIGINT NOT NULL,
        class_name  TEXT NOT NULL,
        first_frame BIGINT NOT NULL,
        last_frame  BIGINT NOT NULL,
        frames_seen BIGINT NOT NULL,
        PRIMARY KEY (job_id, track_id)
    );",
    // 2: uploads, in chunks, so that every replica can read every job's video.
    "CREATE TABLE uploads (
        job_id TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
        seq    INTEGER NOT NULL,
        data   BYTEA NOT NULL,
        PRIMARY KEY (job_id, seq)
    );",
];

/// Bytes per stored upload chunk: memory per upload copied in or out is one chunk.
const UPLOAD_CHUNK: usize = 1024 * 1024;

/// An arbitrary key for the advisory lock that serialises migrations between replicas.
const MIGRATION_LOCK: i64 = 0x5354_524d_4a4f_4253; // "STRMJOBS"

/// A time column as the API shows times: RFC 3339 UTC with milliseconds (`2026-11-25T12:40:03.120Z`).
fn rfc3339(column: &str) -> String {
    format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
}

fn status_columns() -> String {
    format!(
        "job_id, pipeline_id, file_name, status, progress, frame_stride, max_frames, frames_total, \
         frames_processed, detections, text_blocks, error_message, {}, {}",
        rfc3339("created_at"),
        rfc3339("updated_at")
    )
}

/// The condition every write of a claimed run carries: the job is still running under this claim.
const CLAIMED: &str = "job_id = $1 AND claim = $2 AND status = 'running'";

/// A PostgreSQL database shared by replicas.
pub struct PostgresStore {
    url: String,
    /// Always `Some` but while dropping.
    client: Mutex<Option<Client>>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Closing the connection blocks on the client's runtime, which panics on a thread driving async tasks
        // (a server dropping its state at shutdown): close it on a thread of its own.
        let client = self.client.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(client) = client {
            let _ = std::thread::Builder::new().name("postgres-close".into()).spawn(move || drop(client));
        }
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`, or `host=/run/dir port=…` key-value form) and
    /// brings the schema up to date.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let mut client = connect(url)?;
        migrate(&mut client)?;
        Ok(Self { url: url.to_owned(), client: Mutex::new(Some(client)) })
    }

    /// The connection, reconnected first if it broke.
    fn client(&self) -> Result<ClientGuard<'_>, StoreError> {
        let mut guard = self.client.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(connect(&self.url)?);
        }
        Ok(ClientGuard(guard))
    }

    fn claimed_write(
        &self,
        sql: &str,
        job: &ClaimedJob,
        extra: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Written, StoreError> {
        let mut values: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&job.job_id, &job.claim];
        values.extend_from_slice(extra);
        let changed = self.client()?.execute(sql, &values)?;
        Ok(if changed == 1 { Written::Yes } else { Written::JobGone })
    }
}

/// The locked connection (present: [`PostgresStore::client`] made sure of it).
struct ClientGuard<'a>(MutexGuard<'a, Option<Client>>);

impl std::ops::Deref for ClientGuard<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.0.as_ref().unwrap_or_else(|| unreachable!("a locked connection is present"))
    }
}

impl std::ops::DerefMut for ClientGuard<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.0.as_mut().unwrap_or_else(|| unreachable!("a locked connection is present"))
    }
}

fn connect(url: &str) -> Result<Client, StoreError> {
    let mut config: postgres::Config = url.parse()?;
    config.connect_timeout(Duration::from_secs(10));
    if config.get_application_name().is_none() {
        config.application_name("forgesyte-stream");
    }
    Ok(config.connect(NoTls)?)
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS job_store_schema (version BIGINT NOT NULL)")?;
    let found: i64 = match tx.query_opt("SELECT version FROM job_store_schema", &[])? {
        Some(row) => row.get(0),
        None => {
            tx.execute("INSERT INTO job_store_schema (version) VALUES (0)", &[])?;
            0
        }
    };
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(sql)?;
        tx.execute("UPDATE job_store_schema SET version = $1", &[&(version as i64 + 1)])?;
    }
    tx.commit()?;
    Ok(())
}

fn seconds(d: Duration) -> f64 {
    whole_seconds(d) as f64
}

impl JobStore for PostgresStore {
    fn exclusive(&self) -> bool {
        false
    }

    fn keeps_uploads(&self) -> bool {
        true
    }

    fn read_upload(&self, job_id: &str, out: &mut dyn std::io::Write) -> Result<bool, StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        let chunks: i64 = tx.query_one("SELECT COUNT(*) FROM uploads WHERE job_id = $1", &[&job_id])?.get(0);
        if chunks == 0 {
            return Ok(false);
        }
        let next = tx.prepare("SELECT data FROM uploads WHERE job_id = $1 AND seq = $2")?;
        for seq in 0..chunks as i32 {
            let row = tx.query_one(&next, &[&job_id, &seq])?;
            out.write_all(row.get::<_, &[u8]>(0))?;
        }
        tx.commit()?;
        Ok(true)
    }

    fn insert(&self, job: &NewJob, upload: &mut dyn std::io::Read) -> Result<(), StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        tx.execute(
            "INSERT INTO jobs (job_id, pipeline_id, file_name, input_path, input_bytes, status, frame_stride,
                               max_frames)
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)",
            &[
                &job.job_id,
                &job.pipeline_id,
                &job.file_name,
                &job.input_path.to_string_lossy().as_ref(),
                &(job.input_bytes as i64),
                &(job.frame_stride as i32),
                &job.max_frames.map(|m| m as i32),
            ],
        )?;
        let store = tx.prepare("INSERT INTO uploads (job_id, seq, data) VALUES ($1, $2, $3)")?;
        let mut chunk = vec![0; UPLOAD_CHUNK];
        for seq in 0_i32.. {
            let filled = fill(upload, &mut chunk)?;
            if filled == 0 {
                break;
            }
            tx.execute(&store, &[&job.job_id, &seq, &&chunk[..filled]])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn status(&self, job_id: &str) -> Result<Option<JobStatus>, StoreError> {
        let row = self
            .client()?
            .query_opt(&format!("SELECT {} FROM jobs WHERE job_id = $1", status_columns()), &[&job_id])?;
        row.map(|row| status_from_row(&row)).transpose()
    }

    fn list(&self, after: Option<&str>, limit: usize) -> Result<(Vec<JobStatus>, bool), StoreError> {
        let rows = self.client()?.query(
            &format!(
                "SELECT {} FROM jobs
                 WHERE $1::TEXT IS NULL OR seq < COALESCE((SELECT seq FROM jobs WHERE job_id = $1), 0)
                 ORDER BY seq DESC LIMIT $2",
                status_columns()
            ),
            &[&after, &(limit as i64 + 1)],
        )?;
        let mut jobs = rows.iter().map(status_from_row).collect::<Result<Vec<_>, _>>()?;
        let more = jobs.len() > limit;
        jobs.truncate(limit);
        Ok((jobs, more))
    }

    fn video(&self, job_id: &str) -> Result<Option<VideoInfo>, StoreError> {
        let row = self.client()?.query_opt("SELECT video FROM jobs WHERE job_id = $1", &[&job_id])?;
        let video: Option<String> = row.and_then(|row| row.get(0));
        Ok(video.map(|v| serde_json::from_str(&v)).transpose()?)
    }

    fn result_rows(
        &self,
        job_id: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ResultRow>, StoreError> {
        let after = after.map_or(-1, |a| a as i64);
        let rows = self.client()?.query(
            "SELECT frame_index, timestamp_ms, result FROM results
             WHERE job_id = $1 AND frame_index > $2 ORDER BY frame_index LIMIT $3",
            &[&job_id, &after, &(limit.min(i64::MAX as usize) as i64)],
        )?;
        Ok(rows
            .iter()
            .map(|row| ResultRow {
                frame_index: row.get::<_, i64>(0) as u64,
                timestamp_ms: row.get::<_, i64>(1) as u64,
                result_json: row.get(2),
            })
            .collect())
    }

    fn tracks(&self, job_id: &str) -> Result<Vec<JobTrack>, StoreError> {
        let rows = self.client()?.query(
            "SELECT track_id, class_id, class_name, first_frame, last_frame, frames_seen FROM tracks
             WHERE job_id = $1 ORDER BY track_id",
            &[&job_id],
        )?;
        Ok(rows
            .iter()
            .map(|row| JobTrack {
                track_id: row.get::<_, i64>(0) as u64,
                class_id: row.get::<_, i64>(1) as u32,
                class_name: row.get(2),
                first_frame: row.get::<_, i64>(3) as u64,
                last_frame: row.get::<_, i64>(4) as u64,
                frames_seen: row.get::<_, i64>(5) as u64,
            })
            .collect())
    }

    fn claim_next(&self, lease: Duration) -> Result<Option<ClaimedJob>, StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        // Rows another replica is claiming right now are skipped, not waited for.
        let claimed = tx.query_opt(
            "UPDATE jobs SET status = 'running', claim = claim + 1,
                             lease_until = now() + make_interval(secs => $1), updated_at = now()
             WHERE seq = (SELECT seq FROM jobs WHERE status = 'pending' ORDER BY seq
                          LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING job_id, pipeline_id, input_path, frame_stride, max_frames, claim",
            &[&seconds(lease)],
        )?;
        let Some(row) = claimed else { return Ok(None) };
        let job_id: String = row.get(0);
        let (resume_after, track_ids_after) = resume_point(&mut tx, &job_id)?;
        let job = ClaimedJob {
            job_id,
            pipeline_id: row.get(1),
            input_path: PathBuf::from(row.get::<_, String>(2)),
            frame_stride: row.get::<_, i32>(3) as u32,
            max_frames: row.get::<_, Option<i32>>(4).map(|m| m as u32),
            resume_after,
            track_ids_after,
            claim: row.get(5),
        };
        tx.commit()?;
        Ok(Some(job))
    }

    fn renew(&self, job: &ClaimedJob, lease: Duration) -> Result<Written, StoreError> {
        self.claimed_write(
            &format!("UPDATE jobs SET lease_until = now() + make_interval(secs => $3) WHERE {CLAIMED}"),
            job,
            &[&seconds(lease)],
        )
    }

    fn set_video(
        &self,
        job: &ClaimedJob,
        video: &VideoInfo,
        frames_total: u64,
    ) -> Result<Written, StoreError> {
        self.claimed_write(
            &format!("UPDATE jobs SET video = $3, frames_total = $4, updated_at = now() WHERE {CLAIMED}"),
            job,
            &[&serde_json::to_string(video)?, &(frames_total as i64)],
        )
    }

    fn add_frame(&self, job: &ClaimedJob, frame: &FrameRow<'_>) -> Result<Written, StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        let changed = tx.execute(
            &format!(
                "UPDATE jobs SET frames_processed = frames_processed + 1,
                                 detections = detections + $3,
                                 text_blocks = text_blocks + $4,
                                 progress = CASE WHEN frames_total > 0
                                     THEN LEAST(99, (frames_processed + 1) * 100 / frames_total) ELSE 0 END,
                                 updated_at = now()
                 WHERE {CLAIMED}"
            ),
            &[&job.job_id, &job.claim, &(frame.detections as i64), &(frame.text_blocks as i64)],
        )?;
        if changed == 0 {
            return Ok(Written::JobGone);
        }
        tx.execute(
            "INSERT INTO results (job_id, frame_index, timestamp_ms, result) VALUES ($1, $2, $3, $4)",
            &[&job.job_id, &(frame.frame_index as i64), &(frame.timestamp_ms as i64), &frame.result_json],
        )?;
        if !frame.tracks.is_empty() {
            let upsert = tx.prepare(
                "INSERT INTO tracks (job_id, track_id, class_id, class_name, first_frame, last_frame, frames_seen)
                 VALUES ($1, $2, $3, $4, $5, $5, 1)
                 ON CONFLICT (job_id, track_id) DO UPDATE SET last_frame = excluded.last_frame,
                                                              frames_seen = tracks.frames_seen + 1",
            )?;
            for track in frame.tracks {
                tx.execute(
                    &upsert,
                    &[
                        &job.job_id,
                        &(track.track_id as i64),
                        &i64::from(track.class_id),
                        &&*track.class_name,
                        &(frame.frame_index as i64),
                    ],
                )?;
            }
        }
        tx.commit()?;
        Ok(Written::Yes)
    }

    fn complete(&self, job: &ClaimedJob) -> Result<Written, StoreError> {
        self.claimed_write(
            &format!(
                "UPDATE jobs SET status = 'completed', progress = 100, frames_total = frames_processed,
                                 lease_until = NULL, updated_at = now()
                 WHERE {CLAIMED}"
            ),
            job,
            &[],
        )
    }

    fn fail(&self, job: &ClaimedJob, message: &str) -> Result<Written, StoreError> {
        self.claimed_write(
            &format!(
                "UPDATE jobs SET status = 'failed', error_message = $3, lease_until = NULL, updated_at = now()
                 WHERE {CLAIMED}"
            ),
            job,
            &[&message],
        )
    }

    fn requeue(&self, job: &ClaimedJob) -> Result<(), StoreError> {
        self.claimed_write(
            &format!(
                "UPDATE jobs SET status = 'pending', lease_until = NULL, updated_at = now() WHERE {CLAIMED}"
            ),
            job,
            &[],
        )?;
        Ok(())
    }

    fn recover(&self, all_running: bool) -> Result<Interrupted, StoreError> {
        let cut_off = if all_running {
            "status = 'running'"
        } else {
            "status = 'running' AND (lease_until IS NULL OR lease_until < now())"
        };
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        let failed = tx
            .query(
                &format!(
                    "UPDATE jobs SET status = 'failed', interruptions = interruptions + 1, error_message = $1,
                                     lease_until = NULL, updated_at = now()
                     WHERE {cut_off} AND interruptions + 1 >= $2 RETURNING job_id, input_path"
                ),
                &[&INTERRUPTED_MESSAGE, &(MAX_INTERRUPTIONS as i32)],
            )?
            .iter()
            .map(|row| (row.get::<_, String>(0), PathBuf::from(row.get::<_, String>(1))))
            .collect();
        let requeued = tx
            .query(
                &format!(
                    "UPDATE jobs SET status = 'pending', interruptions = interruptions + 1, lease_until = NULL,
                                     updated_at = now()
                     WHERE {cut_off} RETURNING job_id"
                ),
                &[],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect();
        tx.commit()?;
        Ok(Interrupted { requeued, failed })
    }

    fn input_paths(&self) -> Result<Vec<PathBuf>, StoreError> {
        let rows = self.client()?.query("SELECT input_path FROM jobs", &[])?;
        Ok(rows.iter().map(|row| PathBuf::from(row.get::<_, String>(0))).collect())
    }

    fn upload_bytes(&self) -> Result<u64, StoreError> {
        let row = self.client()?.query_one("SELECT COALESCE(SUM(input_bytes), 0)::BIGINT FROM jobs", &[])?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }

    fn release_upload(&self, job_id: &str) -> Result<(), StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        tx.execute("UPDATE jobs SET input_bytes = 0 WHERE job_id = $1", &[&job_id])?;
        tx.execute("DELETE FROM uploads WHERE job_id = $1", &[&job_id])?;
        tx.commit()?;
        Ok(())
    }

    fn finished_oldest_first(&self, retention: Option<Duration>) -> Result<Vec<FinishedJob>, StoreError> {
        let age = retention.map(seconds);
        let rows = self.client()?.query(
            "SELECT job_id, input_bytes,
                    COALESCE(updated_at < now() - make_interval(secs => $1::FLOAT8), FALSE)
             FROM jobs WHERE status IN ('completed', 'failed') ORDER BY updated_at, seq",
            &[&age],
        )?;
        Ok(rows
            .iter()
            .map(|row| FinishedJob {
                job_id: row.get(0),
                input_bytes: row.get::<_, i64>(1).max(0) as u64,
                expired: row.get(2),
            })
            .collect())
    }

    fn delete(&self, job_id: &str) -> Result<Option<PathBuf>, StoreError> {
        let row = self
            .client()?
            .query_opt("DELETE FROM jobs WHERE job_id = $1 RETURNING input_path", &[&job_id])?;
        Ok(row.map(|row| PathBuf::from(row.get::<_, String>(0))))
    }

    fn input_path(&self, job_id: &str) -> Result<Option<PathBuf>, StoreError> {
        let row = self.client()?.query_opt("SELECT input_path FROM jobs WHERE job_id = $1", &[&job_id])?;
        Ok(row.map(|row| PathBuf::from(row.get::<_, String>(0))))
    }
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn fill(input: &mut dyn std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Where a claimed job's earlier runs stopped: its last stored frame and its highest stored track id.
fn resume_point(tx: &mut Transaction<'_>, job_id: &str) -> Result<(Option<u64>, u64), StoreError> {
    let last: Option<i64> =
        tx.query_one("SELECT MAX(frame_index) FROM results WHERE job_id = $1", &[&job_id])?.get(0);
    let tracks: i64 = tx
        .query_one("SELECT COALESCE(MAX(track_id), 0)::BIGINT FROM tracks WHERE job_id = $1", &[&job_id])?
        .get(0);
    Ok((last.map(|i| i as u64), tracks.max(0) as u64))
}

fn status_from_row(row: &Row) -> Result<JobStatus, StoreError> {
    let status: String = row.get(3);
    let Some(state) = JobState::parse(&status) else { return Err(StoreError::Status(status)) };
    Ok(JobStatus {
        job_id: row.get(0),
        pipeline_id: row.get(1),
        file_name: row.get(2),
        status: state,
        progress: row.get::<_, i32>(4).clamp(0, 100) as u8,
        frame_stride: row.get::<_, i32>(5) as u32,
        max_frames: row.get::<_, Option<i32>>(6).map(|m| m as u32),
        frames_total: row.get::<_, Option<i64>>(7).map(|n| n as u64),
        frames_processed: row.get::<_, i64>(8) as u64,
        detections: row.get::<_, i64>(9) as u64,
        text_blocks: row.get::<_, i64>(10) as u64,
        error_message: row.get(11),
        created_at: row.get(12),
        updated_at: row.get(13),
    })
}
