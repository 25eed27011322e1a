//! The jobs HTTP API (docs/jobs.md): submit, status, results, list, delete, and the uploaded video.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::{Field, MultipartRejection};
use axum::extract::{Multipart, Path as UrlPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use stream_protocol::http::{JobList, JobResults, JobState, JobSubmitted};
use tokio::io::AsyncWriteExt;
use tower_http::services::ServeFile;

use super::Jobs;
use super::store::{NewJob, StoreError};
use crate::app::{AppState, http_error};
use crate::video::{SNIFF_LEN, looks_like_mp4};

/// Room for the multipart envelope and the small fields on top of the file itself.
const ENVELOPE: u64 = 64 * 1024;
/// The longest `pipeline_id`, `frame_stride` or `max_frames` value read.
const FIELD_MAX: usize = 256;

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
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("Unknown job_id: {job_id}"))
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
pub(crate) async fn submit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let jobs = jobs(&state)?;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "upload_too_large",
            format!("Upload exceeds {}MB", jobs.max_upload_bytes / (1024 * 1024)),
        )
    };
    // A declared length over the limit is refused before a byte is read.
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > jobs.max_upload_bytes.saturating_add(ENVELOPE)) {
        return Err(too_large());
    }
    let mut multipart =
        multipart.map_err(|e| ApiError::bad_request(format!("Expected a multipart/form-data body: {e}")))?;

    let job_id = uuid::Uuid::new_v4().to_string();
    let partial = jobs.partial_path(&job_id);
    let mut cleanup = RemoveOnDrop(None);
    let (mut file_name, mut pipeline_id, mut frame_stride, mut max_frames) = (None, None, 1u32, None);
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        match field.name() {
            Some("file") => {
                if file_name.is_some() {
                    return Err(ApiError::bad_request("More than one file field"));
                }
                file_name = Some(display_name(field.file_name()));
                cleanup.0 = Some(partial.clone());
                match write_upload(&mut field, &partial, jobs.max_upload_bytes).await? {
                    Upload::Stored => {}
                    Upload::TooLarge => return Err(too_large()),
                    Upload::NotMp4 => {
                        return Err(ApiError::new(
                            StatusCode::BAD_REQUEST,
                            "invalid_mp4",
                            "Invalid MP4 file",
                        ));
                    }
                }
            }
            Some("pipeline_id") => pipeline_id = Some(small_text(&mut field).await?),
            Some("frame_stride") => frame_stride = positive(&small_text(&mut field).await?, "frame_stride")?,
            Some("max_frames") => max_frames = Some(positive(&small_text(&mut field).await?, "max_frames")?),
            // Unknown fields are read and ignored.
            _ => while field.chunk().await.map_err(malformed)?.is_some() {},
        }
    }
    let Some(file_name) = file_name else { return Err(ApiError::bad_request("Missing file field")) };
    let Some(pipeline_id) = pipeline_id else {
        return Err(ApiError::bad_request("Missing pipeline_id field"));
    };
    if !jobs.catalog().is_valid_pipeline(&pipeline_id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_pipeline",
            format!("Unknown pipeline_id: {pipeline_id}"),
        ));
    }

    let input_path = jobs.upload_path(&job_id);
    tokio::fs::rename(&partial, &input_path).await.map_err(ApiError::internal)?;
    cleanup.0 = Some(input_path.clone());
    let job = NewJob { job_id: job_id.clone(), pipeline_id, file_name, input_path, frame_stride, max_frames };
    tracing::info!(job_id, pipeline_id = job.pipeline_id, frame_stride, max_frames, "job_submitted");
    blocking(&jobs, move |jobs| jobs.store().insert(&job)).await?;
    cleanup.0 = None;
    state.metrics.jobs.submitted.increment(1);
    jobs.wake();
    Ok((StatusCode::ACCEPTED, Json(JobSubmitted { job_id })).into_response())
}

enum Upload {
    Stored,
    TooLarge,
    NotMp4,
}

/// Streams the file field to `path`, checking the size as it goes and the `ftyp` box as soon as the first
/// [`SNIFF_LEN`] bytes are in.
async fn write_upload(field: &mut Field<'_>, path: &Path, max_bytes: u64) -> Result<Upload, ApiError> {
    let mut file = tokio::fs::File::create(path).await.map_err(ApiError::internal)?;
    let mut head = Vec::with_capacity(SNIFF_LEN);
    let mut written = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(malformed)? {
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
    Ok(Upload::Stored)
}

async fn small_text(field: &mut Field<'_>) -> Result<String, ApiError> {
    let name = field.name().unwrap_or_default().to_owned();
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(malformed)? {
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

fn malformed(error: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::bad_request(format!("Malformed multipart body: {}", error.body_text()))
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

/// `GET /v1/video/results/{job_id}`: 404 until the job is completed.
pub(crate) async fn results(
    State(state): State<Arc<AppState>>,
    UrlPath(job_id): UrlPath<String>,
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
    let (video, results) = blocking(&jobs, move |jobs| jobs.store().results(&id)).await?;
    Ok(Json(JobResults {
        job_id,
        pipeline_id: status.pipeline_id,
        created_at: status.created_at,
        updated_at: status.updated_at,
        video,
        results,
    })
    .into_response())
}

/// `GET /v1/jobs`: newest first, without results.
pub(crate) async fn list(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let jobs = jobs(&state)?;
    let list = blocking(&jobs, |jobs| jobs.store().list()).await?;
    Ok(Json(JobList { jobs: list }).into_response())
}

/// `DELETE /v1/jobs/{job_id}`: the job, its results and its upload.
pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    UrlPath(job_id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let jobs = jobs(&state)?;
    let id = job_id.clone();
    let Some(path) = blocking(&jobs, move |jobs| jobs.store().delete(&id)).await? else {
        return Err(ApiError::not_found(&job_id));
    };
    if let Err(error) = tokio::fs::remove_file(&path).await
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(job_id, error = %error, "cannot remove a deleted job's upload");
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
    let Some(path) = blocking(&jobs, move |jobs| jobs.store().input_path(&id)).await? else {
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
