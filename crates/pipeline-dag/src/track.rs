//! The `track` node (`track` / `track_objects`): ByteTrack-style multi-object tracking of a detection node's
//! boxes, one [`Tracker`] per stream.
//!
//! Per frame, at the frame's own time `t`:
//! 1. every track's constant-velocity Kalman filter (state: centre, aspect, height and their velocities) is
//!    stepped to `t` — by the real time since its last step, so a stream that drops frames under load simply
//!    takes a longer step;
//! 2. high-score detections (≥ `high_threshold`) are assigned to confirmed and lost tracks by IoU — the
//!    better of the IoU with the predicted box and with the last matched box (optimal assignment, pairs under
//!    `match_iou` refused);
//! 3. low-score detections (≥ `low_threshold`) are assigned to the confirmed and lost tracks still unmatched
//!    (`low_match_iou`): they keep occluded objects alive without starting tracks of their own;
//! 4. remaining high-score detections are offered to tentative tracks (`tentative_match_iou`); a tentative
//!    track matched again is confirmed and gets its id, one that is not is removed;
//! 5. remaining detections scoring ≥ `new_track_threshold` start tentative tracks (on a stream's first frame
//!    they are confirmed at once);
//! 6. confirmed tracks unmatched become lost; lost tracks unseen for `lost_timeout_s` are removed.
//!
//! Matching is per class (a dog never continues a person's track). Ids count up from 1 per stream and are
//! never reused. Memory is the live tracks: at most `max_tracks`.

use std::collections::BTreeMap;
use std::time::Duration;

use stream_protocol::{Detection, ImageSize, LineCrossings, TrackingSummary};

use crate::definition::{self, bad, in_range};
use crate::error::Problem;

/// A counting line: crossings of a confirmed track's box centre over the segment `from` → `to`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CountingLine {
    pub(crate) id: String,
    pub(crate) from: [f32; 2],
    pub(crate) to: [f32; 2],
}

/// The `track` node's parameters (see `docs/pipelines.md`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct TrackParams {
    pub(crate) high_threshold: f32,
    pub(crate) low_threshold: f32,
    pub(crate) new_track_threshold: f32,
    pub(crate) match_iou: f32,
    pub(crate) low_match_iou: f32,
    pub(crate) tentative_match_iou: f32,
    pub(crate) lost_timeout_s: f32,
    pub(crate) max_tracks: usize,
    pub(crate) lines: Vec<CountingLine>,
}

impl Default for TrackParams {
    fn default() -> Self {
        Self {
            high_threshold: 0.5,
            low_threshold: 0.1,
            new_track_threshold: 0.6,
            match_iou: 0.2,
            low_match_iou: 0.5,
            tentative_match_iou: 0.3,
            lost_timeout_s: 1.0,
            max_tracks: 1000,
            lines: Vec::new(),
        }
    }
}

impl TrackParams {
    /// The parameters of a node's `params` object, checked.
    pub(crate) fn parse(params: &serde_json::Map<String, serde_json::Value>) -> Result<Self, Problem> {
        let p: Self = definition::params(params)?;
        for (name, x) in [
            ("high_threshold", p.high_threshold),
            ("low_threshold", p.low_threshold),
            ("new_track_threshold", p.new_track_threshold),
            ("match_iou", p.match_iou),
            ("low_match_iou", p.low_match_iou),
            ("tentative_match_iou", p.tentative_match_iou),
        ] {
            in_range(name, x, 0.0..=1.0)?;
        }
        in_range("lost_timeout_s", p.lost_timeout_s, 0.0..=3600.0)?;
        in_range("max_tracks", p.max_tracks, 1..=100_000)?;
        if p.low_threshold > p.high_threshold {
            let reason = format!("{} is above high_threshold {}", p.low_threshold, p.high_threshold);
            return Err(bad("low_threshold", reason));
        }
        for (i, line) in p.lines.iter().enumerate() {
            if line.id.is_empty() || p.lines[..i].iter().any(|l| l.id == line.id) {
                return Err(bad("lines", format!("line id {:?} is empty or repeated", line.id)));
            }
            if line.from.iter().chain(&line.to).any(|c| !c.is_finite()) || line.from == line.to {
                return Err(bad("lines", format!("line {:?} needs two distinct finite points", line.id)));
            }
        }
        Ok(p)
    }
}

// === Kalman filter ===

/// ByteTrack's noise weights, relative to the box height, per reference frame of 1/30 s.
const STD_POSITION: f64 = 1.0 / 20.0;
const STD_VELOCITY: f64 = 1.0 / 160.0;
/// Time unit of the filter's velocities: ByteTrack's parameters assume 30 frames per second.
const REFERENCE_FRAME_S: f64 = 1.0 / 30.0;

type Vec8 = [f64; 8];
type Mat8 = [[f64; 8]; 8];

/// Constant-velocity Kalman filter over `[cx, cy, aspect, h]` and their velocities (ByteTrack's `xyah`).
#[derive(Debug, Clone)]
struct Kalman {
    mean: Vec8,
    cov: Mat8,
}

fn xyah(b: [f32; 4]) -> [f64; 4] {
    let (w, h) = (f64::from(b[2] - b[0]), f64::from(b[3] - b[1]).max(1e-3));
    [f64::from(b[0]) + w / 2.0, f64::from(b[1]) + h / 2.0, w / h, h]
}

#[allow(clippy::needless_range_loop)] // Matrix algebra reads best with indices.
impl Kalman {
    fn new(b: [f32; 4]) -> Self {
        let z = xyah(b);
        let h = z[3];
        let std = [
            2.0 * STD_POSITION * h,
            2.0 * STD_POSITION * h,
            1e-2,
            2.0 * STD_POSITION * h,
            10.0 * STD_VELOCITY * h,
            10.0 * STD_VELOCITY * h,
            1e-5,
            10.0 * STD_VELOCITY * h,
        ];
        let mut cov = [[0.0; 8]; 8];
        for i in 0..8 {
            cov[i][i] = std[i] * std[i];
        }
        Self { mean: [z[0], z[1], z[2], z[3], 0.0, 0.0, 0.0, 0.0], cov }
    }

    /// Steps the state `dt` seconds ahead: x += v·dt, covariance F·P·Fᵀ + Q·dt (in reference frames).
    fn predict(&mut self, dt: Duration) {
        let k = dt.as_secs_f64() / REFERENCE_FRAME_S;
        if k <= 0.0 {
            return;
        }
        for i in 0..4 {
            self.mean[i] += k * self.mean[i + 4];
        }
        // P' = F P Fᵀ with F = [[I, kI], [0, I]]: rows then columns.
        let p = &mut self.cov;
        for i in 0..4 {
            for j in 0..8 {
                p[i][j] += k * p[i + 4][j];
            }
        }
        for row in p.iter_mut() {
            for j in 0..4 {
                row[j] += k * row[j + 4];
            }
        }
        let h = self.mean[3];
        let q = [
            STD_POSITION * h,
            STD_POSITION * h,
            1e-2,
            STD_POSITION * h,
            STD_VELOCITY * h,
            STD_VELOCITY * h,
            1e-5,
            STD_VELOCITY * h,
        ];
        for i in 0..8 {
            p[i][i] += q[i] * q[i] * k;
        }
    }

    /// Corrects the state with a measured box.
    fn update(&mut self, b: [f32; 4]) {
        let z = xyah(b);
        let h = self.mean[3];
        let r = [STD_POSITION * h, STD_POSITION * h, 1e-1, STD_POSITION * h];
        // S = H P Hᵀ + R: the top-left 4×4 block.
        let mut s = [[0.0; 4]; 4];
        for i in 0..4 {
            for j in 0..4 {
                s[i][j] = self.cov[i][j];
            }
            s[i][i] += r[i] * r[i];
        }
        let Some(s_inv) = invert4(s) else { return };
        // K = P Hᵀ S⁻¹ (8×4).
        let mut gain = [[0.0; 4]; 8];
        for i in 0..8 {
            for j in 0..4 {
                gain[i][j] = (0..4).map(|m| self.cov[i][m] * s_inv[m][j]).sum();
            }
        }
        let innovation: [f64; 4] = std::array::from_fn(|i| z[i] - self.mean[i]);
        for i in 0..8 {
            self.mean[i] += (0..4).map(|j| gain[i][j] * innovation[j]).sum::<f64>();
        }
        // P -= K H P (H P is the top four rows of P).
        let top: [[f64; 8]; 4] = std::array::from_fn(|m| self.cov[m]);
        for i in 0..8 {
            for j in 0..8 {
                self.cov[i][j] -= (0..4).map(|m| gain[i][m] * top[m][j]).sum::<f64>();
            }
        }
        self.mean[3] = self.mean[3].max(1e-3);
    }

    fn bbox(&self) -> [f32; 4] {
        let [cx, cy, a, h] = [self.mean[0], self.mean[1], self.mean[2], self.mean[3]];
        let w = a * h;
        [(cx - w / 2.0) as f32, (cy - h / 2.0) as f32, (cx + w / 2.0) as f32, (cy + h / 2.0) as f32]
    }
}

#[allow(clippy::needless_range_loop)] // Matrix algebra reads best with indices.
/// Inverse of a symmetric positive-definite 4×4 matrix by Gauss-Jordan elimination with partial pivoting.
fn invert4(m: [[f64; 4]; 4]) -> Option<[[f64; 4]; 4]> {
    let mut a = m;
    let mut inv = [[0.0; 4]; 4];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for col in 0..4 {
        let pivot = (col..4).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let d = a[col][col];
        for j in 0..4 {
            a[col][j] /= d;
            inv[col][j] /= d;
        }
        for r in 0..4 {
            if r != col {
                let f = a[r][col];
                for j in 0..4 {
                    a[r][j] -= f * a[col][j];
                    inv[r][j] -= f * inv[col][j];
                }
            }
        }
    }
    Some(inv)
}

// === Assignment ===

fn box_area(b: [f32; 4]) -> f32 {
    (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0)
}

pub(crate) fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: [f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Optimal assignment of rows to columns maximising the summed IoU (Kuhn-Munkres from `pathfinding`),
/// keeping only pairs with IoU ≥ `min_iou`. Returns `(row, column)` pairs.
fn assign(ious: &[Vec<f32>], columns: usize, min_iou: f32) -> Vec<(usize, usize)> {
    let rows = ious.len();
    if rows == 0 || columns == 0 {
        return Vec::new();
    }
    // Weights as integers (the algorithm needs exact arithmetic); a pair under the threshold weighs 0.
    let weight = |r: usize, c: usize| {
        let v = ious[r][c];
        if v >= min_iou { (f64::from(v) * 1e6).round() as i64 } else { 0 }
    };
    let transposed = rows > columns;
    let (n, m) = if transposed { (columns, rows) } else { (rows, columns) };
    let matrix =
        pathfinding::matrix::Matrix::from_fn(
            n,
            m,
            |(i, j)| {
                if transposed { weight(j, i) } else { weight(i, j) }
            },
        );
    let (_, assignment) = pathfinding::kuhn_munkres::kuhn_munkres(&matrix);
    assignment
        .into_iter()
        .enumerate()
        .map(|(i, j)| if transposed { (j, i) } else { (i, j) })
        .filter(|&(r, c)| ious[r][c] >= min_iou && ious[r][c] > 0.0)
        .collect()
}

// === Tracks ===

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Tentative,
    Confirmed,
    Lost,
}

#[derive(Debug, Clone)]
struct Track {
    /// 0 while tentative; ids are given at confirmation.
    id: u64,
    class_id: u32,
    class_name: std::sync::Arc<str>,
    state: State,
    kalman: Kalman,
    last_step: Duration,
    last_seen: Duration,
    /// The box centre at the last match, for the counting lines.
    centre: [f32; 2],
    /// The box of the last match.
    last_box: [f32; 4],
    /// Whether that box was larger than the one before: an object entering the picture at an edge, whose
    /// clipped boxes give the filter a velocity it cannot trust yet.
    growing: bool,
}

/// One stream's tracks. Created when the stream starts, dropped when it ends.
#[derive(Debug, Clone)]
pub struct Tracker {
    params: std::sync::Arc<TrackParams>,
    tracks: Vec<Track>,
    next_id: u64,
    frames: u64,
    counts: BTreeMap<String, u64>,
    /// Per line: crossings forward and backward, per class.
    crossings: Vec<(BTreeMap<String, u64>, BTreeMap<String, u64>)>,
}

/// Which side of the line through `a` → `b` the point `p` lies on (the sign of the cross product).
fn side(a: [f32; 2], b: [f32; 2], p: [f32; 2]) -> f32 {
    (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
}

/// `Some(true)` when the move `p` → `q` crosses the segment `a` → `b` forward — the way the segment's
/// direction points once turned 90° anticlockwise as seen on the screen (a line drawn downwards: left to
/// right; a line drawn rightwards: bottom to top) — `Some(false)` the other way, `None` if it does not cross.
fn crossing(a: [f32; 2], b: [f32; 2], p: [f32; 2], q: [f32; 2]) -> Option<bool> {
    // A point exactly on the line counts as on its left, so a move that ends on the line and one that starts
    // there make one crossing between them, not none.
    let (lp, lq) = (side(a, b, p) >= 0.0, side(a, b, q) >= 0.0);
    let (sa, sb) = (side(p, q, a), side(p, q, b));
    (lp != lq && sa * sb <= 0.0).then_some(lp)
}

impl Tracker {
    /// A tracker with the `track` node's parameters, given as that node's `params` JSON object (`{}` for
    /// the defaults; see `docs/pipelines.md`), for embedders who run their own detector.
    pub fn from_params(params: &serde_json::Map<String, serde_json::Value>) -> Result<Self, Problem> {
        Ok(Self::new(std::sync::Arc::new(TrackParams::parse(params)?)))
    }

    pub(crate) fn new(params: std::sync::Arc<TrackParams>) -> Self {
        let crossings = vec![Default::default(); params.lines.len()];
        Self { params, tracks: Vec::new(), next_id: 1, frames: 0, counts: BTreeMap::new(), crossings }
    }

    /// Live tracks (tentative, confirmed and lost): what this tracker's memory grows with.
    pub fn live_tracks(&self) -> usize {
        self.tracks.len()
    }

    /// Follows `detections` seen at `at` (time since the stream's start, never going back) in a frame of
    /// `frame`'s size (predicted boxes are clipped to it, as detections are, so objects leaving or entering
    /// the picture keep their track); returns the detections to report
    /// (those of confirmed tracks with their `track_id`, and untracked ones of high score) and the summary.
    pub fn update(
        &mut self,
        at: Duration,
        frame: ImageSize,
        detections: &[Detection],
    ) -> (Vec<Detection>, TrackingSummary) {
        let p = std::sync::Arc::clone(&self.params);
        let first_frame = self.frames == 0;
        self.frames += 1;
        for t in &mut self.tracks {
            t.kalman.predict(at.saturating_sub(t.last_step));
            t.last_step = at;
        }
        let (fw, fh) = (frame.width as f32, frame.height as f32);
        let timeout = Duration::from_secs_f32(p.lost_timeout_s);
        // Predicted boxes clipped to the picture, and whether the object has left it (less than a fifth of
        // its predicted box inside): such a track ends now, rather than handing its id to a newcomer.
        let mut gone = vec![false; self.tracks.len()];
        let predicted: Vec<[f32; 4]> = self
            .tracks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let b = t.kalman.bbox();
                let c = [b[0].clamp(0.0, fw), b[1].clamp(0.0, fh), b[2].clamp(0.0, fw), b[3].clamp(0.0, fh)];
                let area = |r: [f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
                // A track lost for longer than the timeout ends before it can match again. An object still
                // entering (its boxes were growing) has not left, whatever the filter's velocity says.
                gone[i] = area(c) < 0.2 * area(b) && !t.growing
                    || t.state == State::Lost && at.saturating_sub(t.last_seen) > timeout;
                c
            })
            .collect();
        let ious = |tracks: &[usize], dets: &[usize]| -> Vec<Vec<f32>> {
            tracks
                .iter()
                .map(|&t| {
                    dets.iter()
                        .map(|&d| {
                            let (tr, det) = (&self.tracks[t], &detections[d]);
                            // Where the filter predicts the object, or where it was last seen: right after a
                            // miss the velocity may be off (boxes clipped at an edge, a sudden stop), the last
                            // box is not.
                            if tr.class_id == det.class_id {
                                iou(predicted[t], det.xyxy).max(iou(tr.last_box, det.xyxy))
                            } else {
                                0.0
                            }
                        })
                        .collect()
                })
                .collect()
        };
        let mut matched_det = vec![false; detections.len()];
        let mut det_track: Vec<Option<usize>> = vec![None; detections.len()];
        let mut matched_track = vec![false; self.tracks.len()];
        let high: Vec<usize> =
            (0..detections.len()).filter(|&d| detections[d].confidence >= p.high_threshold).collect();
        let low: Vec<usize> = (0..detections.len())
            .filter(|&d| (p.low_threshold..p.high_threshold).contains(&detections[d].confidence))
            .collect();

        // One association pass: the optimal pairs of `tracks` × `dets` by IoU (track index, detection index).
        let pass = |tracks: &[usize], dets: &[usize], min_iou: f32| -> Vec<(usize, usize)> {
            assign(&ious(tracks, dets), dets.len(), min_iou)
                .into_iter()
                .map(|(r, c)| (tracks[r], dets[c]))
                .collect()
        };
        let mut take = |pairs: Vec<(usize, usize)>, matched_track: &mut [bool], matched_det: &mut [bool]| {
            for (t, d) in pairs {
                matched_track[t] = true;
                matched_det[d] = true;
                det_track[d] = Some(t);
            }
        };
        // 1. High-score detections against confirmed and lost tracks.
        let pool: Vec<usize> = (0..self.tracks.len())
            .filter(|&t| self.tracks[t].state != State::Tentative && !gone[t])
            .collect();
        take(pass(&pool, &high, p.match_iou), &mut matched_track, &mut matched_det);
        // 2. Low-score detections against the confirmed and lost tracks still unmatched.
        let active: Vec<usize> = (0..self.tracks.len())
            .filter(|&t| self.tracks[t].state != State::Tentative && !matched_track[t] && !gone[t])
            .collect();
        take(pass(&active, &low, p.low_match_iou), &mut matched_track, &mut matched_det);
        // 3. Remaining high-score detections against tentative tracks.
        let tentative: Vec<usize> =
            (0..self.tracks.len()).filter(|&t| self.tracks[t].state == State::Tentative).collect();
        let rest: Vec<usize> = high.iter().copied().filter(|&d| !matched_det[d]).collect();
        take(pass(&tentative, &rest, p.tentative_match_iou), &mut matched_track, &mut matched_det);

        // Matched tracks take their detection.
        for (d, t) in det_track.iter().enumerate() {
            let Some(t) = *t else { continue };
            let det = &detections[d];
            let track = &mut self.tracks[t];
            track.kalman.update(det.xyxy);
            track.last_seen = at;
            track.growing = box_area(det.xyxy) > box_area(track.last_box);
            track.last_box = det.xyxy;
            let centre = [(det.xyxy[0] + det.xyxy[2]) / 2.0, (det.xyxy[1] + det.xyxy[3]) / 2.0];
            if track.state == State::Tentative {
                track.id = self.next_id;
                self.next_id += 1;
                *self.counts.entry(track.class_name.to_string()).or_default() += 1;
            } else {
                for (line, (forward, backward)) in p.lines.iter().zip(&mut self.crossings) {
                    if let Some(is_forward) = crossing(line.from, line.to, track.centre, centre) {
                        let map = if is_forward { forward } else { backward };
                        *map.entry(track.class_name.to_string()).or_default() += 1;
                    }
                }
            }
            track.state = State::Confirmed;
            track.centre = centre;
        }
        // Unmatched: tentative removed, confirmed lost, lost removed after the timeout.
        let (mut index, mut kept) = (0, 0);
        let mut remap: Vec<Option<usize>> = Vec::with_capacity(self.tracks.len());
        self.tracks.retain_mut(|t| {
            let keep = matched_track[index]
                || !gone[index]
                    && match t.state {
                        State::Tentative => false,
                        State::Confirmed | State::Lost => {
                            t.state = State::Lost;
                            at.saturating_sub(t.last_seen) <= timeout
                        }
                    };
            index += 1;
            remap.push(keep.then_some(kept));
            kept += usize::from(keep);
            keep
        });
        // Where each detection's track is now.
        let mut det_final: Vec<Option<usize>> = det_track.iter().map(|t| t.and_then(|t| remap[t])).collect();
        // New tracks from unmatched confident detections.
        for (d, det) in detections.iter().enumerate() {
            if matched_det[d] || det.confidence < p.new_track_threshold || self.tracks.len() >= p.max_tracks {
                continue;
            }
            let centre = [(det.xyxy[0] + det.xyxy[2]) / 2.0, (det.xyxy[1] + det.xyxy[3]) / 2.0];
            let mut track = Track {
                id: 0,
                class_id: det.class_id,
                class_name: std::sync::Arc::clone(&det.class_name),
                state: State::Tentative,
                kalman: Kalman::new(det.xyxy),
                last_step: at,
                last_seen: at,
                centre,
                last_box: det.xyxy,
                growing: false,
            };
            if first_frame {
                track.id = self.next_id;
                self.next_id += 1;
                track.state = State::Confirmed;
                *self.counts.entry(track.class_name.to_string()).or_default() += 1;
            }
            det_final[d] = Some(self.tracks.len());
            self.tracks.push(track);
        }

        // Report: detections of confirmed tracks with their id; untracked high-score ones without.
        let mut out = Vec::with_capacity(detections.len());
        for (d, det) in detections.iter().enumerate() {
            match det_final[d].map(|i| self.tracks[i].id).filter(|&id| id > 0) {
                Some(id) => out.push(Detection { track_id: Some(id), ..det.clone() }),
                None if det.confidence >= p.high_threshold => {
                    out.push(Detection { track_id: None, ..det.clone() })
                }
                None => {}
            }
        }
        let summary = TrackingSummary {
            counts: self.counts.clone(),
            lines: p
                .lines
                .iter()
                .zip(&self.crossings)
                .map(|(line, (forward, backward))| LineCrossings {
                    id: line.id.clone(),
                    forward: forward.clone(),
                    backward: backward.clone(),
                })
                .collect(),
        };
        (out, summary)
    }
}
