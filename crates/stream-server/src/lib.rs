//! The ForgeSyte Stream service: `/ws/video/stream` and the HTTP API on one port, with metrics, logs,
//! configuration and the static web UI.
//!
//! This crate is the only one that knows HTTP and WebSocket. It adapts sockets to `stream-session`
//! ([`run_session`](stream_session::run_session) does the per-frame work), runs pipelines on a bounded
//! inference pool (never on the async runtime's threads), and exposes what operators need. Policy lives below
//! it: validation in `frame-validate`, backpressure in `backpressure`, the session loop in `stream-session`.
//!
//! Main types: [`ServerConfig`] (every setting: CLI > environment > file > defaults), [`PipelineCatalog`] (the
//! pipelines it serves), and [`Server`].
//!
//! ```no_run
//! # async fn run(catalog: std::sync::Arc<dyn stream_server::PipelineCatalog>) -> Result<(), Box<dyn std::error::Error>> {
//! use stream_server::{Server, ServerConfig, shutdown_signal};
//!
//! let config = ServerConfig::default();
//! let server = Server::bind(&config, catalog).await?;
//! println!("listening on {}", server.local_addr());
//! server.run(shutdown_signal()).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod app;
mod budget;
mod catalog;
pub mod config;
mod jobs;
mod metrics;
mod net;
mod pool;
mod ws;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use backpressure::BackpressureConfig;
use frame_validate::FrameLimits;
use stream_session::SessionConfig;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::{app::AppState, metrics::Metrics, pool::InferencePool};
pub use crate::{catalog::PipelineCatalog, config::ServerConfig};
/// A decoded frame, as [`PipelineCatalog::run_on_image`] receives it.
pub use pipeline_dag::stages::Frame;
use video_jobs::{JobSettings, Jobs, OpenError};

/// How long the server keeps reading after it closes a connection (the client's close frame, or the rest of an
/// oversized frame), so that the client can read the error instead of being reset mid-send.
const LINGER: Duration = Duration::from_secs(2);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address from `STREAM_BIND`.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The backpressure settings are inconsistent.
    #[error("invalid backpressure settings: {0}")]
    Backpressure(#[from] backpressure::ConfigError),
    /// The data directory (`STREAM_DATA_DIR`) could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The job database could not be opened or migrated (the message names the file and the cause).
    #[error("{0}")]
    JobStore(String),
}

/// A bound, ready server. [`Server::run`] serves until the shutdown signal.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
    web_dir: PathBuf,
    shutdown_grace: Duration,
    limits: net::ConnectionLimits,
    origins: Arc<net::OriginPolicy>,
    max_upload_bytes: u64,
}

impl Server {
    /// Binds the listen address and prepares everything the routes need. Port 0 picks a free port
    /// ([`Server::local_addr`] tells which).
    pub async fn bind(config: &ServerConfig, catalog: Arc<dyn PipelineCatalog>) -> Result<Self, ServerError> {
        let backpressure = BackpressureConfig {
            drop_threshold: config.drop_threshold,
            slowdown_threshold: config.slowdown_threshold,
            window: config.drop_window,
        };
        backpressure.validate()?;
        let frame_limits = FrameLimits::new(config.max_frame_bytes(), config.max_pixels);
        let session_config = SessionConfig {
            backpressure,
            frame_limits,
            idle_timeout: config.idle_timeout(),
            send_timeout: Duration::from_secs(config.send_timeout_s),
        };
        // The socket refuses a frame over the limit from its header, before buffering it, and reads at most
        // one chunk at a time (the frame budget's unit).
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(frame_limits.max_frame_bytes))
            .max_frame_size(Some(frame_limits.max_frame_bytes))
            .read_buffer_size(budget::READ_CHUNK);

        let metrics = Metrics::new(catalog.list().into_iter().map(|p| {
            let stages = catalog.stages(&p.id);
            (p.id, stages)
        }));
        let pool = Arc::new(InferencePool::new(Arc::clone(&catalog), config.inference_threads));
        let jobs = if config.job_workers > 0 {
            let mut settings = JobSettings::new(config.data_dir.clone());
            settings.workers = config.job_workers;
            settings.store = config.job_store.clone();
            settings.lease = Duration::from_secs(config.job_lease_s);
            settings.max_upload_bytes = config.max_upload_bytes();
            settings.max_pixels = config.max_pixels;
            settings.retention = config.job_retention();
            settings.max_storage_bytes = config.max_storage_bytes();
            settings.body_timeout = Duration::from_secs(config.body_timeout_s);
            settings.upload_min_rate = config.upload_min_rate_kib.saturating_mul(1024);
            let runner = Arc::new(jobs::PoolRunner(Arc::clone(&pool)));
            // Opening the store does blocking I/O (and PostgreSQL's client runs a runtime of its own): not on
            // this runtime's workers.
            let opened = tokio::task::spawn_blocking(move || Jobs::open(&settings, runner))
                .await
                .map_err(|error| ServerError::JobStore(format!("opening the job store failed: {error}")))?;
            let jobs = opened.map_err(|error| match error {
                OpenError::DataDir { path, source } => ServerError::DataDir { path, source },
                OpenError::Store(error) => ServerError::JobStore(error.to_string()),
            })?;
            Some(Arc::new(jobs))
        } else {
            None
        };
        let state = Arc::new(AppState {
            catalog,
            pool,
            metrics,
            session_config,
            ws_config,
            max_sessions: config.max_sessions,
            enforce_max_sessions: config.enforce_max_sessions,
            session_limit: config.session_limit,
            frame_budget: Arc::new(budget::FrameBudget::new(config.frame_budget_bytes())),
            header_timeout: Duration::from_secs(config.header_timeout_s),
            sessions_active: AtomicUsize::new(0),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            linger: LINGER,
            jobs,
        });
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|source| ServerError::Bind { addr: config.bind, source })?;
        let limits = net::ConnectionLimits {
            max_connections: config.max_connections,
            header_timeout: Duration::from_secs(config.header_timeout_s),
        };
        let origins = net::OriginPolicy::new(config.bind, &config.allowed_origins, &config.allowed_hosts);
        Ok(Self {
            listener,
            state,
            web_dir: config.web_dir.clone(),
            shutdown_grace: config.shutdown_grace(),
            limits,
            origins: Arc::new(origins),
            max_upload_bytes: config.max_upload_bytes(),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        // A bound listener always has a local address; the fallback is never used.
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves until `signal` resolves, then shuts down gracefully: stops accepting, closes every session with
    /// 1001, and waits up to the shutdown grace period for them to finish.
    pub async fn run(self, signal: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
        let Self { listener, state, web_dir, shutdown_grace, limits, origins, max_upload_bytes } = self;
        let addr = listener.local_addr()?;
        let web_ui = web_dir.join("index.html").is_file();
        tracing::info!(
            addr = %addr,
            pipelines = state.catalog.list().len(),
            web_ui,
            web_dir = %web_dir.display(),
            "server_listening"
        );
        if let Some(jobs) = &state.jobs {
            jobs.start_workers(&state.tracker, &state.shutdown, Arc::clone(&state.metrics.jobs));
            jobs.start_sweeper(&state.tracker, &state.shutdown);
        }
        let app = app::router(Arc::clone(&state), &web_dir, origins, max_upload_bytes);
        let token = state.shutdown.clone();
        tokio::spawn(async move {
            signal.await;
            tracing::info!("server_shutdown");
            token.cancel();
        });
        let connections = TaskTracker::new();
        net::serve(listener, app, limits, state.shutdown.clone(), connections.clone()).await;

        state.tracker.close();
        connections.close();
        let everything = async { tokio::join!(state.tracker.wait(), connections.wait()) };
        if tokio::time::timeout(shutdown_grace, everything).await.is_err() {
            tracing::warn!(
                grace_s = shutdown_grace.as_secs(),
                "sessions still open after the shutdown grace period"
            );
        }
        tracing::info!("server_stopped");
        Ok(())
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
