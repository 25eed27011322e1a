"""Does an int8 PP-OCRv4 recogniser run faster on this CPU? (docs/performance.md, "OCR, step by step")

Quantises fixtures/models/ch_PP-OCRv4_rec_infer.onnx with onnxruntime's dynamic quantisation twice (every
supported operator; MatMul/Gemm only) into target/ocr-int8/, then times the three models on one 1x3x48x640
input with one and two intra-op threads, alternated, and prints the median of six rounds of five runs.

    bash bench/reference/setup.sh            # target/bench-venv with onnxruntime, numpy, onnx
    target/bench-venv/bin/python bench/ocr_int8.py
"""

import os
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.shape_inference import quant_pre_process

SOURCE = "fixtures/models/ch_PP-OCRv4_rec_infer.onnx"
OUT = "target/ocr-int8"


def session(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def main():
    os.makedirs(OUT, exist_ok=True)
    pre = f"{OUT}/pre.onnx"
    quant_pre_process(SOURCE, pre, skip_symbolic_shape=True)
    models = {"float32": SOURCE, "int8 (all)": f"{OUT}/rec_int8.onnx", "int8 (MatMul only)": f"{OUT}/rec_int8_mm.onnx"}
    quantize_dynamic(pre, models["int8 (all)"], weight_type=QuantType.QInt8)
    quantize_dynamic(pre, models["int8 (MatMul only)"], weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
    x = np.random.default_rng(0).standard_normal((1, 3, 48, 640)).astype(np.float32)
    for threads in (1, 2):
        sessions = {name: session(path, threads) for name, path in models.items()}
        times = {name: [] for name in sessions}
        for _ in range(6):
            for name, s in sessions.items():
                feed = {s.get_inputs()[0].name: x}
                start = time.perf_counter()
                for _ in range(5):
                    s.run(None, feed)
                times[name].append((time.perf_counter() - start) / 5 * 1000)
        for name, t in times.items():
            print(f"{threads} thread(s)  {name:20s} {sorted(t)[3]:6.1f} ms")


if __name__ == "__main__":
    main()
