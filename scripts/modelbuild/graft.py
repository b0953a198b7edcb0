"""Graft stage of the model build: write an OpenSetHead into the ONNX graph after `embedding`.

    probs           = Softmax((embedding @ W + b) / T)
    rejection_score = (min_k |(embedding - mean) @ whiten - c_k|^2 - maha_shift) / maha_scale
                      [+ (1 - max_j cos(embedding, bank_j) - bank_shift) / bank_scale]
                      - conf_weight * (max(probs) - conf_shift) / conf_scale   [conf_weight: 0, 0.5 or 1]

so the edge and the server compute the same score from the file alone. Needs the `onnx` package
(requirements-build.txt); the loader (edge.model) needs only onnxruntime.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .openset import OpenSetHead
from .rejection import score_spec


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


def with_input_size(src: Path, dst: Path, size: int) -> None:
    """Write `src` as `dst` taking size x size crops: only the graph's input shape and the preprocessing
    metadata change (the convolutions and the global pooling take any size; the weights stay). The
    backbone's cost grows with the pixel count, so a smaller input is the one lever on a CPU without
    int8 dot-product instructions; its embeddings differ, so a head must be fitted on them afterwards."""
    import onnx

    from edge.model import read_metadata

    if not 32 <= size <= 1024 or size % 8:
        raise ValueError(f"input size must be a multiple of 8 between 32 and 1024, got {size}")
    m = onnx.load(str(src))
    dims = m.graph.input[0].type.tensor_type.shape.dim
    old = [d.dim_value for d in dims[2:]]
    dims[2].dim_value = dims[3].dim_value = size
    del m.graph.value_info[:]  # shapes inferred for the old size
    meta = read_metadata({p.key: p.value for p in m.metadata_props})
    meta["input_size"] = [size, size]
    meta["preprocessing"] = dict(meta.get("preprocessing", {}), input_size=[size, size])
    meta["input_size_changed"] = f"{old[0]}x{old[1]} -> {size}x{size} (graft.with_input_size)"
    _save(m, meta, dst)


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

    _softmax_head(g, "oshead", model.head.weight, model.head.bias, model.temperature, "probs")
    whiten = const("rej/whiten", rej.whiten)
    shift_z = const("rej/mean_w", rej.mean @ rej.whiten)           # (e - mean) @ Wh = e @ Wh - mean @ Wh
    centres_t = const("rej/centres_t", -2.0 * rej.centres.T)       # dims x K
    c_sq = const("rej/centres_sq", (rej.centres.astype(np.float64) ** 2).sum(1))
    ms, msc = const("rej/maha_shift", np.float32(rej.maha_shift)), const("rej/maha_scale", np.float32(rej.maha_scale))
    cs, csc = const("rej/conf_shift", np.float32(rej.conf_shift)), const("rej/conf_scale", np.float32(rej.conf_scale))
    axes1 = "rej/axes1"
    g.initializer.append(numpy_helper.from_array(np.array([1], np.int64), axes1))
    N = helper.make_node
    l2, conf_weight, bank = score_spec(rej.score_name)
    source = "embedding"
    if l2:  # the distance on the L2-normalised embedding (the head still sees the embedding as it is)
        eps = const("rej/l2_eps", np.float32(1e-12))
        g.node.extend([N("ReduceL2", ["embedding"], ["rej/norm0"], axes=[1], keepdims=1, name="rej/ReduceL2"),
                       N("Max", ["rej/norm0", eps], ["rej/norm"], name="rej/Max_eps"),
                       N("Div", ["embedding", "rej/norm"], ["rej/e_l2"], name="rej/Div_l2")])
        source = "rej/e_l2"
    g.node.extend([
        N("MatMul", [source, whiten], ["rej/ew"], name="rej/MatMul_whiten"),
        N("Sub", ["rej/ew", shift_z], ["rej/z"], name="rej/Sub_mean"),
        N("Mul", ["rej/z", "rej/z"], ["rej/z2"], name="rej/Mul_sq"),
        N("ReduceSum", ["rej/z2", axes1], ["rej/zsq"], keepdims=1, name="rej/ReduceSum"),
        N("MatMul", ["rej/z", centres_t], ["rej/cross"], name="rej/MatMul_centres"),
        N("Add", ["rej/cross", "rej/zsq"], ["rej/d0"], name="rej/Add_zsq"),
        N("Add", ["rej/d0", c_sq], ["rej/d"], name="rej/Add_csq"),
        N("ReduceMin", ["rej/d"], ["rej/dmin"], axes=[1], keepdims=0, name="rej/ReduceMin"),
        N("Sub", ["rej/dmin", ms], ["rej/d_c"], name="rej/Sub_maha"),
        N("Div", ["rej/d_c", msc], ["rej/d_s"], name="rej/Div_maha"),
    ])
    distance = "rej/d_s"
    if bank:  # + the standardised cosine distance to the nearest bank centre (source is the L2-normalised embedding)
        g.initializer.append(numpy_helper.from_array(rej.bank.T.astype(np.float16), "rej/bank_t"))  # half the bytes
        one = const("rej/one", np.float32(1.0))
        bs, bsc = const("rej/bank_shift", np.float32(rej.bank_shift)), const("rej/bank_scale", np.float32(rej.bank_scale))
        g.node.extend([
            N("Cast", ["rej/bank_t"], ["rej/bank_f"], to=TensorProto.FLOAT, name="rej/Cast_bank"),
            N("MatMul", [source, "rej/bank_f"], ["rej/cos"], name="rej/MatMul_bank"),
            N("ReduceMax", ["rej/cos"], ["rej/cos_max"], axes=[1], keepdims=0, name="rej/ReduceMax_bank"),
            N("Sub", [one, "rej/cos_max"], ["rej/b"], name="rej/Sub_cos"),
            N("Sub", ["rej/b", bs], ["rej/b_c"], name="rej/Sub_bank"),
            N("Div", ["rej/b_c", bsc], ["rej/b_s"], name="rej/Div_bank"),
            N("Add", ["rej/d_s", "rej/b_s"], ["rej/db_s"], name="rej/Add_bank"),
        ])
        distance = "rej/db_s"
    if conf_weight:
        g.node.extend([
            N("ReduceMax", ["probs"], ["rej/conf"], axes=[1], keepdims=0, name="rej/ReduceMax_conf"),
            N("Sub", ["rej/conf", cs], ["rej/c_c"], name="rej/Sub_conf"),
            N("Div", ["rej/c_c", csc], ["rej/c_s"], name="rej/Div_conf"),
        ])
        conf_part = "rej/c_s"
        if conf_weight != 1:
            g.node.append(N("Mul", [conf_part, const("rej/conf_weight", np.float32(conf_weight))], ["rej/c_w"],
                            name="rej/Mul_conf_weight"))
            conf_part = "rej/c_w"
        g.node.append(N("Sub", [distance, conf_part], ["rejection_score"], name="rej/score"))
    else:
        g.node.append(N("Identity", [distance], ["rejection_score"], name="rej/score"))
    g.output.insert(0, helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", n_items]))
    g.output.append(helper.make_tensor_value_info("rejection_score", TensorProto.FLOAT, ["batch"]))
    _save(m, metadata, dst)


def _softmax_head(g, prefix: str, weight, bias, temperature: float, output: str) -> None:
    """Nodes `output` = Softmax((embedding @ weight + bias) / temperature), named `prefix`/..."""
    from onnx import helper, numpy_helper

    for name, value in (("W", weight), ("b", bias), ("T", np.float32(temperature))):
        g.initializer.append(numpy_helper.from_array(np.asarray(value, np.float32), f"{prefix}/{name}"))
    N = helper.make_node
    g.node.extend([
        N("MatMul", ["embedding", f"{prefix}/W"], [f"{prefix}/mm"], name=f"{prefix}/MatMul"),
        N("Add", [f"{prefix}/mm", f"{prefix}/b"], [f"{prefix}/logits"], name=f"{prefix}/Add"),
        N("Div", [f"{prefix}/logits", f"{prefix}/T"], [f"{prefix}/scaled"], name=f"{prefix}/Div"),
        N("Softmax", [f"{prefix}/scaled"], [output], axis=1, name=f"{prefix}/Softmax"),
    ])


def _save(m, metadata: dict, dst: Path) -> None:
    """Replace the metadata (every value as JSON), check the graph, write it."""
    import onnx

    del m.metadata_props[:]
    for k, v in metadata.items():
        m.metadata_props.append(onnx.StringStringEntryProto(key=k, value=json.dumps(v, ensure_ascii=False)))
    onnx.checker.check_model(m)
    onnx.save(m, str(dst))


def graft_heads(src: Path, dst: Path, heads: dict, metadata: dict) -> None:
    """Write `src` as `dst` with its item head and rejection score replaced by softmax heads on
    `embedding`: `heads` maps an output name to (weight, bias, temperature). `embedding` stays."""
    import onnx
    from onnx import TensorProto, helper

    m = onnx.load(str(src))
    g = m.graph
    keep = [o for o in g.output if o.name == "embedding"]
    del g.output[:]
    g.output.extend(keep)
    _prune(g, {"embedding"})
    for output, (weight, bias, temperature) in heads.items():
        _softmax_head(g, output.removesuffix("_probs") + "head", weight, bias, temperature, output)
        g.output.append(helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", len(bias)]))
    _save(m, metadata, dst)


GATE_SCORE = 99.0  # the rejection_score of a gated crop: far over any fitted threshold


def add_gate(src: Path, dst: Path, gate, metadata: dict) -> None:
    """Write `src` (a grafted model with `rejection_score`) as `dst` with the input gate of
    scripts/modelbuild/gate.py in the graph: a gated crop's rejection_score becomes GATE_SCORE."""
    import onnx
    from onnx import helper, numpy_helper

    from .gate import EPS

    m = onnx.load(str(src))
    g = m.graph
    inp = g.input[0].name
    if any(n.name.startswith("gate/") for n in g.node):
        raise ValueError(f"{src} already has an input gate")
    producer = next(n for n in g.node if "rejection_score" in n.output)
    producer.output[list(producer.output).index("rejection_score")] = "gate/score_in"

    def const(name, value, dtype=np.float32):
        g.initializer.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    const("gate/min_contrast", np.float32(gate.min_contrast))
    const("gate/min_correlation", np.float32(gate.min_correlation))
    const("gate/eps", np.float32(EPS))
    const("gate/score", np.float32(GATE_SCORE))
    const("gate/first", [0, 1, 0], np.int64)
    const("gate/second", [1, 2, 2], np.int64)
    N = helper.make_node
    x = inp
    if gate.pool > 1:  # the statistics of the input averaged over pool x pool blocks (gate.pooled)
        g.node.append(N("AveragePool", [inp], ["gate/x"], kernel_shape=[gate.pool] * 2, strides=[gate.pool] * 2,
                        name="gate/AveragePool"))
        x = "gate/x"
    g.node.extend([
        N("ReduceMean", [x], ["gate/mean"], axes=[2, 3], keepdims=1, name="gate/ReduceMean_mean"),
        N("Sub", [x, "gate/mean"], ["gate/c"], name="gate/Sub"),
        N("Mul", ["gate/c", "gate/c"], ["gate/c2"], name="gate/Mul_sq"),
        N("ReduceMean", ["gate/c2"], ["gate/var"], axes=[2, 3], keepdims=0, name="gate/ReduceMean_var"),
        N("ReduceMean", ["gate/var"], ["gate/var_all"], axes=[1], keepdims=0, name="gate/ReduceMean_varall"),
        N("Sqrt", ["gate/var_all"], ["gate/contrast"], name="gate/Sqrt_contrast"),
        N("Gather", ["gate/c", "gate/first"], ["gate/ca"], axis=1, name="gate/Gather_a"),
        N("Gather", ["gate/c", "gate/second"], ["gate/cb"], axis=1, name="gate/Gather_b"),
        N("Mul", ["gate/ca", "gate/cb"], ["gate/cab"], name="gate/Mul_ab"),
        N("ReduceMean", ["gate/cab"], ["gate/cov"], axes=[2, 3], keepdims=0, name="gate/ReduceMean_cov"),
        N("Gather", ["gate/var", "gate/first"], ["gate/va"], axis=1, name="gate/Gather_va"),
        N("Gather", ["gate/var", "gate/second"], ["gate/vb"], axis=1, name="gate/Gather_vb"),
        N("Mul", ["gate/va", "gate/vb"], ["gate/vab"], name="gate/Mul_vab"),
        N("Add", ["gate/vab", "gate/eps"], ["gate/vab_e"], name="gate/Add_eps"),
        N("Sqrt", ["gate/vab_e"], ["gate/den"], name="gate/Sqrt_den"),
        N("Div", ["gate/cov", "gate/den"], ["gate/corr3"], name="gate/Div_corr"),
        N("ReduceMean", ["gate/corr3"], ["gate/corr"], axes=[1], keepdims=0, name="gate/ReduceMean_corr"),
        N("Less", ["gate/contrast", "gate/min_contrast"], ["gate/flat"], name="gate/Less_contrast"),
        N("Less", ["gate/corr", "gate/min_correlation"], ["gate/uncorrelated"], name="gate/Less_corr"),
        N("Or", ["gate/flat", "gate/uncorrelated"], ["gate/gated"], name="gate/Or"),
        N("Where", ["gate/gated", "gate/score", "gate/score_in"], ["rejection_score"], name="gate/Where"),
    ])
    _save(m, metadata, dst)
