//! The connection layer: accepting TCP connections under a cap, serving HTTP/1.1 on each with a header read
//! timeout, and refusing requests from other web pages (foreign `Origin`, foreign `Host` on a loopback bind).
//!
//! `axum::serve` offers none of the limits (no timer, so no header timeout, and no connection cap), so the
//! accept loop is here: about as long as axum's, on the same hyper builder.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::app::http_error;

/// The largest request head (request line and headers) read: hyper's buffer for it.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Limits of the connection layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// Open connections at most (`STREAM_MAX_CONNECTIONS`).
    pub(crate) max_connections: usize,
    /// Time for a request's head to arrive, from the connection's start or the previous response
    /// (`STREAM_HEADER_TIMEOUT_S`).
    pub(crate) header_timeout: Duration,
}

/// Serves `router` on `listener` until `shutdown`; connection tasks go on `connections`, which the caller
/// waits for.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    connections: TaskTracker,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        // At the cap, stop accepting: further connections wait in the kernel's listen queue.
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            () = shutdown.cancelled() => return,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => return,
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Counted { stream, _permit: permit });
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(MAX_HEAD_BYTES);
            let connection = builder.serve_connection(io, service).with_upgrades();
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
}

/// A connection that holds its place under the connection cap until it is dropped (for a WebSocket, when
/// the session ends: the upgraded stream keeps it).
struct Counted {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Which browser origins and which `Host` names are accepted (`STREAM_ALLOWED_ORIGINS`,
/// `STREAM_ALLOWED_HOSTS`).
#[derive(Debug, Clone, Default)]
pub(crate) struct OriginPolicy {
    /// Origins accepted besides the server's own, lower-case (`*`: any).
    pub(crate) allowed_origins: Vec<String>,
    /// Host names (without port) accepted besides the loopback names, lower-case.
    pub(crate) allowed_hosts: Vec<String>,
    /// Whether the `Host` header is checked: on a loopback bind, or whenever hosts are listed.
    pub(crate) check_host: bool,
}

impl OriginPolicy {
    pub(crate) fn new(bind: SocketAddr, allowed_origins: &[String], allowed_hosts: &[String]) -> Self {
        let lower =
            |list: &[String]| list.iter().map(|w| w.trim_end_matches('/').to_ascii_lowercase()).collect();
        Self {
            allowed_origins: lower(allowed_origins),
            allowed_hosts: lower(allowed_hosts),
            check_host: bind.ip().is_loopback() || !allowed_hosts.is_empty(),
        }
    }

    /// Whether a request with this `Host` header may be served.
    fn host_allowed(&self, host: Option<&str>) -> bool {
        if !self.check_host {
            return true;
        }
        let Some(name) = host.and_then(host_name) else { return false };
        matches!(name.as_str(), "localhost" | "127.0.0.1" | "[::1]")
            || name.ends_with(".localhost")
            || self.allowed_hosts.contains(&name)
    }

    /// Whether a browser request from `origin` may open a WebSocket or change state: the server's own origin
    /// (the one whose authority is the `Host` the request was sent to) or a listed one.
    fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if self.allowed_origins.iter().any(|allowed| allowed == "*" || *allowed == origin) {
            return true;
        }
        let authority = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
        match (authority, host) {
            (Some(authority), Some(host)) => authority == host.trim().to_ascii_lowercase(),
            _ => false,
        }
    }
}

/// The name part of a `Host` header (`example.com:8080` → `example.com`, `[::1]:80` → `[::1]`), lower-case.
fn host_name(host: &str) -> Option<String> {
    let host = host.trim().to_ascii_lowercase();
    let name = if host.starts_with('[') {
        host.split_inclusive(']').next()?.to_owned()
    } else {
        host.split(':').next()?.to_owned()
    };
    (!name.is_empty()).then_some(name)
}

/// Middleware: refuses requests from other web pages (403, logged) before any route sees them.
///
/// - `Host`: on a loopback bind only loopback names (and `STREAM_ALLOWED_HOSTS`) are served, so a page that
///   rebinds its own DNS name to 127.0.0.1 cannot read or change anything.
/// - `Origin`: the WebSocket upgrade and every method but GET/HEAD/OPTIONS need the server's own origin or a
///   listed one. Clients that send no `Origin` (curl, SDKs, the load generator) are not browsers and pass.
pub(crate) async fn same_origin(
    State(policy): State<Arc<OriginPolicy>>,
    request: Request,
    next: Next,
) -> Result<Response, Infallible> {
    if let Some(refusal) = refusal(&policy, request.method(), request.uri().path(), request.headers()) {
        return Ok(refusal);
    }
    Ok(next.run(request).await)
}

fn refusal(policy: &OriginPolicy, method: &Method, path: &str, headers: &HeaderMap) -> Option<Response> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if !policy.host_allowed(host) {
        let shown = host.map(|h| crate::ws::truncate(h, 64)).unwrap_or_default();
        tracing::warn!(host = %shown, path, "request_refused_host");
        return Some(http_error(
            StatusCode::FORBIDDEN,
            "forbidden_host",
            &format!("Host not allowed: {shown}"),
        ));
    }
    let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !(changes_state || path == "/ws/video/stream") {
        return None;
    }
    let origin = headers.get(header::ORIGIN)?;
    let allowed = origin.to_str().is_ok_and(|origin| policy.origin_allowed(origin, host));
    if allowed {
        return None;
    }
    let shown = crate::ws::truncate(&String::from_utf8_lossy(origin.as_bytes()), 64);
    tracing::warn!(origin = %shown, path, "request_refused_origin");
    Some(http_error(
        StatusCode::FORBIDDEN,
        "forbidden_origin",
        &format!("Origin not allowed: {shown} (see STREAM_ALLOWED_ORIGINS)"),
    ))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(host: Option<&str>, origin: Option<&str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        if let Some(host) = host {
            map.insert(header::HOST, HeaderValue::from_str(host).unwrap_or(HeaderValue::from_static("x")));
        }
        if let Some(origin) = origin {
            map.insert(
                header::ORIGIN,
                HeaderValue::from_str(origin).unwrap_or(HeaderValue::from_static("x")),
            );
        }
        map
    }

    fn status(
        policy: &OriginPolicy,
        method: Method,
        path: &str,
        host: Option<&str>,
        origin: Option<&str>,
    ) -> u16 {
        refusal(policy, &method, path, &headers(host, origin)).map_or(200, |r| r.status().as_u16())
    }

    #[test]
    fn loopback_binds_serve_loopback_names_only() {
        let policy = OriginPolicy::new(SocketAddr::from(([127, 0, 0, 1], 8080)), &[], &[]);
        for host in ["localhost:8080", "127.0.0.1:8080", "[::1]:8080", "LOCALHOST", "app.localhost:8080"] {
            assert_eq!(status(&policy, Method::GET, "/v1/jobs", Some(host), None), 200, "{host}");
        }
        for host in [Some("evil.example:8080"), Some("127.0.0.1.evil.example"), None] {
            assert_eq!(status(&policy, Method::GET, "/v1/jobs", host, None), 403, "{host:?}");
        }
        let listed = OriginPolicy::new(SocketAddr::from(([127, 0, 0, 1], 8080)), &[], &["stream.lan".into()]);
        assert_eq!(status(&listed, Method::GET, "/", Some("stream.lan:8080"), None), 200);
        let public = OriginPolicy::new(SocketAddr::from(([0, 0, 0, 0], 8080)), &[], &[]);
        assert_eq!(status(&public, Method::GET, "/", Some("anything.example"), None), 200);
    }

    #[test]
    fn foreign_origins_cannot_open_the_websocket_or_change_state() {
        let policy = OriginPolicy::new(SocketAddr::from(([127, 0, 0, 1], 8080)), &[], &[]);
        let host = Some("127.0.0.1:8080");
        let ws = "/ws/video/stream";
        assert_eq!(status(&policy, Method::GET, ws, host, Some("http://127.0.0.1:8080")), 200);
        assert_eq!(status(&policy, Method::GET, ws, host, None), 200, "non-browser clients pass");
        assert_eq!(status(&policy, Method::GET, ws, host, Some("http://evil.example")), 403);
        assert_eq!(status(&policy, Method::GET, ws, host, Some("null")), 403);
        assert_eq!(status(&policy, Method::GET, ws, host, Some("http://127.0.0.1:9999")), 403);
        assert_eq!(status(&policy, Method::POST, "/v1/video/submit", host, Some("http://evil.example")), 403);
        assert_eq!(status(&policy, Method::DELETE, "/v1/jobs/x", host, Some("http://evil.example")), 403);
        // Reading is not state-changing (and the Host check already keeps rebinding pages out).
        assert_eq!(status(&policy, Method::GET, "/v1/jobs", host, Some("http://evil.example")), 200);

        let listed = OriginPolicy::new(
            SocketAddr::from(([127, 0, 0, 1], 8080)),
            &["http://localhost:5173/".into()],
            &[],
        );
        assert_eq!(status(&listed, Method::GET, ws, host, Some("http://localhost:5173")), 200);
        let any = OriginPolicy::new(SocketAddr::from(([127, 0, 0, 1], 8080)), &["*".into()], &[]);
        assert_eq!(status(&any, Method::POST, "/v1/video/submit", host, Some("http://evil.example")), 200);
    }

    #[test]
    fn host_names_drop_their_port() {
        assert_eq!(host_name("Example.com:8080").as_deref(), Some("example.com"));
        assert_eq!(host_name("[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(host_name("[::1]").as_deref(), Some("[::1]"));
        assert_eq!(host_name(":80"), None);
    }
}
