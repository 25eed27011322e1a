"""Does an int8 PP-OCRv4 recogniser run faster on this CPU, and does it still read? (docs/performance.md, "OCR, step
by step")

Quantises fixtures/models/ch_PP-OCRv4_rec_infer.onnx into target/ocr-int8/ five ways:

- dynamic (`quantize_dynamic`, weights int8): every supported operator; MatMul/Gemm only;
- static (`quantize_static`, QDQ, weights int8 per channel, activations uint8 calibrated on 40 rendered text lines;
  the model converted to opset 13 first, which per-channel QDQ needs): convolutions only (MinMax calibration);
  convolutions only (percentile calibration); every supported operator (MinMax).

Then times each against the float32 model on one 1x3x48x640 line with one and two intra-op threads, alternated
(median of six rounds of five runs), and reads 40 other rendered lines (another seed, DejaVu and Liberation faces)
with each, printing the character error rate against the rendered text.

    bash bench/reference/setup.sh            # target/bench-venv with onnxruntime, numpy, onnx, Pillow
    target/bench-venv/bin/python bench/ocr_int8.py
"""

import os
import random
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import version_converter
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image, ImageDraw, ImageFont

SOURCE = "fixtures/models/ch_PP-OCRv4_rec_infer.onnx"
KEYS = "fixtures/models/ppocr_keys_v1.txt"
OUT = "target/ocr-int8"
WIDTH = 640
FONTS = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
         "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
         "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf"]
WORDS = ("the quick brown fox jumps over lazy dog total due 42.50 store hours open daily 9 am to 6 pm call 555 0142 "
         "receipt cash card thank you visit again exit only room 204 fresh bread order ready pickup").split()


def session(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def rendered_lines(seed, count):
    """`count` (input, text) pairs: a line of words at height 48, dark on light, blank-padded to WIDTH."""
    rng = random.Random(seed)
    fonts = [f for f in FONTS if os.path.exists(f)]
    lines = []
    while len(lines) < count:
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))
        font = ImageFont.truetype(rng.choice(fonts), 36)
        width = int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(text, font=font)) + 16
        if width > WIDTH:
            continue
        image = Image.new("RGB", (width, 48), tuple(rng.randint(200, 255) for _ in range(3)))
        ImageDraw.Draw(image).text((8, 4), text, fill=tuple(rng.randint(0, 60) for _ in range(3)), font=font)
        bgr = (np.asarray(image, dtype=np.float32)[:, :, ::-1] / 255.0 - 0.5) / 0.5
        x = np.zeros((1, 3, 48, WIDTH), np.float32)
        x[0, :, :, :width] = bgr.transpose(2, 0, 1)
        lines.append((x, text))
    return lines


class Calibration(CalibrationDataReader):
    def __init__(self, name):
        self.feeds = iter([{name: x} for x, _ in rendered_lines(1, 40)])

    def get_next(self):
        return next(self.feeds, None)


def read(session_, x, keys):
    """Greedy CTC decoding."""
    best = session_.run(None, {session_.get_inputs()[0].name: x})[0][0].argmax(-1)
    out, previous = [], -1
    for i in best:
        if i != previous and i != 0:
            out.append(keys[i] if i < len(keys) else "")
        previous = i
    return "".join(out)


def edit_distance(a, b):
    row = list(range(len(a) + 1))
    for i, bi in enumerate(b):
        diagonal, row[0] = row[0], i + 1
        for j, aj in enumerate(a):
            diagonal, row[j + 1] = row[j + 1], min(diagonal + (aj != bi), row[j] + 1, row[j + 1] + 1)
    return row[len(a)]


def main():
    os.makedirs(OUT, exist_ok=True)
    pre = f"{OUT}/pre.onnx"
    quant_pre_process(SOURCE, pre, skip_symbolic_shape=True)
    opset13 = f"{OUT}/opset13.onnx"
    onnx.save(version_converter.convert_version(onnx.load(SOURCE), 13), opset13)
    pre13 = f"{OUT}/pre13.onnx"
    quant_pre_process(opset13, pre13, skip_symbolic_shape=True)
    name = session(SOURCE, 1).get_inputs()[0].name
    models = {"float32": SOURCE}

    def dynamic(label, file, **kw):
        models[label] = f"{OUT}/{file}"
        quantize_dynamic(pre, models[label], weight_type=QuantType.QInt8, **kw)

    def static(label, file, **kw):
        models[label] = f"{OUT}/{file}"
        quantize_static(pre13, models[label], Calibration(name), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, **kw)

    dynamic("dynamic, all", "rec_dyn_all.onnx")
    dynamic("dynamic, MatMul only", "rec_dyn_mm.onnx", op_types_to_quantize=["MatMul", "Gemm"])
    static("static, Conv only", "rec_qdq_conv.onnx", op_types_to_quantize=["Conv"])
    static("static, Conv, percentile", "rec_qdq_conv_pct.onnx", op_types_to_quantize=["Conv"],
           calibrate_method=CalibrationMethod.Percentile)
    static("static, all", "rec_qdq_all.onnx")

    x = rendered_lines(3, 1)[0][0]
    for threads in (1, 2):
        sessions = {label: session(path, threads) for label, path in models.items()}
        times = {label: [] for label in sessions}
        for _ in range(6):
            for label, s in sessions.items():
                start = time.perf_counter()
                for _ in range(5):
                    s.run(None, {name: x})
                times[label].append((time.perf_counter() - start) / 5 * 1000)
        for label, t in times.items():
            print(f"{threads} thread(s)  {label:26s} {sorted(t)[3]:6.1f} ms")

    with open(KEYS, encoding="utf-8") as f:
        keys = [""] + [line.rstrip("\n") for line in f] + [" "]
    lines = rendered_lines(2, 40)
    total = sum(len(text) for _, text in lines)
    for label, path in models.items():
        s = session(path, 2)
        errors = sum(edit_distance(read(s, x, keys), text) for x, text in lines)
        print(f"CER on 40 rendered lines  {label:26s} {errors / total:.4f}")


if __name__ == "__main__":
    main()
