//! `validate_jpeg` and `check_frame_size` on constructed byte strings: every error variant, the order of the
//! checks, the wire wording, and the marker syntax that must be accepted.

mod common;

use common::{EOI, SOI, assert_invalid, assert_invalid_with, jpeg, segment, sof, sof0};
use frame_validate::{
    Coding, FrameInfo, FrameLimits, FrameValidationError as E, check_frame_size, validate_jpeg,
};
use stream_protocol::ErrorCode;

const MIB: usize = 1024 * 1024;

fn valid(bytes: &[u8]) -> FrameInfo {
    validate_jpeg(bytes, &FrameLimits::default()).expect("frame should be valid")
}

// === Limits and size ===

#[test]
fn default_limits_are_five_mib_and_forty_megapixels() {
    let limits = FrameLimits::default();
    assert_eq!(limits, FrameLimits { max_frame_bytes: 5 * MIB, max_pixels: 40_000_000 });
    assert_eq!(FrameLimits::from_megabytes(5, 40_000_000), limits);
    assert_eq!(FrameLimits::from_megabytes(0, 1).max_frame_bytes, 0);
    assert_eq!(
        FrameLimits::from_megabytes(u32::MAX, 1).max_frame_bytes,
        (u32::MAX as usize).saturating_mul(MIB)
    );
}

#[test]
fn check_frame_size_accepts_the_limit_and_refuses_one_byte_more() {
    let limits = FrameLimits::default();
    assert_eq!(check_frame_size(0, &limits), Ok(()));
    assert_eq!(check_frame_size(5 * MIB, &limits), Ok(()));
    let err = check_frame_size(5 * MIB + 1, &limits).unwrap_err();
    assert_eq!(err, E::TooLarge { size: 5 * MIB + 1, limit: 5 * MIB });
    assert_eq!(err.code(), ErrorCode::FrameTooLarge);
    assert_eq!(err.detail(), "Frame exceeds 5MB");
    assert_eq!(check_frame_size(usize::MAX, &limits).unwrap_err().detail(), "Frame exceeds 5MB");
}

#[test]
fn too_large_detail_states_the_limit_in_mib() {
    let detail = |limit: FrameLimits| check_frame_size(usize::MAX, &limit).unwrap_err().detail();
    assert_eq!(detail(FrameLimits::from_megabytes(1, 1)), "Frame exceeds 1MB");
    assert_eq!(detail(FrameLimits::from_megabytes(12, 1)), "Frame exceeds 12MB");
    assert_eq!(detail(FrameLimits::new(MIB + MIB / 2, 1)), "Frame exceeds 1.5MB");
    assert_eq!(detail(FrameLimits::new(MIB / 4, 1)), "Frame exceeds 0.25MB");
    assert_eq!(detail(FrameLimits::new(1000, 1)), "Frame exceeds 0.000954MB");
}

#[test]
fn an_oversized_frame_is_too_large_before_anything_else_is_looked_at() {
    let mut frame = vec![0u8; 5 * MIB + 1];
    assert_invalid(&frame, E::TooLarge { size: 5 * MIB + 1, limit: 5 * MIB });
    // A well-formed JPEG is refused just the same, with the detail from the contract.
    frame[..2].copy_from_slice(&SOI);
    let end = frame.len();
    frame[end - 2..].copy_from_slice(&EOI);
    let err = validate_jpeg(&frame, &FrameLimits::default()).unwrap_err();
    assert_eq!(err.detail(), "Frame exceeds 5MB");
    assert_eq!(err.code(), ErrorCode::FrameTooLarge);

    let small = jpeg(&[&sof0(640, 480)]);
    let limits = FrameLimits::new(small.len() - 1, 40_000_000);
    assert_invalid_with(&small, &limits, E::TooLarge { size: small.len(), limit: small.len() - 1 });
    assert!(validate_jpeg(&small, &FrameLimits::new(small.len(), 40_000_000)).is_ok());
}

// === SOI, EOI, empty ===

#[test]
fn an_empty_frame_is_empty_even_with_a_zero_limit() {
    assert_invalid(&[], E::Empty);
    assert_invalid_with(&[], &FrameLimits::new(0, 0), E::Empty);
    assert_eq!(E::Empty.detail(), "Not a valid JPEG image: empty frame");
}

#[test]
fn a_frame_must_start_with_soi() {
    assert_invalid(b"GIF89a", E::MissingSoi);
    assert_invalid(&[0xFF], E::MissingSoi);
    assert_invalid(&[0xFF, 0xD9], E::MissingSoi);
    assert_invalid(&[0xD8, 0xFF, 0xD8, 0xFF, 0xD9], E::MissingSoi);
    let mut png_like = b"\x89PNG\r\n\x1a\n".to_vec();
    png_like.extend_from_slice(&EOI);
    assert_invalid(&png_like, E::MissingSoi);
    assert_eq!(E::MissingSoi.detail(), "Not a valid JPEG image: missing SOI marker");
}

#[test]
fn a_frame_must_end_with_eoi() {
    assert_invalid(&SOI, E::MissingEoi);
    assert_invalid(&[0xFF, 0xD8, 0xD9], E::MissingEoi);
    assert_invalid(&[0xFF, 0xD8, 0xFF], E::MissingEoi);
    let mut frame = SOI.to_vec();
    frame.extend_from_slice(&sof0(640, 480));
    assert_invalid(&frame, E::MissingEoi);
    // Trailing bytes after EOI are refused too: EOI must be the last two bytes.
    let mut trailing = jpeg(&[&sof0(640, 480)]);
    trailing.push(0x00);
    assert_invalid(&trailing, E::MissingEoi);
    assert_eq!(E::MissingEoi.detail(), "Not a valid JPEG image: missing EOI marker");
}

// === The marker walk ===

#[test]
fn a_segment_that_runs_past_the_final_eoi_is_truncated() {
    // APP0 claims 16 bytes; only 4 follow before EOI.
    assert_invalid(&jpeg(&[&[0xFF, 0xE0, 0x00, 0x10, 1, 2]]), E::Truncated { marker: 0xE0, offset: 2 });
    // The length field itself is cut short.
    assert_invalid(&jpeg(&[&[0xFF, 0xE0, 0x00]]), E::Truncated { marker: 0xE0, offset: 2 });
    assert_invalid(&jpeg(&[&[0xFF, 0xE0]]), E::Truncated { marker: 0xE0, offset: 2 });
    // A segment that would swallow the final EOI is truncated, not accepted.
    assert_invalid(&jpeg(&[&[0xFF, 0xFE, 0x00, 0x04]]), E::Truncated { marker: 0xFE, offset: 2 });
    // The frame header's fixed fields are cut short, or its component entries are.
    let header = sof0(640, 480);
    assert_invalid(&jpeg(&[&header[..8]]), E::Truncated { marker: 0xC0, offset: 2 });
    assert_invalid(&jpeg(&[&header[..header.len() - 1]]), E::Truncated { marker: 0xC0, offset: 2 });
    // The offset is where the marker starts, fill bytes included.
    let app = segment(0xE1, b"Exif\0\0");
    assert_invalid(
        &jpeg(&[&app, &[0xFF, 0xFF, 0xDB, 0x00, 0x43]]),
        E::Truncated { marker: 0xDB, offset: 2 + app.len() },
    );
    let err = E::Truncated { marker: 0xE0, offset: 2 };
    assert_eq!(
        err.detail(),
        "Not a valid JPEG image: segment 0xFFE0 at byte 2 runs past the end of the frame"
    );
}

#[test]
fn a_marker_must_start_where_the_previous_segment_ends() {
    assert_invalid(&jpeg(&[&[0x00, 0x10]]), E::ExpectedMarker { offset: 2, found: 0x00 });
    // An APP0 whose length is one short leaves its last byte where a marker should be.
    let mut app = segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    app[3] -= 1;
    let frame = jpeg(&[&app, &sof0(640, 480)]);
    assert_invalid(&frame, E::ExpectedMarker { offset: 2 + app.len() - 1, found: 0x00 });
    assert_eq!(
        E::ExpectedMarker { offset: 2, found: 0xAB }.detail(),
        "Not a valid JPEG image: expected a marker at byte 2, found 0xAB"
    );
}

#[test]
fn a_second_soi_or_a_stuffed_zero_before_the_frame_header_is_unexpected() {
    assert_invalid(&jpeg(&[&SOI, &sof0(640, 480)]), E::UnexpectedMarker { marker: 0xD8, offset: 2 });
    assert_invalid(&jpeg(&[&[0xFF, 0x00], &sof0(640, 480)]), E::UnexpectedMarker { marker: 0x00, offset: 2 });
    let app = segment(0xE0, &[0; 14]);
    assert_invalid(
        &jpeg(&[&app, &[0xFF, 0xFF, 0x00], &sof0(640, 480)]),
        E::UnexpectedMarker { marker: 0x00, offset: 2 + app.len() },
    );
}

#[test]
fn a_segment_length_below_two_is_invalid() {
    for length in [0u16, 1] {
        let mut bytes = vec![0xFF, 0xDB];
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(&sof0(640, 480));
        assert_invalid(&jpeg(&[&bytes]), E::InvalidSegmentLength { marker: 0xDB, offset: 2, length });
    }
    // Also for a frame header.
    assert_invalid(
        &jpeg(&[&[0xFF, 0xC0, 0x00, 0x01]]),
        E::InvalidSegmentLength { marker: 0xC0, offset: 2, length: 1 },
    );
}

#[test]
fn sos_or_eoi_before_any_frame_header_means_no_dimensions() {
    assert_invalid(&jpeg(&[]), E::MissingFrameHeader { found: 0xD9 });
    assert_invalid(&jpeg(&[&segment(0xE0, &[0; 14])]), E::MissingFrameHeader { found: 0xD9 });
    // Fill bytes straight up to the final EOI.
    assert_invalid(&jpeg(&[&[0xFF, 0xFF, 0xFF]]), E::MissingFrameHeader { found: 0xD9 });
    // An EOI in the middle, followed by a header that no longer counts.
    assert_invalid(&jpeg(&[&EOI, &sof0(640, 480)]), E::MissingFrameHeader { found: 0xD9 });
    let sos = segment(0xDA, &[1, 1, 0x00, 0, 63, 0]);
    assert_invalid(&jpeg(&[&sos, &sof0(640, 480)]), E::MissingFrameHeader { found: 0xDA });
    assert_eq!(
        E::MissingFrameHeader { found: 0xDA }.detail(),
        "Not a valid JPEG image: no frame header before marker 0xFFDA"
    );
}

// === The frame header ===

#[test]
fn the_component_count_must_be_one_to_four() {
    for components in [0u8, 5, 255] {
        assert_invalid(
            &jpeg(&[&sof(0xC0, 8, 640, 480, components)]),
            E::InvalidComponentCount { components },
        );
    }
    for components in 1..=4 {
        assert_eq!(valid(&jpeg(&[&sof(0xC0, 8, 640, 480, components)])).components, components);
    }
}

#[test]
fn the_frame_header_length_must_match_its_components() {
    // Three components declared, room for one.
    let mut header = sof(0xC0, 8, 640, 480, 1);
    header[9] = 3;
    assert_invalid(&jpeg(&[&header, &[0; 6]]), E::InvalidFrameHeaderLength { length: 11, components: 3 });
    // Length longer than the components need, even though the bytes are there.
    let mut header = sof0(640, 480);
    header[3] += 1;
    header.push(0);
    assert_invalid(&jpeg(&[&header]), E::InvalidFrameHeaderLength { length: 18, components: 3 });
    // A length too short for the fixed fields.
    let mut header = sof0(640, 480);
    header[3] = 6;
    assert_invalid(&jpeg(&[&header]), E::InvalidFrameHeaderLength { length: 6, components: 3 });
}

#[test]
fn the_precision_must_suit_the_coding_process() {
    let cases = [(0xC0, 12), (0xC0, 16), (0xC1, 16), (0xC2, 10), (0xC3, 1), (0xC3, 17), (0xC9, 0)];
    for (marker, precision) in cases {
        let coding = Coding::from_marker(marker).expect("SOF marker");
        assert_invalid(
            &jpeg(&[&sof(marker, precision, 64, 48, 3)]),
            E::InvalidPrecision { precision, coding },
        );
    }
    for (marker, precision) in [(0xC0, 8), (0xC1, 12), (0xC2, 12), (0xC3, 2), (0xC3, 16), (0xCB, 12)] {
        assert_eq!(valid(&jpeg(&[&sof(marker, precision, 64, 48, 3)])).precision, precision);
    }
    assert_eq!(
        E::InvalidPrecision { precision: 12, coding: Coding::Baseline }.detail(),
        "Not a valid JPEG image: sample precision of 12 bits is invalid for baseline coding"
    );
}

#[test]
fn sampling_factors_and_quantization_tables_must_be_in_range() {
    // (component index, sampling byte, table)
    let cases = [(0u8, 0x01, 0u8), (1, 0x10, 0), (2, 0x51, 0), (0, 0x15, 0), (2, 0x11, 4)];
    for (index, sampling, table) in cases {
        let mut header = sof0(640, 480);
        let entry = 10 + 3 * usize::from(index);
        header[entry + 1] = sampling;
        header[entry + 2] = table;
        assert_invalid(
            &jpeg(&[&header]),
            E::InvalidComponent {
                index,
                horizontal: sampling >> 4,
                vertical: sampling & 0x0F,
                quant_table: table,
            },
        );
    }
    let mut header = sof0(640, 480);
    header[11] = 0x22; // 4:2:0 luma, as every camera writes it.
    header[12] = 3;
    assert!(validate_jpeg(&jpeg(&[&header]), &FrameLimits::default()).is_ok());
}

#[test]
fn a_zero_width_or_height_is_invalid() {
    for (width, height) in [(0, 480), (640, 0), (0, 0)] {
        assert_invalid(&jpeg(&[&sof0(width, height)]), E::ZeroDimension { width, height });
    }
    assert_eq!(
        E::ZeroDimension { width: 0, height: 480 }.detail(),
        "Not a valid JPEG image: image has a zero dimension (0x480)"
    );
}

#[test]
fn the_pixel_limit_is_inclusive_and_cannot_overflow() {
    let frame = jpeg(&[&sof0(640, 480)]);
    assert_invalid_with(
        &frame,
        &FrameLimits::new(5 * MIB, 640 * 480 - 1),
        E::TooManyPixels { width: 640, height: 480, limit: 640 * 480 - 1 },
    );
    assert!(validate_jpeg(&frame, &FrameLimits::new(5 * MIB, 640 * 480)).is_ok());
    // The largest header possible: 65535² is about 4.3 billion pixels.
    let huge = jpeg(&[&sof0(u16::MAX, u16::MAX)]);
    assert_invalid(&huge, E::TooManyPixels { width: u16::MAX, height: u16::MAX, limit: 40_000_000 });
    let info = validate_jpeg(&huge, &FrameLimits::new(5 * MIB, u64::MAX)).expect("no pixel limit");
    assert_eq!(info.pixels(), 65_535 * 65_535);
    assert_invalid_with(
        &frame,
        &FrameLimits::new(5 * MIB, 0),
        E::TooManyPixels { width: 640, height: 480, limit: 0 },
    );
}

#[test]
fn header_errors_come_in_the_documented_order() {
    // Zero dimension is reported before the pixel limit, and structure before both.
    assert_invalid_with(
        &jpeg(&[&sof0(0, 480)]),
        &FrameLimits::new(5 * MIB, 0),
        E::ZeroDimension { width: 0, height: 480 },
    );
    assert_invalid(&jpeg(&[&sof(0xC0, 12, 0, 0, 9)]), E::InvalidComponentCount { components: 9 });
    assert_invalid(
        &jpeg(&[&sof(0xC0, 12, 0, 0, 3)]),
        E::InvalidPrecision { precision: 12, coding: Coding::Baseline },
    );
    // Missing EOI is reported before a broken header.
    let mut frame = SOI.to_vec();
    frame.extend_from_slice(&[0xFF, 0xE0, 0x00]);
    assert_invalid(&frame, E::MissingEoi);
}

// === What must be accepted ===

#[test]
fn a_minimal_frame_reports_its_header() {
    let info = valid(&jpeg(&[&sof0(640, 480)]));
    assert_eq!(
        info,
        FrameInfo { width: 640, height: 480, components: 3, precision: 8, coding: Coding::Baseline }
    );
}

#[test]
fn every_sof_marker_is_a_frame_header_with_its_coding() {
    let expected = [
        (0xC0, Coding::Baseline),
        (0xC1, Coding::ExtendedSequential),
        (0xC2, Coding::Progressive),
        (0xC3, Coding::Lossless),
        (0xC5, Coding::DifferentialSequential),
        (0xC6, Coding::DifferentialProgressive),
        (0xC7, Coding::DifferentialLossless),
        (0xC9, Coding::ExtendedSequentialArithmetic),
        (0xCA, Coding::ProgressiveArithmetic),
        (0xCB, Coding::LosslessArithmetic),
        (0xCD, Coding::DifferentialSequentialArithmetic),
        (0xCE, Coding::DifferentialProgressiveArithmetic),
        (0xCF, Coding::DifferentialLosslessArithmetic),
    ];
    for (marker, coding) in expected {
        let info = valid(&jpeg(&[&sof(marker, 8, 33, 17, 1)]));
        assert_eq!((info.coding, info.width, info.height), (coding, 33, 17), "marker {marker:02X}");
    }
}

#[test]
fn dht_jpg_and_dac_are_skipped_not_taken_for_frame_headers() {
    for marker in [0xC4, 0xC8, 0xCC] {
        // Contents that would read as a 1×1 frame header if they were one.
        let decoy = segment(marker, &[8, 0, 1, 0, 1, 1, 1, 0x11, 0]);
        let info = valid(&jpeg(&[&decoy, &sof(0xC2, 8, 96, 72, 3)]));
        assert_eq!(
            (info.coding, info.width, info.height),
            (Coding::Progressive, 96, 72),
            "marker {marker:02X}"
        );
    }
}

#[test]
fn tables_application_segments_comments_and_reserved_markers_are_skipped() {
    let frame = jpeg(&[
        &segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"),
        &segment(0xE1, b"Exif\0\0MM\0*"),
        &segment(0xEE, b"Adobe\0\x64\0\0\0\0\x01"),
        &segment(0xFE, b"a comment with \xFF\xD9 inside"),
        &segment(0xDB, &[0; 65]),
        &segment(0xDD, &[0, 4]),
        &segment(0xC4, &[0; 29]),
        &segment(0x02, &[]),
        &segment(0xF0, &[1, 2, 3]),
        &sof0(1920, 1080),
    ]);
    assert_eq!((valid(&frame).width, valid(&frame).height), (1920, 1080));
}

#[test]
fn fill_bytes_and_standalone_markers_are_skipped() {
    let frame = jpeg(&[
        &[0xFF, 0xFF, 0xFF],
        &segment(0xE0, &[0; 14]),
        &[0xFF, 0xD0, 0xFF, 0xD7, 0xFF, 0x01, 0xFF],
        &sof0(800, 600),
    ]);
    assert_eq!(valid(&frame).width, 800);
    let frame = jpeg(&[&[0xFF, 0xFF], &sof0(800, 600)]);
    assert_eq!(valid(&frame).height, 600);
}

#[test]
fn nothing_after_the_frame_header_is_read() {
    // Garbage between the frame header and EOI is the decoder's business.
    let frame = jpeg(&[&sof0(320, 240), &[0x00, 0x12, 0xFF, 0x00, 0xFF, 0xD8, 0xFF]]);
    assert_eq!(valid(&frame).width, 320);
}

#[test]
fn every_error_detail_is_fit_for_the_wire() {
    let errors = [
        E::Empty,
        E::TooLarge { size: usize::MAX, limit: 5 * MIB },
        E::MissingSoi,
        E::MissingEoi,
        E::Truncated { marker: 0xC0, offset: usize::MAX },
        E::ExpectedMarker { offset: 12, found: 0x7F },
        E::UnexpectedMarker { marker: 0xD8, offset: 2 },
        E::InvalidSegmentLength { marker: 0xDB, offset: 2, length: 1 },
        E::MissingFrameHeader { found: 0xDA },
        E::InvalidFrameHeaderLength { length: 17, components: 4 },
        E::InvalidComponentCount { components: 0 },
        E::InvalidPrecision { precision: 0, coding: Coding::DifferentialLosslessArithmetic },
        E::InvalidComponent { index: 3, horizontal: 15, vertical: 0, quant_table: 255 },
        E::ZeroDimension { width: 0, height: 0 },
        E::TooManyPixels { width: u16::MAX, height: u16::MAX, limit: u64::MAX },
    ];
    for err in &errors {
        if let Some(problem) = common::wire_form_problem(err) {
            panic!("{problem}");
        }
        assert!(!err.to_string().is_empty());
    }
}
