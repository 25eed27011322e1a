//! Cheap structural validation of the JPEG frames a client sends on `/ws/video/stream`: the SOI and EOI markers,
//! the size limit, the frame header's dimensions and the pixel limit, checked in tens of nanoseconds.
//!
//! This crate owns the decision "is this message a JPEG frame we are willing to hand to a pipeline", and how a
//! refusal is worded on the wire ([`FrameValidationError::code`], [`FrameValidationError::detail`]). It never
//! decodes pixels, never does I/O, never reads the environment, never allocates on the success path and never
//! panics, whatever the bytes. A frame that passes may still fail to decode; the decoder reports that.
//!
//! Main items: [`validate_jpeg`] for a complete frame, [`check_frame_size`] for the WebSocket layer to call
//! before buffering a message, [`FrameLimits`] (5 MiB and 40 megapixels by default), [`FrameInfo`] and [`Coding`]
//! for what the frame header says, and [`FrameValidationError`].
//!
//! ```
//! use frame_validate::{validate_jpeg, Coding, FrameLimits, FrameValidationError};
//! use stream_protocol::ErrorCode;
//!
//! // SOI; a baseline frame header: length 11, 8-bit, height 480, width 640, one component; EOI.
//! let frame = [
//!     0xFF, 0xD8,
//!     0xFF, 0xC0, 0x00, 0x0B, 8, 0x01, 0xE0, 0x02, 0x80, 1, 1, 0x11, 0,
//!     0xFF, 0xD9,
//! ];
//! let info = validate_jpeg(&frame, &FrameLimits::default())?;
//! assert_eq!((info.width, info.height, info.components), (640, 480, 1));
//! assert_eq!(info.coding, Coding::Baseline);
//!
//! let err = validate_jpeg(b"GIF89a", &FrameLimits::default()).unwrap_err();
//! assert_eq!(err, FrameValidationError::MissingSoi);
//! assert_eq!(err.code(), ErrorCode::InvalidFrame);
//! assert_eq!(err.detail(), "Not a valid JPEG image: missing SOI marker");
//! # Ok::<(), FrameValidationError>(())
//! ```
#![deny(missing_docs)]

mod error;
mod jpeg;
mod limits;

pub use crate::{
    error::FrameValidationError,
    jpeg::{Coding, FrameInfo, validate_jpeg},
    limits::{FrameLimits, check_frame_size},
};
