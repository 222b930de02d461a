#!/usr/bin/env python3
"""Makes the tiny ONNX models the unit tests use (ours, a few KB each). Needs the `onnx` and `numpy` packages:
    /usr/bin/python3 test/assets/make-tiny-models.py
Each model ignores its input except for shape (output = CONST + 0 * ReduceMean(input)), so tests know the exact
head output and can check decode, NMS and un-letterboxing through the real onnxruntime."""
import os
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def const_model(name, out_value, meta, input_shape=(1, 3, 32, 32), opset=17, extra_outputs=(), fp16=False):
    elem, dtype = (TensorProto.FLOAT16, np.float16) if fp16 else (TensorProto.FLOAT, np.float32)
    inp = helper.make_tensor_value_info('images', elem, list(input_shape))
    nodes = [
        helper.make_node('ReduceMean', ['images'], ['mean'], keepdims=0),
        helper.make_node('Mul', ['mean', 'zero'], ['zeroed']),
        helper.make_node('Add', ['head', 'zeroed'], ['output0']),
    ]
    inits = [numpy_helper.from_array(np.array(0, dtype=dtype), 'zero'),
             numpy_helper.from_array(out_value.astype(dtype), 'head')]
    outs = [helper.make_tensor_value_info('output0', elem, list(out_value.shape))]
    for i, shape in enumerate(extra_outputs):
        nodes.append(helper.make_node('Add', [f'extra{i}c', 'zeroed'], [f'output{i + 1}']))
        inits.append(numpy_helper.from_array(np.zeros(shape, dtype=np.float32), f'extra{i}c'))
        outs.append(helper.make_tensor_value_info(f'output{i + 1}', TensorProto.FLOAT, list(shape)))
    graph = helper.make_graph(nodes, name, [inp], outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)], producer_name='inspectd-tests')
    model.ir_version = 8
    for k, v in meta.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(HERE, name + '.onnx'))


# YOLOv8-style head for a 32x32 input: 21 anchors (16 + 4 + 1), 2 classes -> [1, 6, 21].
v8 = np.zeros((1, 6, 21), dtype=np.float32)
def put(a, cx, cy, w, h, scores):
    v8[0, 0:4, a] = [cx, cy, w, h]
    v8[0, 4:, a] = scores
put(0, 16, 16, 8, 8, [0.9, 0.1])     # kept
put(1, 16.5, 16, 8, 8, [0.8, 0.0])   # same class, IoU > 0.7 with anchor 0: suppressed
put(2, 16, 16, 8, 8, [0.0, 0.85])    # other class, same box: kept (class-aware)
put(3, 30, 10, 10, 4, [0.0, 0.6])    # crosses the right edge: clipped
put(4, 4, 4, 2, 2, [0.2, 0.0])       # below the default threshold
const_model('tiny-v8', v8, {'names': "{0: 'good part', 1: \"it's a scratch\"}", 'imgsz': '[32, 32]', 'stride': '32',
                            'task': 'detect', 'end2end': 'False'})

# The same head as an fp16 model (inputs and outputs float16), as a half-precision export has.
const_model('tiny-v8-fp16', v8, {'names': "{0: 'good part', 1: \"it's a scratch\"}", 'imgsz': '[32, 32]'}, fp16=True)

# YOLOv5-style head without names or imgsz in its metadata: 63 anchors (3 x 21), 2 classes -> [1, 63, 7].
v5 = np.zeros((1, 63, 7), dtype=np.float32)
v5[0, 0] = [16, 16, 8, 8, 0.9, 0.1, 1.0]
const_model('tiny-v5-nonames', v5, {'stride': '32'})

# End-to-end head: [1, 10, 6] rows x1,y1,x2,y2,score,class.
e2e = np.zeros((1, 10, 6), dtype=np.float32)
e2e[0, 0] = [4, 4, 12, 12, 0.7, 1]
e2e[0, 1] = [8, 8, 24, 24, 0.95, 0]
e2e[0, 2] = [8, 8, 24, 24, 0.1, 0]
const_model('tiny-e2e', e2e, {'names': "{0: 'a', 1: 'b'}", 'imgsz': '[32, 32]', 'end2end': 'True'})

# A 4-D head and a two-output model: both must be refused with the shapes named.
const_model('tiny-4d', np.zeros((1, 3, 4, 4), dtype=np.float32), {})
const_model('tiny-2out', v8, {'names': "{0: 'a', 1: 'b'}"}, extra_outputs=[(1, 32, 8, 8)])
