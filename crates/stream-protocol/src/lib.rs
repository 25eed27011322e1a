//! The wire contract of ForgeSyte Stream: everything the server sends to a client on
//! `/ws/video/stream`, the error codes with their WebSocket close codes, and the typed per-frame result
//! that pipelines produce.
//!
//! This crate owns the JSON shapes and nothing else: it does no I/O, knows no socket library, and is the only
//! crate of the workspace that defines wire formats. Clients send binary JPEG frames, which need no type.
//!
//! The JSON bodies of the HTTP API live in [`http`].
//!
//! Main types: [`ServerMessage`] (one JSON text message each), [`ErrorCode`] and [`CloseCode`], and
//! [`FrameResult`] with its parts ([`Detection`], [`TextBlock`], [`Timings`]).
//!
//! ```
//! use stream_protocol::{ErrorCode, ServerMessage};
//!
//! let dropped = ServerMessage::Dropped { frame_index: 7 };
//! assert_eq!(dropped.to_json(), r#"{"frame_index":7,"dropped":true}"#);
//!
//! let error = ServerMessage::error(ErrorCode::InvalidFrame, "Not a valid JPEG image");
//! assert_eq!(error.to_json(), r#"{"error":"invalid_frame","detail":"Not a valid JPEG image"}"#);
//! assert_eq!(ErrorCode::InvalidFrame.close_code().0, 1007);
//! ```
#![deny(missing_docs)]

mod error;
pub mod http;
mod message;
mod result;

pub use crate::{
    error::{CloseCode, ErrorCode},
    message::{ServerMessage, SlowDown},
    result::{
        BBox, Detection, FrameResult, ImageSize, LineCrossings, OcrOutput, TextBlock, Timings,
        TrackingSummary,
    },
};
