//! The tracker on synthetic sequences with ground truth, scored with the standard MOT metrics (MOTA, IDF1, ID
//! switches), with and without frames dropped; property tests on ids; and `yolo_track` on real frames.
//!
//! The generator (fixed seeds): objects of two classes move linearly across a 640×480 frame at 30 FPS, cross
//! each other's paths, are occluded for several frames (missed, or seen only at a low score), and leave the
//! frame (a new object enters in its place); detections jitter by a few pixels and a few false positives
//! appear at low scores.
#![allow(clippy::unwrap_used)] // Test helpers outside #[test] fns unwrap too.
#![allow(clippy::print_stderr)] // The MOT figures are reported.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pipeline_dag::stages::Tracker;
use pipeline_dag::{PipelineRegistry, Problem, RegistryConfig};
use proptest::prelude::*;
use stream_protocol::{Detection, ImageSize};

/// A small deterministic generator (SplitMix64), so sequences are the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next() >> 40) as f32 / (1u64 << 24) as f32)
    }

    fn chance(&mut self, p: f32) -> bool {
        self.uniform(0.0, 1.0) < p
    }
}

struct Object {
    gt_id: u64,
    class_id: u32,
    centre: [f32; 2],
    velocity: [f32; 2],
    size: [f32; 2],
    /// Frames left of an occlusion (missed or low-score).
    occluded: u32,
}

/// One frame of ground truth: `(gt id, box)`, and the detector's output.
struct SyntheticFrame {
    at: Duration,
    truth: Vec<(u64, [f32; 4])>,
    detections: Vec<Detection>,
}

const W: f32 = 640.0;
const SIZE: ImageSize = ImageSize { width: 640, height: 480 };
const H: f32 = 480.0;

fn spawn(rng: &mut Rng, gt_id: u64) -> Object {
    // Enter from the left or right edge, heading across, with some vertical drift.
    let from_left = rng.chance(0.5);
    let speed = rng.uniform(2.0, 6.0) * if from_left { 1.0 } else { -1.0 };
    let class_id = u32::from(rng.chance(0.3)) * 2; // person (0) or car (2)
    let size = if class_id == 0 { [rng.uniform(30.0, 50.0), rng.uniform(70.0, 110.0)] } else { [90.0, 50.0] };
    Object {
        gt_id,
        class_id,
        centre: [
            if from_left { -size[0] / 2.0 + 1.0 } else { W + size[0] / 2.0 - 1.0 },
            rng.uniform(80.0, 400.0),
        ],
        velocity: [speed, rng.uniform(-1.0, 1.0)],
        size,
        occluded: 0,
    }
}

fn bbox(o: &Object) -> [f32; 4] {
    let [cx, cy] = o.centre;
    [cx - o.size[0] / 2.0, cy - o.size[1] / 2.0, cx + o.size[0] / 2.0, cy + o.size[1] / 2.0]
}

fn detection(xyxy: [f32; 4], confidence: f32, class_id: u32) -> Detection {
    let class_name: Arc<str> = if class_id == 0 { "person".into() } else { "car".into() };
    Detection { xyxy, confidence, class_id, class_name, track_id: None }
}

/// `frames` frames at 30 FPS with `objects` objects on screen at a time.
fn sequence(seed: u64, frames: usize, objects: usize) -> Vec<SyntheticFrame> {
    let mut rng = Rng(seed);
    let mut next_gt = 1;
    let mut live: Vec<Object> = (0..objects)
        .map(|_| {
            let mut o = spawn(&mut rng, next_gt);
            next_gt += 1;
            // Start spread over the frame rather than all at the edges.
            o.centre[0] = rng.uniform(60.0, W - 60.0);
            o
        })
        .collect();
    let mut out = Vec::with_capacity(frames);
    for f in 0..frames {
        let mut truth = Vec::new();
        let mut detections = Vec::new();
        for o in &mut live {
            o.centre[0] += o.velocity[0];
            o.centre[1] = (o.centre[1] + o.velocity[1]).clamp(60.0, H - 60.0);
            let b = bbox(o);
            if b[2] <= 0.0 || b[0] >= W {
                continue; // left the frame: replaced below
            }
            let visible = [b[0].max(0.0), b[1].max(0.0), b[2].min(W), b[3].min(H)];
            truth.push((o.gt_id, visible));
            if o.occluded == 0 && rng.chance(0.01) {
                o.occluded = 3 + (rng.next() % 6) as u32; // 3 to 8 frames
            }
            let jitter = |rng: &mut Rng, v: f32| v + rng.uniform(-2.0, 2.0);
            let seen = [
                jitter(&mut rng, visible[0]),
                jitter(&mut rng, visible[1]),
                jitter(&mut rng, visible[2]),
                jitter(&mut rng, visible[3]),
            ];
            if o.occluded > 0 {
                o.occluded -= 1;
                // Half the occluded frames still give a low-score detection (partly hidden).
                if rng.chance(0.5) {
                    detections.push(detection(seen, rng.uniform(0.15, 0.45), o.class_id));
                }
            } else {
                detections.push(detection(seen, rng.uniform(0.6, 0.95), o.class_id));
            }
        }
        for o in &mut live {
            let b = bbox(o);
            if b[2] <= 0.0 || b[0] >= W {
                *o = spawn(&mut rng, next_gt);
                next_gt += 1;
            }
        }
        // Clutter: an occasional low-score false positive somewhere.
        if rng.chance(0.05) {
            let (x, y) = (rng.uniform(0.0, W - 40.0), rng.uniform(0.0, H - 40.0));
            detections.push(detection([x, y, x + 40.0, y + 40.0], rng.uniform(0.1, 0.4), 0));
        }
        out.push(SyntheticFrame { at: Duration::from_millis(f as u64 * 1000 / 30), truth, detections });
    }
    out
}

fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let area = |r: [f32; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    let inter = w * h;
    inter / (area(a) + area(b) - inter)
}

#[derive(Debug)]
#[allow(dead_code)] // `gt` is read through Debug in the report.
struct Mot {
    /// Ground-truth boxes scored.
    gt: usize,
    mota: f64,
    idf1: f64,
    id_switches: usize,
}

/// CLEAR MOT (MOTA, ID switches; per-frame matching kept from the previous frame where IoU ≥ 0.5, else
/// optimal) and IDF1 (one global optimal GT-id ↔ track-id assignment over all scored frames).
/// Boxes with an id: ground truth's or the tracker's.
type Labelled = Vec<(u64, [f32; 4])>;

fn score(frames: &[(Labelled, Labelled)]) -> Mot {
    let (mut gt_total, mut fn_, mut fp, mut idsw) = (0usize, 0usize, 0usize, 0usize);
    let mut last_match: HashMap<u64, u64> = HashMap::new();
    // Frames where (gt, track) overlap, for IDF1.
    let mut pair_frames: HashMap<(u64, u64), usize> = HashMap::new();
    let (mut gt_count, mut tr_count): (HashMap<u64, usize>, HashMap<u64, usize>) = Default::default();
    for (truth, tracked) in frames {
        gt_total += truth.len();
        for (g, _) in truth {
            *gt_count.entry(*g).or_default() += 1;
        }
        for (t, _) in tracked {
            *tr_count.entry(*t).or_default() += 1;
        }
        for (g, gb) in truth {
            for (t, tb) in tracked {
                if iou(*gb, *tb) >= 0.5 {
                    *pair_frames.entry((*g, *t)).or_default() += 1;
                }
            }
        }
        // Per-frame matching: keep last frame's pairs that still overlap, then greedy by IoU for the rest.
        let mut used_g = HashSet::new();
        let mut used_t = HashSet::new();
        let mut matches = Vec::new();
        for (g, gb) in truth {
            if let Some(&t) = last_match.get(g)
                && let Some((_, tb)) = tracked.iter().find(|(id, _)| *id == t)
                && iou(*gb, *tb) >= 0.5
                && used_t.insert(t)
            {
                used_g.insert(*g);
                matches.push((*g, t));
            }
        }
        let mut candidates: Vec<(f32, u64, u64)> = truth
            .iter()
            .filter(|(g, _)| !used_g.contains(g))
            .flat_map(|(g, gb)| {
                tracked
                    .iter()
                    .filter(|(t, _)| !used_t.contains(t))
                    .map(move |(t, tb)| (iou(*gb, *tb), *g, *t))
            })
            .filter(|(v, _, _)| *v >= 0.5)
            .collect();
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, g, t) in candidates {
            if !used_g.contains(&g) && !used_t.contains(&t) {
                used_g.insert(g);
                used_t.insert(t);
                matches.push((g, t));
            }
        }
        for &(g, t) in &matches {
            if let Some(&previous) = last_match.get(&g)
                && previous != t
            {
                idsw += 1;
                if std::env::var_os("MOT_DEBUG").is_some() {
                    eprintln!(
                        "switch: gt {g} from track {previous} to {t}; gt box {:?}",
                        truth.iter().find(|x| x.0 == g)
                    );
                }
            }
            last_match.insert(g, t);
        }
        fn_ += truth.len() - matches.len();
        fp += tracked.len() - matches.len();
    }
    // IDF1: the optimal one-to-one GT ↔ track assignment maximising frames matched.
    let gts: Vec<u64> = gt_count.keys().copied().collect();
    let trs: Vec<u64> = tr_count.keys().copied().collect();
    let idtp = if gts.is_empty() || trs.is_empty() {
        0
    } else {
        let (n, m) = (gts.len(), trs.len());
        let size = n.max(m);
        let weights = pathfinding::matrix::Matrix::from_fn(size, size, |(i, j)| {
            if i < n && j < m { *pair_frames.get(&(gts[i], trs[j])).unwrap_or(&0) as i64 } else { 0 }
        });
        pathfinding::kuhn_munkres::kuhn_munkres(&weights).0 as usize
    };
    let (total_gt, total_tr): (usize, usize) = (gt_count.values().sum(), tr_count.values().sum());
    let idf1 = 2.0 * idtp as f64 / (total_gt + total_tr) as f64;
    let mota = 1.0 - (fn_ + fp + idsw) as f64 / gt_total as f64;
    Mot { gt: gt_total, mota, idf1, id_switches: idsw }
}

/// Runs a tracker over `frames`, keeping each frame with probability `keep` (the others are dropped before
/// reaching it, as the server drops frames under load); scores only the frames it saw.
fn run(frames: &[SyntheticFrame], keep: f32, seed: u64) -> Mot {
    let mut tracker = Tracker::from_params(&serde_json::Map::new()).unwrap();
    let mut rng = Rng(seed);
    let mut scored = Vec::new();
    for frame in frames {
        if !rng.chance(keep) {
            continue;
        }
        let (tracked, _) = tracker.update(frame.at, SIZE, &frame.detections);
        let tracked: Vec<(u64, [f32; 4])> =
            tracked.iter().filter_map(|d| d.track_id.map(|id| (id, d.xyxy))).collect();
        scored.push((frame.truth.clone(), tracked));
    }
    score(&scored)
}

const SEEDS: [u64; 3] = [1, 2, 3];

#[test]
fn synthetic_sequences_keep_their_ids() {
    let (mut idf1, mut switches, mut frames) = (0.0, 0, 0);
    for seed in SEEDS {
        let sequence = sequence(seed, 1000, 8);
        let mot = run(&sequence, 1.0, seed);
        eprintln!("seed {seed}, every frame: {mot:?}");
        idf1 += mot.idf1 / SEEDS.len() as f64;
        switches += mot.id_switches;
        frames += sequence.len();
        assert!(mot.mota > 0.8, "seed {seed}: {mot:?}");
    }
    let per_1000 = switches as f64 * 1000.0 / frames as f64;
    eprintln!("mean IDF1 {idf1:.3}, {per_1000:.2} ID switches per 1000 frames");
    assert!(idf1 >= 0.95, "mean IDF1 {idf1:.3}");
    assert!(per_1000 <= 1.0, "{switches} ID switches in {frames} frames");
}

#[test]
fn half_the_frames_dropped_at_random() {
    let mut idf1 = 0.0;
    for seed in SEEDS {
        let mot = run(&sequence(seed, 1000, 8), 0.5, seed + 100);
        eprintln!("seed {seed}, half the frames: {mot:?}");
        idf1 += mot.idf1 / SEEDS.len() as f64;
    }
    eprintln!("mean IDF1 with 50% dropped {idf1:.3}");
    assert!(idf1 >= 0.85, "mean IDF1 {idf1:.3}");
}

/// Two people walking towards each other on one line swap places without swapping ids.
#[test]
fn crossing_paths_keep_their_ids() {
    let mut tracker = Tracker::from_params(&serde_json::Map::new()).unwrap();
    let mut ids_left_walker = HashSet::new();
    for f in 0..120u64 {
        let x = 40.0 + 4.0 * f as f32;
        let left = detection([x, 200.0, x + 40.0, 290.0], 0.9, 0);
        let right = detection([600.0 - x, 205.0, 640.0 - x, 295.0], 0.9, 0);
        let (out, _) = tracker.update(Duration::from_millis(f * 33), SIZE, &[left, right]);
        if let Some(d) = out.iter().find(|d| (d.xyxy[0] - x).abs() < 1.0) {
            ids_left_walker.extend(d.track_id);
        }
    }
    assert_eq!(ids_left_walker.len(), 1, "{ids_left_walker:?}");
}

/// Counting lines: a person crossing a vertical line left to right counts once, forward (the centre lands
/// exactly on the line on one frame: still one crossing).
#[test]
fn counting_lines_count_each_crossing_once() {
    let params = serde_json::json!({ "lines": [{ "id": "door", "from": [320, 0], "to": [320, 480] }] });
    let mut tracker = Tracker::from_params(params.as_object().unwrap()).unwrap();
    let mut last = None;
    for f in 0..60u64 {
        let x = 200.0 + 4.0 * f as f32;
        let (_, summary) = tracker.update(
            Duration::from_millis(f * 33),
            SIZE,
            &[detection([x, 200.0, x + 40.0, 290.0], 0.9, 0)],
        );
        last = Some(summary);
    }
    let summary = last.unwrap();
    assert_eq!(summary.counts.get("person"), Some(&1));
    // The line is drawn downwards: moving right is forward.
    let door = &summary.lines[0];
    assert_eq!(door.id, "door");
    assert_eq!(door.forward.get("person"), Some(&1), "{door:?}");
    assert!(door.backward.is_empty(), "{door:?}");
}

#[test]
fn bad_params_are_refused_naming_the_param() {
    for (bad, param, reason) in [
        (
            serde_json::json!({ "lines": [{ "id": "a", "from": [0, 0], "to": [0, 0] }] }),
            "lines",
            "two distinct",
        ),
        (serde_json::json!({ "lines": [{ "id": "a", "from": [0, 0] }] }), "lines", "missing field `to`"),
        (
            serde_json::json!({ "lines": [{ "id": "a", "from": [0], "to": [1, 1] }] }),
            "lines",
            "invalid length 1",
        ),
        (
            serde_json::json!({ "low_threshold": 0.9, "high_threshold": 0.5 }),
            "low_threshold",
            "above high_threshold",
        ),
        (serde_json::json!({ "match_iou": 2 }), "match_iou", "2 is outside 0..=1"),
        (serde_json::json!({ "max_tracks": -1 }), "max_tracks", "invalid value: integer `-1`"),
        (serde_json::json!({ "speed": 3 }), "speed", "unknown field `speed`"),
    ] {
        match Tracker::from_params(bad.as_object().unwrap()) {
            Err(Problem::BadParam { param: p, reason: r }) => {
                assert_eq!(p, param, "{bad}");
                assert!(r.contains(reason), "{bad}: {r}");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// However detections come and go, an id once given up is never given to another object, and memory
    /// stays bounded by the live tracks.
    #[test]
    fn ids_are_never_reused(seed in any::<u64>(), keep in 0.2f32..1.0) {
        let frames = sequence(seed, 300, 6);
        let mut tracker = Tracker::from_params(&serde_json::Map::new()).unwrap();
        let mut rng = Rng(seed ^ 0xABCD);
        // Per id: when it was last reported, and whether a processed frame has gone by without it since.
        let mut last_seen: HashMap<u64, (Duration, bool)> = HashMap::new();
        let mut max_live = 0;
        for frame in &frames {
            if !rng.chance(keep) {
                continue;
            }
            let (out, _) = tracker.update(frame.at, SIZE, &frame.detections);
            let ids: Vec<u64> = out.iter().filter_map(|d| d.track_id).collect();
            prop_assert_eq!(ids.len(), ids.iter().collect::<HashSet<_>>().len(), "an id twice in one frame");
            let newest = last_seen.keys().max().copied().unwrap_or(0);
            for &id in &ids {
                match last_seen.get(&id) {
                    // A new id is always above every id given before.
                    None => prop_assert!(id > newest, "new id {} after {}", id, newest),
                    // A track missed in a frame is lost; lost for longer than the timeout (1 s), it is gone
                    // for good. (A stream that stalls with no frames at all does not lose its tracks.)
                    Some(&(seen, missed)) => prop_assert!(
                        !missed || frame.at - seen <= Duration::from_secs(1),
                        "id {} back after {:?} lost", id, frame.at - seen
                    ),
                }
                last_seen.insert(id, (frame.at, false));
            }
            for (id, (_, missed)) in &mut last_seen {
                if !ids.contains(id) {
                    *missed = true;
                }
            }
            max_live = max_live.max(tracker.live_tracks());
        }
        prop_assert!(max_live <= 6 * 3 + 10, "{} live tracks for 6 objects", max_live);
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `yolo_track` on the real model, frames of a panning scene (the motorcycle frame shifted a few pixels
/// per frame): the motorcycle keeps one id, and a new stream starts its ids again from 1.
#[test]
fn yolo_track_follows_the_motorcycle_across_a_pan() {
    let mut config = RegistryConfig::new(workspace().join("fixtures/models"));
    config.include_builtins = true;
    let registry = PipelineRegistry::load(&config).unwrap();
    let frame = pipeline_dag::stages::decode_jpeg(
        &std::fs::read(workspace().join("fixtures/images/motorcycle_left_640x480.jpg")).unwrap(),
        u64::MAX,
    )
    .unwrap();
    let mut stream = registry.open_stream("yolo_track").unwrap();
    let mut ids = HashSet::new();
    for f in 0..10u32 {
        // Pan: crop a 560×420 window moving right by 8 pixels a frame.
        let shifted = crop(&frame, 8 * f, 30, 560, 420);
        let result = registry
            .run_image_in_stream(
                &mut stream,
                u64::from(f),
                Duration::from_millis(u64::from(f) * 100),
                &shifted,
            )
            .unwrap();
        let motorcycle = result
            .detections
            .unwrap()
            .into_iter()
            .filter(|d| &*d.class_name == "motorcycle")
            .max_by(|a, b| a.confidence.total_cmp(&b.confidence));
        let motorcycle = motorcycle.unwrap_or_else(|| panic!("frame {f}: no motorcycle"));
        ids.insert(motorcycle.track_id.unwrap_or_else(|| panic!("frame {f}: motorcycle without an id")));
        assert!(result.tracking.unwrap().counts.contains_key("motorcycle"));
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(stream.live_tracks() >= 1);
    drop(stream);
    let mut fresh = registry.open_stream("yolo_track").unwrap();
    let first = registry.run_image_in_stream(&mut fresh, 0, Duration::ZERO, &frame).unwrap();
    let mut fresh_ids: Vec<u64> = first.detections.unwrap().iter().filter_map(|d| d.track_id).collect();
    fresh_ids.sort_unstable();
    assert_eq!(fresh_ids.first(), Some(&1), "a new stream starts from id 1");
}

fn crop(
    frame: &pipeline_dag::stages::Frame,
    x0: u32,
    y0: u32,
    w: u32,
    h: u32,
) -> pipeline_dag::stages::Frame {
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in y0..y0 + h {
        let start = ((y * frame.width() + x0) * 3) as usize;
        rgb.extend_from_slice(&frame.rgb()[start..start + (w * 3) as usize]);
    }
    pipeline_dag::stages::Frame::from_rgb(w, h, rgb).unwrap()
}
