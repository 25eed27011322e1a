//! The job service (docs/jobs.md): uploaded MP4s processed in the background by a few workers through the
//! embedder's [`FrameRunner`], persisted in the store so that a restart loses none.

use std::collections::HashSet;
use std::ffi::OsString;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics::Counter;
use pipeline_dag::stages::Frame;
use stream_protocol::FrameResult;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::store::{
    self, ClaimedJob, FrameRow, Interrupted, JobStore, NewJob, PostgresStore, SqliteStore, StoreError,
    TrackSeen, Written,
};
use crate::video::{Sampling, VideoError, VideoFrames};

/// How often an idle worker looks for pending jobs even without a wake-up (jobs submitted by another replica
/// sharing the store, or requeued ones).
const POLL: Duration = Duration::from_secs(2);

/// Cached copies of stored videos (PostgreSQL store) unused for this long are removed.
const CACHE_IDLE: Duration = Duration::from_secs(3600);

/// How often finished jobs are checked against the retention settings.
const SWEEP: Duration = Duration::from_secs(60);

/// Runs a job's frames: the embedder's pipelines (stream-server's shared inference pool).
///
/// Called on a blocking thread of the tokio runtime (the worker's), one frame at a time per worker; it may
/// block, e.g. waiting for a share of an inference pool.
pub trait FrameRunner: Send + Sync + 'static {
    /// Whether `pipeline_id` names a pipeline (a job with another is failed before its first frame).
    fn is_valid_pipeline(&self, pipeline_id: &str) -> bool;

    /// Runs one decoded frame of a job, the next of the job's stream: `stream` is `None` at the job's first
    /// frame and keeps whatever the runner puts there (a tracker's state) until the job's run ends; `at` is
    /// the frame's time in the video.
    fn run_frame(
        &self,
        pipeline_id: &str,
        frame_index: u64,
        at: Duration,
        frame: &Frame,
        stream: &mut Option<Box<dyn std::any::Any + Send>>,
    ) -> Result<FrameResult, RunError>;
}

/// Why a frame could not be run; the job fails with "Pipeline failed at frame N: `detail`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunError {
    /// What the job's error message says: nothing the client should not see.
    pub detail: String,
    /// The cause when it is the server's (logged, never shown).
    pub internal: Option<String>,
}

/// Video job metrics: handles of the embedder's metrics recorder (all no-ops by default).
#[derive(Debug, Clone)]
pub struct JobMetrics {
    /// `stream_job_frames_processed`: video frames run through a pipeline by job workers.
    pub frames_processed: Counter,
    /// `stream_jobs_submitted` (counted by the embedder's submit route).
    pub submitted: Counter,
    /// `stream_jobs_finished{status="completed"}`.
    pub completed: Counter,
    /// `stream_jobs_finished{status="failed"}`.
    pub failed: Counter,
}

impl Default for JobMetrics {
    fn default() -> Self {
        Self {
            frames_processed: Counter::noop(),
            submitted: Counter::noop(),
            completed: Counter::noop(),
            failed: Counter::noop(),
        }
    }
}

/// Why the job service could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The uploads folder could not be created.
    #[error("cannot create the data directory {}: {source}", path.display())]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The store could not be opened, migrated or read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The job service: the store, where uploads go, and what workers need.
pub struct Jobs {
    store: Box<dyn JobStore>,
    /// How long a claim holds without renewal (renewed every third of it while the job runs).
    lease: Duration,
    uploads: PathBuf,
    runner: Arc<dyn FrameRunner>,
    max_pixels: u64,
    /// The largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Finished jobs older than this are deleted (`None`: kept until deleted by hand).
    retention: Option<Duration>,
    /// The most bytes of uploads kept on disk, including those arriving.
    max_storage_bytes: u64,
    /// Bytes of uploads being received right now (not yet in the store).
    arriving: AtomicU64,
    /// An upload must bring `upload_min_rate` bytes per second over each window of this length.
    pub body_timeout: Duration,
    /// Bytes per second an upload must bring (see `body_timeout`).
    pub upload_min_rate: u64,
    workers: usize,
    wake: Notify,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs").field("uploads", &self.uploads).field("workers", &self.workers).finish()
    }
}

/// Which database holds the jobs.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// `jobs.sqlite3` in the data directory, owned by this process (one replica runs jobs).
    Sqlite,
    /// A PostgreSQL database shared by every replica: a `postgres://` URL.
    Postgres(String),
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite => f.write_str("Sqlite"),
            // The URL may hold a password.
            Self::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

impl std::fmt::Display for StoreConfig {
    /// `sqlite`, or the URL with its password masked (`postgres://app:***@db/jobs`): safe to log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self::Postgres(url) = self else { return f.write_str("sqlite") };
        // Not a URL (a `host=… password=…` string set in code): nothing of it is shown.
        let Some((scheme, rest)) = url.split_once("://") else { return f.write_str("postgres (..)") };
        match rest.rsplit_once('@') {
            Some((user_info, host)) if user_info.contains(':') => {
                let user = user_info.split(':').next().unwrap_or_default();
                write!(f, "{scheme}://{user}:***@{host}")
            }
            _ => f.write_str(url),
        }
    }
}

/// A job store named by neither `sqlite` nor a `postgres://` URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sqlite or a postgres:// URL")]
pub struct ParseStoreError;

impl std::str::FromStr for StoreConfig {
    type Err = ParseStoreError;

    /// `sqlite` (in any case) or a `postgres://` / `postgresql://` URL, surrounding spaces ignored.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("sqlite") {
            Ok(Self::Sqlite)
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Ok(Self::Postgres(text.to_owned()))
        } else {
            Err(ParseStoreError)
        }
    }
}

/// Settings of the job service (stream-server takes them from its configuration; docs/operations.md).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JobSettings {
    /// The SQLite store (with [`StoreConfig::Sqlite`]) and the `uploads/` folder live here.
    pub data_dir: PathBuf,
    /// The job store.
    pub store: StoreConfig,
    /// How long a worker's claim on a job holds without renewal; renewed every third of it while the job runs.
    /// A replica that dies has its job taken over by another once this has passed.
    pub lease: Duration,
    /// Background workers (0: jobs are accepted but never run).
    pub workers: usize,
    /// The largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Video frames over this many pixels fail their job.
    pub max_pixels: u64,
    /// Finished jobs older than this are deleted (`None`: kept).
    pub retention: Option<Duration>,
    /// The most bytes of uploads kept on disk, including those arriving.
    pub max_storage_bytes: u64,
    /// An upload must bring `upload_min_rate` bytes per second over each window of this length.
    pub body_timeout: Duration,
    /// Bytes per second.
    pub upload_min_rate: u64,
}

impl JobSettings {
    /// The server's defaults (docs/operations.md) with the store under `data_dir`.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            store: StoreConfig::Sqlite,
            lease: Duration::from_secs(30),
            workers: 1,
            max_upload_bytes: 500 * 1024 * 1024,
            max_pixels: 40_000_000,
            retention: Some(Duration::from_secs(168 * 3600)),
            max_storage_bytes: 10 * 1024 * 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            upload_min_rate: 16 * 1024,
        }
    }
}

impl Jobs {
    /// Opens the store under `settings.data_dir` and puts jobs a previous process left running back in the queue.
    pub fn open(settings: &JobSettings, runner: Arc<dyn FrameRunner>) -> Result<Self, OpenError> {
        let uploads = settings.data_dir.join("uploads");
        std::fs::create_dir_all(&uploads)
            .map_err(|source| OpenError::DataDir { path: uploads.clone(), source })?;
        let store: Box<dyn JobStore> = match &settings.store {
            StoreConfig::Sqlite => Box::new(SqliteStore::open(&settings.data_dir)?),
            StoreConfig::Postgres(url) => Box::new(PostgresStore::open(url)?),
        };
        // The process that owns an exclusive store is gone: whatever it left running was cut off.
        let interrupted = store.recover(store.exclusive())?;
        handle_interrupted(&*store, &interrupted);
        let owned = store.input_paths()?;
        remove_orphans(&uploads, &owned.iter().filter_map(|p| p.file_name()).map(OsString::from).collect());
        let jobs = Self {
            store,
            lease: settings.lease,
            uploads,
            runner,
            max_pixels: settings.max_pixels,
            max_upload_bytes: settings.max_upload_bytes,
            retention: settings.retention,
            max_storage_bytes: settings.max_storage_bytes,
            arriving: AtomicU64::new(0),
            body_timeout: settings.body_timeout,
            upload_min_rate: settings.upload_min_rate,
            workers: settings.workers,
            wake: Notify::new(),
        };
        jobs.sweep(0)?;
        Ok(jobs)
    }

    /// Applies the retention settings: deletes finished jobs (their results and uploads) older than the
    /// retention age, then the oldest finished jobs while the uploads on disk, plus `incoming` bytes, exceed the
    /// storage limit. Returns how many jobs it deleted.
    pub fn sweep(&self, incoming: u64) -> Result<usize, StoreError> {
        self.sweep_cache();
        let mut stored = self.store.upload_bytes()?;
        let arriving = self.arriving.load(Ordering::Acquire);
        let finished = self.store.finished_oldest_first(self.retention)?;
        // Finished jobs are deleted for room only if that makes enough: never for an upload that will be refused.
        let evictable: u64 = finished.iter().map(|job| job.input_bytes).sum();
        let wanted = arriving.saturating_add(incoming);
        let can_fit = stored.saturating_sub(evictable).saturating_add(wanted) <= self.max_storage_bytes;
        let mut deleted = 0;
        for job in finished {
            let over = can_fit && stored.saturating_add(wanted) > self.max_storage_bytes;
            if !job.expired && !over {
                break;
            }
            self.delete(&job.job_id)?;
            stored = stored.saturating_sub(job.input_bytes);
            deleted += 1;
            let reason = if job.expired { "retention_age" } else { "storage_limit" };
            tracing::info!(job_id = job.job_id, reason, "job_expired");
        }
        Ok(deleted)
    }

    /// Room for a new upload of `expected` bytes (its declared length; `None`: unknown, room for the upload
    /// limit is made) under the storage limit: the oldest finished jobs are deleted to make it. Reserves what is
    /// left, up to the upload limit, until the returned guard is dropped (the upload is then in the store, or
    /// gone).
    pub fn reserve_upload(self: &Arc<Self>, expected: Option<u64>) -> Result<UploadReservation, StoreError> {
        self.sweep(expected.unwrap_or(self.max_upload_bytes).min(self.max_upload_bytes))?;
        let stored = self.store.upload_bytes()?;
        let arriving = self.arriving.load(Ordering::Acquire);
        let room = self.max_storage_bytes.saturating_sub(stored).saturating_sub(arriving);
        let bytes = room.min(self.max_upload_bytes);
        self.arriving.fetch_add(bytes, Ordering::AcqRel);
        Ok(UploadReservation { jobs: Arc::clone(self), bytes })
    }

    /// Runs [`sweep`](Self::sweep) every minute until `shutdown`.
    pub fn start_sweeper(self: &Arc<Self>, tracker: &TaskTracker, shutdown: &CancellationToken) {
        let (jobs, shutdown) = (Arc::clone(self), shutdown.clone());
        tracker.spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(SWEEP) => {}
                }
                let jobs = Arc::clone(&jobs);
                match tokio::task::spawn_blocking(move || jobs.sweep(0)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => tracing::error!(error = %error, "job retention sweep failed"),
                    Err(error) => tracing::error!(error = %error, "job retention sweep failed"),
                }
            }
        });
    }

    /// Starts the workers on `tracker`; they stop (requeueing what they were doing) when `shutdown` fires.
    pub fn start_workers(
        self: &Arc<Self>,
        tracker: &TaskTracker,
        shutdown: &CancellationToken,
        metrics: Arc<JobMetrics>,
    ) {
        for worker in 0..self.workers {
            let (jobs, shutdown, metrics) = (Arc::clone(self), shutdown.clone(), Arc::clone(&metrics));
            tracker.spawn(async move { jobs.worker(worker, shutdown, metrics).await });
        }
    }

    /// Records a new job whose upload is already at `job.input_path`; a store that keeps uploads (PostgreSQL)
    /// takes a copy in the same transaction, and the local file is removed: every replica reads it from there.
    pub fn insert(&self, job: &NewJob) -> Result<(), StoreError> {
        let mut file = std::fs::File::open(&job.input_path)?;
        self.store.insert(job, &mut file)?;
        if self.store.keeps_uploads() {
            remove_file_logged(&job.job_id, &job.input_path);
        }
        Ok(())
    }

    /// A local copy of a job's video for `job`'s worker: the upload itself with SQLite; with a store that keeps
    /// uploads, a copy written chunk by chunk into the uploads folder (removed when the run ends). `None`: the
    /// video is gone.
    fn local_video(&self, job: &ClaimedJob) -> Result<Option<PathBuf>, StoreError> {
        if !self.store.keeps_uploads() {
            return Ok(job.input_path.is_file().then(|| job.input_path.clone()));
        }
        let path = self.upload_path(&job.job_id);
        if path.is_file() {
            return Ok(Some(path));
        }
        self.copy_out(&job.job_id, &path)
    }

    /// Writes the stored upload of `job_id` to `path` (through a `.part` file, renamed when complete).
    fn copy_out(&self, job_id: &str, path: &Path) -> Result<Option<PathBuf>, StoreError> {
        let partial = path.with_extension("part");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&partial)?);
        let found = self.store.read_upload(job_id, &mut out).and_then(|found| {
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            Ok(found)
        });
        if !matches!(found, Ok(true)) {
            let _ = std::fs::remove_file(&partial);
            return found.map(|_| None);
        }
        std::fs::rename(&partial, path)?;
        Ok(Some(path.to_owned()))
    }

    /// The path of a job's video for the API to serve (`None`: no such job or video). With a store that keeps
    /// uploads, a local copy under `cache/` made on first request and removed by the sweeper an hour after
    /// its last use.
    pub fn video_file(&self, job_id: &str) -> Result<Option<PathBuf>, StoreError> {
        let Some(input_path) = self.store.input_path(job_id)? else { return Ok(None) };
        if !self.store.keeps_uploads() {
            return Ok(Some(input_path));
        }
        let cache = self.cache_dir();
        std::fs::create_dir_all(&cache)?;
        let path = cache.join(format!("{job_id}.mp4"));
        if path.is_file() {
            // Marks its use for the sweeper.
            let _ = std::fs::File::options()
                .append(true)
                .open(&path)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()));
            return Ok(Some(path));
        }
        self.copy_out(job_id, &path)
    }

    fn cache_dir(&self) -> PathBuf {
        self.uploads.with_file_name("cache")
    }

    /// Removes cached videos unused for an hour (see [`video_file`](Self::video_file)).
    fn sweep_cache(&self) {
        let Ok(entries) = std::fs::read_dir(self.cache_dir()) else { return };
        for entry in entries.flatten() {
            let idle = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
            if idle.is_some_and(|idle| idle > CACHE_IDLE) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Deletes a job, its results and its upload (and this replica's cached copy); `false`: no such job. A
    /// running job stops at its next frame.
    pub fn delete(&self, job_id: &str) -> Result<bool, StoreError> {
        let Some(path) = self.store.delete(job_id)? else { return Ok(false) };
        remove_file_logged(job_id, &path);
        if self.store.keeps_uploads() {
            remove_file_logged(job_id, &self.cache_dir().join(format!("{job_id}.mp4")));
        }
        Ok(true)
    }

    /// Where job `job_id`'s upload lives.
    pub fn upload_path(&self, job_id: &str) -> PathBuf {
        self.uploads.join(format!("{job_id}.mp4"))
    }

    /// Where job `job_id`'s upload is written while it arrives.
    pub fn partial_path(&self, job_id: &str) -> PathBuf {
        self.uploads.join(format!("{job_id}.part"))
    }

    /// The store: what the API reads and writes.
    pub fn store(&self) -> &dyn JobStore {
        &*self.store
    }

    /// The runner jobs' frames go through.
    pub fn runner(&self) -> &dyn FrameRunner {
        &*self.runner
    }

    /// Tells an idle worker there is work.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    async fn worker(self: Arc<Self>, worker: usize, shutdown: CancellationToken, metrics: Arc<JobMetrics>) {
        loop {
            // A job interrupted by shutdown is back in the queue: it must not be claimed again by this process.
            if shutdown.is_cancelled() {
                return;
            }
            let claimed = {
                let jobs = Arc::clone(&self);
                tokio::task::spawn_blocking(move || {
                    // Jobs whose lease expired (their replica died or stalled) go back to the queue first.
                    let interrupted = jobs.store.recover(false)?;
                    handle_interrupted(&*jobs.store, &interrupted);
                    jobs.store.claim_next(jobs.lease)
                })
                .await
            };
            match claimed {
                Ok(Ok(Some(job))) => {
                    self.run_leased(worker, Arc::new(job), &shutdown, &metrics).await;
                    continue;
                }
                Ok(Ok(None)) => {}
                Ok(Err(error)) => tracing::error!(worker, error = %error, "cannot claim a job"),
                Err(error) => tracing::error!(worker, error = %error, "job worker task failed"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Runs a claimed job on a blocking thread, renewing its lease every third of the lease meanwhile; a
    /// renewal that finds the job no longer this run's (deleted, or taken over after the lease expired) stops
    /// the run at its next frame.
    async fn run_leased(
        self: &Arc<Self>,
        worker: usize,
        job: Arc<ClaimedJob>,
        shutdown: &CancellationToken,
        metrics: &Arc<JobMetrics>,
    ) {
        let stop = shutdown.child_token();
        let run = {
            let (jobs, job, stop, metrics) =
                (Arc::clone(self), Arc::clone(&job), stop.clone(), Arc::clone(metrics));
            tokio::task::spawn_blocking(move || jobs.process(&job, &stop, &metrics))
        };
        tokio::pin!(run);
        let mut renewals =
            tokio::time::interval_at(tokio::time::Instant::now() + self.lease / 3, self.lease / 3);
        renewals.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                ended = &mut run => {
                    if let Err(error) = ended {
                        tracing::error!(worker, error = %error, "job worker task failed");
                    }
                    return;
                }
                _ = renewals.tick() => {
                    let (jobs, leased) = (Arc::clone(self), Arc::clone(&job));
                    match tokio::task::spawn_blocking(move || jobs.store.renew(&leased, jobs.lease)).await {
                        Ok(Ok(Written::Yes)) => {}
                        Ok(Ok(Written::JobGone)) => {
                            tracing::warn!(job_id = job.job_id, "job_lease_lost");
                            stop.cancel();
                        }
                        // The lease may still be renewed at the next tick, before it expires.
                        Ok(Err(error)) => tracing::error!(job_id = job.job_id, error = %error, "cannot renew a job's lease"),
                        Err(error) => tracing::error!(job_id = job.job_id, error = %error, "cannot renew a job's lease"),
                    }
                }
            }
        }
    }

    /// Runs one claimed job to its end on the calling (blocking) thread and records how it ended.
    fn process(&self, job: &ClaimedJob, shutdown: &CancellationToken, metrics: &JobMetrics) {
        let job_id = job.job_id.as_str();
        tracing::info!(job_id, pipeline_id = job.pipeline_id, resume_after = job.resume_after, "job_started");
        // A panic in a decoder or a pipeline fails this job, never the worker or the server.
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| self.run(job, shutdown, metrics)))
            .unwrap_or_else(|_| Err(JobFailure::Internal("panic while processing the video".into())));
        let recorded = match outcome {
            Ok(Ended::Completed) => self.store.complete(job).map(|written| {
                if written == Written::Yes {
                    metrics.completed.increment(1);
                    tracing::info!(job_id, "job_completed");
                }
            }),
            Ok(Ended::Gone) => {
                tracing::info!(job_id, "job_deleted_while_running");
                Ok(())
            }
            Ok(Ended::Stopped) => {
                tracing::info!(job_id, "job_requeued");
                self.store.requeue(job)
            }
            Err(failure) => {
                let message = failure.to_string();
                tracing::warn!(job_id, error_message = message, "job_failed");
                self.store.fail(job, &message).map(|written| {
                    if written == Written::Yes {
                        metrics.failed.increment(1);
                        // Nothing will read a failed job's video again: its disk space goes back.
                        remove_upload(&*self.store, job_id, &job.input_path);
                    }
                })
            }
        };
        if let Err(error) = recorded {
            tracing::error!(job_id, error = %error, "cannot record how the job ended");
        }
    }

    fn run(
        &self,
        job: &ClaimedJob,
        shutdown: &CancellationToken,
        metrics: &JobMetrics,
    ) -> Result<Ended, JobFailure> {
        if !self.runner.is_valid_pipeline(&job.pipeline_id) {
            return Err(JobFailure::Pipeline(format!("Unknown pipeline_id: {}", job.pipeline_id)));
        }
        let Some(video) = self.local_video(job)? else {
            return Err(JobFailure::Internal("the uploaded file is missing from the data directory".into()));
        };
        let _local_copy = self.store.keeps_uploads().then(|| RemoveOnDrop(video.clone()));
        let sampling = Sampling { stride: job.frame_stride, max_frames: job.max_frames };
        let mut frames = VideoFrames::open(&video, sampling, self.max_pixels)?;
        if self.store.set_video(job, &frames.info(), frames.frames_total())? == Written::JobGone {
            return Ok(Ended::Gone);
        }
        // The job's stream: a tracked pipeline follows objects from frame to frame, stepped by the frames' times
        // in the video (so a frame stride is a longer step). A job resumed after a restart starts a new stream.
        let mut stream = None;
        let mut tracks_seen = Vec::new();
        while let Some(video_frame) = frames.next_frame()? {
            if shutdown.is_cancelled() {
                return Ok(Ended::Stopped);
            }
            if job.resume_after.is_some_and(|last| video_frame.index <= last) {
                continue;
            }
            let at = Duration::from_millis(video_frame.timestamp_ms);
            let mut result = self
                .runner
                .run_frame(&job.pipeline_id, video_frame.index, at, &video_frame.frame, &mut stream)
                .map_err(|error| {
                    if let Some(reason) = &error.internal {
                        tracing::error!(job_id = job.job_id, frame_index = video_frame.index, %reason, "job_pipeline_error");
                    }
                    let detail = error.detail;
                    JobFailure::Pipeline(format!("Pipeline failed at frame {}: {detail}", video_frame.index))
                })?;
            job_tracks(&mut result, job.track_ids_after, &mut tracks_seen);
            let result_json = serde_json::to_string(&result)
                .map_err(|e| JobFailure::Internal(format!("cannot serialise a result: {e}")))?;
            let row = FrameRow {
                frame_index: video_frame.index,
                timestamp_ms: video_frame.timestamp_ms,
                result_json: &result_json,
                detections: result.detections.as_ref().map_or(0, |d| d.len() as u64),
                text_blocks: result.ocr.as_ref().map_or(0, |o| o.blocks.len() as u64),
                tracks: &tracks_seen,
            };
            if self.store.add_frame(job, &row)? == Written::JobGone {
                return Ok(Ended::Gone);
            }
            metrics.frames_processed.increment(1);
        }
        Ok(Ended::Completed)
    }
}

/// Gathers the tracks matched in a frame's result into `seen` (the caller's buffer, reused from frame to
/// frame), for the job's track list; a resumed run's ids are first shifted above those an earlier run stored.
fn job_tracks(result: &mut FrameResult, ids_after: u64, seen: &mut Vec<TrackSeen>) {
    seen.clear();
    for detection in result.detections.iter_mut().flatten() {
        if let Some(id) = detection.track_id.as_mut() {
            *id += ids_after;
            let class_name = Arc::clone(&detection.class_name);
            seen.push(TrackSeen { track_id: *id, class_id: detection.class_id, class_name });
        }
    }
}

/// How a job run ended without failing.
enum Ended {
    Completed,
    /// Deleted while it ran.
    Gone,
    /// Interrupted by shutdown; it goes back to the queue.
    Stopped,
}

/// Why a job failed: the message becomes its `error_message`.
#[derive(Debug, thiserror::Error)]
enum JobFailure {
    #[error(transparent)]
    Video(#[from] VideoError),
    #[error("{0}")]
    Pipeline(String),
    #[error("Internal error: {0}")]
    Internal(String),
    #[error("Internal error: {0}")]
    Store(#[from] StoreError),
}

/// Bytes set aside for one arriving upload under the storage limit; given back when dropped.
#[derive(Debug)]
pub struct UploadReservation {
    jobs: Arc<Jobs>,
    /// The most the upload may take: the smaller of the upload limit and the room left.
    pub bytes: u64,
}

impl Drop for UploadReservation {
    fn drop(&mut self) {
        self.jobs.arriving.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// Removes a file when dropped (a worker's local copy of a stored video).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Logs what [`JobStore::recover`] did and removes the uploads of the jobs it failed.
fn handle_interrupted(store: &dyn JobStore, interrupted: &Interrupted) {
    for job_id in &interrupted.requeued {
        tracing::warn!(job_id, "job_requeued");
    }
    for (job_id, path) in &interrupted.failed {
        tracing::error!(job_id, error_message = store::INTERRUPTED_MESSAGE, "job_failed");
        remove_upload(store, job_id, path);
    }
}

/// Removes a job's upload from disk and stops counting it against the storage limit.
fn remove_upload(store: &dyn JobStore, job_id: &str, path: &Path) {
    remove_file_logged(job_id, path);
    if let Err(error) = store.release_upload(job_id) {
        tracing::error!(job_id, error = %error, "cannot record an upload's removal");
    }
}

fn remove_file_logged(job_id: &str, path: &Path) {
    if let Err(error) = std::fs::remove_file(path)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(job_id, error = %error, "cannot remove a job's upload");
    }
}

/// Removes files in the uploads folder that no job owns: uploads that never completed (`.part`, the process
/// died mid-upload) and any other leftover.
/// `owned` holds the file names jobs refer to (names, not paths: the data directory may be spelled differently
/// from one run to the next).
fn remove_orphans(uploads: &Path, owned: &HashSet<OsString>) {
    let Ok(entries) = std::fs::read_dir(uploads) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if !owned.contains(&entry.file_name()) && entry.file_type().is_ok_and(|t| t.is_file()) {
            tracing::info!(path = %path.display(), "orphan_upload_removed");
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ParseStoreError, StoreConfig};

    #[test]
    fn store_config_parses_and_never_shows_a_password() {
        assert_eq!(" SQLite ".parse(), Ok(StoreConfig::Sqlite));
        let url = "postgres://app:s3cr@t@db.lan:5432/jobs";
        assert_eq!(url.parse(), Ok(StoreConfig::Postgres(url.to_owned())));
        assert_eq!("mysql://db/jobs".parse::<StoreConfig>(), Err(ParseStoreError));
        assert_eq!(ParseStoreError.to_string(), "sqlite or a postgres:// URL");

        let shown = |text: &str| StoreConfig::Postgres(text.to_owned()).to_string();
        assert_eq!(StoreConfig::Sqlite.to_string(), "sqlite");
        assert_eq!(shown(url), "postgres://app:***@db.lan:5432/jobs");
        assert_eq!(shown("postgresql://app@db/jobs"), "postgresql://app@db/jobs");
        assert_eq!(shown("host=db password=secret"), "postgres (..)");
        assert_eq!(format!("{:?}", StoreConfig::Postgres(url.to_owned())), "Postgres(..)");
    }
}
