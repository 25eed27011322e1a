//! The OCR node (`ocr` / `extract_text`): PP-OCRv4 text detection (DBNet) → regions → crops → optional
//! direction classifier → recognition with greedy CTC → blocks in reading order.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use stream_protocol::{BBox, OcrOutput, TextBlock};

use crate::definition::{self, in_range, multiple_of, not_empty};
use crate::engine::OnnxModel;
use crate::error::{BoxError, Problem};
use crate::frame::{ChannelOrder, Frame, Normalise, resize_rgb, sample_quad};

/// PP-OCR's normalisation for det, rec and cls: BGR, `(x/255 - 0.5) / 0.5`.
const PPOCR_NORMALISE: Normalise = Normalise { order: ChannelOrder::Bgr, mean: [127.5; 3], std: [127.5; 3] };

/// Height of the recogniser's input.
pub(crate) const REC_HEIGHT: u32 = 48;
/// Input of the direction classifier.
pub(crate) const CLS_WIDTH: u32 = 192;
/// The most the direction classifier's crop is expanded ("unclipped"), whatever `unclip_ratio` says: RapidOCR's
/// 1.6. The recogniser reads better with the default 2.0's wider margins; the classifier, which squeezes a
/// line into 192×48, misjudges more lines with them.
const CLS_UNCLIP_RATIO: f32 = 1.6;

/// The OCR node's parameters (see `docs/pipelines.md`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct OcrParams {
    pub(crate) det_model: PathBuf,
    pub(crate) rec_model: PathBuf,
    pub(crate) cls_model: PathBuf,
    pub(crate) keys: Option<PathBuf>,
    pub(crate) use_cls: bool,
    pub(crate) det_width: u32,
    pub(crate) det_height: u32,
    pub(crate) det_threshold: f32,
    pub(crate) box_threshold: f32,
    pub(crate) unclip_ratio: f32,
    pub(crate) min_box_size: f32,
    pub(crate) min_text_confidence: f32,
    pub(crate) space_threshold: f32,
    pub(crate) max_blocks: usize,
    pub(crate) rec_widths: Vec<u32>,
}

impl Default for OcrParams {
    fn default() -> Self {
        Self {
            det_model: "ch_PP-OCRv4_det_infer.onnx".into(),
            rec_model: "ch_PP-OCRv4_rec_infer.onnx".into(),
            cls_model: "ch_ppocr_mobile_v2.0_cls_infer.onnx".into(),
            keys: None,
            use_cls: false,
            det_width: 640,
            det_height: 480,
            det_threshold: 0.3,
            box_threshold: 0.5,
            unclip_ratio: 2.0,
            min_box_size: 3.0,
            min_text_confidence: 0.5,
            space_threshold: 0.015,
            max_blocks: 100,
            rec_widths: vec![320, 480, 640, 960, 1280],
        }
    }
}

impl OcrParams {
    /// The parameters of a node's `params` object, checked; `rec_widths` come out sorted and unique.
    pub(crate) fn parse(params: &serde_json::Map<String, serde_json::Value>) -> Result<Self, Problem> {
        let mut p: Self = definition::params(params)?;
        for (name, path) in
            [("det_model", &p.det_model), ("rec_model", &p.rec_model), ("cls_model", &p.cls_model)]
                .into_iter()
                .chain(p.keys.as_ref().map(|k| ("keys", k)))
        {
            not_empty(name, path.as_os_str().is_empty())?;
        }
        for (name, v) in [("det_width", p.det_width), ("det_height", p.det_height)] {
            in_range(name, v, 32..=4096)?;
            multiple_of(name, v, 32)?;
        }
        in_range("det_threshold", p.det_threshold, 0.0..=1.0)?;
        in_range("box_threshold", p.box_threshold, 0.0..=1.0)?;
        in_range("unclip_ratio", p.unclip_ratio, 0.0..=10.0)?;
        in_range("min_box_size", p.min_box_size, 0.0..=1000.0)?;
        in_range("min_text_confidence", p.min_text_confidence, 0.0..=1.0)?;
        in_range("space_threshold", p.space_threshold, 0.0..=1.0)?;
        in_range("max_blocks", p.max_blocks, 1..=10_000)?;
        not_empty("rec_widths", p.rec_widths.is_empty())?;
        p.rec_widths.sort_unstable();
        p.rec_widths.dedup();
        for &w in &p.rec_widths {
            in_range("rec_widths", w, 32..=4096)?;
            multiple_of("rec_widths", w, 8)?;
        }
        Ok(p)
    }
}

/// A text region found by the detector: a rotated rectangle in source-frame pixels (pixel centres at integer
/// coordinates), with `u` the unit axis along the text (pointing right) and `v` the perpendicular (down).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Region {
    pub(crate) centre: [f32; 2],
    pub(crate) u: [f32; 2],
    /// Half the extent along `u`.
    pub(crate) half_w: f32,
    /// Half the extent along `v`.
    pub(crate) half_h: f32,
    /// How far the detector's rectangle was expanded on each side ("unclipped") to make this one.
    pub(crate) unclip: f32,
}

impl Region {
    fn v(&self) -> [f32; 2] {
        [-self.u[1], self.u[0]]
    }

    /// The point `centre + a·u + b·v`.
    fn at(&self, a: f32, b: f32) -> [f32; 2] {
        let v = self.v();
        [self.centre[0] + a * self.u[0] + b * v[0], self.centre[1] + a * self.u[1] + b * v[1]]
    }

    /// This rectangle with `by` taken off each side.
    fn shrunk(&self, by: f32) -> Self {
        let by = by.clamp(0.0, self.unclip);
        Self { half_w: self.half_w - by, half_h: self.half_h - by, unclip: self.unclip - by, ..*self }
    }

    /// The axis-aligned box around the rectangle, clamped to a `width`×`height` frame.
    pub(crate) fn bbox(&self, width: u32, height: u32) -> BBox {
        let corners = [
            self.at(-self.half_w, -self.half_h),
            self.at(self.half_w, -self.half_h),
            self.at(self.half_w, self.half_h),
            self.at(-self.half_w, self.half_h),
        ];
        let min = |i: usize| corners.iter().map(|c| c[i]).fold(f32::INFINITY, f32::min);
        let max = |i: usize| corners.iter().map(|c| c[i]).fold(f32::NEG_INFINITY, f32::max);
        let x0 = min(0).floor().clamp(0.0, width as f32) as u32;
        let y0 = min(1).floor().clamp(0.0, height as f32) as u32;
        let x1 = max(0).ceil().clamp(0.0, width as f32) as u32;
        let y1 = max(1).ceil().clamp(0.0, height as f32) as u32;
        BBox { x: x0, y: y0, width: x1.saturating_sub(x0), height: y1.saturating_sub(y0) }
    }
}

/// Andrew's monotone chain: the convex hull of `points`, anticlockwise in image coordinates.
fn convex_hull(mut points: Vec<[f32; 2]>) -> Vec<[f32; 2]> {
    points.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    points.dedup();
    if points.len() < 3 {
        return points;
    }
    let cross =
        |o: [f32; 2], a: [f32; 2], b: [f32; 2]| (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
    let mut hull: Vec<[f32; 2]> = Vec::with_capacity(points.len() * 2);
    for pass in 0..2 {
        let start = hull.len();
        let ordered: Box<dyn Iterator<Item = &[f32; 2]>> =
            if pass == 0 { Box::new(points.iter()) } else { Box::new(points.iter().rev()) };
        for &p in ordered {
            while hull.len() >= start + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// The minimum-area enclosing rectangle of `points` (as OpenCV's `minAreaRect`: one side lies on a hull
/// edge), oriented so that `u` is the side closer to horizontal, pointing right.
fn min_area_rect(points: Vec<[f32; 2]>) -> Option<Region> {
    let hull = convex_hull(points);
    let first = *hull.first()?;
    let mut best: Option<(f32, Region)> = None;
    let n = hull.len();
    for i in 0..n.max(1) {
        let (a, b) = (hull[i], hull[(i + 1) % n]);
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let len = (dx * dx + dy * dy).sqrt();
        let u = if len > 1e-6 { [dx / len, dy / len] } else { [1.0, 0.0] };
        let v = [-u[1], u[0]];
        let (mut min_u, mut max_u, mut min_v, mut max_v) =
            (f32::INFINITY, f32::NEG_INFINITY, f32::INFINITY, f32::NEG_INFINITY);
        for p in &hull {
            let (pu, pv) = (
                (p[0] - first[0]) * u[0] + (p[1] - first[1]) * u[1],
                (p[0] - first[0]) * v[0] + (p[1] - first[1]) * v[1],
            );
            min_u = min_u.min(pu);
            max_u = max_u.max(pu);
            min_v = min_v.min(pv);
            max_v = max_v.max(pv);
        }
        let area = (max_u - min_u) * (max_v - min_v);
        if best.as_ref().is_none_or(|(best_area, _)| area < *best_area) {
            let (cu, cv) = ((min_u + max_u) / 2.0, (min_v + max_v) / 2.0);
            let centre = [first[0] + cu * u[0] + cv * v[0], first[1] + cu * u[1] + cv * v[1]];
            let region = Region {
                centre,
                u,
                half_w: (max_u - min_u) / 2.0,
                half_h: (max_v - min_v) / 2.0,
                unclip: 0.0,
            };
            best = Some((area, region));
        }
    }
    let (_, mut r) = best?;
    // Make `u` the axis closer to horizontal, pointing right, so crops read left to right.
    if r.u[0].abs() < r.u[1].abs() {
        r = Region { u: [r.u[1], -r.u[0]], half_w: r.half_h, half_h: r.half_w, ..r };
    }
    if r.u[0] < 0.0 {
        r.u = [-r.u[0], -r.u[1]];
    }
    Some(r)
}

/// DB post-processing on a probability map of `width`×`height` whose valid part is `valid_w`×`valid_h`:
/// threshold, 8-connected components, box score, unclip; regions scaled by `1/scale` into the frame and
/// clamped to `frame_w`×`frame_h`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn regions_from_map(
    map: &[f32],
    width: usize,
    valid_w: usize,
    valid_h: usize,
    scale: f32,
    frame_w: u32,
    frame_h: u32,
    params: &OcrParams,
) -> Vec<Region> {
    let mut labels = vec![false; valid_w * valid_h];
    let on = |x: usize, y: usize| map[y * width + x] > params.det_threshold;
    let mut regions = Vec::new();
    let mut stack = Vec::new();
    for y in 0..valid_h {
        for x in 0..valid_w {
            if labels[y * valid_w + x] || !on(x, y) {
                continue;
            }
            // Flood fill one component, tracking each row's leftmost and rightmost pixel (enough for its convex
            // hull) and the probabilities inside it.
            let (mut sum, mut count) = (0.0f32, 0usize);
            let mut rows: HashMap<usize, (usize, usize)> = HashMap::new();
            labels[y * valid_w + x] = true;
            stack.push((x, y));
            while let Some((cx, cy)) = stack.pop() {
                let row = rows.entry(cy).or_insert((cx, cx));
                row.0 = row.0.min(cx);
                row.1 = row.1.max(cx);
                sum += map[cy * width + cx];
                count += 1;
                for ny in cy.saturating_sub(1)..=(cy + 1).min(valid_h - 1) {
                    for nx in cx.saturating_sub(1)..=(cx + 1).min(valid_w - 1) {
                        if !labels[ny * valid_w + nx] && on(nx, ny) {
                            labels[ny * valid_w + nx] = true;
                            stack.push((nx, ny));
                        }
                    }
                }
            }
            let points: Vec<[f32; 2]> = rows
                .iter()
                .flat_map(|(&ry, &(x0, x1))| [[x0 as f32, ry as f32], [x1 as f32, ry as f32]])
                .collect();
            let Some(rect) = min_area_rect(points) else { continue };
            // Sides measured between pixel centres, as OpenCV does: a one-pixel-wide component has width 0.
            let (w, h) = (2.0 * rect.half_w, 2.0 * rect.half_h);
            if w.min(h) < params.min_box_size {
                continue;
            }
            // The region's score is the mean probability inside its outline (DB's "slow" score mode); the mean
            // over the bounding box ("fast" mode) punishes tilted lines, whose box is mostly background.
            let score = sum / count as f32;
            if score < params.box_threshold {
                continue;
            }
            // Unclip: offset the rectangle outwards by area·ratio/perimeter, as pyclipper does in RapidOCR.
            let d = w * h * params.unclip_ratio / (2.0 * (w + h));
            if (w + 2.0 * d).min(h + 2.0 * d) < params.min_box_size + 2.0 {
                continue;
            }
            // Detector pixel centres to frame coordinates (the detector saw the frame scaled by `scale`).
            let to_frame = |c: f32| (c + 0.5) / scale - 0.5;
            let region = Region {
                centre: [to_frame(rect.centre[0]), to_frame(rect.centre[1])],
                u: rect.u,
                half_w: (rect.half_w + d) / scale,
                half_h: (rect.half_h + d) / scale,
                unclip: d / scale,
            };
            let bbox = region.bbox(frame_w, frame_h);
            if bbox.width >= 1 && bbox.height >= 1 {
                regions.push(region);
            }
        }
    }
    regions
}

/// Greedy CTC over `[T, C]` class probabilities: argmax per step, collapse repeats, drop blanks (index 0).
/// The last class is the space. Returns the text and the mean probability of its non-space characters (0 for
/// empty text).
///
/// Word spaces: PP-OCR's recogniser rarely makes the space its best class between Latin words, but between two
/// words it nearly always gives the space some probability in the blank steps that separate them, and inside a
/// word it gives none. So a space goes between two characters when the space class reaches `space_threshold`
/// at any step between them (or wins a step outright). Spaces are never doubled, leading or trailing.
pub(crate) fn ctc_greedy(
    probs: &[f32],
    n_classes: usize,
    charset: &[String],
    space_threshold: f32,
) -> (String, f32) {
    let space = n_classes - 1;
    let mut text = String::new();
    let (mut sum, mut kept) = (0.0f32, 0usize);
    let mut previous = 0usize;
    // The strongest space evidence since the last character.
    let mut gap_space = 0.0f32;
    for step in probs.chunks_exact(n_classes) {
        let (best, p) = step
            .iter()
            .copied()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |acc, (i, p)| if p > acc.1 { (i, p) } else { acc });
        if best == 0 {
            gap_space = gap_space.max(step[space]);
        } else if best != space && best != previous {
            if let Some(c) = charset.get(best) {
                if kept > 0 && gap_space >= space_threshold {
                    text.push(' ');
                }
                text.push_str(c);
                sum += p;
                kept += 1;
            }
            gap_space = 0.0;
        } else if best == space {
            gap_space = 1.0;
        }
        previous = best;
    }
    (text, if kept > 0 { sum / kept as f32 } else { 0.0 })
}

/// Orders blocks top to bottom, left to right: a block joins the current line when its vertical centre falls
/// inside the line's first block; lines are joined with `\n`, blocks of one line with a space.
pub(crate) fn reading_order(mut blocks: Vec<TextBlock>) -> OcrOutput {
    blocks.sort_by_key(|b| (b.bbox.y, b.bbox.x));
    let mut lines: Vec<Vec<TextBlock>> = Vec::new();
    for block in blocks {
        let centre = block.bbox.y + block.bbox.height / 2;
        match lines.last_mut() {
            Some(line)
                if line.first().is_some_and(|f| centre >= f.bbox.y && centre <= f.bbox.y + f.bbox.height) =>
            {
                line.push(block);
            }
            _ => lines.push(vec![block]),
        }
    }
    let mut text = String::new();
    let mut ordered = Vec::new();
    for mut line in lines {
        line.sort_by_key(|b| b.bbox.x);
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&line.iter().map(|b| b.text.as_str()).collect::<Vec<_>>().join(" "));
        ordered.extend(line);
    }
    OcrOutput { text, blocks: ordered }
}

/// A loaded OCR node: det plan, one rec plan per width bucket, optional cls plan, the character list.
#[derive(Debug)]
pub(crate) struct OcrEngine {
    det: Arc<OnnxModel>,
    /// `(width, plan)`, ascending.
    rec: Vec<(u32, Arc<OnnxModel>)>,
    cls: Option<Arc<OnnxModel>>,
    /// Index 0 is the CTC blank; then the keys; then the space.
    charset: Vec<String>,
    params: OcrParams,
    /// Where a frame's lines are recognised side by side, each on one thread (tract's kernels scale poorly
    /// on the recogniser's small matrices: two lines at once on two cores beat one line on both); `None`
    /// recognises them one after the other with the engine's threads.
    lines: Option<Arc<rayon::ThreadPool>>,
}

impl OcrEngine {
    pub(crate) fn new(
        det: Arc<OnnxModel>,
        rec: Vec<(u32, Arc<OnnxModel>)>,
        cls: Option<Arc<OnnxModel>>,
        keys: Vec<String>,
        params: OcrParams,
        lines: Option<Arc<rayon::ThreadPool>>,
    ) -> Result<Self, String> {
        let mut charset = Vec::with_capacity(keys.len() + 2);
        charset.push(String::new());
        // Full-width forms (U+FF01..=U+FF5E, e.g. `（`, `！`, `：`) read as their ASCII twins, as Unicode's
        // compatibility mapping (NFKC) has them: the recogniser picks them for Latin text too.
        charset.extend(keys.into_iter().map(|k| {
            let mut chars = k.chars();
            match (chars.next(), chars.next()) {
                (Some(c @ '\u{FF01}'..='\u{FF5E}'), None) => {
                    char::from_u32(c as u32 - 0xFEE0).map_or(k, String::from)
                }
                _ => k,
            }
        }));
        charset.push(" ".to_owned());
        for (width, plan) in &rec {
            match plan.output_shapes() {
                [s] if s.len() == 3 && s[2] == charset.len() => {}
                other => {
                    return Err(format!(
                        "rec output at width {width} is {other:?}, expected [1,T,{}] (blank + {} keys + space)",
                        charset.len(),
                        charset.len() - 2
                    ));
                }
            }
        }
        match det.output_shapes() {
            [s] if s.len() == 4 && s[1] == 1 => {}
            other => return Err(format!("det output is {other:?}, expected [1,1,H,W]")),
        }
        if let Some(cls) = &cls
            && !matches!(cls.output_shapes(), [s] if s.last() == Some(&2))
        {
            return Err(format!("cls output is {:?}, expected [1,2]", cls.output_shapes()));
        }
        Ok(Self { det, rec, cls, charset, params, lines })
    }

    pub(crate) fn det_size(&self) -> (u32, u32) {
        (self.params.det_width, self.params.det_height)
    }

    /// Text detection: the frame fitted into the det input (aspect kept, top-left, grey padding).
    pub(crate) fn detect_regions(&self, frame: &Frame) -> Result<Vec<Region>, BoxError> {
        let (dw, dh) = (self.params.det_width, self.params.det_height);
        let scale = (dw as f32 / frame.width() as f32).min(dh as f32 / frame.height() as f32);
        let nw = ((frame.width() as f32 * scale).round() as u32).clamp(1, dw);
        let nh = ((frame.height() as f32 * scale).round() as u32).clamp(1, dh);
        let resized = resize_rgb(frame, nw, nh)?;
        let (dw, dh) = (dw as usize, dh as usize);
        let mut input = vec![PPOCR_NORMALISE.pad_value(); 3 * dw * dh];
        PPOCR_NORMALISE.write_planar(&resized, nw as usize, nh as usize, &mut input, dw, dh);
        let outputs = self.det.run(input)?;
        let (_, map) = outputs.get(0).ok_or("det produced no float32 output")?;
        if map.len() != dw * dh {
            return Err(format!("det output has {} values, expected {}", map.len(), dw * dh).into());
        }
        // Scale factors per axis, from the rounded resize, so regions map back exactly.
        let scale = nw as f32 / frame.width() as f32;
        let mut regions = regions_from_map(
            map,
            dw,
            nw as usize,
            nh as usize,
            scale,
            frame.width(),
            frame.height(),
            &self.params,
        );
        regions.truncate(self.params.max_blocks);
        Ok(regions)
    }

    /// The crop of `region`, straightened and resized to height 48 (aspect kept, at most `max_w` wide);
    /// tall crops (height ≥ 1.5 × width) are turned 90° anticlockwise, as RapidOCR does. Returns RGB and
    /// the crop's width.
    fn crop(frame: &Frame, r: Region, max_w: u32) -> (Vec<u8>, u32) {
        let (w, h) = (2.0 * r.half_w, 2.0 * r.half_h);
        let target_w = |long: f32, short: f32| {
            ((REC_HEIGHT as f32 * long / short.max(1.0)).ceil() as u32).clamp(1, max_w)
        };
        let (origin, ex, ey, out_w) = if h >= 1.5 * w {
            // np.rot90: the new x axis runs down the old y, the new y axis right-to-left along the old x.
            let origin = r.at(r.half_w, -r.half_h);
            let v = r.v();
            ([origin[0], origin[1]], [h * v[0], h * v[1]], [-w * r.u[0], -w * r.u[1]], target_w(h, w))
        } else {
            let origin = r.at(-r.half_w, -r.half_h);
            let v = r.v();
            ([origin[0], origin[1]], [w * r.u[0], w * r.u[1]], [h * v[0], h * v[1]], target_w(w, h))
        };
        (sample_quad(frame, origin, ex, ey, out_w, REC_HEIGHT), out_w)
    }

    /// True when the direction classifier says the region is upside down (180° with probability > 0.9). The
    /// classifier sees the region expanded no further than [`CLS_UNCLIP_RATIO`] allows, squeezed into at most
    /// 192×48.
    fn upside_down(
        &self,
        cls: &OnnxModel,
        frame: &Frame,
        region: Region,
        single: bool,
    ) -> Result<bool, BoxError> {
        let keep = (CLS_UNCLIP_RATIO / self.params.unclip_ratio).min(1.0);
        let (rgb, w) = Self::crop(frame, region.shrunk(region.unclip * (1.0 - keep)), CLS_WIDTH);
        let (cw, h) = (CLS_WIDTH as usize, REC_HEIGHT as usize);
        let mut input = vec![PPOCR_NORMALISE.pad_value(); 3 * cw * h];
        PPOCR_NORMALISE.write_planar(&rgb, w as usize, h, &mut input, cw, h);
        let outputs = if single { cls.run_single_threaded(input)? } else { cls.run(input)? };
        let (_, p) = outputs.get(0).ok_or("cls produced no float32 output")?;
        Ok(matches!(p, [p0, p180] if p180 > p0 && *p180 > 0.9))
    }

    /// Recognises one crop (RGB, height 48, `width` wide) with the smallest bucket that fits. On an engine that
    /// runs any width (onnxruntime) the input is only as wide as the crop plus one line height of blank (with
    /// less, borderline spaces read differently from the bucketed runs), rounded up to the recogniser's stride
    /// of 8, and at least the smallest bucket: 12% faster on the page fixture, the same text.
    fn recognise(&self, rgb: &[u8], width: u32, single: bool) -> Result<(String, f32), BoxError> {
        let (bucket, plan) =
            self.rec.iter().find(|(w, _)| *w >= width).or(self.rec.last()).ok_or("no recognition plan")?;
        let smallest = self.rec.first().map_or(*bucket, |(w, _)| *w);
        let run_w = if plan.runs_any_width() {
            (width + REC_HEIGHT).next_multiple_of(8).max(smallest).min(*bucket)
        } else {
            *bucket
        };
        let (rw, h) = (run_w as usize, REC_HEIGHT as usize);
        let mut input = vec![PPOCR_NORMALISE.pad_value(); 3 * rw * h];
        PPOCR_NORMALISE.write_planar(rgb, (width as usize).min(rw), h, &mut input, rw, h);
        let outputs = match (run_w == *bucket, single) {
            (true, true) => plan.run_single_threaded(input)?,
            (true, false) => plan.run(input)?,
            (false, _) => plan.run_width(input, rw, !single)?,
        };
        let (shape, probs) = outputs.get(0).ok_or("rec produced no float32 output")?;
        let n_classes = shape.last().copied().unwrap_or(0);
        if n_classes != self.charset.len() {
            return Err(format!("rec output {shape:?} does not fit {} characters", self.charset.len()).into());
        }
        Ok(ctc_greedy(probs, n_classes, &self.charset, self.params.space_threshold))
    }

    /// Direction check and recognition of one region; `None` when nothing legible is there.
    fn read(&self, frame: &Frame, region: Region, single: bool) -> Result<Option<TextBlock>, BoxError> {
        let (mut rgb, width) = Self::crop(frame, region, self.rec.last().map_or(320, |(w, _)| *w));
        if let Some(cls) = &self.cls
            && self.upside_down(cls, frame, region, single)?
        {
            // 180°: reverse the pixel order.
            let pixels: Vec<[u8; 3]> = rgb.chunks_exact(3).rev().map(|p| [p[0], p[1], p[2]]).collect();
            rgb = pixels.concat();
        }
        let (text, confidence) = self.recognise(&rgb, width, single)?;
        if text.is_empty() || confidence < self.params.min_text_confidence {
            return Ok(None);
        }
        let bbox = region.bbox(frame.width(), frame.height());
        Ok(Some(TextBlock { text, confidence, bbox }))
    }

    /// The whole node on one decoded frame.
    pub(crate) fn run(&self, frame: &Frame) -> Result<OcrOutput, BoxError> {
        let regions = self.detect_regions(frame)?;
        let blocks: Vec<Option<TextBlock>> = match &self.lines {
            Some(pool) if regions.len() > 1 => {
                use rayon::prelude::*;
                pool.install(|| {
                    regions.into_par_iter().map(|r| self.read(frame, r, true)).collect::<Result<_, _>>()
                })?
            }
            _ => regions.into_iter().map(|r| self.read(frame, r, false)).collect::<Result<_, _>>()?,
        };
        Ok(reading_order(blocks.into_iter().flatten().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> OcrParams {
        OcrParams::default()
    }

    #[test]
    fn min_area_rect_fits_a_tilted_rectangle() {
        // A 40×10 rectangle turned by 0.1 rad around (50, 30), sampled densely.
        let (angle, cx, cy) = (0.1f32, 50.0f32, 30.0f32);
        let (cos, sin) = (angle.cos(), angle.sin());
        let points: Vec<[f32; 2]> = (0..=40)
            .flat_map(|a| (0..=10).map(move |b| (a as f32 - 20.0, b as f32 - 5.0)))
            .map(|(a, b)| [cx + a * cos - b * sin, cy + a * sin + b * cos])
            .collect();
        let r = min_area_rect(points).unwrap();
        assert!((r.centre[0] - cx).abs() < 1e-3 && (r.centre[1] - cy).abs() < 1e-3, "{r:?}");
        assert!((r.half_w - 20.0).abs() < 1e-3 && (r.half_h - 5.0).abs() < 1e-3, "{r:?}");
        assert!((r.u[0] - cos).abs() < 1e-4 && (r.u[1] - sin).abs() < 1e-4, "{r:?}");
        let bbox = r.bbox(1000, 1000);
        assert!(bbox.x <= 30 && bbox.x + bbox.width >= 70, "{bbox:?}");
        // Degenerate inputs give a degenerate rectangle or none, never a panic.
        assert!(min_area_rect(Vec::new()).is_none());
        assert_eq!(min_area_rect(vec![[3.0, 4.0]]).map(|r| r.half_w), Some(0.0));
    }

    #[test]
    fn greedy_ctc_collapses_repeats_and_drops_blanks() {
        let charset: Vec<String> = ["", "a", "b", " "].iter().map(|s| s.to_string()).collect();
        let step = |i: usize, p: f32| {
            let mut row = vec![(1.0 - p) / 3.0; 4];
            row[i] = p;
            row
        };
        // a a _ a b b _ → "aab"
        let probs: Vec<f32> = [(1, 0.9), (1, 0.8), (0, 0.9), (1, 0.7), (2, 0.6), (2, 0.9), (0, 0.9)]
            .into_iter()
            .flat_map(|(i, p)| step(i, p))
            .collect();
        let (text, confidence) = ctc_greedy(&probs, 4, &charset, 0.5);
        assert_eq!(text, "aab");
        assert!((confidence - (0.9 + 0.7 + 0.6) / 3.0).abs() < 1e-6);
        assert_eq!(ctc_greedy(&step(0, 0.9), 4, &charset, 0.02), (String::new(), 0.0));
    }

    #[test]
    fn a_space_goes_where_the_gap_holds_space_evidence() {
        let charset: Vec<String> = ["", "a", "b", " "].iter().map(|s| s.to_string()).collect();
        // [blank, a, b, space] probabilities per step.
        let steps = |rows: &[[f32; 4]]| rows.iter().flatten().copied().collect::<Vec<f32>>();
        let word_gap = steps(&[
            [0.0, 1.0, 0.0, 0.0],
            [0.96, 0.0, 0.0, 0.04], // blank wins, but the space is likely
            [0.0, 0.0, 1.0, 0.0],
            [1.0, 0.0, 0.0, 0.0], // a letter gap: no space evidence
            [0.0, 1.0, 0.0, 0.0],
        ]);
        assert_eq!(ctc_greedy(&word_gap, 4, &charset, 0.02).0, "a ba");
        assert_eq!(ctc_greedy(&word_gap, 4, &charset, 0.05).0, "aba");
        // A space that wins its steps is kept once; leading and trailing spaces are dropped.
        let emitted = steps(&[
            [0.0, 0.0, 0.0, 1.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
            [0.2, 0.0, 0.0, 0.8],
            [0.0, 0.0, 0.0, 0.9],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]);
        let (text, confidence) = ctc_greedy(&emitted, 4, &charset, 0.02);
        assert_eq!(text, "a b");
        assert_eq!(confidence, 1.0, "spaces do not count towards the confidence");
    }

    #[test]
    fn blocks_are_read_top_to_bottom_then_left_to_right() {
        let block = |text: &str, x, y| TextBlock {
            text: text.into(),
            confidence: 0.9,
            bbox: BBox { x, y, width: 40, height: 20 },
        };
        let out = reading_order(vec![
            block("world", 100, 12),
            block("second", 10, 50),
            block("hello", 10, 10),
            block("line", 100, 52),
        ]);
        assert_eq!(out.text, "hello world\nsecond line");
        let order: Vec<&str> = out.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(order, ["hello", "world", "second", "line"]);
        assert_eq!(reading_order(Vec::new()).text, "");
    }

    #[test]
    fn regions_are_thresholded_scored_and_unclipped() {
        // A 40×20 map, valid part 40×20, with one strong 20×5 blob and one weak one.
        let (w, h) = (40usize, 20usize);
        let mut map = vec![0.0f32; w * h];
        for y in 5..10 {
            for x in 5..25 {
                map[y * w + x] = 0.9;
            }
        }
        for y in 14..18 {
            for x in 30..38 {
                map[y * w + x] = 0.35; // above the 0.3 threshold, below the 0.5 box score
            }
        }
        let regions = regions_from_map(&map, w, w, h, 0.5, 80, 40, &params());
        assert_eq!(regions.len(), 1);
        // Contour 19×4 → d = 19·4·2.0 / (2·23) ≈ 3.304; then into the frame, scaled ×2.
        let d = 19.0 * 4.0 * 2.0 / 46.0;
        let r = regions[0];
        let expected = [29.5, 14.5, (9.5 + d) * 2.0, (2.0 + d) * 2.0, d * 2.0];
        for (got, want) in [r.centre[0], r.centre[1], r.half_w, r.half_h, r.unclip].into_iter().zip(expected)
        {
            assert!((got - want).abs() < 1e-3, "{r:?} vs {expected:?}");
        }
        // The classifier's crop takes back part of the expansion, never more than all of it.
        let tighter = r.shrunk(1.0);
        assert!(
            (tighter.half_w - (r.half_w - 1.0)).abs() < 1e-6
                && (tighter.unclip - (r.unclip - 1.0)).abs() < 1e-6
        );
        let bare = r.shrunk(100.0);
        assert!((bare.half_h - 4.0).abs() < 1e-3 && bare.unclip == 0.0, "{bare:?}");
        assert_eq!(r.shrunk(-1.0), r);
        assert!((r.u[0] - 1.0).abs() < 1e-6 && r.u[1].abs() < 1e-6, "{r:?}");
        assert!(regions_from_map(&vec![0.1; w * h], w, w, h, 1.0, 40, 20, &params()).is_empty());
    }
}
