//! The configurable limits a frame is checked against, and the size check the WebSocket layer runs first.

use crate::FrameValidationError;

/// Bytes in one mebibyte. The wire contract's "MB" (`STREAM_MAX_FRAME_SIZE_MB`, `Frame exceeds 5MB`) means MiB.
pub(crate) const MIB: usize = 1024 * 1024;

/// How large a frame may be, in bytes and in decoded pixels.
///
/// The server builds this once from its configuration (`STREAM_MAX_FRAME_SIZE_MB`) and passes it down; this crate
/// never reads the environment.
///
/// ```
/// use frame_validate::FrameLimits;
///
/// let limits = FrameLimits::default();
/// assert_eq!(limits.max_frame_bytes, 5 * 1024 * 1024);
/// assert_eq!(limits.max_pixels, 40_000_000);
/// assert_eq!(FrameLimits::from_megabytes(5, 40_000_000), limits);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameLimits {
    /// Largest accepted frame, in bytes; a frame of exactly this size passes.
    /// By default 5 MiB ([`FrameLimits::DEFAULT_MAX_FRAME_BYTES`]).
    pub max_frame_bytes: usize,
    /// Largest accepted `width × height` from the frame header; an image of exactly this many pixels passes.
    /// By default 40 million ([`FrameLimits::DEFAULT_MAX_PIXELS`]), which admits 12-megapixel camera photos and
    /// bounds what a decoder will allocate (at most ~160 MB for 4-byte pixels).
    pub max_pixels: u64,
}

impl FrameLimits {
    /// The default frame size limit: 5 MiB, the contract's `STREAM_MAX_FRAME_SIZE_MB` default.
    pub const DEFAULT_MAX_FRAME_BYTES: usize = 5 * MIB;
    /// The default pixel limit: 40 000 000 pixels.
    pub const DEFAULT_MAX_PIXELS: u64 = 40_000_000;

    /// Limits with the frame size given in bytes.
    pub const fn new(max_frame_bytes: usize, max_pixels: u64) -> Self {
        Self { max_frame_bytes, max_pixels }
    }

    /// Limits with the frame size given in MiB, as `STREAM_MAX_FRAME_SIZE_MB` is.
    ///
    /// A size that does not fit in `usize` (only possible on 16- or 32-bit targets) saturates at `usize::MAX`.
    pub fn from_megabytes(max_frame_mb: u32, max_pixels: u64) -> Self {
        let max_frame_bytes = usize::try_from(max_frame_mb).unwrap_or(usize::MAX).saturating_mul(MIB);
        Self { max_frame_bytes, max_pixels }
    }
}

impl Default for FrameLimits {
    /// 5 MiB and 40 000 000 pixels.
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_FRAME_BYTES, Self::DEFAULT_MAX_PIXELS)
    }
}

/// Checks a frame's length against [`FrameLimits::max_frame_bytes`], and nothing else.
///
/// The WebSocket layer calls this with the length it has read so far (or the length a frame header announces),
/// before buffering the whole message, so that an oversized frame is refused early. [`validate_jpeg`] runs the
/// same check, so a caller that only has complete frames need not call this. A length of zero passes here: an
/// empty frame is [`FrameValidationError::Empty`], reported by [`validate_jpeg`].
///
/// [`validate_jpeg`]: crate::validate_jpeg
///
/// ```
/// use frame_validate::{check_frame_size, FrameLimits};
///
/// let limits = FrameLimits::default();
/// assert!(check_frame_size(5 * 1024 * 1024, &limits).is_ok());
/// let err = check_frame_size(5 * 1024 * 1024 + 1, &limits).unwrap_err();
/// assert_eq!(err.detail(), "Frame exceeds 5MB");
/// ```
pub fn check_frame_size(len: usize, limits: &FrameLimits) -> Result<(), FrameValidationError> {
    if len > limits.max_frame_bytes {
        Err(FrameValidationError::TooLarge { size: len, limit: limits.max_frame_bytes })
    } else {
        Ok(())
    }
}
