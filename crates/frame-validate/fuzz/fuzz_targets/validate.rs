//! `validate_jpeg` on arbitrary bytes: it must never panic, a success must respect the limits, an error's wire
//! detail must keep the contract's prefix, and the pixel limit must change nothing but the pixel check.
//!
//! Seed it with the fixture frames (which the input is, unchanged):
//! `cargo fuzz run validate fuzz/corpus/validate ../../fixtures/images ../../fixtures/images/edge`.
#![no_main]

use frame_validate::{FrameInfo, FrameLimits, FrameValidationError, validate_jpeg};
use libfuzzer_sys::fuzz_target;

fn check(frame: &[u8], limits: &FrameLimits) -> Result<FrameInfo, FrameValidationError> {
    let result = validate_jpeg(frame, limits);
    match &result {
        Ok(info) => {
            assert!(info.width > 0 && info.height > 0);
            assert!(info.pixels() <= limits.max_pixels);
            assert!((1..=4).contains(&info.components));
        }
        Err(err @ FrameValidationError::TooLarge { .. }) => {
            assert!(err.detail().starts_with("Frame exceeds "))
        }
        Err(err) => assert!(err.detail().starts_with("Not a valid JPEG image")),
    }
    result
}

fuzz_target!(|frame: &[u8]| {
    let default = check(frame, &FrameLimits::default());
    // A second, input-dependent pixel limit, so the pixel check sees many limits without consuming input bytes.
    let max_pixels = (frame.len() as u64).wrapping_mul(2_654_435_761) % 50_000_000;
    let limited = check(frame, &FrameLimits { max_pixels, ..FrameLimits::default() });
    match default {
        Ok(info) if info.pixels() > max_pixels => assert_eq!(
            limited,
            Err(FrameValidationError::TooManyPixels {
                width: info.width,
                height: info.height,
                limit: max_pixels
            })
        ),
        Err(FrameValidationError::TooManyPixels { width, height, .. })
            if u64::from(width) * u64::from(height) <= max_pixels =>
        {
            assert!(limited.is_ok());
        }
        Err(FrameValidationError::TooManyPixels { .. }) => {
            assert!(matches!(limited, Err(FrameValidationError::TooManyPixels { .. })));
        }
        other => assert_eq!(limited, other),
    }
});
