"""Checks the reference server's detector against the fixture reference detections.

For every fixture frame, model (NanoDet-g, NanoDet-Plus-m) and input size (416, 320) in the reference JSONs,
runs `server.Detector` on the JPEG and pairs its detections with the expected ones (same class, highest IoU).
A frame agrees when every pair has IoU >= 0.85 and a confidence within 0.05, and at most one detection is
unpaired (on either side) with a score below 0.4 (a borderline candidate at the 0.35 threshold).
Exit status 0 when every frame agrees, 1 otherwise.

    target/bench-venv/bin/python bench/reference/check.py [--model nanodet-g] [--sizes 416] [-v]
"""

import argparse
import json
import sys
from pathlib import Path

from nanodet import MODEL_FILES, REPO, Detector, decode_jpeg, find_model

EXPECTED_DIRS = {"nanodet-g": "expected", "nanodet-plus-m": "expected-nanodet-plus-m"}
MIN_IOU, MAX_SCORE_DELTA, LOW_SCORE = 0.85, 0.05, 0.4


def iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def compare(expected: list[dict], got: list[dict]):
    """Pairs detections by class and IoU. Returns (pairs as (expected, got, IoU, good), unpaired as
    (kind, detection), whether the frame agrees)."""
    pairs, unpaired, free = [], [], list(got)
    for e in sorted(expected, key=lambda d: -d["confidence"]):
        same = [g for g in free if g["class_id"] == e["class_id"] and iou(e["xyxy"], g["xyxy"]) > 0.3]
        if not same:
            unpaired.append(("missing", e))
            continue
        g = max(same, key=lambda g: iou(e["xyxy"], g["xyxy"]))
        free.remove(g)
        overlap = iou(e["xyxy"], g["xyxy"])
        pairs.append((e, g, overlap, overlap >= MIN_IOU and abs(g["confidence"] - e["confidence"]) <= MAX_SCORE_DELTA))
    unpaired += [("extra", g) for g in free]
    ok = all(p[3] for p in pairs) and len(unpaired) <= 1 and all(d["confidence"] < LOW_SCORE for _, d in unpaired)
    return pairs, unpaired, ok


def fixture_dir(name: str, root: Path | None) -> Path:
    candidates = [root / name] if root else [REPO / "fixtures" / name, REPO.parent / "shared" / "fixtures" / name]
    return next((c for c in candidates if c.is_dir()), candidates[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["all", *sorted(MODEL_FILES)], default="all")
    parser.add_argument("--sizes", default="416,320", help="input sizes to check (comma-separated)")
    parser.add_argument(
        "--fixtures",
        type=Path,
        help="folder with images/ and expected*/ (default: the repository's fixtures/, else ../shared/fixtures/)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print every pair")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    models = sorted(MODEL_FILES) if args.model == "all" else [args.model]
    images = fixture_dir("images", args.fixtures)

    checked = failed = 0
    for model in models:
        expected_dir = fixture_dir(EXPECTED_DIRS[model], args.fixtures)
        files = sorted(expected_dir.glob("*.detections.json"))
        if not files:
            print(f"{model}: no reference detections in {expected_dir}", file=sys.stderr)
            return 1
        for size in sizes:
            try:
                detector = Detector(model, size, path=find_model(model, size))
            except FileNotFoundError as e:
                print(f"{model} @ {size}: {e}", file=sys.stderr)
                return 1
            print(f"== {model} @ {size} ({detector.path.name}) vs {expected_dir}")
            for file in files:
                reference = json.loads(file.read_text())
                expected = reference["by_input_size"].get(str(size))
                if expected is None:
                    continue
                rgb = decode_jpeg((images / reference["image"]).read_bytes())
                got = detector.detect(rgb)
                pairs, unpaired, ok = compare(expected, got)
                deltas = [abs(g["confidence"] - e["confidence"]) for e, g, _, _ in pairs]
                checked, failed = checked + 1, failed + (not ok)
                print(
                    f"{'ok  ' if ok else 'FAIL'} {reference['image']:<28} expected {len(expected)}, got {len(got)}, "
                    f"matched {len(pairs)}, min IoU {min((p[2] for p in pairs), default=1.0):.3f}, "
                    f"max |dconf| {max(deltas, default=0.0):.4f}, unpaired {len(unpaired)}"
                )
                for e, g, overlap, good in pairs if args.verbose or not ok else []:
                    print(
                        f"      {e['class_name']:>12} IoU {overlap:.3f} conf {e['confidence']:.4f} -> "
                        f"{g['confidence']:.4f}{'' if good else '  <-- DISAGREES'}"
                    )
                for kind, d in unpaired:
                    print(
                        f"      {kind:>12} {d['class_name']} conf {d['confidence']:.4f} "
                        f"at {[round(v, 1) for v in d['xyxy']]}"
                    )
    print(f"{checked - failed} passed, {failed} failed")
    return 0 if failed == 0 and checked > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
