//! The per-frame result a pipeline produces (SPEC §4), as it travels inside
//! `{"frame_index":N,"result":{…}}`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Width and height of the source frame, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSize {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// One detected object. Coordinates are in the source image's pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// `[x1, y1, x2, y2]`: top-left and bottom-right corners, clamped to the frame.
    pub xyxy: [f32; 4],
    /// Detection score in `0..=1`.
    pub confidence: f32,
    /// Index of the class in the model's class list.
    pub class_id: u32,
    /// Human-readable class name, e.g. `"person"`.
    pub class_name: Arc<str>,
    /// The object's id in its stream, from a `track` node: the same object keeps it from frame to frame.
    /// Absent for detections of pipelines without tracking, and for detections no confirmed track follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_id: Option<u64>,
}

/// What a `track` node has counted since its stream started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingSummary {
    /// Per class name, how many tracks have been confirmed in this stream.
    pub counts: BTreeMap<String, u64>,
    /// The node's counting lines, in the order they are defined.
    pub lines: Vec<LineCrossings>,
}

/// Crossings of one counting line by confirmed tracks' box centres, per class name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCrossings {
    /// The line's id from the node's params.
    pub id: String,
    /// Crossings in the direction the line (`from` → `to`) points once turned 90° anticlockwise on the
    /// screen: a line drawn downwards counts left-to-right moves here, a line drawn rightwards bottom-to-top.
    pub forward: BTreeMap<String, u64>,
    /// Crossings the other way.
    pub backward: BTreeMap<String, u64>,
}

/// An axis-aligned rectangle in the source image's pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BBox {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// One recognised run of text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextBlock {
    /// The recognised text.
    pub text: String,
    /// Recognition confidence in `0..=1`.
    pub confidence: f32,
    /// Where the text is in the frame.
    pub bbox: BBox,
}

/// What an OCR node found: every block, and all the text joined in reading order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OcrOutput {
    /// All recognised text in reading order (top to bottom, left to right), one line per line.
    pub text: String,
    /// The blocks the text was read from, in the same order.
    pub blocks: Vec<TextBlock>,
}

/// Milliseconds spent per stage of a pipeline run (`"decode"`, then one entry per node id), in run order.
///
/// Serialised as a JSON object: `{"decode":1.1,"detect":24.0}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timings(Vec<(Arc<str>, f64)>);

impl Timings {
    /// An empty set of timings with room for `n` stages.
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    /// Records how long `stage` took, rounded to the microsecond.
    pub fn record(&mut self, stage: impl Into<Arc<str>>, elapsed: Duration) {
        self.record_ms(stage, elapsed.as_secs_f64() * 1000.0);
    }

    /// Records `ms` milliseconds for `stage`, rounded to the microsecond.
    pub fn record_ms(&mut self, stage: impl Into<Arc<str>>, ms: f64) {
        self.0.push((stage.into(), (ms * 1000.0).round() / 1000.0));
    }

    /// The milliseconds recorded for `stage`, if any.
    pub fn get(&self, stage: &str) -> Option<f64> {
        self.0.iter().find(|(name, _)| &**name == stage).map(|&(_, ms)| ms)
    }

    /// Every `(stage, milliseconds)` pair in the order they were recorded.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(name, ms)| (&**name, *ms))
    }

    /// Appends every timing of `other` after this one's.
    pub fn extend(&mut self, other: Timings) {
        self.0.extend(other.0);
    }
}

impl Serialize for Timings {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, ms) in &self.0 {
            map.serialize_entry(&**name, ms)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Timings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // serde_json keeps object order only with `preserve_order`; order is informative, so sort by name
        // for a deterministic result instead of pulling in that feature.
        let map = std::collections::BTreeMap::<String, f64>::deserialize(deserializer)?;
        Ok(Self(map.into_iter().map(|(k, v)| (Arc::from(k), v)).collect()))
    }
}

/// The result of running a pipeline on one frame.
///
/// Serialised as SPEC §4 shows. `detections` and `count` appear when the pipeline has a detection node
/// (`count` is always `detections.len()`); `text` and `blocks` when it has an OCR node.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameResult {
    /// Size of the decoded source frame.
    pub image: ImageSize,
    /// Objects found by a detection node, if the pipeline has one.
    pub detections: Option<Vec<Detection>>,
    /// Text found by an OCR node, if the pipeline has one.
    pub ocr: Option<OcrOutput>,
    /// Counts of a `track` node, if the pipeline has one.
    pub tracking: Option<TrackingSummary>,
    /// Time spent per stage.
    pub timings_ms: Timings,
}

impl FrameResult {
    /// An empty result for a frame of the given size: no node has contributed yet.
    pub fn new(image: ImageSize) -> Self {
        Self { image, detections: None, ocr: None, tracking: None, timings_ms: Timings::default() }
    }
}

impl Serialize for FrameResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("FrameResult", 7)?;
        s.serialize_field("image", &self.image)?;
        match &self.detections {
            Some(detections) => {
                s.serialize_field("detections", detections)?;
                s.serialize_field("count", &detections.len())?;
            }
            None => {
                s.skip_field("detections")?;
                s.skip_field("count")?;
            }
        }
        match &self.ocr {
            Some(ocr) => {
                s.serialize_field("text", &ocr.text)?;
                s.serialize_field("blocks", &ocr.blocks)?;
            }
            None => {
                s.skip_field("text")?;
                s.skip_field("blocks")?;
            }
        }
        match &self.tracking {
            Some(tracking) => s.serialize_field("tracking", tracking)?,
            None => s.skip_field("tracking")?,
        }
        s.serialize_field("timings_ms", &self.timings_ms)?;
        s.end()
    }
}

impl<'de> Deserialize<'de> for FrameResult {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            image: ImageSize,
            detections: Option<Vec<Detection>>,
            text: Option<String>,
            blocks: Option<Vec<TextBlock>>,
            tracking: Option<TrackingSummary>,
            #[serde(default)]
            timings_ms: Timings,
        }
        let wire = Wire::deserialize(deserializer)?;
        let ocr = match (wire.text, wire.blocks) {
            (None, None) => None,
            (text, blocks) => {
                Some(OcrOutput { text: text.unwrap_or_default(), blocks: blocks.unwrap_or_default() })
            }
        };
        Ok(Self {
            image: wire.image,
            detections: wire.detections,
            ocr,
            tracking: wire.tracking,
            timings_ms: wire.timings_ms,
        })
    }
}
