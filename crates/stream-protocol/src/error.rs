//! Error codes of the wire contract and the WebSocket close codes that go with them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A WebSocket close code (RFC 6455 §7.4), as sent in the close frame that follows an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the session ended normally.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the server is going away (shutdown) or the session timed out.
    pub const GOING_AWAY: Self = Self(1001);
    /// 1003: the client sent a kind of message the server does not accept (text instead of binary).
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1007: the message's payload is not what it claims to be (not a valid JPEG).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: the request violates the server's policy (unknown or missing pipeline).
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: the message is too large to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1011: the server hit a condition that prevented it from fulfilling the request.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1013: try again later (the server is at its session limit).
    pub const TRY_AGAIN_LATER: Self = Self(1013);
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Every error a client can receive, by its wire code (`{"error":"<code>","detail":…}`).
///
/// Each error ends the session: the server sends the error message, then closes with
/// [`ErrorCode::close_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// `pipeline_id` is missing or names no loaded pipeline. Close 1008.
    InvalidPipeline,
    /// The client sent a text message; only binary JPEG frames are accepted. Close 1003.
    InvalidMessage,
    /// The frame is not a valid JPEG (missing SOI/EOI, empty, corrupt header, too many pixels,
    /// undecodable). Close 1007.
    InvalidFrame,
    /// The frame is larger than the configured limit. Close 1009.
    FrameTooLarge,
    /// The pipeline failed on a valid frame. Close 1011.
    PipelineFailure,
    /// A bug or panic inside the server, caught; other sessions are unaffected. Close 1011.
    InternalError,
    /// The client sent no frame for the idle timeout. Close 1001.
    IdleTimeout,
    /// The server is at its enforced session limit. Close 1013.
    ServerBusy,
}

impl ErrorCode {
    /// Every code, in the order of the contract's table.
    pub const ALL: [Self; 8] = [
        Self::InvalidPipeline,
        Self::InvalidMessage,
        Self::InvalidFrame,
        Self::FrameTooLarge,
        Self::PipelineFailure,
        Self::InternalError,
        Self::IdleTimeout,
        Self::ServerBusy,
    ];

    /// The code as it appears on the wire, e.g. `"invalid_frame"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidPipeline => "invalid_pipeline",
            Self::InvalidMessage => "invalid_message",
            Self::InvalidFrame => "invalid_frame",
            Self::FrameTooLarge => "frame_too_large",
            Self::PipelineFailure => "pipeline_failure",
            Self::InternalError => "internal_error",
            Self::IdleTimeout => "idle_timeout",
            Self::ServerBusy => "server_busy",
        }
    }

    /// The WebSocket close code sent after this error.
    pub const fn close_code(self) -> CloseCode {
        match self {
            Self::InvalidPipeline => CloseCode::POLICY_VIOLATION,
            Self::InvalidMessage => CloseCode::UNSUPPORTED_DATA,
            Self::InvalidFrame => CloseCode::INVALID_PAYLOAD,
            Self::FrameTooLarge => CloseCode::MESSAGE_TOO_BIG,
            Self::PipelineFailure | Self::InternalError => CloseCode::INTERNAL_ERROR,
            Self::IdleTimeout => CloseCode::GOING_AWAY,
            Self::ServerBusy => CloseCode::TRY_AGAIN_LATER,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
