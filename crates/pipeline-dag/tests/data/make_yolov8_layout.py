"""Writes yolov8_layout.onnx: a stand-in for an Ultralytics YOLOv8/YOLO11 export, for testing the `yolov8`
output format end to end (load, plan, run, decode, scale) without a trained model, which cannot be
downloaded here.

Same interface as `yolo export model=yolov8n.pt format=onnx imgsz=320`: input `images` [1,3,320,320]
(RGB / 255), output `output0` [1,84,N] = cx, cy, w, h and 80 class scores per cell. Every one of its
N = 1600 cells predicts the same box, cx=160 cy=120 w=100 h=80 in input pixels, class 0 (person) with
score 0.9 and class 2 (car) with 0.2; the input is read (average-pooled) but weighted by zero.

    python3 -m venv /tmp/onnx && /tmp/onnx/bin/pip install onnx==1.23.2 numpy
    /tmp/onnx/bin/python make_yolov8_layout.py
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

classes = 80
bias = np.zeros(4 + classes, dtype=np.float32)
bias[:4] = [160.0, 120.0, 100.0, 80.0]
bias[4 + 0] = 0.9
bias[4 + 2] = 0.2
weight = np.zeros((4 + classes, 3, 1, 1), dtype=np.float32)

graph = helper.make_graph(
    [
        helper.make_node("AveragePool", ["images"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Conv", ["pooled", "weight", "bias"], ["cells"]),
        helper.make_node("Reshape", ["cells", "shape"], ["output0"]),
    ],
    "yolov8_layout",
    [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 320, 320])],
    [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + classes, 1600])],
    initializer=[
        numpy_helper.from_array(weight, "weight"),
        numpy_helper.from_array(bias, "bias"),
        numpy_helper.from_array(np.array([1, 4 + classes, -1], dtype=np.int64), "shape"),
    ],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="forgesyte-test")
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, "yolov8_layout.onnx")
