//! The job store: jobs, their per-frame results and tracks, behind one trait with two implementations.
//!
//! - [`SqliteStore`]: one SQLite file (WAL mode) under the data directory, owned by one process — the default;
//! - [`PostgresStore`]: a PostgreSQL database shared by several replicas (`STREAM_JOB_STORE=postgres://…`).
//!
//! Both pass one test suite (`tests/store.rs`). Every method is synchronous and short; async callers go
//! through `spawn_blocking`.
//!
//! **Claims and leases.** A worker claims a job (the oldest `pending` one; PostgreSQL skips rows another
//! replica is claiming, `FOR UPDATE SKIP LOCKED`) and holds a lease on it until `lease_until`, renewed while it
//! runs ([`JobStore::renew`]). Each claim gets a new claim number ([`ClaimedJob::claim`]); every write of the
//! run names it, so a replica that lost its lease (it stalled, or another one took the job over) can write
//! nothing more for that job — no frame is stored twice. A job whose lease expired is taken back by
//! [`JobStore::recover`] (any replica, on its next look for work): requeued, or failed once it was cut off
//! [`MAX_INTERRUPTIONS`] times, so a video that kills its worker is not retried forever.

mod postgres;
mod sqlite;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use stream_protocol::http::{JobStatus, JobTrack, VideoInfo};

pub use self::postgres::PostgresStore;
pub use self::sqlite::SqliteStore;

/// A job whose processing was cut off this many times (its process died, or its lease expired) is failed,
/// not requeued: it may be what kills the process.
pub const MAX_INTERRUPTIONS: i64 = 2;

/// The message of a job failed for that reason.
pub const INTERRUPTED_MESSAGE: &str = "The server stopped twice while processing this video; it is not \
     retried again (if the video is what stopped it, the server log says more)";

/// A store failure: the database could not be opened, migrated, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The SQLite file could not be opened.
    #[error("job database {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// A SQLite statement failed.
    #[error("job database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A PostgreSQL connection or statement failed.
    #[error("job database: {0}")]
    Postgres(#[from] ::postgres::Error),
    /// Reading an upload to store it, or writing one out, failed.
    #[error("job upload: {0}")]
    Io(#[from] std::io::Error),
    /// A stored JSON text does not parse.
    #[error("job database: stored result is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A stored status is not one this build knows.
    #[error("job database: unknown status `{0}`")]
    Status(String),
    /// The schema is newer than this build.
    #[error("job database was written by a newer version (schema {found}, this build knows {known})")]
    TooNew {
        /// The database's schema version.
        found: i64,
        /// This build's.
        known: i64,
    },
}

/// What a new job needs.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Its id (a UUID from the API).
    pub job_id: String,
    /// The pipeline to run.
    pub pipeline_id: String,
    /// The uploaded file's name, for display.
    pub file_name: String,
    /// Where the upload is on disk.
    pub input_path: PathBuf,
    /// The upload's size, counted against the storage limit.
    pub input_bytes: u64,
    /// Every `frame_stride`-th frame is processed.
    pub frame_stride: u32,
    /// At most this many frames.
    pub max_frames: Option<u32>,
}

/// A job a worker has claimed: what it needs to process it, and where a previous run stopped.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// The job.
    pub job_id: String,
    /// Its pipeline.
    pub pipeline_id: String,
    /// Its upload.
    pub input_path: PathBuf,
    /// Its frame stride.
    pub frame_stride: u32,
    /// Its frame limit.
    pub max_frames: Option<u32>,
    /// The last frame stored by an earlier run of this job (after a restart), if any.
    pub resume_after: Option<u64>,
    /// The highest `track_id` an earlier run stored (0: none). A resumed run's tracker starts again at 1, so
    /// its ids are shifted above this one: ids stay unique within the job.
    pub track_ids_after: u64,
    /// This claim's number: the run's writes name it, and are refused once another claim replaced it.
    pub claim: i64,
}

/// One processed frame and what it adds to the job's counters.
#[derive(Debug)]
pub struct FrameRow<'a> {
    /// The frame's index in the video.
    pub frame_index: u64,
    /// Its presentation time.
    pub timestamp_ms: u64,
    /// Its result, as JSON text (stored as is).
    pub result_json: &'a str,
    /// Detections in the result.
    pub detections: u64,
    /// OCR blocks in the result.
    pub text_blocks: u64,
    /// The tracks matched in this frame.
    pub tracks: &'a [TrackSeen],
}

/// A track matched in a processed frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackSeen {
    /// The track's id in the job.
    pub track_id: u64,
    /// Its class.
    pub class_id: u32,
    /// Its class name.
    pub class_name: std::sync::Arc<str>,
}

/// What [`JobStore::recover`] did.
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
    /// The job.
    pub job_id: String,
    /// Bytes its upload still holds.
    pub input_bytes: u64,
    /// Finished longer ago than the retention age.
    pub expired: bool,
}

/// One stored frame, its result as stored JSON text.
#[derive(Debug, Clone)]
pub struct ResultRow {
    /// The frame's index in the video.
    pub frame_index: u64,
    /// Its presentation time.
    pub timestamp_ms: u64,
    /// Its result, as stored.
    pub result_json: String,
}

/// Whether a write of a claimed job's run was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// It was.
    Yes,
    /// The job is no longer this run's: deleted, or claimed again after this run's lease expired. Not an
    /// error, but the run must stop.
    JobGone,
}

/// The job store: one implementation per database, one test suite for both.
pub trait JobStore: Send + Sync + std::fmt::Debug {
    /// Whether one process owns the store (SQLite): at start-up every job left `running` was cut off by
    /// that process's death. A shared store (PostgreSQL) relies on expired leases instead.
    fn exclusive(&self) -> bool;

    /// Whether uploads live in the store, reachable from every replica (PostgreSQL), rather than only on the
    /// receiving replica's disk (SQLite).
    fn keeps_uploads(&self) -> bool;

    /// Records a new `pending` job. A store that [keeps uploads](Self::keeps_uploads) reads the video from
    /// `upload` in the same transaction, a chunk at a time, so no replica sees the job before its video; the
    /// others ignore `upload` (the file stays at `job.input_path`).
    fn insert(&self, job: &NewJob, upload: &mut dyn Read) -> Result<(), StoreError>;

    /// Copies a job's stored upload into `out`, a chunk at a time; `false` when the store holds none for it.
    fn read_upload(&self, job_id: &str, out: &mut dyn Write) -> Result<bool, StoreError>;

    /// A job's status object, if the job exists.
    fn status(&self, job_id: &str) -> Result<Option<JobStatus>, StoreError>;

    /// At most `limit` jobs, newest first, starting after the job `after` (a `job_id` from an earlier page;
    /// `None`: the newest). The second value is whether more jobs follow.
    fn list(&self, after: Option<&str>, limit: usize) -> Result<(Vec<JobStatus>, bool), StoreError>;

    /// The stored video description of a job.
    fn video(&self, job_id: &str) -> Result<Option<VideoInfo>, StoreError>;

    /// At most `limit` stored frames after frame `after` (`None`: from the first), in video order, each with
    /// its result as the stored JSON text (spliced into responses as is, never parsed again).
    fn result_rows(
        &self,
        job_id: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ResultRow>, StoreError>;

    /// Every track of a job, by id.
    fn tracks(&self, job_id: &str) -> Result<Vec<JobTrack>, StoreError>;

    /// Claims the oldest pending job for a worker: it becomes `running`, leased for `lease`.
    fn claim_next(&self, lease: Duration) -> Result<Option<ClaimedJob>, StoreError>;

    /// Extends a claimed job's lease to `lease` from now; [`Written::JobGone`] when it is no longer this run's.
    fn renew(&self, job: &ClaimedJob, lease: Duration) -> Result<Written, StoreError>;

    /// Records what the worker learnt from the video's index.
    fn set_video(
        &self,
        job: &ClaimedJob,
        video: &VideoInfo,
        frames_total: u64,
    ) -> Result<Written, StoreError>;

    /// Stores one frame's result, its tracks and the job's new counters in one transaction.
    fn add_frame(&self, job: &ClaimedJob, frame: &FrameRow<'_>) -> Result<Written, StoreError>;

    /// The run finished every frame.
    fn complete(&self, job: &ClaimedJob) -> Result<Written, StoreError>;

    /// The run failed; `message` becomes the job's `error_message`.
    fn fail(&self, job: &ClaimedJob, message: &str) -> Result<Written, StoreError>;

    /// Puts a running job back in the queue (shutdown).
    fn requeue(&self, job: &ClaimedJob) -> Result<(), StoreError>;

    /// Jobs cut off mid-run — whose lease expired, or with `all_running` every `running` one (at the start-up
    /// of the process that owns an [`exclusive`](Self::exclusive) store) — go back to `pending`, unless this
    /// has happened [`MAX_INTERRUPTIONS`] times: then they are failed with [`INTERRUPTED_MESSAGE`].
    fn recover(&self, all_running: bool) -> Result<Interrupted, StoreError>;

    /// Every upload path a job refers to (to find files no job owns).
    fn input_paths(&self) -> Result<Vec<PathBuf>, StoreError>;

    /// Bytes of uploads held by jobs that still have theirs (see [`release_upload`](Self::release_upload)).
    fn upload_bytes(&self) -> Result<u64, StoreError>;

    /// Records that a job's upload was removed (it failed): it no longer counts against the quota, and a store
    /// that keeps uploads drops its copy.
    fn release_upload(&self, job_id: &str) -> Result<(), StoreError>;

    /// Finished (completed or failed) jobs, oldest first, with their upload's size, and whether each finished
    /// longer than `retention` ago (`None`: none has).
    fn finished_oldest_first(&self, retention: Option<Duration>) -> Result<Vec<FinishedJob>, StoreError>;

    /// Removes a job, its results and tracks; returns its upload's path if it existed.
    fn delete(&self, job_id: &str) -> Result<Option<PathBuf>, StoreError>;

    /// The upload's path of a job, if the job exists.
    fn input_path(&self, job_id: &str) -> Result<Option<PathBuf>, StoreError>;
}

/// Whole seconds of a lease or an age, for SQL (at least one).
fn whole_seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs().max(1)).unwrap_or(i64::MAX)
}
