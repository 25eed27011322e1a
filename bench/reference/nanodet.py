"""NanoDet-g and NanoDet-Plus-m with onnxruntime + numpy: the Rust `yolo` pipeline's pre/post-processing.

Whole frame stretched to S x S with Pillow's bilinear filter (no letterbox), BGR, (x - mean) / std; class scores
(sigmoid applied in the model) kept above 0.35, the best class per cell; side distances = expectation of the
softmax over the distance bins x stride; boxes clamped to the input, class-wise NMS at IoU 0.5 (at most 100),
then scaled to the frame and clamped to it. See fixtures/models/README.md and crates/pipeline-dag/src/detect.rs.
"""

import math
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import simplejpeg
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
MODELS_DIRS = [REPO / "fixtures" / "models", REPO.parent / "shared" / "models"]
MODEL_FILES = {  # (input size 416 file, any-size file)
    "nanodet-g": ("nanodet-g-coco.onnx", "nanodet-g-coco.onnx"),
    "nanodet-plus-m": ("nanodet-plus-m_416.onnx", "nanodet-plus-m_dynamic-hw.onnx"),
}
COCO_CLASSES = (
    "person|bicycle|car|motorcycle|airplane|bus|train|truck|boat|traffic light|fire hydrant|stop sign|"
    "parking meter|bench|bird|cat|dog|horse|sheep|cow|elephant|bear|zebra|giraffe|backpack|umbrella|handbag|"
    "tie|suitcase|frisbee|skis|snowboard|sports ball|kite|baseball bat|baseball glove|skateboard|surfboard|"
    "tennis racket|bottle|wine glass|cup|fork|knife|spoon|bowl|banana|apple|sandwich|orange|broccoli|carrot|"
    "hot dog|pizza|donut|cake|chair|couch|potted plant|bed|dining table|toilet|tv|laptop|mouse|remote|"
    "keyboard|cell phone|microwave|oven|toaster|sink|refrigerator|book|clock|vase|scissors|teddy bear|"
    "hair drier|toothbrush"
).split("|")
MEAN = np.array([103.53, 116.28, 123.675], np.float32)  # B, G, R
STD = np.array([57.375, 57.12, 58.395], np.float32)
MAX_PIXELS = 40_000_000


class InvalidFrame(ValueError):
    pass


def find_model(model: str, input_size: int, dirs=MODELS_DIRS) -> Path:
    name = MODEL_FILES[model][0 if input_size == 416 else 1]
    for d in dirs:
        if (Path(d) / name).is_file():
            return Path(d) / name
    raise FileNotFoundError(f"{name} not found in {', '.join(map(str, dirs))}")


def decode_jpeg(data: bytes) -> np.ndarray:
    try:
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
        if width * height > MAX_PIXELS:
            raise InvalidFrame(f"{width}x{height} is over the pixel limit")
        return simplejpeg.decode_jpeg(data, colorspace="RGB")
    except ValueError as e:
        raise InvalidFrame(str(e)) from e


class Detector:
    """NanoDet-g or NanoDet-Plus-m: bilinear stretch to S x S, BGR mean/std, distance-bin decoding, NMS."""

    def __init__(
        self,
        model: str,
        input_size: int = 416,
        intra_threads: int | None = None,
        path=None,
        score_threshold: float = 0.35,
        iou_threshold: float = 0.5,
        max_detections: int = 100,
    ):
        self.model, self.size, self.path = model, input_size, Path(path or find_model(model, input_size))
        self.score_threshold, self.iou_threshold, self.max_detections = score_threshold, iou_threshold, max_detections
        options = ort.SessionOptions()
        if intra_threads:
            options.intra_op_num_threads = intra_threads
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        # NanoDet-g: cell centres ((col + .5) * stride, ...); NanoDet-Plus: corners (col * stride, ...).
        strides, offset = ((8, 16, 32), 0.5) if model == "nanodet-g" else ((8, 16, 32, 64), 0.0)
        self.cells = [math.ceil(input_size / s) ** 2 for s in strides]
        grids = []
        for s in strides:
            side = math.ceil(input_size / s)
            rows, cols = np.divmod(np.arange(side * side, dtype=np.float32), side)
            grids.append(np.stack([(cols + offset) * s, (rows + offset) * s, np.full_like(cols, s)], axis=1))
        self.priors = np.concatenate(grids)  # [N, 3]: x, y, stride

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        resized = Image.fromarray(rgb).resize((self.size, self.size), Image.Resampling.BILINEAR)
        bgr = np.asarray(resized, dtype=np.float32)[..., ::-1]
        return np.ascontiguousarray(((bgr - MEAN) / STD).transpose(2, 0, 1)[None])

    def raw_outputs(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Class scores [N, 80] and side distributions [N, 4 * bins], rows in prior order."""
        outputs = self.session.run(None, {self.input_name: tensor})
        if self.model == "nanodet-plus-m":
            out = outputs[0][0]
            return out[:, :80], out[:, 80:]
        by_cells = {}  # NanoDet-g: a (scores, boxes) pair of [1, N, C] outputs per stride, in any order
        for o in outputs:
            by_cells.setdefault(o.shape[1], []).append(o[0])
        pairs = [sorted(by_cells[n], key=lambda a: a.shape[1] != 80) for n in self.cells]
        return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])

    def detect(self, rgb: np.ndarray) -> list[dict]:
        height, width = rgb.shape[:2]
        scores, dists = self.raw_outputs(self.preprocess(rgb))
        class_ids = scores.argmax(axis=1)
        confidence = scores[np.arange(len(scores)), class_ids]
        keep = confidence > self.score_threshold
        class_ids, confidence, priors = class_ids[keep], confidence[keep], self.priors[keep]
        bins = dists[keep].reshape(-1, 4, dists.shape[1] // 4)
        probs = np.exp(bins - bins.max(axis=2, keepdims=True))
        sides = (probs / probs.sum(axis=2, keepdims=True)) @ np.arange(bins.shape[2], dtype=np.float32)
        sides *= priors[:, 2:3]  # left, top, right, bottom in input pixels
        xy = priors[:, :2]
        boxes = np.clip(np.concatenate([xy - sides[:, :2], xy + sides[:, 2:]], axis=1), 0, self.size)
        chosen = nms(boxes, confidence, class_ids, self.iou_threshold)[: self.max_detections]
        scale = np.array([width, height, width, height], np.float32) / self.size
        limit = np.array([width, height, width, height], np.float32)
        return [
            {
                "xyxy": [round(float(v), 2) for v in np.clip(boxes[i] * scale, 0, limit)],
                "confidence": round(float(confidence[i]), 4),
                "class_id": int(class_ids[i]),
                "class_name": COCO_CLASSES[class_ids[i]],
            }
            for i in chosen
        ]

    def process(self, jpeg: bytes) -> dict:
        """The whole `yolo` pipeline on one JPEG: the `result` object of the wire protocol."""
        started = time.perf_counter()
        rgb = decode_jpeg(jpeg)
        decoded = time.perf_counter()
        detections = self.detect(rgb)
        done = time.perf_counter()
        return {
            "image": {"width": rgb.shape[1], "height": rgb.shape[0]},
            "detections": detections,
            "count": len(detections),
            "timings_ms": {"decode": round((decoded - started) * 1e3, 3), "detect": round((done - decoded) * 1e3, 3)},
        }


def nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float) -> list[int]:
    """Class-wise greedy NMS; indices of the kept boxes, best score first."""
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    kept = []
    for c in np.unique(class_ids):
        order = np.flatnonzero(class_ids == c)
        order = order[np.argsort(-scores[order], kind="stable")]
        while order.size:
            i, rest = order[0], order[1:]
            kept.append(i)
            wh = (np.minimum(boxes[i, 2:], boxes[rest, 2:]) - np.maximum(boxes[i, :2], boxes[rest, :2])).clip(0)
            inter = wh[:, 0] * wh[:, 1]
            union = areas[i] + areas[rest] - inter
            iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
            order = rest[iou <= iou_threshold]
    return sorted(kept, key=lambda i: -scores[i])
