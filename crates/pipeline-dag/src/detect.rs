//! The detection node (`yolo` / `detect_objects`): NanoDet-Plus-m by default, plus the output layouts of
//! Ultralytics YOLOv5/v8/v11 and YOLOX exports, class-wise NMS, boxes in source-image pixels.

use std::path::PathBuf;
use std::sync::Arc;

use stream_protocol::Detection;

use crate::definition::{self, in_range, multiple_of, not_empty};
use crate::engine::OnnxModel;
use crate::error::{BoxError, Problem};
use crate::frame::{ChannelOrder, Frame, Normalise, resize_rgb};

/// The 80 COCO class names in the usual order.
pub const COCO_CLASSES: [&str; 80] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];

/// The output layout of a detection model, selected by the node's `format` param.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[non_exhaustive]
pub enum OutputFormat {
    /// NanoDet (the default model): per stride 8/16/32 a `[1,N,C]` score map (sigmoid applied) and a
    /// `[1,N,4·(reg_max+1)]` distribution of the distances to the four sides. BGR input, ImageNet mean/std.
    #[serde(rename = "nanodet")]
    NanoDet,
    /// NanoDet-Plus (the default model, NanoDet-Plus-m): one `[1,N,C+32]` output whose rows are the cells of
    /// strides 8, 16, 32, 64 (`ceil(S/stride)` a side, row-major): C class scores (sigmoid applied), then the
    /// distances to the four sides as 4 × 8 distribution bins. Priors at `(col·stride, row·stride)`, no
    /// half-cell offset. Same input as NanoDet.
    #[serde(rename = "nanodet-plus")]
    NanoDetPlus,
    /// Ultralytics YOLOv5: `[1,N,5+C]` rows of `cx, cy, w, h, objectness, class scores…` in input pixels.
    #[serde(rename = "yolov5")]
    YoloV5,
    /// Ultralytics YOLOv8 and YOLO11: `[1,4+C,N]` columns of `cx, cy, w, h, class scores…` (no objectness).
    /// A transposed `[1,N,4+C]` export is accepted too.
    #[serde(rename = "yolov8", alias = "yolov11", alias = "yolo11")]
    YoloV8,
    /// YOLOX raw head output `[1,N,5+C]`: grid offsets and log sizes per stride 8/16/32, objectness and
    /// class scores (sigmoid applied). BGR input in 0..=255.
    #[serde(rename = "yolox")]
    Yolox,
}

impl OutputFormat {
    fn normalise(self) -> Normalise {
        match self {
            Self::NanoDet | Self::NanoDetPlus => Normalise {
                order: ChannelOrder::Bgr,
                mean: [103.53, 116.28, 123.675],
                std: [57.375, 57.12, 58.395],
            },
            Self::YoloV5 | Self::YoloV8 => {
                Normalise { order: ChannelOrder::Rgb, mean: [0.0; 3], std: [255.0; 3] }
            }
            Self::Yolox => Normalise { order: ChannelOrder::Bgr, mean: [0.0; 3], std: [1.0; 3] },
        }
    }
}

/// The detection node's parameters (see `docs/pipelines.md`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct DetectParams {
    pub(crate) model: PathBuf,
    pub(crate) input_size: u32,
    pub(crate) confidence: f32,
    pub(crate) iou: f32,
    pub(crate) format: OutputFormat,
    pub(crate) classes: Option<Vec<String>>,
    pub(crate) max_detections: usize,
}

impl Default for DetectParams {
    fn default() -> Self {
        Self {
            model: PathBuf::from(Self::DEFAULT_MODEL),
            input_size: 416,
            confidence: 0.35,
            iou: 0.5,
            format: OutputFormat::NanoDetPlus,
            classes: None,
            max_detections: 100,
        }
    }
}

impl DetectParams {
    pub(crate) const DEFAULT_MODEL: &str = "nanodet-plus-m_dynamic-hw.onnx";

    /// The parameters of a node's `params` object, checked.
    pub(crate) fn parse(params: &serde_json::Map<String, serde_json::Value>) -> Result<Self, Problem> {
        let p: Self = definition::params(params)?;
        not_empty("model", p.model.as_os_str().is_empty())?;
        in_range("input_size", p.input_size, 32..=1280)?;
        multiple_of("input_size", p.input_size, 32)?;
        in_range("confidence", p.confidence, 0.0..=1.0)?;
        in_range("iou", p.iou, 0.0..=1.0)?;
        not_empty("classes", p.classes.as_ref().is_some_and(Vec::is_empty))?;
        in_range("max_detections", p.max_detections, 1..=10_000)?;
        Ok(p)
    }
}

/// A candidate box in model-input pixels, before NMS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// `[x1, y1, x2, y2]`.
    pub xyxy: [f32; 4],
    /// Class score (times objectness where the format has one).
    pub score: f32,
    /// Class index.
    pub class_id: usize,
}

/// A model's outputs do not have the shapes its detection format decodes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{expected}, the model gives {found:?}")]
pub struct OutputShapeError {
    /// What the format expects, e.g. `yolov8 expects one [1,4+C,N] output`.
    pub expected: String,
    /// The shapes of the model's outputs.
    pub found: Vec<Vec<usize>>,
}

/// The error for outputs of shapes `found` where `expected` was needed.
fn mismatch<'a, S: AsRef<[usize]> + 'a>(
    expected: impl Into<String>,
    found: impl IntoIterator<Item = S>,
) -> OutputShapeError {
    OutputShapeError {
        expected: expected.into(),
        found: found.into_iter().map(|s| s.as_ref().to_vec()).collect(),
    }
}

/// A view of one output tensor: its shape and row-major values.
pub type TensorView<'a> = (&'a [usize], &'a [f32]);

/// The number of classes the outputs of `format` carry, or why the outputs do not fit the format.
pub fn classes_in_outputs(
    format: OutputFormat,
    shapes: &[Vec<usize>],
    input_size: u32,
) -> Result<usize, OutputShapeError> {
    let three_d = |s: &Vec<usize>| s.len() == 3 && s[0] == 1;
    match format {
        OutputFormat::NanoDet => {
            if shapes.len() != 6 || !shapes.iter().all(three_d) {
                return Err(mismatch("nanodet expects six [1,N,C] outputs", shapes));
            }
            let (_, cells_8) = strides_cells(input_size, 8);
            let pair: Vec<usize> = shapes.iter().filter(|s| s[1] == cells_8).map(|s| s[2]).collect();
            match pair[..] {
                [a, b] => Ok(nanodet_score_channels(a, b).0),
                _ => Err(mismatch(
                    format!("nanodet expects a pair of stride-8 outputs with {cells_8} cells"),
                    shapes,
                )),
            }
        }
        OutputFormat::NanoDetPlus => {
            let rows = nanodet_plus_rows(input_size);
            match shapes {
                [s] if three_d(s) && s[1] == rows && s[2] > NANODET_PLUS_BOX => Ok(s[2] - NANODET_PLUS_BOX),
                _ => Err(mismatch(
                    format!(
                        "nanodet-plus expects one [1,{rows},C+{NANODET_PLUS_BOX}] output at input {input_size}"
                    ),
                    shapes,
                )),
            }
        }
        OutputFormat::YoloV5 | OutputFormat::Yolox => match shapes {
            [s] if three_d(s) && s[2] > 5 => Ok(s[2] - 5),
            _ => Err(mismatch(format!("{format:?} expects one [1,N,5+C] output"), shapes)),
        },
        OutputFormat::YoloV8 => match shapes {
            [s] if three_d(s) && s[1] > 4 && s[1] < s[2] => Ok(s[1] - 4),
            [s] if three_d(s) && s[2] > 4 => Ok(s[2] - 4),
            _ => Err(mismatch("yolov8 expects one [1,4+C,N] output", shapes)),
        },
    }
}

/// Which of a NanoDet output pair is the score map: `(score channels, box channels)`. The box distribution
/// has 4·(reg_max+1) channels; a COCO score map has 80, otherwise the larger of the two is taken as the scores.
fn nanodet_score_channels(a: usize, b: usize) -> (usize, usize) {
    if a == 80 || (b != 80 && a > b) { (a, b) } else { (b, a) }
}

fn strides_cells(input_size: u32, stride: u32) -> (usize, usize) {
    let side = input_size.div_ceil(stride) as usize;
    (side, side * side)
}

fn softmax_expectation(bins: &[f32]) -> f32 {
    let max = bins.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mut sum, mut weighted) = (0.0f32, 0.0f32);
    for (i, &b) in bins.iter().enumerate() {
        let e = (b - max).exp();
        sum += e;
        weighted += e * i as f32;
    }
    if sum > 0.0 { weighted / sum } else { 0.0 }
}

/// Decodes NanoDet outputs (any order) for a square input of `input_size`: one candidate per cell whose
/// best class score is above `threshold`.
pub fn decode_nanodet(
    outputs: &[TensorView<'_>],
    input_size: u32,
    threshold: f32,
) -> Result<Vec<Candidate>, OutputShapeError> {
    let mut candidates = Vec::new();
    for stride in [8u32, 16, 32] {
        let (side, cells) = strides_cells(input_size, stride);
        let mut of_stride = outputs.iter().filter(|(shape, _)| shape.len() == 3 && shape[1] == cells);
        let (Some(a), Some(b)) = (of_stride.next(), of_stride.next()) else {
            let shapes = outputs.iter().map(|(shape, _)| *shape);
            return Err(mismatch(
                format!("nanodet expects a pair of outputs with {cells} cells for stride {stride}"),
                shapes,
            ));
        };
        let (scores, boxes) =
            if nanodet_score_channels(a.0[2], b.0[2]).0 == a.0[2] { (a, b) } else { (b, a) };
        let n_classes = scores.0[2];
        let n_box = boxes.0[2];
        if n_box % 4 != 0 || scores.1.len() != cells * n_classes || boxes.1.len() != cells * n_box {
            return Err(mismatch(
                "nanodet expects score and box outputs that fit their cells",
                [scores.0, boxes.0],
            ));
        }
        let bins = n_box / 4;
        for cell in 0..cells {
            let row_scores = &scores.1[cell * n_classes..(cell + 1) * n_classes];
            if !row_scores.iter().any(|&s| s > threshold) {
                continue;
            }
            let dist = &boxes.1[cell * n_box..(cell + 1) * n_box];
            let s = stride as f32;
            let d: Vec<f32> =
                dist.chunks_exact(bins).map(|side_bins| softmax_expectation(side_bins) * s).collect();
            let (row, col) = (cell / side, cell % side);
            let (cx, cy) = ((col as f32 + 0.5) * s, (row as f32 + 0.5) * s);
            let xyxy = [cx - d[0], cy - d[1], cx + d[2], cy + d[3]];
            // One label per cell, its best class, as NanoDet's reference post-processing does.
            if let Some((class_id, &score)) = row_scores.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))
            {
                candidates.push(Candidate { xyxy, score, class_id });
            }
        }
    }
    Ok(candidates)
}

/// NanoDet-Plus's strides, in the order of its output rows.
const NANODET_PLUS_STRIDES: [u32; 4] = [8, 16, 32, 64];
/// Distribution bins per side (reg_max 7).
const NANODET_PLUS_BINS: usize = 8;
/// Box columns per row: 4 sides × 8 bins.
const NANODET_PLUS_BOX: usize = 4 * NANODET_PLUS_BINS;

/// Output rows of NanoDet-Plus for a square input of `input_size`.
fn nanodet_plus_rows(input_size: u32) -> usize {
    NANODET_PLUS_STRIDES.iter().map(|&s| strides_cells(input_size, s).1).sum()
}

/// Decodes NanoDet-Plus's single output for a square input of `input_size`: one candidate per cell whose best
/// class score is above `threshold` (see [`OutputFormat::NanoDetPlus`]).
pub fn decode_nanodet_plus(
    output: TensorView<'_>,
    input_size: u32,
    threshold: f32,
) -> Result<Vec<Candidate>, OutputShapeError> {
    let (shape, data) = output;
    let rows = nanodet_plus_rows(input_size);
    let [1, n, width] = *shape else { return Err(mismatch("nanodet-plus expects [1,N,C+32]", [shape])) };
    if n != rows || width <= NANODET_PLUS_BOX || data.len() != n * width {
        return Err(mismatch(
            format!("nanodet-plus expects [1,{rows},C+{NANODET_PLUS_BOX}] at input {input_size}"),
            [shape],
        ));
    }
    let n_classes = width - NANODET_PLUS_BOX;
    let mut candidates = Vec::new();
    let mut row = 0;
    for stride in NANODET_PLUS_STRIDES {
        let (side, cells) = strides_cells(input_size, stride);
        let s = stride as f32;
        for cell in 0..cells {
            let values = &data[(row + cell) * width..(row + cell + 1) * width];
            let (scores, dist) = values.split_at(n_classes);
            let Some((class_id, &score)) = scores.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) else {
                continue;
            };
            if score <= threshold {
                continue;
            }
            let mut d = [0.0f32; 4];
            for (side_distance, bins) in d.iter_mut().zip(dist.chunks_exact(NANODET_PLUS_BINS)) {
                *side_distance = softmax_expectation(bins) * s;
            }
            let (px, py) = ((cell % side) as f32 * s, (cell / side) as f32 * s);
            candidates.push(Candidate {
                xyxy: [px - d[0], py - d[1], px + d[2], py + d[3]],
                score,
                class_id,
            });
        }
        row += cells;
    }
    Ok(candidates)
}

fn cxcywh(cx: f32, cy: f32, w: f32, h: f32) -> [f32; 4] {
    [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
}

/// Decodes a YOLOv5 `[1,N,5+C]` output: score = objectness × class score.
pub fn decode_yolov5(output: TensorView<'_>, threshold: f32) -> Result<Vec<Candidate>, OutputShapeError> {
    let (shape, data) = output;
    let [1, n, width] = *shape else { return Err(mismatch("yolov5 expects [1,N,5+C]", [shape])) };
    if width <= 5 || data.len() != n * width {
        return Err(mismatch("yolov5 expects [1,N,5+C]", [shape]));
    }
    let mut candidates = Vec::new();
    for row in data.chunks_exact(width) {
        let objectness = row[4];
        if objectness <= threshold {
            continue;
        }
        for (class_id, &cls) in row[5..].iter().enumerate() {
            let score = objectness * cls;
            if score > threshold {
                candidates.push(Candidate { xyxy: cxcywh(row[0], row[1], row[2], row[3]), score, class_id });
            }
        }
    }
    Ok(candidates)
}

/// Decodes a YOLOv8/YOLO11 `[1,4+C,N]` output (or its transpose `[1,N,4+C]`).
pub fn decode_yolov8(output: TensorView<'_>, threshold: f32) -> Result<Vec<Candidate>, OutputShapeError> {
    let (shape, data) = output;
    let [1, a, b] = *shape else { return Err(mismatch("yolov8 expects [1,4+C,N]", [shape])) };
    if data.len() != a * b || a.min(b) <= 4 {
        return Err(mismatch("yolov8 expects [1,4+C,N]", [shape]));
    }
    // Channels-first is what Ultralytics exports; a transposed export has more rows than columns.
    let channels_first = a < b;
    let (n, width) = if channels_first { (b, a) } else { (a, b) };
    let at = |i: usize, c: usize| if channels_first { data[c * n + i] } else { data[i * width + c] };
    let mut candidates = Vec::new();
    for i in 0..n {
        for c in 4..width {
            let score = at(i, c);
            if score > threshold {
                candidates.push(Candidate {
                    xyxy: cxcywh(at(i, 0), at(i, 1), at(i, 2), at(i, 3)),
                    score,
                    class_id: c - 4,
                });
            }
        }
    }
    Ok(candidates)
}

/// Decodes a raw YOLOX `[1,N,5+C]` head output for a square input of `input_size` (strides 8, 16, 32).
pub fn decode_yolox(
    output: TensorView<'_>,
    input_size: u32,
    threshold: f32,
) -> Result<Vec<Candidate>, OutputShapeError> {
    let (shape, data) = output;
    let [1, n, width] = *shape else { return Err(mismatch("yolox expects [1,N,5+C]", [shape])) };
    let grids: Vec<(u32, usize)> =
        [8u32, 16, 32].iter().map(|&s| (s, strides_cells(input_size, s).0)).collect();
    let expected: usize = grids.iter().map(|(_, side)| side * side).sum();
    if width <= 5 || n != expected || data.len() != n * width {
        return Err(mismatch(format!("yolox expects [1,{expected},5+C] for input {input_size}"), [shape]));
    }
    let mut candidates = Vec::new();
    let mut rows = data.chunks_exact(width);
    for (stride, side) in grids {
        let s = stride as f32;
        for cell in 0..side * side {
            let Some(row) = rows.next() else { break };
            let objectness = row[4];
            if objectness <= threshold {
                continue;
            }
            let (gy, gx) = ((cell / side) as f32, (cell % side) as f32);
            let (cx, cy) = ((row[0] + gx) * s, (row[1] + gy) * s);
            let (w, h) = (row[2].exp() * s, row[3].exp() * s);
            for (class_id, &cls) in row[5..].iter().enumerate() {
                let score = objectness * cls;
                if score > threshold {
                    candidates.push(Candidate { xyxy: cxcywh(cx, cy, w, h), score, class_id });
                }
            }
        }
    }
    Ok(candidates)
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Class-wise greedy non-maximum suppression: within each class, a box is dropped when its IoU with a
/// higher-scoring kept box exceeds `iou_threshold`. Returns at most `max` boxes, best first.
pub fn nms(mut candidates: Vec<Candidate>, iou_threshold: f32, max: usize) -> Vec<Candidate> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Candidate> = Vec::new();
    for c in candidates {
        if kept.len() >= max {
            break;
        }
        if kept.iter().all(|k| k.class_id != c.class_id || iou(&k.xyxy, &c.xyxy) <= iou_threshold) {
            kept.push(c);
        }
    }
    kept
}

/// Bilinear resize of the whole frame to `size`×`size` (no letterbox), then `format`'s normalisation.
pub(crate) fn preprocess(frame: &Frame, size: u32, format: OutputFormat) -> Result<Vec<f32>, BoxError> {
    let resized = resize_rgb(frame, size, size)?;
    Ok(format.normalise().planar(&resized))
}

/// A loaded detection node: the model plan for its input size and everything to decode its outputs.
#[derive(Debug)]
pub(crate) struct Detector {
    model: Arc<OnnxModel>,
    params: DetectParams,
    class_names: Vec<Arc<str>>,
}

impl Detector {
    /// Checks that the model's outputs fit the format and the class list.
    pub(crate) fn new(model: Arc<OnnxModel>, params: DetectParams) -> Result<Self, String> {
        let n_classes = classes_in_outputs(params.format, model.output_shapes(), params.input_size)
            .map_err(|error| error.to_string())?;
        let class_names: Vec<Arc<str>> = match &params.classes {
            Some(names) if names.len() == n_classes => names.iter().map(|n| Arc::from(n.as_str())).collect(),
            Some(names) => {
                return Err(format!(
                    "`classes` lists {} names but the model has {n_classes} classes",
                    names.len()
                ));
            }
            None if n_classes == COCO_CLASSES.len() => COCO_CLASSES.iter().map(|&n| Arc::from(n)).collect(),
            None => (0..n_classes).map(|i| Arc::from(format!("class_{i}"))).collect(),
        };
        Ok(Self { model, params, class_names })
    }

    pub(crate) fn class_names(&self) -> &[Arc<str>] {
        &self.class_names
    }

    pub(crate) fn input_size(&self) -> u32 {
        self.params.input_size
    }

    /// Resizes and normalises `frame` into the model's input tensor.
    pub(crate) fn preprocess(&self, frame: &Frame) -> Result<Vec<f32>, BoxError> {
        preprocess(frame, self.params.input_size, self.params.format)
    }

    /// Runs the model and decodes its outputs into candidates in model-input pixels.
    pub(crate) fn infer(&self, input: Vec<f32>) -> Result<Vec<Candidate>, BoxError> {
        let outputs = self.model.run(input)?;
        let views: Vec<TensorView<'_>> = (0..outputs.len())
            .map(|i| outputs.get(i).ok_or("a model output is not float32"))
            .collect::<Result<_, _>>()?;
        let (size, threshold) = (self.params.input_size, self.params.confidence);
        let candidates = match (self.params.format, views.as_slice()) {
            (OutputFormat::NanoDet, all) => decode_nanodet(all, size, threshold),
            (OutputFormat::NanoDetPlus, [one, ..]) => decode_nanodet_plus(*one, size, threshold),
            (OutputFormat::YoloV5, [one, ..]) => decode_yolov5(*one, threshold),
            (OutputFormat::YoloV8, [one, ..]) => decode_yolov8(*one, threshold),
            (OutputFormat::Yolox, [one, ..]) => decode_yolox(*one, size, threshold),
            (_, []) => Err(mismatch("a detector expects at least one output", [] as [&[usize]; 0])),
        }?;
        Ok(candidates)
    }

    /// NMS, then boxes scaled to the frame and clamped to it.
    pub(crate) fn finish(&self, candidates: Vec<Candidate>, width: u32, height: u32) -> Vec<Detection> {
        let size = self.params.input_size as f32;
        let (sx, sy) = (width as f32 / size, height as f32 / size);
        let (w, h) = (width as f32, height as f32);
        // Clamp to the model input before NMS, as NanoDet's own post-processing does.
        let clamped = candidates
            .into_iter()
            .map(|mut c| {
                c.xyxy = c.xyxy.map(|v| v.clamp(0.0, size));
                c
            })
            .collect();
        nms(clamped, self.params.iou, self.params.max_detections)
            .into_iter()
            .filter_map(|c| {
                let [x1, y1, x2, y2] = c.xyxy;
                let xyxy = [
                    (x1 * sx).clamp(0.0, w),
                    (y1 * sy).clamp(0.0, h),
                    (x2 * sx).clamp(0.0, w),
                    (y2 * sy).clamp(0.0, h),
                ];
                let class_name = self.class_names.get(c.class_id)?.clone();
                let finite = xyxy.iter().all(|v| v.is_finite()) && c.score.is_finite();
                finite.then_some(Detection {
                    xyxy,
                    confidence: c.score,
                    class_id: c.class_id as u32,
                    class_name,
                    track_id: None,
                })
            })
            .collect()
    }

    /// The whole node on one decoded frame.
    pub(crate) fn run(&self, frame: &Frame) -> Result<Vec<Detection>, BoxError> {
        let input = self.preprocess(frame)?;
        let candidates = self.infer(input)?;
        Ok(self.finish(candidates, frame.width(), frame.height()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f32; 4], b: [f32; 4]) -> bool {
        a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-3)
    }

    #[test]
    fn yolov8_channels_first_and_transposed() {
        // [1, 4+3, 10]: anchor 2 is a class-1 box at (100, 50), 20×10. (Real exports have N ≫ 4+C.)
        let (n, width) = (10, 7);
        let mut data = vec![0.0f32; n * width];
        for (c, v) in [100.0, 50.0, 20.0, 10.0, 0.1, 0.9, 0.2].into_iter().enumerate() {
            data[c * n + 2] = v;
        }
        let got = decode_yolov8((&[1, 7, 10], &data), 0.25).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].class_id, got[0].score), (1, 0.9));
        assert!(close(got[0].xyxy, [90.0, 45.0, 110.0, 55.0]));

        // The transposed export, [1, N, 4+3] with N larger than 4+C.
        let n = 10;
        let mut data = vec![0.0f32; n * width];
        data[3 * width..4 * width].copy_from_slice(&[10.0, 20.0, 4.0, 8.0, 0.0, 0.0, 0.6]);
        let got = decode_yolov8((&[1, 10, 7], &data), 0.25).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].class_id, got[0].score), (2, 0.6));
        assert!(close(got[0].xyxy, [8.0, 16.0, 12.0, 24.0]));

        assert!(decode_yolov8((&[1, 7], &data), 0.25).is_err());
        assert!(decode_yolov8((&[1, 7, 10], &data[..3]), 0.25).is_err());
    }

    #[test]
    fn yolov5_multiplies_objectness_and_class_score() {
        let mut data = vec![0.0f32; 3 * 7];
        data[7..14].copy_from_slice(&[50.0, 60.0, 10.0, 20.0, 0.8, 0.9, 0.3]);
        // Objectness below the threshold: skipped whatever the class scores.
        data[14..21].copy_from_slice(&[5.0, 5.0, 2.0, 2.0, 0.2, 1.0, 1.0]);
        let got = decode_yolov5((&[1, 3, 7], &data), 0.25).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].class_id, 0);
        assert!((got[0].score - 0.72).abs() < 1e-6);
        assert!(close(got[0].xyxy, [45.0, 50.0, 55.0, 70.0]));
        assert!(decode_yolov5((&[1, 3, 5], &data[..15]), 0.25).is_err());
    }

    #[test]
    fn yolox_decodes_grid_offsets_and_log_sizes() {
        // Input 64: grids 8×8 (stride 8), 4×4 (16), 2×2 (32) = 84 rows of 5+1.
        let width = 6;
        let mut data = vec![0.0f32; 84 * width];
        // Stride 16, row 1, column 2.
        let row = 64 + 4 + 2;
        data[row * width..(row + 1) * width].copy_from_slice(&[0.5, 0.5, 2f32.ln(), 0.0, 0.9, 1.0]);
        let got = decode_yolox((&[1, 84, 6], &data), 64, 0.25).unwrap();
        assert_eq!(got.len(), 1);
        assert!((got[0].score - 0.9).abs() < 1e-6);
        assert!(close(got[0].xyxy, [24.0, 16.0, 56.0, 32.0]), "{:?}", got[0]);
        assert!(decode_yolox((&[1, 80, 6], &data[..480]), 64, 0.25).is_err());
    }

    #[test]
    fn nanodet_plus_decodes_one_output_over_four_strides_without_a_half_cell_offset() {
        // Input 64: strides 8, 16, 32, 64 have 8×8, 4×4, 2×2 and 1×1 cells: 85 rows of 80 + 32 columns.
        let (rows, width) = (85usize, 112usize);
        assert_eq!(nanodet_plus_rows(64), rows);
        let mut data = vec![0.0f32; rows * width];
        // Stride 16 (rows 64..80), cell 6 = row 1, column 2: prior (32, 16). A dog (class 16), sides 1, 2, 3 and
        // 0 bins away (16, 32, 48, 0 px).
        let r = 64 + 6;
        data[r * width + 16] = 0.8;
        for (side, bin) in [1usize, 2, 3, 0].into_iter().enumerate() {
            data[r * width + 80 + side * 8 + bin] = 60.0;
        }
        // Below the threshold: ignored.
        data[3 * width + 2] = 0.3;
        let got = decode_nanodet_plus((&[1, rows, width], &data), 64, 0.35).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].class_id, got[0].score), (16, 0.8));
        assert!(close(got[0].xyxy, [16.0, -16.0, 80.0, 16.0]), "{:?}", got[0]);

        let shapes = vec![vec![1, rows, width]];
        assert_eq!(classes_in_outputs(OutputFormat::NanoDetPlus, &shapes, 64), Ok(80));
        assert!(
            classes_in_outputs(OutputFormat::NanoDetPlus, &shapes, 96).is_err(),
            "rows fit the input size"
        );
        assert!(decode_nanodet_plus((&[1, rows, width], &data[..width]), 64, 0.35).is_err());
        // ceil(S/stride) cells a side: 416 has 52², 26², 13² and 7² = 3598 rows, 320 has 2125.
        assert_eq!((nanodet_plus_rows(416), nanodet_plus_rows(320)), (3598, 2125));
    }

    #[test]
    fn nanodet_decodes_distance_distributions() {
        // Input 32: strides 8, 16, 32 have 16, 4 and 1 cells; 80 classes, 4×11 bins. Outputs in mixed order.
        let cells = [16usize, 4, 1];
        let mut scores: Vec<Vec<f32>> = cells.iter().map(|&n| vec![0.0; n * 80]).collect();
        let mut boxes: Vec<Vec<f32>> = cells.iter().map(|&n| vec![0.0; n * 44]).collect();
        // Stride 16, cell 2 = row 1, column 0: a cat (class 15), every side 2 bins away (= 32 px).
        scores[1][2 * 80 + 15] = 0.9;
        for side in 0..4 {
            boxes[1][2 * 44 + side * 11 + 2] = 50.0;
        }
        let shapes: Vec<[usize; 3]> = cells.iter().flat_map(|&n| [[1, n, 44], [1, n, 80]]).collect();
        let views: Vec<TensorView<'_>> = (0..3)
            .flat_map(|i| [(&shapes[2 * i][..], &boxes[i][..]), (&shapes[2 * i + 1][..], &scores[i][..])])
            .collect();
        let got = decode_nanodet(&views, 32, 0.35).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].class_id, got[0].score), (15, 0.9));
        assert!(close(got[0].xyxy, [-24.0, -8.0, 40.0, 56.0]), "{:?}", got[0]);

        let shape_list: Vec<Vec<usize>> = shapes.iter().map(|s| s.to_vec()).collect();
        assert_eq!(classes_in_outputs(OutputFormat::NanoDet, &shape_list, 32), Ok(80));
        assert!(classes_in_outputs(OutputFormat::YoloV5, &shape_list, 32).is_err());
        assert!(decode_nanodet(&views[..4], 32, 0.35).is_err());
    }

    #[test]
    fn nms_is_class_wise_and_bounded() {
        let c = |xyxy, score, class_id| Candidate { xyxy, score, class_id };
        let candidates = vec![
            c([0.0, 0.0, 10.0, 10.0], 0.6, 0),
            c([1.0, 1.0, 11.0, 11.0], 0.9, 0), // overlaps the first (IoU 0.68): wins
            c([1.0, 1.0, 11.0, 11.0], 0.5, 1), // same box, other class: kept
            c([50.0, 50.0, 60.0, 60.0], 0.4, 0), // elsewhere: kept
        ];
        let kept = nms(candidates.clone(), 0.5, 100);
        let scores: Vec<f32> = kept.iter().map(|k| k.score).collect();
        assert_eq!(scores, [0.9, 0.5, 0.4]);
        assert_eq!(nms(candidates.clone(), 0.7, 100).len(), 4);
        assert_eq!(nms(candidates, 0.5, 2).len(), 2);
    }
}
