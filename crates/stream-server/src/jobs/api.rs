//! The jobs HTTP API (docs/jobs.md): submit, status, results, list, delete, and the uploaded video.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use stream_protocol::http::{JobList, JobResults, JobState, JobSubmitted};
use tokio::io::AsyncWriteExt;
use tower_http::services::ServeFile;

use video_jobs::Jobs;
use video_jobs::store::{NewJob, ResultRow, StoreError};
use video_jobs::video::{SNIFF_LEN, looks_like_mp4};

use super::upload::{BodyError, BodyLimits, Delivered, GuardedBody, MULTIPART_OVERHEAD};
use crate::app::{AppState, http_error};
use crate::ws::truncate;

/// Room for the multipart envelope and the small fields on top of the file itself.
const ENVELOPE: u64 = MULTIPART_OVERHEAD;
/// The longest `pipeline_id`, `frame_stride` or `max_frames` value read.
const FIELD_MAX: usize = 256;
/// The most form fields read from one upload.
const MAX_FIELDS: usize = 16;
/// The longest id echoed back in an error.
const MAX_ECHOED: usize = 64;
/// Jobs per page of `GET /v1/jobs` by default, and at most.
const JOBS_PAGE: (usize, usize) = (100, 1000);
/// Frames read from the store per step while a results response streams out.
const RESULTS_BATCH: usize = 256;

/// An error response in the contract's shape (boxed: a `Response` is large and errors are rare).
pub(crate) struct ApiError(Box<Response>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl ApiError {
    fn new(status: StatusCode, error: &str, detail: impl AsRef<str>) -> Self {
        Self(Box::new(http_error(status, error, detail.as_ref())))
    }

    fn bad_request(detail: impl AsRef<str>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    fn not_found(job_id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("Unknown job_id: {}", truncate(job_id, MAX_ECHOED)),
        )
    }

    fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "job API failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Internal error")
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::internal(error)
    }
}

fn jobs(state: &AppState) -> Result<Arc<Jobs>, ApiError> {
    state.jobs.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "jobs_disabled",
            "Video jobs are turned off on this server",
        )
    })
}

/// Runs a store call on a blocking thread.
async fn blocking<T: Send + 'static>(
    jobs: &Arc<Jobs>,
    call: impl FnOnce(&Jobs) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let jobs = Arc::clone(jobs);
    tokio::task::spawn_blocking(move || call(&jobs))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

/// Deletes a file when dropped, unless disarmed: a rejected upload leaves nothing on disk.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `POST /v1/video/submit`.
///
/// The body is read under the limits of [`upload`](super::upload); `pipeline_id` is checked as soon as it
/// arrives (before the file when the form sends it first, as the web UI does); the file streams to a `.part`
/// file that is removed on any error. The job's row is written before the file takes its final name, so a
/// crash in between leaves a job that fails visibly ("file missing"), never a file nothing owns.
pub(crate) async fn submit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let jobs = jobs(&state)?;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "upload_too_large",
            format!("Upload exceeds {}MB", jobs.max_upload_bytes / (1024 * 1024)),
        )
    };
    let storage_full = || {
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "storage_full",
            "The server's storage for uploads is full; delete finished jobs or try again later",
        )
    };
    // A declared length over the limit is refused before a byte is read.
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > jobs.max_upload_bytes.saturating_add(ENVELOPE)) {
        return Err(too_large());
    }
    let reservation = {
        let jobs = Arc::clone(&jobs);
        tokio::task::spawn_blocking(move || jobs.reserve_upload(declared))
            .await
            .map_err(ApiError::internal)??
    };
    let room = reservation.bytes;
    if declared.is_some_and(|len| len > room.saturating_add(ENVELOPE)) {
        return Err(storage_full());
    }
    let over_limit = || if room < jobs.max_upload_bytes { storage_full() } else { too_large() };
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| ApiError::bad_request("Expected a multipart/form-data body with a boundary"))?;
    let delivered = Delivered::default();
    let limits = BodyLimits {
        max_bytes: room.saturating_add(ENVELOPE),
        window: jobs.body_timeout,
        min_rate: jobs.upload_min_rate,
    };
    let body = GuardedBody::new(body.into_data_stream(), limits, delivered.clone());
    let mut multipart = multer::Multipart::new(body, boundary);

    let job_id = uuid::Uuid::new_v4().to_string();
    let partial = jobs.partial_path(&job_id);
    let mut cleanup = RemoveOnDrop(None);
    let (mut file, mut pipeline_id, mut frame_stride, mut max_frames) = (None, None, 1u32, None);
    let mut fields = 0;
    while let Some(mut field) = multipart.next_field().await.map_err(|e| malformed(e, &over_limit))? {
        fields += 1;
        if fields > MAX_FIELDS {
            return Err(ApiError::bad_request(format!("More than {MAX_FIELDS} form fields")));
        }
        match field.name() {
            Some("file") => {
                if file.is_some() {
                    return Err(ApiError::bad_request("More than one file field"));
                }
                let name = display_name(field.file_name());
                cleanup.0 = Some(partial.clone());
                match write_upload(&mut field, &partial, room, &delivered, &over_limit).await? {
                    Upload::Stored(bytes) => file = Some((name, bytes)),
                    Upload::TooLarge => return Err(over_limit()),
                    Upload::NotMp4 => {
                        return Err(ApiError::new(
                            StatusCode::BAD_REQUEST,
                            "invalid_mp4",
                            "Invalid MP4 file",
                        ));
                    }
                }
            }
            Some("pipeline_id") => {
                let id = small_text(&mut field, &delivered, &over_limit).await?;
                check_pipeline(&jobs, &id)?;
                pipeline_id = Some(id);
            }
            Some("frame_stride") => {
                frame_stride =
                    positive(&small_text(&mut field, &delivered, &over_limit).await?, "frame_stride")?;
            }
            Some("max_frames") => {
                max_frames =
                    Some(positive(&small_text(&mut field, &delivered, &over_limit).await?, "max_frames")?);
            }
            // Unknown fields are read and ignored.
            _ => {
                while let Some(chunk) = field.chunk().await.map_err(|e| malformed(e, &over_limit))? {
                    delivered.add(chunk.len());
                }
            }
        }
    }
    let Some((file_name, input_bytes)) = file else {
        return Err(ApiError::bad_request("Missing file field"));
    };
    let Some(pipeline_id) = pipeline_id else {
        return Err(ApiError::bad_request("Missing pipeline_id field"));
    };

    let input_path = jobs.upload_path(&job_id);
    let job = NewJob {
        job_id: job_id.clone(),
        pipeline_id,
        file_name,
        input_path: input_path.clone(),
        input_bytes,
        frame_stride,
        max_frames,
    };
    tracing::info!(
        job_id,
        pipeline_id = job.pipeline_id,
        frame_stride,
        max_frames,
        input_bytes,
        "job_submitted"
    );
    // The video is in place before the job exists, so no worker can claim a job without its video.
    tokio::fs::rename(&partial, &input_path).await.map_err(ApiError::internal)?;
    cleanup.0 = Some(input_path);
    blocking(&jobs, move |jobs| jobs.insert(&job)).await?;
    cleanup.0 = None;
    drop(reservation);
    state.metrics.jobs.submitted.increment(1);
    jobs.wake();
    Ok((StatusCode::ACCEPTED, Json(JobSubmitted { job_id })).into_response())
}

fn check_pipeline(jobs: &Jobs, pipeline_id: &str) -> Result<(), ApiError> {
    if jobs.runner().is_valid_pipeline(pipeline_id) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_pipeline",
        format!("Unknown pipeline_id: {}", truncate(pipeline_id, MAX_ECHOED)),
    ))
}

enum Upload {
    Stored(u64),
    TooLarge,
    NotMp4,
}

/// Streams the file field to `path`, checking the size as it goes and the `ftyp` box as soon as the first
/// [`SNIFF_LEN`] bytes are in.
async fn write_upload(
    field: &mut multer::Field<'_>,
    path: &Path,
    max_bytes: u64,
    delivered: &Delivered,
    over_limit: &impl Fn() -> ApiError,
) -> Result<Upload, ApiError> {
    let mut file = tokio::fs::File::create(path).await.map_err(ApiError::internal)?;
    let mut head = Vec::with_capacity(SNIFF_LEN);
    let mut written = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(|e| malformed(e, over_limit))? {
        delivered.add(chunk.len());
        written += chunk.len() as u64;
        if written > max_bytes {
            return Ok(Upload::TooLarge);
        }
        if head.len() < SNIFF_LEN {
            let take = chunk.len().min(SNIFF_LEN - head.len());
            head.extend_from_slice(&chunk[..take]);
            if head.len() == SNIFF_LEN && !looks_like_mp4(&head) {
                return Ok(Upload::NotMp4);
            }
        }
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    if !looks_like_mp4(&head) {
        return Ok(Upload::NotMp4);
    }
    file.flush().await.map_err(ApiError::internal)?;
    file.sync_all().await.map_err(ApiError::internal)?;
    Ok(Upload::Stored(written))
}

async fn small_text(
    field: &mut multer::Field<'_>,
    delivered: &Delivered,
    over_limit: &impl Fn() -> ApiError,
) -> Result<String, ApiError> {
    let name = truncate(field.name().unwrap_or_default(), MAX_ECHOED);
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| malformed(e, over_limit))? {
        delivered.add(chunk.len());
        if bytes.len() + chunk.len() > FIELD_MAX {
            return Err(ApiError::bad_request(format!("Field {name} is too long")));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes)
        .map(|s| s.trim().to_owned())
        .map_err(|_| ApiError::bad_request(format!("Field {name} is not UTF-8 text")))
}

fn positive(value: &str, name: &str) -> Result<u32, ApiError> {
    match value.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ApiError::bad_request(format!("{name} must be a positive whole number, got {value:?}"))),
    }
}

/// The response for a multipart error: the body guard's refusals keep their meaning.
fn malformed(error: multer::Error, over_limit: &impl Fn() -> ApiError) -> ApiError {
    let guard = match &error {
        multer::Error::StreamReadFailed(source) => source.downcast_ref::<BodyError>().copied(),
        _ => None,
    };
    match guard {
        Some(BodyError::TooLarge { .. }) => over_limit(),
        Some(slow @ BodyError::TooSlow { .. }) => {
            ApiError::new(StatusCode::REQUEST_TIMEOUT, "upload_too_slow", format!("Upload aborted: {slow}"))
        }
        Some(other) => ApiError::bad_request(format!("Malformed multipart body: {other}")),
        None => ApiError::bad_request(format!("Malformed multipart body: {error}")),
    }
}

/// The client's file name, for display only (never used as a path): its last path component, printable,
/// at most 255 characters.
fn display_name(name: Option<&str>) -> String {
    let name = name.unwrap_or_default();
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control()).take(255).collect();
    if clean.trim().is_empty() { "upload.mp4".to_owned() } else { clean }
}

/// `GET /v1/video/status/{job_id}`.
pub(crate) async fn status(
    State(state): State<Arc<AppState>>,
    UrlPath(job_id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let jobs = jobs(&state)?;
    let id = job_id.clone();
    match blocking(&jobs, move |jobs| jobs.store().status(&id)).await? {
        Some(status) => Ok(Json(status).into_response()),
        None => Err(ApiError::not_found(&job_id)),
    }
}

/// `GET /v1/video/results/{job_id}`: 404 until the job is completed; streamed from the store.
pub(crate) async fn results(
    State(state): State<Arc<AppState>>,
    UrlPath(job_id): UrlPath<String>,
    Query(page): Query<Page<u64>>,
) -> Result<Response, ApiError> {
    let jobs = jobs(&state)?;
    let id = job_id.clone();
    let Some(status) = blocking(&jobs, move |jobs| jobs.store().status(&id)).await? else {
        return Err(ApiError::not_found(&job_id));
    };
    if status.status != JobState::Completed {
        let detail = match (&status.status, &status.error_message) {
            (JobState::Failed, Some(message)) => format!("Job {job_id} failed: {message}"),
            (state, _) => format!("Job {job_id} is {} ({}%)", state.as_str(), status.progress),
        };
        return Err(ApiError::new(StatusCode::NOT_FOUND, "job_not_completed", detail));
    }
    let id = job_id.clone();
    let first_page = page.after.is_none();
    let (video, tracks) = blocking(&jobs, move |jobs| {
        let tracks = if first_page { Some(jobs.store().tracks(&id)?) } else { None };
        Ok((jobs.store().video(&id)?, tracks))
    })
    .await?;
    let head = JobResults {
        job_id: job_id.clone(),
        pipeline_id: status.pipeline_id,
        created_at: status.created_at,
        updated_at: status.updated_at,
        video,
        tracks,
        results: Vec::new(),
        next_after: None,
    };
    let head = serde_json::to_string(&head).map_err(ApiError::internal)?;
    // `{..., "results":[]}` opened at its results array: frames are written into it batch by batch.
    let Some(open) = head.strip_suffix("]}").and_then(|h| h.rsplit_once(r#""results":["#)) else {
        return Err(ApiError::internal("unexpected results layout"));
    };
    let open = format!(r#"{}"results":["#, open.0);
    let limit = page.limit.map(|l| l.clamp(1, 100_000));
    let stream = results_body(jobs, job_id, open, page.after, limit);
    Ok(([(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream)).into_response())
}

/// `?after=N&limit=M` of the results and list routes.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Page<T> {
    after: Option<T>,
    limit: Option<usize>,
}

/// The results response, produced a batch of stored rows at a time: the store's lock is held only while one
/// batch is read, and memory stays at one batch whatever the job's size.
fn results_body(
    jobs: Arc<Jobs>,
    job_id: String,
    open: String,
    after: Option<u64>,
    limit: Option<usize>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    struct Cursor {
        jobs: Arc<Jobs>,
        job_id: String,
        after: Option<u64>,
        left: usize,
        first: bool,
        done: bool,
    }
    let cursor = Cursor { jobs, job_id, after, left: limit.unwrap_or(usize::MAX), first: true, done: false };
    let head = futures_util::stream::once(async move { Ok(Bytes::from(open)) });
    let rows = futures_util::stream::unfold(cursor, move |mut c| async move {
        if c.done {
            return None;
        }
        let want = c.left.min(RESULTS_BATCH);
        let (jobs, id, after) = (Arc::clone(&c.jobs), c.job_id.clone(), c.after);
        // One more than wanted tells whether another page follows.
        let read = tokio::task::spawn_blocking(move || jobs.store().result_rows(&id, after, want + 1)).await;
        let mut rows = match read {
            Ok(Ok(rows)) => rows,
            Ok(Err(error)) => return Some((Err(std::io::Error::other(error)), Cursor { done: true, ..c })),
            Err(error) => return Some((Err(std::io::Error::other(error)), Cursor { done: true, ..c })),
        };
        let more = rows.len() > want;
        rows.truncate(want);
        let mut text = String::new();
        for row in &rows {
            if !c.first {
                text.push(',');
            }
            c.first = false;
            push_row(&mut text, row);
        }
        c.left -= rows.len();
        c.after = rows.last().map(|r| r.frame_index).or(c.after);
        if !more || c.left == 0 {
            c.done = true;
            text.push(']');
            if more && let Some(after) = c.after {
                text.push_str(&format!(r#","next_after":{after}"#));
            }
            text.push('}');
        }
        Some((Ok(Bytes::from(text)), c))
    });
    head.chain(rows)
}

fn push_row(text: &mut String, row: &ResultRow) {
    use std::fmt::Write;
    let _ = write!(
        text,
        r#"{{"frame_index":{},"timestamp_ms":{},"result":{}}}"#,
        row.frame_index, row.timestamp_ms, row.result_json
    );
}

/// `GET /v1/jobs`: newest first, without results, a page at a time.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Query(page): Query<Page<String>>,
) -> Result<Response, ApiError> {
    let jobs = jobs(&state)?;
    let limit = page.limit.unwrap_or(JOBS_PAGE.0).clamp(1, JOBS_PAGE.1);
    let after = page.after;
    let (list, more) = blocking(&jobs, move |jobs| jobs.store().list(after.as_deref(), limit)).await?;
    let next_after = if more { list.last().map(|job| job.job_id.clone()) } else { None };
    Ok(Json(JobList { jobs: list, next_after }).into_response())
}

/// `DELETE /v1/jobs/{job_id}`: the job, its results and its upload.
pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    UrlPath(job_id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let jobs = jobs(&state)?;
    let id = job_id.clone();
    if !blocking(&jobs, move |jobs| jobs.delete(&id)).await? {
        return Err(ApiError::not_found(&job_id));
    }
    tracing::info!(job_id, "job_deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /v1/video/file/{job_id}`: the uploaded MP4, with range requests, for the UI's player.
pub(crate) async fn file(
    State(state): State<Arc<AppState>>,
    UrlPath(job_id): UrlPath<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let jobs = jobs(&state)?;
    let id = job_id.clone();
    let Some(path) = blocking(&jobs, move |jobs| jobs.video_file(&id)).await? else {
        return Err(ApiError::not_found(&job_id));
    };
    let response = ServeFile::new_with_mime(path, &"video/mp4".parse().map_err(ApiError::internal)?)
        .try_call(request)
        .await
        .map_err(ApiError::internal)?;
    if response.status() == StatusCode::NOT_FOUND {
        return Err(ApiError::not_found(&job_id));
    }
    Ok(response.map(Body::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_last_components_without_control_characters() {
        assert_eq!(display_name(Some("clip.mp4")), "clip.mp4");
        assert_eq!(display_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(display_name(Some("C:\\videos\\street.mp4")), "street.mp4");
        assert_eq!(display_name(Some("a\u{0}b\nc.mp4")), "abc.mp4");
        assert_eq!(display_name(None), "upload.mp4");
        assert_eq!(display_name(Some("dir/")), "upload.mp4");
        assert_eq!(display_name(Some(&"x".repeat(1000))).len(), 255);
    }

    #[test]
    fn numbers_must_be_positive() {
        assert_eq!(positive("5", "frame_stride").ok(), Some(5));
        for bad in ["0", "-1", "1.5", "", "ten", "99999999999"] {
            assert!(positive(bad, "frame_stride").is_err(), "{bad}");
        }
    }
}
