"""Graft stage of the model build: write an OpenSetHead into the ONNX graph after `embedding`.

    probs           = Softmax((embedding @ W + b) / T)
    rejection_score = (min_k |(embedding - mean) @ whiten - c_k|^2 - maha_shift) / maha_scale
                      - (max(probs) - conf_shift) / conf_scale

so the edge and the server compute the same score from the file alone. Needs the `onnx` package
(requirements-build.txt); the loader (edge.model) needs only onnxruntime.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .openset import OpenSetHead


def _prune(graph, keep_outputs: set[str]) -> None:
    """Drop the nodes (and initializers) no output depends on."""
    producer = {o: n for n in graph.node for o in n.output}
    needed, stack = set(), list(keep_outputs)
    while stack:
        t = stack.pop()
        n = producer.get(t)
        if n is None or id(n) in needed:
            continue
        needed.add(id(n))
        stack.extend(i for i in n.input if i)
    nodes = [n for n in graph.node if id(n) in needed]
    used = {i for n in nodes for i in n.input}
    inits = [i for i in graph.initializer if i.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(inits)


def graft(src: Path, dst: Path, model: OpenSetHead, metadata: dict) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(src))
    g = m.graph
    n_items = model.head.weight.shape[1]
    rej = model.rejection
    # the old head: everything only `probs` needed goes
    keep = [o for o in g.output if o.name == "embedding"]
    del g.output[:]
    g.output.extend(keep)
    _prune(g, {"embedding"})

    def const(name, value):
        g.initializer.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    w = const("oshead/W", model.head.weight)
    b = const("oshead/b", model.head.bias)
    t = const("oshead/T", np.float32(model.temperature))
    whiten = const("rej/whiten", rej.whiten)
    shift_z = const("rej/mean_w", rej.mean @ rej.whiten)           # (e - mean) @ Wh = e @ Wh - mean @ Wh
    centres_t = const("rej/centres_t", -2.0 * rej.centres.T)       # dims x K
    c_sq = const("rej/centres_sq", (rej.centres.astype(np.float64) ** 2).sum(1))
    ms, msc = const("rej/maha_shift", np.float32(rej.maha_shift)), const("rej/maha_scale", np.float32(rej.maha_scale))
    cs, csc = const("rej/conf_shift", np.float32(rej.conf_shift)), const("rej/conf_scale", np.float32(rej.conf_scale))
    axes1 = "rej/axes1"
    g.initializer.append(numpy_helper.from_array(np.array([1], np.int64), axes1))
    N = helper.make_node
    g.node.extend([
        N("MatMul", ["embedding", w], ["oshead/mm"], name="oshead/MatMul"),
        N("Add", ["oshead/mm", b], ["oshead/logits"], name="oshead/Add"),
        N("Div", ["oshead/logits", t], ["oshead/scaled"], name="oshead/Div"),
        N("Softmax", ["oshead/scaled"], ["probs"], axis=1, name="oshead/Softmax"),
        N("MatMul", ["embedding", whiten], ["rej/ew"], name="rej/MatMul_whiten"),
        N("Sub", ["rej/ew", shift_z], ["rej/z"], name="rej/Sub_mean"),
        N("Mul", ["rej/z", "rej/z"], ["rej/z2"], name="rej/Mul_sq"),
        N("ReduceSum", ["rej/z2", axes1], ["rej/zsq"], keepdims=1, name="rej/ReduceSum"),
        N("MatMul", ["rej/z", centres_t], ["rej/cross"], name="rej/MatMul_centres"),
        N("Add", ["rej/cross", "rej/zsq"], ["rej/d0"], name="rej/Add_zsq"),
        N("Add", ["rej/d0", c_sq], ["rej/d"], name="rej/Add_csq"),
        N("ReduceMin", ["rej/d"], ["rej/dmin"], axes=[1], keepdims=0, name="rej/ReduceMin"),
        N("Sub", ["rej/dmin", ms], ["rej/d_c"], name="rej/Sub_maha"),
        N("Div", ["rej/d_c", msc], ["rej/d_s"], name="rej/Div_maha"),
        N("ReduceMax", ["probs"], ["rej/conf"], axes=[1], keepdims=0, name="rej/ReduceMax_conf"),
        N("Sub", ["rej/conf", cs], ["rej/c_c"], name="rej/Sub_conf"),
        N("Div", ["rej/c_c", csc], ["rej/c_s"], name="rej/Div_conf"),
        N("Sub", ["rej/d_s", "rej/c_s"], ["rejection_score"], name="rej/score"),
    ])
    g.output.insert(0, helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", n_items]))
    g.output.append(helper.make_tensor_value_info("rejection_score", TensorProto.FLOAT, ["batch"]))
    del m.metadata_props[:]
    for k, v in metadata.items():
        m.metadata_props.append(onnx.StringStringEntryProto(key=k, value=json.dumps(v, ensure_ascii=False)))
    onnx.checker.check_model(m)
    onnx.save(m, str(dst))
