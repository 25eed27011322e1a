//! JPEG decoding and the pixel work every node shares: one decode per frame, resizes, normalisation.

use std::borrow::Cow;

use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer, images::Image};
use zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};
use zune_jpeg::JpegDecoder;

use crate::error::DecodeError;

/// A decoded frame: packed 8-bit RGB, row-major, `width * height * 3` bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

impl Frame {
    /// A frame from packed RGB bytes; `None` if the buffer length is not `width * height * 3` or a side is 0.
    pub fn from_rgb(width: u32, height: u32, rgb: Vec<u8>) -> Option<Self> {
        let expected = (width as usize).checked_mul(height as usize)?.checked_mul(3)?;
        (width > 0 && height > 0 && rgb.len() == expected).then_some(Self { width, height, rgb })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The packed RGB bytes.
    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }
}

/// Decodes a JPEG into RGB with zune-jpeg (chosen over jpeg-decoder by benchmark: see `docs/performance.md`).
///
/// Grayscale and CMYK/YCCK input are converted to RGB; progressive JPEGs are supported. Frames with more than
/// `max_pixels` pixels are refused before any pixel is decoded.
pub fn decode_jpeg(bytes: &[u8], max_pixels: u64) -> Result<Frame, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Invalid("empty frame".into()));
    }
    let options = DecoderOptions::new_fast()
        .set_max_width(u16::MAX as usize)
        .set_max_height(u16::MAX as usize)
        .jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().map_err(|e| DecodeError::Invalid(e.to_string()))?;
    let (width, height) = match decoder.info() {
        Some(info) => (u32::from(info.width), u32::from(info.height)),
        None => return Err(DecodeError::Invalid("no frame header".into())),
    };
    if width == 0 || height == 0 {
        return Err(DecodeError::Invalid(format!("zero-sized image {width}x{height}")));
    }
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(DecodeError::TooLarge { width, height, max_pixels });
    }
    let pixels = decoder.decode().map_err(|e| DecodeError::Invalid(e.to_string()))?;
    let n_pixels = width as usize * height as usize;
    // zune-jpeg honours the requested RGB output for colour and CMYK input; stay defensive about the
    // channel count anyway, since a malformed file must never turn into a panic further down.
    let rgb = match pixels.len() / n_pixels {
        3 if pixels.len() == n_pixels * 3 => pixels,
        1 if pixels.len() == n_pixels => pixels.iter().flat_map(|&l| [l, l, l]).collect(),
        4 if pixels.len() == n_pixels * 4 => {
            pixels.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect()
        }
        _ => {
            return Err(DecodeError::Invalid(format!(
                "decoder returned {} bytes for a {width}x{height} image",
                pixels.len()
            )));
        }
    };
    Ok(Frame { width, height, rgb })
}

/// Resizes `frame` to `width`×`height` RGB with a bilinear filter.
///
/// fast_image_resize's `Convolution(Bilinear)` is Pillow's `BILINEAR` (a triangle filter widened when
/// downscaling): on the same pixels it matches Pillow to within one level, and Pillow is what the reference
/// detections were computed with. The OpenCV-style `Interpolation` mode is faster but moved borderline
/// scores across the threshold.
/// A frame already of the asked size is borrowed, not copied.
pub(crate) fn resize_rgb(frame: &Frame, width: u32, height: u32) -> Result<Cow<'_, [u8]>, String> {
    if frame.width == width && frame.height == height {
        return Ok(Cow::Borrowed(&frame.rgb));
    }
    let src =
        fast_image_resize::images::ImageRef::new(frame.width, frame.height, &frame.rgb, PixelType::U8x3)
            .map_err(|e| e.to_string())?;
    let mut dst = Image::new(width, height, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    Resizer::new().resize(&src, &mut dst, &options).map_err(|e| e.to_string())?;
    Ok(Cow::Owned(dst.into_vec()))
}

/// Samples the parallelogram `origin + s·ex + t·ey` (`s`, `t` in 0..1; pixel centres at integer coordinates)
/// of `frame` into an `out_w`×`out_h` RGB image, bilinearly; points outside the frame take the nearest edge
/// pixel. This straightens rotated text regions in one pass.
pub(crate) fn sample_quad(
    frame: &Frame,
    origin: [f32; 2],
    ex: [f32; 2],
    ey: [f32; 2],
    out_w: u32,
    out_h: u32,
) -> Vec<u8> {
    let (fw, fh) = (frame.width as usize, frame.height as usize);
    let (max_x, max_y) = ((fw - 1) as f32, (fh - 1) as f32);
    let mut out = Vec::with_capacity(out_w as usize * out_h as usize * 3);
    for j in 0..out_h {
        let t = (j as f32 + 0.5) / out_h as f32;
        for i in 0..out_w {
            let s = (i as f32 + 0.5) / out_w as f32;
            let x = (origin[0] + s * ex[0] + t * ey[0]).clamp(0.0, max_x);
            let y = (origin[1] + s * ex[1] + t * ey[1]).clamp(0.0, max_y);
            // `clamp` passes NaN through; `as usize` then saturates to 0, which stays in bounds.
            let (x0, y0) = (x.floor() as usize, y.floor() as usize);
            let (x1, y1) = ((x0 + 1).min(fw - 1), (y0 + 1).min(fh - 1));
            let (ax, ay) = (x - x0 as f32, y - y0 as f32);
            for c in 0..3 {
                let px = |xx: usize, yy: usize| f32::from(frame.rgb[(yy * fw + xx) * 3 + c]);
                let top = px(x0, y0) * (1.0 - ax) + px(x1, y0) * ax;
                let bottom = px(x0, y1) * (1.0 - ax) + px(x1, y1) * ax;
                out.push((top * (1.0 - ay) + bottom * ay).round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    out
}

/// Channel order of a model's input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelOrder {
    Rgb,
    Bgr,
}

/// How 8-bit pixels become the model's floats: `(x - mean[c]) / std[c]`, `c` in the tensor's channel order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Normalise {
    pub(crate) order: ChannelOrder,
    pub(crate) mean: [f32; 3],
    pub(crate) std: [f32; 3],
}

impl Normalise {
    /// Writes packed RGB `rgb` (`width`×`height`) into the planar `[3, plane_height, plane_width]` tensor
    /// `out` at its top-left corner; the rest of `out` is left as it is.
    pub(crate) fn write_planar(
        &self,
        rgb: &[u8],
        width: usize,
        height: usize,
        out: &mut [f32],
        plane_width: usize,
        plane_height: usize,
    ) {
        let plane = plane_width * plane_height;
        for (c, &sc) in self.source_channels().iter().enumerate() {
            let scale = 1.0 / self.std[c];
            let offset = -self.mean[c] * scale;
            let Some(dst_plane) = out.get_mut(c * plane..(c + 1) * plane) else { return };
            for (row_src, row_dst) in
                rgb.chunks_exact(width * 3).take(height).zip(dst_plane.chunks_exact_mut(plane_width))
            {
                for (px, d) in row_src.chunks_exact(3).zip(row_dst.iter_mut()) {
                    *d = f32::from(px[sc]) * scale + offset;
                }
            }
        }
    }

    /// Packed RGB `rgb` as a planar `[3, H, W]` tensor of the same pixels, each written once (no zeroing
    /// first, as [`write_planar`](Self::write_planar) into a fresh tensor would need); the same values.
    pub(crate) fn planar(&self, rgb: &[u8]) -> Vec<f32> {
        let mut out = Vec::with_capacity(rgb.len());
        for (c, &sc) in self.source_channels().iter().enumerate() {
            let scale = 1.0 / self.std[c];
            let offset = -self.mean[c] * scale;
            out.extend(rgb.chunks_exact(3).map(|px| f32::from(px[sc]) * scale + offset));
        }
        out
    }

    /// The source channel feeding each tensor channel.
    fn source_channels(&self) -> [usize; 3] {
        match self.order {
            ChannelOrder::Rgb => [0, 1, 2],
            ChannelOrder::Bgr => [2, 1, 0],
        }
    }

    /// The value a pixel of grey 127.5 gets in the tensor's first channel: what RapidOCR pads with (0 for
    /// PP-OCR's normalisation).
    pub(crate) fn pad_value(&self) -> f32 {
        (127.5 - self.mean[0]) / self.std[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unpadded tensor is the padded one's values, in either channel order, bit for bit.
    #[test]
    fn planar_is_write_planar_without_padding() {
        let (w, h) = (5, 3);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 256) as u8).collect();
        for order in [ChannelOrder::Rgb, ChannelOrder::Bgr] {
            let normalise =
                Normalise { order, mean: [103.53, 116.28, 123.675], std: [57.375, 57.12, 58.395] };
            let mut padded = vec![0.0f32; 3 * w * h];
            normalise.write_planar(&rgb, w, h, &mut padded, w, h);
            let planar = normalise.planar(&rgb);
            assert_eq!(planar.len(), padded.len());
            assert!(planar.iter().zip(&padded).all(|(a, b)| a.to_bits() == b.to_bits()), "{order:?}");
            // Tensor channel 0 is the source's red for RGB, its blue for BGR.
            let first = if order == ChannelOrder::Rgb { rgb[0] } else { rgb[2] };
            assert!((planar[0] - (f32::from(first) - 103.53) / 57.375).abs() < 1e-5, "{order:?}");
        }
    }
}
