//! Builders for constructed JPEG byte strings and access to the fixture frames, shared by the integration tests.
//!
//! Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;

use frame_validate::{FrameValidationError, validate_jpeg};
use stream_protocol::ErrorCode;

/// Start of image.
pub(crate) const SOI: [u8; 2] = [0xFF, 0xD8];
/// End of image.
pub(crate) const EOI: [u8; 2] = [0xFF, 0xD9];

/// The five real 640×480 three-component baseline frames in `fixtures/images/`.
pub(crate) const REAL_FRAMES: [&str; 5] = [
    "astronaut_640x480.jpg",
    "chelsea_640x480.jpg",
    "coffee_640x480.jpg",
    "motorcycle_left_640x480.jpg",
    "page_640x480.jpg",
];

/// A path under the workspace's `fixtures/images/`.
pub(crate) fn image_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images").join(relative)
}

/// The bytes of a file under the workspace's `fixtures/images/`.
pub(crate) fn image(relative: &str) -> Vec<u8> {
    let path = image_path(relative);
    std::fs::read(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

/// A length-prefixed marker segment: `FF`, the marker, a big-endian length counting itself, the payload.
pub(crate) fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let length = u16::try_from(payload.len() + 2).expect("segment payload fits a length field");
    let mut bytes = vec![0xFF, marker];
    bytes.extend_from_slice(&length.to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// A frame header segment with `components` components, each sampled 1×1 with quantization table 0.
pub(crate) fn sof(marker: u8, precision: u8, width: u16, height: u16, components: u8) -> Vec<u8> {
    let mut payload = vec![precision];
    payload.extend_from_slice(&height.to_be_bytes());
    payload.extend_from_slice(&width.to_be_bytes());
    payload.push(components);
    for id in 1..=components {
        payload.extend_from_slice(&[id, 0x11, 0]);
    }
    segment(marker, &payload)
}

/// A baseline, 8-bit, three-component frame header.
pub(crate) fn sof0(width: u16, height: u16) -> Vec<u8> {
    sof(0xC0, 8, width, height, 3)
}

/// SOI, the parts in order, EOI.
pub(crate) fn jpeg(parts: &[&[u8]]) -> Vec<u8> {
    let mut bytes = SOI.to_vec();
    for part in parts {
        bytes.extend_from_slice(part);
    }
    bytes.extend_from_slice(&EOI);
    bytes
}

/// The byte offset just past the first frame header of a real fixture (they all use SOF0), found independently
/// of the crate under test.
pub(crate) fn sof0_end(bytes: &[u8]) -> usize {
    let start = bytes.windows(2).position(|pair| pair == [0xFF, 0xC0]).expect("fixture has an SOF0 marker");
    let length = u16::from_be_bytes([bytes[start + 2], bytes[start + 3]]);
    start + 2 + usize::from(length)
}

/// Whether an error is said on the wire the way the contract wants: the right code, the right prefix, short, and
/// free of paths and Rust type names. Returns the reason it is not, if any.
pub(crate) fn wire_form_problem(err: &FrameValidationError) -> Option<String> {
    let detail = err.detail();
    let (code, prefix) = match err {
        FrameValidationError::TooLarge { .. } => (ErrorCode::FrameTooLarge, "Frame exceeds "),
        _ => (ErrorCode::InvalidFrame, "Not a valid JPEG image"),
    };
    if err.code() != code {
        return Some(format!("{err:?} has code {}", err.code()));
    }
    if !detail.starts_with(prefix) {
        return Some(format!("detail {detail:?} does not start with {prefix:?}"));
    }
    if matches!(err, FrameValidationError::TooLarge { .. }) && !detail.ends_with("MB") {
        return Some(format!("detail {detail:?} does not end with MB"));
    }
    if detail.len() > 120 {
        return Some(format!("detail {detail:?} is too long"));
    }
    for forbidden in ["::", "/", "\\", "Error", "Some(", "None", "[", "{"] {
        if detail.contains(forbidden) {
            return Some(format!("detail {detail:?} contains {forbidden:?}"));
        }
    }
    None
}

/// Validates with the default limits and asserts the exact error, and that it is well formed on the wire.
pub(crate) fn assert_invalid(bytes: &[u8], expected: FrameValidationError) {
    let limits = frame_validate::FrameLimits::default();
    assert_invalid_with(bytes, &limits, expected);
}

/// Validates with `limits` and asserts the exact error, and that it is well formed on the wire.
pub(crate) fn assert_invalid_with(
    bytes: &[u8],
    limits: &frame_validate::FrameLimits,
    expected: FrameValidationError,
) {
    let err = validate_jpeg(bytes, limits).expect_err("frame should be refused");
    assert_eq!(err, expected, "for frame {bytes:02X?}", bytes = &bytes[..bytes.len().min(48)]);
    if let Some(problem) = wire_form_problem(&err) {
        panic!("{problem}");
    }
}
