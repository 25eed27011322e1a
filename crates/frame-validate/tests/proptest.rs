//! Property tests: `validate_jpeg` never panics, every error it returns is well formed on the wire, and a
//! constructed frame header is reported exactly.

mod common;

use std::sync::LazyLock;

use common::{EOI, REAL_FRAMES, image, jpeg, segment, sof, sof0_end, wire_form_problem};
use frame_validate::{Coding, FrameInfo, FrameLimits, FrameValidationError, validate_jpeg};
use proptest::{prelude::*, sample::select};

/// The real fixture frames with their frame info and the offset just past their frame header.
static REAL: LazyLock<Vec<(Vec<u8>, FrameInfo, usize)>> = LazyLock::new(|| {
    REAL_FRAMES
        .iter()
        .map(|name| {
            let bytes = image(name);
            let info = validate_jpeg(&bytes, &FrameLimits::default()).expect("fixture is valid");
            let sof_end = sof0_end(&bytes);
            (bytes, info, sof_end)
        })
        .collect()
});

/// Validates and checks that an error, if any, is well formed. Returns the result for further checks.
fn validate_checked(
    bytes: &[u8],
    limits: &FrameLimits,
) -> Result<Result<FrameInfo, FrameValidationError>, TestCaseError> {
    let result = validate_jpeg(bytes, limits);
    match &result {
        Ok(info) => {
            prop_assert!(info.width > 0 && info.height > 0 && info.pixels() <= limits.max_pixels);
            prop_assert!((1..=4).contains(&info.components));
            prop_assert!(bytes.len() <= limits.max_frame_bytes);
        }
        Err(err) => {
            if let Some(problem) = wire_form_problem(err) {
                return Err(TestCaseError::fail(problem));
            }
        }
    }
    Ok(result)
}

/// Validates and checks the outcome, for properties that only care about that.
fn check_outcome(bytes: &[u8], limits: &FrameLimits) -> Result<(), TestCaseError> {
    validate_checked(bytes, limits).map(drop)
}

/// Pieces that a JPEG header is made of, valid or not, to reach deep into the marker walk.
fn header_piece() -> impl Strategy<Value = Vec<u8>> {
    // Markers drawn half the time from any byte, half from those the walk treats specially.
    let marker = || {
        prop_oneof![
            any::<u8>(),
            select(vec![0x00u8, 0x01, 0xC0, 0xC4, 0xC8, 0xCC, 0xD0, 0xD8, 0xD9, 0xDA, 0xFF])
        ]
    };
    prop_oneof![
        // Fill bytes and standalone markers.
        1 => (1usize..4).prop_map(|n| vec![0xFF; n]),
        1 => marker().prop_map(|marker| vec![0xFF, marker]),
        // A well-formed segment with any marker.
        4 => (marker(), prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(marker, payload)| segment(marker, &payload)),
        // A segment with any length field.
        1 => (marker(), any::<u16>(), prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(marker, length, payload)| {
            let mut bytes = vec![0xFF, marker];
            bytes.extend_from_slice(&length.to_be_bytes());
            bytes.extend_from_slice(&payload);
            bytes
        }),
        // A frame header with any fields.
        1 => (0xC0u8..=0xCF, any::<u8>(), any::<u16>(), any::<u16>(), 0u8..=6)
            .prop_map(|(marker, precision, width, height, components)| sof(marker, precision, width, height, components)),
        // Raw bytes.
        1 => prop::collection::vec(any::<u8>(), 1..8),
    ]
}

/// Every coding with a precision its process allows.
fn coding_and_precision() -> impl Strategy<Value = (Coding, u8)> {
    let codings: Vec<Coding> = (0xC0..=0xCF).filter_map(Coding::from_marker).collect();
    select(codings).prop_flat_map(|coding| {
        let precision = match coding {
            Coding::Baseline => Just(8u8).boxed(),
            _ if coding.is_lossless() => (2u8..=16).boxed(),
            _ => select(vec![8u8, 12]).boxed(),
        };
        (Just(coding), precision)
    })
}

/// Segments that may precede a frame header in a valid file.
fn valid_prefix_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0xE0u8..=0xEF, prop::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(app, payload)| segment(app, &payload)),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|comment| segment(0xFE, &comment)),
        prop::collection::vec(any::<u8>(), 65..66).prop_map(|table| segment(0xDB, &table)),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|table| segment(0xC4, &table)),
        any::<u16>().prop_map(|interval| segment(0xDD, &interval.to_be_bytes())),
        (1usize..4).prop_map(|n| vec![0xFF; n]),
        select(vec![0x01u8, 0xD0, 0xD3, 0xD7]).prop_map(|marker| vec![0xFF, marker]),
    ]
}

fn dimension() -> impl Strategy<Value = u16> {
    prop_oneof![Just(0u16), Just(1), Just(u16::MAX), any::<u16>()]
}

proptest! {
    // Each case takes microseconds: many cases are cheap, and they reach the rarer paths of the marker walk.
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        max_frame_bytes in prop_oneof![Just(5usize << 20), 0usize..4096],
        max_pixels in any::<u64>(),
    ) {
        check_outcome(&bytes, &FrameLimits::new(max_frame_bytes, max_pixels))?;
    }

    #[test]
    fn bytes_between_soi_and_eoi_never_panic(inner in prop::collection::vec(any::<u8>(), 0..512)) {
        check_outcome(&jpeg(&[&inner]), &FrameLimits::default())?;
    }

    #[test]
    fn marker_soup_never_panics(
        pieces in prop::collection::vec(header_piece(), 0..12),
        max_pixels in prop_oneof![Just(40_000_000u64), any::<u64>()],
    ) {
        let parts: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        check_outcome(&jpeg(&parts), &FrameLimits::new(5 << 20, max_pixels))?;
    }

    #[test]
    fn any_truncation_of_a_real_frame_is_refused_or_valid(frame in 0..REAL_FRAMES.len(), cut in any::<prop::sample::Index>()) {
        let (bytes, info, _) = &REAL[frame];
        let prefix = &bytes[..cut.index(bytes.len())];
        if let Ok(found) = validate_checked(prefix, &FrameLimits::default())? {
            // Only possible if the cut happens to end on FF D9 after the frame header.
            prop_assert_eq!(&found, info);
        }
    }

    #[test]
    fn a_real_header_cut_short_is_refused_and_one_cut_after_is_kept(
        frame in 0..REAL_FRAMES.len(),
        cut in any::<prop::sample::Index>(),
    ) {
        let (bytes, info, sof_end) = &REAL[frame];
        // Cut anywhere from just after SOI to a little past the frame header, then close with EOI.
        let cut = 2 + cut.index(sof_end + 64 - 2);
        let mut frame_bytes = bytes[..cut].to_vec();
        frame_bytes.extend_from_slice(&EOI);
        let result = validate_checked(&frame_bytes, &FrameLimits::default())?;
        if cut < *sof_end {
            prop_assert!(result.is_err(), "cut at {} of a header ending at {}", cut, sof_end);
        } else {
            prop_assert_eq!(result, Ok(*info));
        }
    }

    #[test]
    fn any_single_byte_mutation_of_a_real_frame_is_refused_or_valid(
        frame in 0..REAL_FRAMES.len(),
        at in any::<prop::sample::Index>(),
        in_header in any::<bool>(),
        new_byte in any::<u8>(),
    ) {
        let (bytes, info, sof_end) = &REAL[frame];
        let mut mutated = bytes.clone();
        // Half the mutations land in the header, where they matter most.
        let at = if in_header { at.index(*sof_end) } else { at.index(mutated.len()) };
        mutated[at] = new_byte;
        let result = validate_checked(&mutated, &FrameLimits::default())?;
        if at >= *sof_end && at < mutated.len() - 2 {
            // Only the header is read: a change in the entropy-coded data is invisible here.
            prop_assert_eq!(result, Ok(*info));
        }
    }

    #[test]
    fn a_constructed_header_reports_exactly_its_fields(
        prefix in prop::collection::vec(valid_prefix_piece(), 0..6),
        (coding, precision) in coding_and_precision(),
        width in dimension(),
        height in dimension(),
        components in 1u8..=4,
        limit_near_pixels in any::<bool>(),
        delta in -2i64..=2,
        random_limit in any::<u64>(),
        trailer in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        let pixels = u64::from(width) * u64::from(height);
        let max_pixels = if limit_near_pixels { pixels.saturating_add_signed(delta) } else { random_limit };
        let limits = FrameLimits::new(5 << 20, max_pixels);
        let header = sof(coding.marker(), precision, width, height, components);
        let mut parts: Vec<&[u8]> = prefix.iter().map(Vec::as_slice).collect();
        parts.push(&header);
        parts.push(&trailer);

        let result = validate_checked(&jpeg(&parts), &limits)?;
        let expected = if width == 0 || height == 0 {
            Err(FrameValidationError::ZeroDimension { width, height })
        } else if pixels > max_pixels {
            Err(FrameValidationError::TooManyPixels { width, height, limit: max_pixels })
        } else {
            Ok(FrameInfo { width, height, components, precision, coding })
        };
        prop_assert_eq!(result, expected);
    }
}
