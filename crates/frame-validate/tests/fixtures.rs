//! `validate_jpeg` on real encoder output: the five 640×480 frames of `fixtures/images/` and the edge cases of
//! `fixtures/images/edge/` (see its README.md for how each was made).

mod common;

use common::{REAL_FRAMES, image, image_path};
use frame_validate::{Coding, FrameInfo, FrameLimits, FrameValidationError, validate_jpeg};

/// Every edge-case fixture with what its frame header must say: (file, width, height, components, coding).
const EDGE_CASES: [(&str, u16, u16, u8, Coding); 7] = [
    ("grayscale_67x45.jpg", 67, 45, 1, Coding::Baseline),
    ("cmyk_40x30.jpg", 40, 30, 4, Coding::Baseline),
    ("progressive_96x72.jpg", 96, 72, 3, Coding::Progressive),
    ("tiny_1x1.jpg", 1, 1, 3, Coding::Baseline),
    ("large_4000x3000.jpg", 4000, 3000, 3, Coding::Baseline),
    ("restart_160x120.jpg", 160, 120, 3, Coding::Baseline),
    ("app_com_64x48.jpg", 64, 48, 3, Coding::Baseline),
];

/// Where a two-byte marker first occurs, if it does.
fn find_marker(bytes: &[u8], marker: u8) -> Option<usize> {
    bytes.windows(2).position(|pair| pair == [0xFF, marker])
}

#[test]
fn real_frames_are_640x480_baseline_with_three_components() {
    for name in REAL_FRAMES {
        let info = validate_jpeg(&image(name), &FrameLimits::default())
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(
            info,
            FrameInfo { width: 640, height: 480, components: 3, precision: 8, coding: Coding::Baseline },
            "{name}"
        );
    }
}

#[test]
fn real_frames_over_a_small_size_limit_are_too_large() {
    for name in REAL_FRAMES {
        let bytes = image(name);
        let limits = FrameLimits::new(48 * 1024, 40_000_000);
        let err = validate_jpeg(&bytes, &limits).unwrap_err();
        assert_eq!(err, FrameValidationError::TooLarge { size: bytes.len(), limit: 48 * 1024 }, "{name}");
        assert_eq!(err.detail(), "Frame exceeds 0.0469MB");
    }
}

#[test]
fn edge_cases_report_their_dimensions_components_and_coding() {
    for (name, width, height, components, coding) in EDGE_CASES {
        let info = validate_jpeg(&image(&format!("edge/{name}")), &FrameLimits::default())
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(info, FrameInfo { width, height, components, precision: 8, coding }, "{name}");
    }
}

#[test]
fn every_edge_case_fixture_is_listed() {
    let mut on_disk: Vec<String> = std::fs::read_dir(image_path("edge"))
        .expect("fixtures/images/edge exists")
        .map(|entry| entry.expect("readable entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".jpg"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = EDGE_CASES.iter().map(|case| case.0.to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn the_large_fixture_meets_the_pixel_limit_exactly() {
    let bytes = image("edge/large_4000x3000.jpg");
    assert!(validate_jpeg(&bytes, &FrameLimits::new(1 << 20, 12_000_000)).is_ok());
    let err = validate_jpeg(&bytes, &FrameLimits::new(1 << 20, 11_999_999)).unwrap_err();
    assert_eq!(err, FrameValidationError::TooManyPixels { width: 4000, height: 3000, limit: 11_999_999 });
}

#[test]
fn the_restart_fixture_has_a_restart_interval_and_restart_markers() {
    let bytes = image("edge/restart_160x120.jpg");
    let sos = find_marker(&bytes, 0xDA).expect("SOS");
    assert!(find_marker(&bytes, 0xDD).is_some_and(|dri| dri < sos), "DRI before the scan");
    let restarts = bytes[sos..].windows(2).filter(|pair| pair[0] == 0xFF && (0xD0..=0xD7).contains(&pair[1]));
    assert!(restarts.count() >= 2, "RSTn markers in the scan");
}

#[test]
fn the_app_com_fixture_has_metadata_segments_before_its_frame_header() {
    let bytes = image("edge/app_com_64x48.jpg");
    let sof = find_marker(&bytes, 0xC0).expect("SOF0");
    let before_sof = &bytes[..sof];
    for (marker, what) in [(0xE0, "APP0"), (0xE1, "APP1"), (0xE2, "APP2"), (0xFE, "COM")] {
        assert!(find_marker(before_sof, marker).is_some(), "{what} before SOF0");
    }
    let has = |needle: &[u8]| before_sof.windows(needle.len()).any(|window| window == needle);
    assert!(has(b"Exif\0\0") && has(b"ICC_PROFILE\0") && has(b"http://ns.adobe.com/xap/1.0/\0"));
}

#[test]
fn the_cmyk_fixture_carries_an_adobe_segment() {
    let bytes = image("edge/cmyk_40x30.jpg");
    let adobe = find_marker(&bytes, 0xEE).expect("APP14");
    assert_eq!(&bytes[adobe + 4..adobe + 9], b"Adobe");
}
