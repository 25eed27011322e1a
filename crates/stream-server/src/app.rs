//! Shared state and the HTTP routes.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use stream_protocol::http::{Health, HealthStatus, HttpError, PipelineList};
use stream_session::SessionConfig;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::{ServeDir, ServeFile};

use crate::PipelineCatalog;
use crate::jobs::api as jobs_api;
use crate::metrics::Metrics;
use crate::pool::InferencePool;
use video_jobs::Jobs;

/// Everything the handlers share.
pub(crate) struct AppState {
    pub(crate) catalog: Arc<dyn PipelineCatalog>,
    pub(crate) pool: Arc<InferencePool>,
    pub(crate) metrics: Metrics,
    pub(crate) session_config: SessionConfig,
    pub(crate) ws_config: WebSocketConfig,
    pub(crate) max_sessions: usize,
    pub(crate) enforce_max_sessions: bool,
    /// Sessions beyond this are always refused with `server_busy` (`STREAM_SESSION_LIMIT`).
    pub(crate) session_limit: usize,
    /// Bytes of partly received frames across sessions (`STREAM_FRAME_BUDGET_MB`).
    pub(crate) frame_budget: Arc<crate::budget::FrameBudget>,
    /// Bounds the WebSocket upgrade as it bounds every request head (`STREAM_HEADER_TIMEOUT_S`).
    pub(crate) header_timeout: Duration,
    pub(crate) sessions_active: AtomicUsize,
    /// Cancelled when the server shuts down: every session closes with 1001.
    pub(crate) shutdown: CancellationToken,
    /// Every upgraded connection, so shutdown can wait for them.
    pub(crate) tracker: TaskTracker,
    /// How long to keep reading after a server-initiated close.
    pub(crate) linger: Duration,
    /// The video job service; `None` when jobs are turned off (`STREAM_JOB_WORKERS=0`).
    pub(crate) jobs: Option<Arc<Jobs>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("sessions_active", &self.sessions_active)
            .field("max_sessions", &self.max_sessions)
            .finish_non_exhaustive()
    }
}

/// The routes: the API, the metrics, the WebSocket, and the web UI for everything else; every request passes
/// the same-origin check first ([`crate::net::same_origin`]).
pub(crate) fn router(
    state: Arc<AppState>,
    web_dir: &Path,
    origins: Arc<crate::net::OriginPolicy>,
    max_upload_bytes: u64,
) -> Router {
    let api = Router::new()
        .route("/v1/health", get(health))
        .route("/v1/pipelines/list", get(list_pipelines))
        .route("/v1/pipelines/{id}/info", get(pipeline_info))
        .route("/metrics", get(metrics))
        .route("/ws/video/stream", get(crate::ws::stream_handler))
        .route("/v1/video/status/{job_id}", get(jobs_api::status))
        .route("/v1/video/results/{job_id}", get(jobs_api::results))
        .route("/v1/video/file/{job_id}", get(jobs_api::file))
        .route("/v1/jobs", get(jobs_api::list))
        .route("/v1/jobs/{job_id}", delete(jobs_api::delete))
        .with_state(Arc::clone(&state));
    let index = web_dir.join("index.html");
    let api = if index.is_file() {
        // Unknown paths get the single-page app, so client-side routes survive a reload.
        api.fallback_service(ServeDir::new(web_dir).fallback(ServeFile::new(index)))
    } else {
        api.fallback(get(web_ui_missing))
    };
    // No route but the upload reads a body: anything larger than a small one is refused unread.
    let api = api.layer(RequestBodyLimitLayer::new(SMALL_BODY));
    // The upload reads its body under its own limits (size, rate, multipart framing: jobs::upload); this
    // outer limit is a backstop above them.
    let uploads = Router::new()
        .route("/v1/video/submit", post(jobs_api::submit))
        .layer(RequestBodyLimitLayer::new(
            usize::try_from(max_upload_bytes.saturating_add(2 * 1024 * 1024)).unwrap_or(usize::MAX),
        ))
        .with_state(state);
    api.merge(uploads).layer(axum::middleware::from_fn_with_state(origins, crate::net::same_origin))
}

/// The largest body a route other than the upload accepts (none reads one).
const SMALL_BODY: usize = 64 * 1024;

async fn health(State(state): State<Arc<AppState>>) -> Json<Health> {
    let pipelines_loaded = state.catalog.list().len();
    let sessions_active = state.sessions_active.load(Ordering::Relaxed);
    let at_limit = state.enforce_max_sessions && sessions_active >= state.max_sessions;
    let status =
        if pipelines_loaded == 0 || at_limit { HealthStatus::Degraded } else { HealthStatus::Healthy };
    Json(Health {
        status,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        pipelines_loaded,
        sessions_active: sessions_active as u64,
        max_sessions: state.max_sessions as u64,
        engine: state.catalog.engine(),
    })
}

async fn list_pipelines(State(state): State<Arc<AppState>>) -> Json<PipelineList> {
    Json(PipelineList { pipelines: state.catalog.list() })
}

async fn pipeline_info(State(state): State<Arc<AppState>>, UrlPath(id): UrlPath<String>) -> Response {
    match state.catalog.info(&id) {
        Some(info) => Json(info).into_response(),
        None => http_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("Unknown pipeline_id: {}", crate::ws::truncate(&id, 64)),
        ),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
        .into_response()
}

async fn web_ui_missing() -> Response {
    let page = concat!(
        "<!doctype html><meta charset=utf-8><title>ForgeSyte Stream</title>",
        "<h1>ForgeSyte Stream</h1><p>The server is running, but the web UI has not been built.</p>",
        "<p>Build it with <code>just web-build</code> (or <code>cd web-ui &amp;&amp; npm ci &amp;&amp; npm run build</code>) ",
        "and restart, or point <code>--web-dir</code> at a built copy. <code>just run</code> does both.</p>",
        "<p>The API is up: <a href=/v1/health>/v1/health</a>, <a href=/v1/pipelines/list>/v1/pipelines/list</a>, ",
        "<a href=/metrics>/metrics</a>.</p>"
    );
    (StatusCode::NOT_FOUND, Html(page)).into_response()
}

/// An HTTP error in the contract's JSON shape.
pub(crate) fn http_error(status: StatusCode, error: &str, detail: &str) -> Response {
    (status, Json(HttpError { error: error.to_owned(), detail: detail.to_owned() })).into_response()
}
