//! Server-to-client messages (SPEC §2): one JSON text message each.

use std::borrow::Cow;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{ErrorCode, FrameResult};

/// Every message the server sends on `/ws/video/stream`.
///
/// | variant | JSON |
/// |---|---|
/// | [`Result`](Self::Result) | `{"frame_index":N,"result":{…}}` |
/// | [`Dropped`](Self::Dropped) | `{"frame_index":N,"dropped":true}` |
/// | [`SlowDown`](Self::SlowDown) | `{"warning":"slow_down","drop_rate":0.4,"suggested_fps":7.5}` |
/// | [`Error`](Self::Error) | `{"error":"invalid_frame","detail":"Not a valid JPEG image"}` |
///
/// Deserialising accepts exactly these shapes (extra fields are ignored), so Rust clients can parse what
/// the server sends.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerMessage {
    /// Frame `frame_index` was processed.
    Result {
        /// Index of the frame among the session's valid frames, from 0.
        frame_index: u64,
        /// What the pipeline produced.
        result: Box<FrameResult>,
    },
    /// Frame `frame_index` was dropped by backpressure and never processed.
    Dropped {
        /// Index of the dropped frame.
        frame_index: u64,
    },
    /// The session entered overload: the client should send fewer frames.
    SlowDown(SlowDown),
    /// An error; the server closes the connection right after it.
    Error {
        /// The wire code.
        error: ErrorCode,
        /// A human-readable explanation that never contains paths, types or stack traces.
        detail: Cow<'static, str>,
    },
}

/// The body of a `slow_down` warning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlowDown {
    /// Drop rate over the session's window when the warning was raised, in `0..=1`.
    pub drop_rate: f64,
    /// Frames per second the client could send without drops, when the server can tell.
    pub suggested_fps: Option<f64>,
}

impl ServerMessage {
    /// An error message with its detail.
    pub fn error(error: ErrorCode, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::Error { error, detail: detail.into() }
    }

    /// The message as compact JSON text, ready to send.
    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail: every map key is a string and no value is a non-finite
        // float once `finite` has been applied, so the error branch is unreachable in practice.
        serde_json::to_string(self).unwrap_or_else(|_| {
            String::from(r#"{"error":"internal_error","detail":"Unexpected error occurred"}"#)
        })
    }

    /// Parses one message as sent by the server.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Rounds to three decimals and turns NaN/infinity (which JSON cannot carry) into 0.
fn finite(x: f64) -> f64 {
    if x.is_finite() { (x * 1000.0).round() / 1000.0 } else { 0.0 }
}

impl Serialize for ServerMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Result { frame_index, result } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("frame_index", frame_index)?;
                map.serialize_entry("result", result)?;
                map.end()
            }
            Self::Dropped { frame_index } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("frame_index", frame_index)?;
                map.serialize_entry("dropped", &true)?;
                map.end()
            }
            Self::SlowDown(SlowDown { drop_rate, suggested_fps }) => {
                let mut map = serializer.serialize_map(None)?;
                map.serialize_entry("warning", "slow_down")?;
                map.serialize_entry("drop_rate", &finite(*drop_rate))?;
                if let Some(fps) = suggested_fps {
                    map.serialize_entry("suggested_fps", &finite(*fps))?;
                }
                map.end()
            }
            Self::Error { error, detail } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("error", error)?;
                map.serialize_entry("detail", detail)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for ServerMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Warning {
            SlowDown,
        }

        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Result {
                frame_index: u64,
                result: Box<FrameResult>,
            },
            Dropped {
                frame_index: u64,
                dropped: bool,
            },
            Warning {
                #[allow(dead_code)] // Only one warning exists; the field selects the variant.
                warning: Warning,
                #[serde(default)]
                drop_rate: f64,
                suggested_fps: Option<f64>,
            },
            Error {
                error: ErrorCode,
                detail: String,
            },
        }

        match Wire::deserialize(deserializer)? {
            Wire::Result { frame_index, result } => Ok(Self::Result { frame_index, result }),
            Wire::Dropped { frame_index, dropped: true } => Ok(Self::Dropped { frame_index }),
            Wire::Dropped { dropped: false, .. } => {
                Err(serde::de::Error::custom("`dropped` is always true when present"))
            }
            Wire::Warning { warning: _, drop_rate, suggested_fps } => {
                Ok(Self::SlowDown(SlowDown { drop_rate, suggested_fps }))
            }
            Wire::Error { error, detail } => Ok(Self::Error { error, detail: Cow::Owned(detail) }),
        }
    }
}
