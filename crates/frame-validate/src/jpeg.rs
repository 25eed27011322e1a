//! The structural JPEG check: markers up to the frame header, read without decoding anything.
//!
//! Layout of what is read (ITU-T T.81 Annex B): `FF D8` (SOI), then marker segments — each `FF`, optional `FF`
//! fill bytes, a marker byte, and for most markers a big-endian length that counts itself — up to the first frame
//! header (SOF*n*): `FF Cn`, length, precision, height, width, component count, then three bytes per component
//! (id, sampling factors, quantization table). The entropy-coded data after it is the decoder's business.

use std::fmt;

use crate::{FrameLimits, FrameValidationError, check_frame_size};

// === Markers ===

/// The byte that starts every marker.
const MARKER_PREFIX: u8 = 0xFF;
/// Start of image.
const SOI: u8 = 0xD8;
/// End of image.
const EOI: u8 = 0xD9;
/// Start of scan.
const SOS: u8 = 0xDA;
/// For temporary private use in arithmetic coding; standalone.
const TEM: u8 = 0x01;
/// Not a marker: a `0xFF` data byte followed by a stuffed zero.
const STUFFED_ZERO: u8 = 0x00;

/// Bytes of a frame header before the per-component parameters: length (2), precision (1), height (2), width (2),
/// component count (1).
const SOF_FIXED_LEN: u16 = 8;

// === impl Coding ===

/// The coding process a frame header declares, one per SOF marker (ITU-T T.81 Table B.1).
///
/// Browsers and cameras write [`Baseline`](Self::Baseline) or [`Progressive`](Self::Progressive); the others are
/// reported faithfully so that the caller can decide, since the pipeline's decoder may not support them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coding {
    /// SOF0: baseline sequential DCT, Huffman coding, 8-bit samples.
    Baseline,
    /// SOF1: extended sequential DCT, Huffman coding.
    ExtendedSequential,
    /// SOF2: progressive DCT, Huffman coding.
    Progressive,
    /// SOF3: lossless (sequential), Huffman coding.
    Lossless,
    /// SOF5: differential sequential DCT (hierarchical), Huffman coding.
    DifferentialSequential,
    /// SOF6: differential progressive DCT (hierarchical), Huffman coding.
    DifferentialProgressive,
    /// SOF7: differential lossless (hierarchical), Huffman coding.
    DifferentialLossless,
    /// SOF9: extended sequential DCT, arithmetic coding.
    ExtendedSequentialArithmetic,
    /// SOF10: progressive DCT, arithmetic coding.
    ProgressiveArithmetic,
    /// SOF11: lossless (sequential), arithmetic coding.
    LosslessArithmetic,
    /// SOF13: differential sequential DCT (hierarchical), arithmetic coding.
    DifferentialSequentialArithmetic,
    /// SOF14: differential progressive DCT (hierarchical), arithmetic coding.
    DifferentialProgressiveArithmetic,
    /// SOF15: differential lossless (hierarchical), arithmetic coding.
    DifferentialLosslessArithmetic,
}

impl Coding {
    /// The coding of a SOF marker byte (`0xC0` → [`Baseline`](Self::Baseline)); `None` for every other marker,
    /// including DHT (`0xC4`), JPG (`0xC8`) and DAC (`0xCC`), which share the SOF range.
    pub const fn from_marker(marker: u8) -> Option<Self> {
        Some(match marker {
            0xC0 => Self::Baseline,
            0xC1 => Self::ExtendedSequential,
            0xC2 => Self::Progressive,
            0xC3 => Self::Lossless,
            0xC5 => Self::DifferentialSequential,
            0xC6 => Self::DifferentialProgressive,
            0xC7 => Self::DifferentialLossless,
            0xC9 => Self::ExtendedSequentialArithmetic,
            0xCA => Self::ProgressiveArithmetic,
            0xCB => Self::LosslessArithmetic,
            0xCD => Self::DifferentialSequentialArithmetic,
            0xCE => Self::DifferentialProgressiveArithmetic,
            0xCF => Self::DifferentialLosslessArithmetic,
            _ => return None,
        })
    }

    /// The SOF marker byte of this coding (the byte after `0xFF`).
    pub const fn marker(self) -> u8 {
        match self {
            Self::Baseline => 0xC0,
            Self::ExtendedSequential => 0xC1,
            Self::Progressive => 0xC2,
            Self::Lossless => 0xC3,
            Self::DifferentialSequential => 0xC5,
            Self::DifferentialProgressive => 0xC6,
            Self::DifferentialLossless => 0xC7,
            Self::ExtendedSequentialArithmetic => 0xC9,
            Self::ProgressiveArithmetic => 0xCA,
            Self::LosslessArithmetic => 0xCB,
            Self::DifferentialSequentialArithmetic => 0xCD,
            Self::DifferentialProgressiveArithmetic => 0xCE,
            Self::DifferentialLosslessArithmetic => 0xCF,
        }
    }

    /// Whether the entropy coding is arithmetic rather than Huffman.
    pub const fn is_arithmetic(self) -> bool {
        self.marker() & 0x08 != 0
    }

    /// Whether this is a differential frame of a hierarchical image.
    pub const fn is_differential(self) -> bool {
        self.marker() & 0x04 != 0
    }

    /// Whether the image arrives in several progressive scans.
    pub const fn is_progressive(self) -> bool {
        self.marker() & 0x03 == 0x02
    }

    /// Whether the process is lossless (no DCT).
    pub const fn is_lossless(self) -> bool {
        self.marker() & 0x03 == 0x03
    }

    /// Whether `precision` bits per sample are allowed for this process (T.81 Table B.2).
    const fn allows_precision(self, precision: u8) -> bool {
        match self {
            Self::Baseline => precision == 8,
            _ if self.is_lossless() => matches!(precision, 2..=16),
            _ => matches!(precision, 8 | 12),
        }
    }
}

impl fmt::Display for Coding {
    /// Plain words for logs and error details: `baseline`, `progressive (arithmetic)`, ….
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let process = match self.marker() & 0x07 {
            0x00 => "baseline",
            0x01 | 0x05 => "sequential",
            0x02 | 0x06 => "progressive",
            _ => "lossless",
        };
        let process = if matches!(self, Self::ExtendedSequential | Self::ExtendedSequentialArithmetic) {
            "extended sequential"
        } else {
            process
        };
        if self.is_differential() {
            f.write_str("differential ")?;
        }
        f.write_str(process)?;
        if self.is_arithmetic() {
            f.write_str(" (arithmetic)")?;
        }
        Ok(())
    }
}

// === impl FrameInfo ===

/// What the frame header of a valid frame says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameInfo {
    /// Samples per line, at least 1.
    pub width: u16,
    /// Lines, at least 1.
    pub height: u16,
    /// Number of colour components: 1 (grayscale), 3 (YCbCr or RGB) or 4 (CMYK or YCCK).
    pub components: u8,
    /// Bits per sample: 8 for baseline; 8 or 12 for the other DCT processes; 2 to 16 for lossless.
    pub precision: u8,
    /// The coding process of the frame header.
    pub coding: Coding,
}

impl FrameInfo {
    /// `width × height`.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

// === validate_jpeg ===

/// Checks that `bytes` is structurally one JPEG image within `limits`, and returns what its frame header says.
///
/// Checks, in this order, each failing with its own [`FrameValidationError`]:
/// 1. the frame is not empty;
/// 2. it is no longer than [`FrameLimits::max_frame_bytes`] ([`check_frame_size`]);
/// 3. it starts with SOI (`FF D8`) and 4. ends with EOI (`FF D9`);
/// 5. the marker segments after SOI, up to the frame header, are well formed: fill bytes (`FF FF …`),
///    standalone markers (RST*n*, TEM) and length-prefixed segments that fit before the final EOI; SOS or EOI
///    before a frame header is an error;
/// 6. the frame header (SOF0–SOF15 except DHT, JPG and DAC) has 1 to 4 components, a length of
///    `8 + 3 × components`, a precision its process allows, sampling factors in `1..=4` and quantization table
///    selectors in `0..=3`;
/// 7. width and height are not zero, and 8. `width × height` is at most [`FrameLimits::max_pixels`].
///
/// Nothing after the frame header is read: the Huffman tables, scans and entropy-coded data are left to the
/// decoder, so a frame that passes may still fail to decode. The cost is a few comparisons per segment, no
/// allocation, and never a panic, whatever the input.
///
/// Hierarchical images (a DHP segment before differential frames) are reported by their first frame header.
///
/// ```
/// use frame_validate::{validate_jpeg, FrameLimits, FrameValidationError};
///
/// let limits = FrameLimits { max_pixels: 100, ..FrameLimits::default() };
/// // SOI, a baseline frame header of 20×10 pixels with one component, EOI.
/// let frame = [0xFF, 0xD8, 0xFF, 0xC0, 0, 11, 8, 0, 10, 0, 20, 1, 1, 0x11, 0, 0xFF, 0xD9];
/// let err = validate_jpeg(&frame, &limits).unwrap_err();
/// assert_eq!(err, FrameValidationError::TooManyPixels { width: 20, height: 10, limit: 100 });
/// ```
pub fn validate_jpeg(bytes: &[u8], limits: &FrameLimits) -> Result<FrameInfo, FrameValidationError> {
    if bytes.is_empty() {
        return Err(FrameValidationError::Empty);
    }
    check_frame_size(bytes.len(), limits)?;
    if !bytes.starts_with(&[MARKER_PREFIX, SOI]) {
        return Err(FrameValidationError::MissingSoi);
    }
    if !bytes.ends_with(&[MARKER_PREFIX, EOI]) {
        return Err(FrameValidationError::MissingEoi);
    }
    // Everything up to the frame header must lie between SOI and the final EOI. `ends_with` above guarantees
    // at least two bytes, and SOI and EOI cannot overlap (that would need `D8 == FF`), so `body` is at least SOI.
    let body = bytes.get(..bytes.len() - 2).unwrap_or_default();
    let info = read_frame_header(body)?;

    if info.width == 0 || info.height == 0 {
        return Err(FrameValidationError::ZeroDimension { width: info.width, height: info.height });
    }
    if info.pixels() > limits.max_pixels {
        return Err(FrameValidationError::TooManyPixels {
            width: info.width,
            height: info.height,
            limit: limits.max_pixels,
        });
    }
    Ok(info)
}

/// Walks the marker segments of `body` (the frame without its final EOI) from after SOI to the first frame
/// header, and parses that header.
fn read_frame_header(body: &[u8]) -> Result<FrameInfo, FrameValidationError> {
    let mut pos = 2; // After SOI.
    loop {
        let marker_offset = pos;
        match body.get(pos) {
            // Reaching the end of `body` means the next marker is the final EOI.
            None => return Err(FrameValidationError::MissingFrameHeader { found: EOI }),
            Some(&MARKER_PREFIX) => {}
            Some(&found) => return Err(FrameValidationError::ExpectedMarker { offset: pos, found }),
        }
        // Any number of 0xFF fill bytes may precede the marker byte (T.81 B.1.1.2).
        while body.get(pos) == Some(&MARKER_PREFIX) {
            pos += 1;
        }
        let Some(&marker) = body.get(pos) else {
            // Only fill bytes up to the final EOI, whose 0xFF is one more fill byte: the marker is EOI.
            return Err(FrameValidationError::MissingFrameHeader { found: EOI });
        };
        pos += 1;

        match marker {
            SOS | EOI => return Err(FrameValidationError::MissingFrameHeader { found: marker }),
            SOI | STUFFED_ZERO => {
                return Err(FrameValidationError::UnexpectedMarker { marker, offset: marker_offset });
            }
            // Standalone markers: no length, nothing to skip.
            TEM | 0xD0..=0xD7 => continue,
            _ => {}
        }

        let truncated = || FrameValidationError::Truncated { marker, offset: marker_offset };
        let length = read_u16(body, pos).ok_or_else(truncated)?;
        if length < 2 {
            return Err(FrameValidationError::InvalidSegmentLength { marker, offset: marker_offset, length });
        }
        if let Some(coding) = Coding::from_marker(marker) {
            return parse_frame_header(body, pos, coding).ok_or_else(truncated)?;
        }
        // `pos` is at most `body.len()` and `length` at most 65 535, so this cannot overflow; checked anyway.
        let end = pos.checked_add(usize::from(length)).ok_or_else(truncated)?;
        if end > body.len() {
            return Err(truncated());
        }
        pos = end;
    }
}

/// Parses the frame header whose length field starts at `start` in `body`.
///
/// `None` means the header runs past the end of `body` (the caller knows which marker to report); the fixed
/// fields are read before the declared length is checked, so that a wrong length is reported with the component
/// count it contradicts.
fn parse_frame_header(
    body: &[u8],
    start: usize,
    coding: Coding,
) -> Option<Result<FrameInfo, FrameValidationError>> {
    let fixed: [u8; SOF_FIXED_LEN as usize] =
        body.get(start..)?.get(..usize::from(SOF_FIXED_LEN))?.try_into().ok()?;
    let [length_high, length_low, precision, height_high, height_low, width_high, width_low, components] =
        fixed;
    let length = u16::from_be_bytes([length_high, length_low]);
    let height = u16::from_be_bytes([height_high, height_low]);
    let width = u16::from_be_bytes([width_high, width_low]);

    if !(1..=4).contains(&components) {
        return Some(Err(FrameValidationError::InvalidComponentCount { components }));
    }
    if length != SOF_FIXED_LEN + 3 * u16::from(components) {
        return Some(Err(FrameValidationError::InvalidFrameHeaderLength { length, components }));
    }
    let entries =
        body.get(start.checked_add(usize::from(SOF_FIXED_LEN))?..start.checked_add(usize::from(length))?)?;
    if !coding.allows_precision(precision) {
        return Some(Err(FrameValidationError::InvalidPrecision { precision, coding }));
    }
    for (index, entry) in (0u8..).zip(entries.chunks_exact(3)) {
        let &[_id, sampling, quant_table] = entry else { continue };
        let (horizontal, vertical) = (sampling >> 4, sampling & 0x0F);
        if !(1..=4).contains(&horizontal) || !(1..=4).contains(&vertical) || quant_table > 3 {
            return Some(Err(FrameValidationError::InvalidComponent {
                index,
                horizontal,
                vertical,
                quant_table,
            }));
        }
    }

    Some(Ok(FrameInfo { width, height, components, precision, coding }))
}

/// The big-endian `u16` at `pos`, if both bytes are there.
fn read_u16(bytes: &[u8], pos: usize) -> Option<u16> {
    let pair: [u8; 2] = bytes.get(pos..)?.get(..2)?.try_into().ok()?;
    Some(u16::from_be_bytes(pair))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sof_marker_round_trips_and_the_others_are_not_sof() {
        for marker in 0..=u8::MAX {
            match Coding::from_marker(marker) {
                Some(coding) => assert_eq!(coding.marker(), marker),
                None => assert!(!(0xC0..=0xCF).contains(&marker) || matches!(marker, 0xC4 | 0xC8 | 0xCC)),
            }
        }
    }

    #[test]
    fn coding_flags_and_names_follow_table_b1() {
        assert_eq!(Coding::Baseline.to_string(), "baseline");
        assert_eq!(Coding::ExtendedSequential.to_string(), "extended sequential");
        assert_eq!(Coding::Progressive.to_string(), "progressive");
        assert_eq!(Coding::Lossless.to_string(), "lossless");
        assert_eq!(Coding::DifferentialSequential.to_string(), "differential sequential");
        assert_eq!(Coding::ProgressiveArithmetic.to_string(), "progressive (arithmetic)");
        assert_eq!(Coding::DifferentialLosslessArithmetic.to_string(), "differential lossless (arithmetic)");
        assert!(Coding::ExtendedSequentialArithmetic.is_arithmetic());
        assert!(!Coding::Progressive.is_arithmetic());
        assert!(
            Coding::DifferentialProgressive.is_progressive()
                && Coding::DifferentialProgressive.is_differential()
        );
        assert!(Coding::LosslessArithmetic.is_lossless() && !Coding::Baseline.is_lossless());
    }

    #[test]
    fn precision_rules_follow_table_b2() {
        assert!(Coding::Baseline.allows_precision(8));
        assert!(!Coding::Baseline.allows_precision(12));
        assert!(Coding::ExtendedSequential.allows_precision(12));
        assert!(Coding::Progressive.allows_precision(8) && !Coding::Progressive.allows_precision(16));
        assert!(Coding::Lossless.allows_precision(2) && Coding::Lossless.allows_precision(16));
        assert!(!Coding::Lossless.allows_precision(1) && !Coding::Lossless.allows_precision(17));
    }

    #[test]
    fn read_u16_needs_both_bytes() {
        assert_eq!(read_u16(&[0x12, 0x34], 0), Some(0x1234));
        assert_eq!(read_u16(&[0x12, 0x34], 1), None);
        assert_eq!(read_u16(&[0x12], usize::MAX), None);
    }
}
