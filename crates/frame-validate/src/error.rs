//! Why a frame was refused, and how that is said on the wire.

use stream_protocol::ErrorCode;

use crate::{Coding, limits::MIB};

/// Why a frame was refused.
///
/// `Display` gives a short, lower-case reason for logs (`missing SOI marker`). What the client receives comes from
/// [`code`](Self::code) and [`detail`](Self::detail), the one place where these errors meet the wire contract.
/// Neither ever contains a path, a Rust type name or more than a marker's worth of the frame's bytes.
///
/// Marker values in the fields are the byte after `0xFF` (`0xC0` for SOF0); offsets count bytes from the start of
/// the frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameValidationError {
    /// The frame has no bytes at all.
    #[error("empty frame")]
    Empty,

    /// The frame is longer than [`FrameLimits::max_frame_bytes`](crate::FrameLimits::max_frame_bytes).
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The frame's length in bytes (or the length read so far, from [`check_frame_size`](crate::check_frame_size)).
        size: usize,
        /// The limit it exceeds, in bytes.
        limit: usize,
    },

    /// The frame does not start with the start-of-image marker `FF D8`.
    #[error("missing SOI marker")]
    MissingSoi,

    /// The frame does not end with the end-of-image marker `FF D9` (it is cut short, or has trailing bytes).
    #[error("missing EOI marker")]
    MissingEoi,

    /// A marker segment, or a marker's length field, runs into the final EOI or past the end of the frame.
    #[error("segment 0xFF{marker:02X} at byte {offset} runs past the end of the frame")]
    Truncated {
        /// The segment's marker.
        marker: u8,
        /// Where the segment's marker starts.
        offset: usize,
    },

    /// A byte where a marker (`0xFF`) must start is something else: the previous segment's length is wrong, or
    /// the header is corrupt.
    #[error("expected a marker at byte {offset}, found 0x{found:02X}")]
    ExpectedMarker {
        /// Where the marker was expected.
        offset: usize,
        /// The byte found there instead.
        found: u8,
    },

    /// A marker that cannot appear before the frame header: a second SOI (`FF D8`) or a stuffed zero (`FF 00`).
    #[error("unexpected marker 0xFF{marker:02X} at byte {offset}")]
    UnexpectedMarker {
        /// The marker.
        marker: u8,
        /// Where the marker starts.
        offset: usize,
    },

    /// A marker segment's length field is below 2, the size of the length field itself.
    #[error("segment 0xFF{marker:02X} at byte {offset} has invalid length {length}")]
    InvalidSegmentLength {
        /// The segment's marker.
        marker: u8,
        /// Where the segment's marker starts.
        offset: usize,
        /// The length field's value.
        length: u16,
    },

    /// A start-of-scan (`FF DA`) or end-of-image (`FF D9`) marker came before any frame header (SOF0–SOF15):
    /// the image has no dimensions.
    #[error("no frame header before marker 0xFF{found:02X}")]
    MissingFrameHeader {
        /// The marker found in the frame header's place: `0xDA` (SOS) or `0xD9` (EOI).
        found: u8,
    },

    /// The frame header's length field does not equal `8 + 3 × components`.
    #[error("frame header length {length} does not match its {components} components")]
    InvalidFrameHeaderLength {
        /// The length field's value.
        length: u16,
        /// The number of components the header declares.
        components: u8,
    },

    /// The frame header declares a number of components outside `1..=4`.
    #[error("unsupported number of components: {components}")]
    InvalidComponentCount {
        /// The number of components the header declares.
        components: u8,
    },

    /// The sample precision is not one ITU-T T.81 allows for the coding process: 8 bits for baseline, 8 or 12
    /// for the other DCT processes, 2 to 16 for lossless.
    #[error("sample precision of {precision} bits is invalid for {coding} coding")]
    InvalidPrecision {
        /// The precision in bits, as declared.
        precision: u8,
        /// The coding process of the frame header.
        coding: Coding,
    },

    /// A component's sampling factors are outside `1..=4`, or its quantization table selector outside `0..=3`.
    #[error(
        "component {index} has invalid parameters (sampling factors {horizontal}x{vertical}, \
         quantization table {quant_table})"
    )]
    InvalidComponent {
        /// The component's position in the frame header, from 0.
        index: u8,
        /// Its horizontal sampling factor.
        horizontal: u8,
        /// Its vertical sampling factor.
        vertical: u8,
        /// Its quantization table selector.
        quant_table: u8,
    },

    /// The frame header declares a width or a height of zero. (A height of zero, "defined later by a DNL
    /// marker" in T.81, is not accepted: no encoder a client would use produces it.)
    #[error("image has a zero dimension ({width}x{height})")]
    ZeroDimension {
        /// The declared width.
        width: u16,
        /// The declared height.
        height: u16,
    },

    /// `width × height` exceeds [`FrameLimits::max_pixels`](crate::FrameLimits::max_pixels).
    #[error("image of {width}x{height} pixels exceeds the limit of {limit} pixels")]
    TooManyPixels {
        /// The declared width.
        width: u16,
        /// The declared height.
        height: u16,
        /// The pixel limit it exceeds.
        limit: u64,
    },
}

impl FrameValidationError {
    /// The wire error code: [`ErrorCode::FrameTooLarge`] for [`TooLarge`](Self::TooLarge),
    /// [`ErrorCode::InvalidFrame`] for everything else.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooLarge { .. } => ErrorCode::FrameTooLarge,
            _ => ErrorCode::InvalidFrame,
        }
    }

    /// The human text sent to the client in the error message's `detail` field.
    ///
    /// [`TooLarge`](Self::TooLarge) gives `Frame exceeds {N}MB`, with `N` the limit in MiB (`Frame exceeds 5MB`
    /// by default; a limit that is not a whole number of MiB prints up to two decimals, or three significant
    /// digits below 0.1). Every other error gives `Not a valid JPEG image: ` followed by its
    /// `Display` reason.
    ///
    /// ```
    /// use frame_validate::FrameValidationError;
    ///
    /// let big = FrameValidationError::TooLarge { size: 6 << 20, limit: 3 << 19 };
    /// assert_eq!(big.detail(), "Frame exceeds 1.5MB");
    /// assert_eq!(FrameValidationError::MissingEoi.detail(), "Not a valid JPEG image: missing EOI marker");
    /// ```
    pub fn detail(&self) -> String {
        match self {
            Self::TooLarge { limit, .. } => format!("Frame exceeds {}MB", format_mib(*limit)),
            _ => format!("Not a valid JPEG image: {self}"),
        }
    }
}

/// A byte count in MiB, as short as it can be while still honest: whole numbers without decimals, others with at
/// least three significant digits (two decimals from 1 MiB up), trailing zeros trimmed.
fn format_mib(bytes: usize) -> String {
    if bytes.is_multiple_of(MIB) {
        return (bytes / MIB).to_string();
    }
    // Precision loss only matters beyond 2^53 bytes, far past any frame limit.
    let mib = bytes as f64 / MIB as f64;
    let mut decimals = 2;
    let mut scaled = mib * 100.0;
    while scaled < 100.0 && decimals < 12 {
        scaled *= 10.0;
        decimals += 1;
    }
    let text = format!("{mib:.decimals$}");
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    trimmed.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_mebibytes_have_no_decimals() {
        assert_eq!(format_mib(0), "0");
        assert_eq!(format_mib(MIB), "1");
        assert_eq!(format_mib(5 * MIB), "5");
        assert_eq!(format_mib(4096 * MIB), "4096");
    }

    #[test]
    fn fractional_mebibytes_are_short_and_honest() {
        assert_eq!(format_mib(MIB + MIB / 2), "1.5");
        assert_eq!(format_mib(2 * MIB + MIB / 4), "2.25");
        assert_eq!(format_mib(MIB / 2), "0.5");
        assert_eq!(format_mib(MIB / 10), "0.1");
        assert_eq!(format_mib(1000), "0.000954");
        assert_eq!(format_mib(1), "0.000000954");
        // One byte over a whole number rounds to it: the limit is still stated correctly to two decimals.
        assert_eq!(format_mib(5 * MIB + 1), "5");
    }
}
