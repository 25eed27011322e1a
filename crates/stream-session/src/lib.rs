//! Streaming sessions of ForgeSyte Stream: the state of one connection ([`SessionManager`]) and the loop that
//! answers its frames ([`run_session`]), implementing the WebSocket contract (SPEC §2) and the backpressure
//! policy (SPEC §3) without knowing any HTTP or WebSocket library.
//!
//! The loop is generic over a [`Stream`](futures_util::Stream) of [`Inbound`] client messages, a
//! [`Sink`](futures_util::Sink) of [`Outbound`] server messages, and a [`FramePipeline`] that runs frames. The
//! server plugs in its WebSocket and inference pool; tests plug in channels and a pipeline whose delay they
//! control; another Rust service can plug in its own transport.
//!
//! Per frame: validate the JPEG header ([`frame_validate`]), admit the frame (one in flight, one waiting,
//! the latest wins: [`backpressure`]), run it on its own task, answer it with exactly one message. Nothing
//! outlives the connection and nothing is written to disk.
//!
//! ```
//! use std::sync::Arc;
//!
//! use futures_util::{SinkExt, StreamExt};
//! use stream_protocol::{FrameResult, ImageSize, ServerMessage};
//! use stream_session::{
//!     FrameJob, FramePipeline, Inbound, Outbound, PipelineError, SessionConfig, SessionManager, run_session,
//! };
//!
//! /// A pipeline that reports the frame's size and nothing else.
//! struct SizeOnly;
//!
//! impl FramePipeline for SizeOnly {
//!     fn process(&self, job: FrameJob)
//!         -> impl Future<Output = Result<FrameResult, PipelineError>> + Send + 'static {
//!         async move {
//!             let info = frame_validate::validate_jpeg(&job.jpeg, &Default::default())
//!                 .map_err(|e| PipelineError::InvalidFrame(e.detail().into()))?;
//!             Ok(FrameResult::new(ImageSize { width: info.width.into(), height: info.height.into() }))
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let (client, inbound) = futures_channel::mpsc::unbounded::<Inbound>();
//! let (outbound, mut replies) = futures_channel::mpsc::unbounded::<Outbound>();
//! let session = SessionManager::new("size", SessionConfig::default());
//! let task = tokio::spawn(async move {
//!     let sink = outbound.sink_map_err(|_| ());
//!     run_session(session, inbound, sink, Arc::new(SizeOnly), &(), std::future::pending()).await
//! });
//!
//! // The smallest frame that passes the header checks: SOI, a 2×1 baseline SOF0 header, EOI.
//! let jpeg = vec![0xFF, 0xD8, 0xFF, 0xC0, 0, 11, 8, 0, 1, 0, 2, 1, 1, 0x11, 0, 0xFF, 0xD9];
//! client.unbounded_send(Inbound::Frame(jpeg.into())).unwrap();
//! let Some(Outbound::Text(json)) = replies.next().await else { panic!("expected a result") };
//! assert!(matches!(ServerMessage::from_json(&json), Ok(ServerMessage::Result { frame_index: 0, .. })));
//!
//! drop(client); // The client goes away: the session ends.
//! assert_eq!(task.await.unwrap().processed, 1);
//! # }
//! ```
#![deny(missing_docs)]

mod manager;
mod pipeline;
mod run;

pub use crate::{
    manager::{Admitted, PendingFrame, SessionConfig, SessionManager},
    pipeline::{FrameJob, FramePipeline, INTERNAL_ERROR_DETAIL, PipelineError, SessionObserver, StreamSlot},
    run::{Inbound, Outbound, SessionEnd, SessionSummary, run_session},
};
