//! `/ws/video/stream`: the WebSocket handshake, and the adapter between the socket and `stream-session`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use stream_protocol::{ErrorCode, ServerMessage};
use stream_session::{Inbound, Outbound, SessionEnd, SessionManager, run_session};
use tokio::io::AsyncReadExt;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::app::{AppState, http_error};
use crate::budget::{Hold, Metered, is_over_budget};

type Socket = WebSocketStream<Metered<TokioIo<hyper::upgrade::Upgraded>>>;

/// Longest `pipeline_id` echoed back in an error detail.
const MAX_ECHOED_ID: usize = 64;

/// Handles the upgrade request; the session itself runs on a task of its own once the upgrade completes.
///
/// The handshake is done here rather than by axum's `WebSocketUpgrade` because an oversized frame needs the raw
/// connection afterwards: the server answers `frame_too_large`, closes, and then keeps reading and discarding
/// for a short while (a lingering close) so the client is not reset mid-send and can read the error.
pub(crate) async fn stream_handler(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Response {
    let mut request = request;
    let Some(key) = websocket_key(&headers) else {
        return http_error(StatusCode::UPGRADE_REQUIRED, "upgrade_required", "Expected a WebSocket upgrade");
    };
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        return http_error(StatusCode::BAD_REQUEST, "upgrade_required", "This connection cannot be upgraded");
    };
    let pipeline_id = query.get("pipeline_id").cloned();
    let accept = derive_accept_key(key.as_bytes());

    let task_state = Arc::clone(&state);
    state.tracker.spawn(async move {
        // The upgrade completes once the 101 response is written; a client that never takes it is dropped.
        match tokio::time::timeout(task_state.header_timeout, on_upgrade).await {
            Ok(Ok(upgraded)) => {
                let config = task_state.ws_config;
                let hold = Hold::new(Arc::clone(&task_state.frame_budget));
                let io = Metered::new(TokioIo::new(upgraded), Arc::clone(&hold));
                let socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
                serve_socket(task_state, socket, hold, pipeline_id, peer).await;
            }
            Ok(Err(error)) => tracing::debug!(%peer, %error, "websocket upgrade failed"),
            Err(_) => tracing::debug!(%peer, "websocket upgrade timed out"),
        }
    });

    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    response_headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        response_headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// The `Sec-WebSocket-Key` of a valid version-13 upgrade request.
fn websocket_key(headers: &HeaderMap) -> Option<String> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|v| v.split(',').any(|part| part.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has_token(header::CONNECTION, "upgrade") || !has_token(header::UPGRADE, "websocket") {
        return None;
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).and_then(|v| v.to_str().ok()) != Some("13") {
        return None;
    }
    headers.get(header::SEC_WEBSOCKET_KEY).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// One accepted WebSocket, from the pipeline check to the last byte.
async fn serve_socket(
    state: Arc<AppState>,
    mut socket: Socket,
    hold: Arc<Hold>,
    pipeline_id: Option<String>,
    peer: SocketAddr,
) {
    let pipeline_id = match pipeline_id {
        Some(id) if state.catalog.is_valid_pipeline(&id) => id,
        other => {
            let detail = match other {
                None => "Missing pipeline_id".to_owned(),
                Some(id) => format!("Unknown pipeline_id: {}", truncate(&id, MAX_ECHOED_ID)),
            };
            tracing::info!(%peer, detail = %detail, "stream_rejected");
            state.metrics.rejected(ErrorCode::InvalidPipeline);
            reject(&mut socket, ErrorCode::InvalidPipeline, detail, state.linger).await;
            return;
        }
    };

    // Count the session in before checking the limit, so that two sessions racing for the last place
    // cannot both get it.
    let active = state.sessions_active.fetch_add(1, Ordering::SeqCst) + 1;
    let _slot = SlotGuard(&state);
    // The hard limit always applies; the recommended maximum only when enforced.
    let limit = if state.enforce_max_sessions {
        state.max_sessions.min(state.session_limit)
    } else {
        state.session_limit
    };
    if active > limit {
        state.metrics.rejected(ErrorCode::ServerBusy);
        tracing::info!(%peer, pipeline_id, active, max = limit, "stream_rejected");
        let detail = format!("Server is at its session limit ({limit})");
        reject(&mut socket, ErrorCode::ServerBusy, detail, state.linger).await;
        return;
    }

    let _gauge = state.metrics.session_opened();
    let session = SessionManager::new(pipeline_id, state.session_config);
    let session_id = session.session_id();
    tracing::info!(%session_id, pipeline_id = %session.pipeline_id(), %peer, "stream_connect");

    let (mut ws_tx, mut ws_rx) = socket.split();
    let (mut too_large, mut over_budget) = (false, false);
    let inbound = futures_util::stream::poll_fn(|cx| {
        loop {
            let message = match ws_rx.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(message) => message,
            };
            if let Some(Ok(
                Message::Text(_)
                | Message::Ping(_)
                | Message::Pong(_)
                | Message::Frame(_)
                | Message::Close(_),
            )) = message
            {
                // A complete message other than a frame: its bytes are no longer held.
                hold.release();
            }
            return Poll::Ready(match message {
                // The frame keeps its share of the budget until it is answered or replaced.
                Some(Ok(Message::Binary(frame))) => Some(Inbound::Frame(hold.frame(frame))),
                Some(Ok(Message::Text(_))) => Some(Inbound::Text),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(_))) | None => None,
                Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, .. }))) => {
                    too_large = true;
                    Some(Inbound::TooLarge { len: Some(size) })
                }
                Some(Err(WsError::Io(error))) if is_over_budget(&error) => {
                    over_budget = true;
                    Some(Inbound::Overloaded)
                }
                Some(Err(error)) => {
                    tracing::debug!(%session_id, %error, "stream_read_error");
                    None
                }
            });
        }
    });
    let outbound =
        (&mut ws_tx).with(|message: Outbound| async move { Ok::<_, WsError>(to_message(message)) });
    let outbound = Box::pin(outbound);

    let summary = run_session(
        session,
        inbound,
        outbound,
        Arc::clone(&state.pool),
        &state.metrics,
        state.shutdown.clone().cancelled_owned(),
    )
    .await;

    tracing::info!(
        %session_id,
        pipeline_id = %summary.pipeline_id,
        frames = summary.frames,
        processed = summary.processed,
        dropped = summary.dropped,
        slow_downs = summary.slow_downs,
        duration_ms = u64::try_from(summary.duration.as_millis()).unwrap_or(u64::MAX),
        end = summary.end.as_str(),
        "stream_disconnect"
    );

    let Ok(mut socket) = ws_rx.reunite(ws_tx) else { return };
    match summary.end {
        // The rest of the oversized frame is still on its way: drain it unparsed.
        // The rest of the oversized frame, or of the frame the budget refused, is still on its way: drain it
        // unparsed, so the client reads the error instead of a reset.
        SessionEnd::Error(ErrorCode::FrameTooLarge) if too_large => {
            drain_raw(&mut socket, &hold, state.linger).await
        }
        SessionEnd::Error(ErrorCode::ServerBusy) if over_budget => {
            drain_raw(&mut socket, &hold, state.linger).await
        }
        SessionEnd::Error(_) | SessionEnd::Shutdown => finish_close(&mut socket, state.linger).await,
        _ => {}
    }
}

/// Releases a place counted in `sessions_active`.
struct SlotGuard<'a>(&'a AppState);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.0.sessions_active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn to_message(message: Outbound) -> Message {
    match message {
        Outbound::Text(json) => Message::Text(json.into()),
        Outbound::Close { code, reason } => Message::Close(Some(CloseFrame {
            code: WsCloseCode::from(code.0),
            reason: reason.as_ref().into(),
        })),
    }
}

/// Sends an error and its close before any session exists, then completes the close.
async fn reject(socket: &mut Socket, code: ErrorCode, detail: String, linger: Duration) {
    let error = ServerMessage::error(code, detail).to_json();
    let close = Outbound::Close { code: code.close_code(), reason: code.as_str().into() };
    if socket.send(Message::Text(error.into())).await.is_ok() && socket.send(to_message(close)).await.is_ok()
    {
        finish_close(socket, linger).await;
    }
}

/// After our close frame: read until the client's close (or the end), at most `linger`.
async fn finish_close(socket: &mut Socket, linger: Duration) {
    let _ = tokio::time::timeout(linger, async { while let Some(Ok(_)) = socket.next().await {} }).await;
}

/// Reads and discards raw bytes until the client stops sending or `linger` passes.
async fn drain_raw(socket: &mut Socket, hold: &Hold, linger: Duration) {
    // Discarded at once: nothing is held.
    hold.drain();
    let io = socket.get_mut();
    let mut buffer = vec![0u8; crate::budget::READ_CHUNK];
    let _ = tokio::time::timeout(linger, async {
        while let Ok(n) = io.read(&mut buffer).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

pub(crate) fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use stream_protocol::CloseCode;

    use super::*;

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("yolo", 64), "yolo");
        assert_eq!(truncate("ééé", 2), "éé…");
    }

    #[test]
    fn close_codes_pass_through() {
        let message = to_message(Outbound::Close { code: CloseCode::MESSAGE_TOO_BIG, reason: "x".into() });
        let Message::Close(Some(frame)) = message else { panic!() };
        assert_eq!(u16::from(frame.code), 1009);
    }
}
