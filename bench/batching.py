"""Does batching pay on this CPU? NanoDet-Plus-m at 416 with a dynamic batch dimension: N frames as one run vs N runs."""
import sys, time
import numpy as np
import onnx
import onnxruntime as ort

src = '/work/shared/models/nanodet-plus-m_416.onnx'
m = onnx.load(src)
m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = 'N'
for o in m.graph.output:
    o.type.tensor_type.shape.dim[0].dim_param = 'N'
# Reshape constants with a leading 1 (the batch) become 0 (copy the input's dim)
consts = {init.name: init for init in m.graph.initializer}
for node in m.graph.node:
    if node.op_type == 'Reshape':
        shape = consts.get(node.input[1])
        if shape is not None:
            arr = onnx.numpy_helper.to_array(shape).copy()
            if arr[0] == 1:
                arr[0] = 0
                shape.CopyFrom(onnx.numpy_helper.from_array(arr, shape.name))
for vi in list(m.graph.value_info):
    m.graph.value_info.remove(vi)
onnx.save(m, '/tmp/batch/plus_dynbatch.onnx')

def session(path, threads):
    o = ort.SessionOptions(); o.intra_op_num_threads = threads; o.inter_op_num_threads = 1
    o.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return ort.InferenceSession(path, o, providers=['CPUExecutionProvider'])

x1 = np.random.rand(1, 3, 416, 416).astype(np.float32)
ref = session(src, 1).run(None, {'data': x1})[0]
dyn1 = session('/tmp/batch/plus_dynbatch.onnx', 1)
out = dyn1.run(None, {'data': np.concatenate([x1, x1])})[0]
print('batched output matches:', np.abs(out[0] - ref[0]).max(), np.abs(out[1] - ref[0]).max())

for threads in (1, 2):
    s1 = session(src, threads); sb = session('/tmp/batch/plus_dynbatch.onnx', threads)
    for n in (2, 4, 8):
        xb = np.random.rand(n, 3, 416, 416).astype(np.float32)
        xs = [xb[i:i+1] for i in range(n)]
        for _ in range(3): s1.run(None, {'data': xs[0]}); sb.run(None, {'data': xb})
        res = {'single': [], 'batch': []}
        for rep in range(6):  # alternate A B
            t = time.perf_counter()
            for x in xs: s1.run(None, {'data': x})
            res['single'].append((time.perf_counter() - t) / n * 1000)
            t = time.perf_counter(); sb.run(None, {'data': xb}); res['batch'].append((time.perf_counter() - t) / n * 1000)
        print(f'threads={threads} n={n}: per frame single {np.median(res["single"]):.1f} ms, batched {np.median(res["batch"]):.1f} ms, ratio {np.median(res["batch"])/np.median(res["single"]):.2f}')

# What the server does with several sessions: concurrent single-thread runs, one per core.
from concurrent.futures import ThreadPoolExecutor
singles = [session(src, 1) for _ in range(2)]
sb2 = session('/tmp/batch/plus_dynbatch.onnx', 2)
for n in (4, 8):
    xb = np.random.rand(n, 3, 416, 416).astype(np.float32)
    res = {'concurrent': [], 'batch2': []}
    with ThreadPoolExecutor(2) as pool:
        for rep in range(6):
            t = time.perf_counter()
            list(pool.map(lambda i: singles[i % 2].run(None, {'data': xb[i:i+1]}), range(n)))
            res['concurrent'].append((time.perf_counter() - t) / n * 1000)
            t = time.perf_counter(); sb2.run(None, {'data': xb}); res['batch2'].append((time.perf_counter() - t) / n * 1000)
    print(f'n={n}: wall per frame, 2 concurrent 1-thread runs {np.median(res["concurrent"]):.1f} ms, one 2-thread batch {np.median(res["batch2"]):.1f} ms')
