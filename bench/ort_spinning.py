"""Does onnxruntime's spinning help one camera? NanoDet-Plus-m at 416 on two intra-op threads, one run every GAP
seconds (0.2: a 5 FPS camera), three sessions alternated: no spinning, spinning, spinning stopped at the end of
each run (`session.force_spinning_stop`). Prints the median and minimum per session.

    target/bench-venv/bin/python bench/ort_spinning.py [GAP]      # after bench/reference/setup.sh
"""
import sys
import time

import numpy as np
import onnxruntime as ort

MODEL = "fixtures/models/nanodet-plus-m_dynamic-hw.onnx"


def session(spin: bool, stop: bool) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    if stop:
        options.add_session_config_entry("session.force_spinning_stop", "1")
    return ort.InferenceSession(MODEL, options, providers=["CPUExecutionProvider"])


def main() -> None:
    gap = float(sys.argv[1]) if len(sys.argv) > 1 else 0.2
    x = np.random.default_rng(0).random((1, 3, 416, 416), dtype=np.float32)
    sessions = {"no spinning": session(False, False), "spinning": session(True, False),
                "spinning, stopped after each run": session(True, True)}
    name = sessions["spinning"].get_inputs()[0].name
    for s in sessions.values():
        for _ in range(5):
            s.run(None, {name: x})
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(15):
        for k, s in sessions.items():
            time.sleep(gap)
            started = time.perf_counter()
            s.run(None, {name: x})
            times[k].append((time.perf_counter() - started) * 1000)
    for k, v in times.items():
        print(f"{k}: median {np.median(v):.1f} ms, min {min(v):.1f} ms")


if __name__ == "__main__":
    main()
