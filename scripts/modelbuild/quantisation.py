"""Quantisation stage of the model build: int8 static quantisation of the float ONNX file (onnxruntime,
QOperator, per-channel weights, percentile calibration on training images) with the head and the first
convolutions kept float, and the comparison of int8 with float on the validation sets, where the
default uncertainty threshold is chosen (on the degraded set, int8)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from edge.model.metrics import evaluate, format_report, trade_off
from edge.model.preprocess import preprocess

from .calibration import choose_threshold

# The first FLOAT_CONVS convolutions (the stem and the first depthwise conv, which see the raw, noisy
# pixels) stay float: with them in int8, hazardous recall on the degraded set fell from 0.93 (float) to
# 0.83; with them float it is back near the float model's, for about 0.2 ms.
FLOAT_CONVS = 2


def first_convs(path: Path, n: int) -> list[str]:
    """Names of the first `n` Conv nodes of the graph (in topological order)."""
    import onnx

    return [node.name for node in onnx.load(str(path)).graph.node if node.op_type == "Conv"][:n]


def head_nodes(path: Path) -> list[str]:
    """Names of the nodes between the embedding and the probabilities output."""
    import onnx

    graph = onnx.load(str(path)).graph
    producer = {o: n for n in graph.node for o in n.output}
    names, stack = [], ["probs"]
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in names or "embedding" in node.output:
            continue
        names.append(node.name)
        stack.extend(node.input)
    return names


def quantize(float_path: Path, int8_path: Path, calib: list[np.ndarray]):
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = float_path.with_suffix(".pre.onnx")
    quant_pre_process(str(float_path), str(pre))

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(tqdm(calib, desc="int8 calibration", unit="img"))

        def get_next(self):
            c = next(self.it, None)
            return None if c is None else {"input": preprocess(c)}

    # QOperator (QLinearConv) was measured faster than QDQ on one thread; per-channel weights keep accuracy.
    # The classifier head (embedding -> logits / temperature -> softmax) stays float: it costs nothing and
    # keeps the calibrated probabilities exact instead of rounded to 1/256; so do the first FLOAT_CONVS
    # convolutions. Percentile calibration (99.99) ignores the rare extreme activations that noisy,
    # degraded calibration images produce. reduce_range: 7-bit weights, so that a CPU without VNNI does not
    # saturate int16 sums and give other figures than the build machine (scripts/modelbuild/weights7.py).
    quantize_static(str(pre), str(int8_path), Reader(), quant_format=QuantFormat.QOperator, per_channel=True,
                    reduce_range=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    nodes_to_exclude=head_nodes(pre) + first_convs(pre, FLOAT_CONVS),
                    calibrate_method=CalibrationMethod.Percentile, extra_options={"CalibPercentile": 99.99})


def onnx_probs(path: Path, crops: list[np.ndarray], desc: str, threads: int = 2) -> np.ndarray:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    out = []
    for s in tqdm(range(0, len(crops), 32), desc=desc, unit="batch"):
        x = np.concatenate([preprocess(c) for c in crops[s:s + 32]])
        out.append(sess.run(["probs"], {"input": x})[0])
    return np.concatenate(out)


def brief(r: dict) -> dict:
    """The metadata's summary of one evaluation."""
    return {"item_accuracy": r["item"]["accuracy"], "item_balanced_accuracy": r["item"]["balanced_accuracy"],
            "category_accuracy": r["category"]["accuracy"],
            "category_balanced_accuracy": r["category"]["balanced_accuracy"],
            "hazardous_recall": r["category"]["per_class"]["hazardous"]["recall"],
            "ece": r["ece_item"], "at_threshold": r["threshold"]}


def compare(paths: dict[str, Path], sets: dict[str, list[np.ndarray]], y_val: np.ndarray, labels: list[str],
            item_category: list[int], category_of, categories: list[str], threads: int, log=print) -> dict:
    """Float and int8 on the clean and degraded validation sets: the default threshold (lowest at which the
    int8 degraded category accuracy on the rest reaches 0.96), the metrics, the agreement of the two files
    and the int8 trade-off curves. `paths` maps "float" and "int8" to files, `sets` "clean" and "degraded"."""
    probs = {(kind, name): onnx_probs(path, crops, f"{kind} onnx {name}", threads)
             for kind, path in paths.items() for name, crops in sets.items()}
    p_d = probs["int8", "degraded"]
    cat_idx = np.array(item_category)
    threshold = choose_threshold(p_d.max(1), cat_idx[p_d.argmax(1)] == cat_idx[y_val])
    results = {}
    for (kind, name), p in probs.items():
        results[f"{kind}_{name}"] = evaluate(p, y_val, labels, category_of, categories, threshold)
        log(format_report(f"{kind} {name} validation", results[f"{kind}_{name}"]))
    agreement = {name: round(float((probs["float", name].argmax(1) == probs["int8", name].argmax(1)).mean()), 4)
                 for name in sets}
    max_diff = {name: round(float(np.abs(probs["float", name] - probs["int8", name]).max()), 4) for name in sets}
    log(f"int8 vs float: top-1 agreement {agreement}, max |prob difference| {max_diff}")
    curve = {}
    for name in sets:
        p = probs["int8", name]
        cat_ok, item_ok = cat_idx[p.argmax(1)] == cat_idx[y_val], p.argmax(1) == y_val
        curve[name] = [trade_off(p.max(1), cat_ok, item_ok, t) for t in np.round(np.arange(0.0, 0.96, 0.05), 2)]
    return {"threshold": threshold, "results": results,
            "summary": {k: brief(v) for k, v in results.items()},
            "int8_vs_float": {"top1_agreement": agreement, "max_prob_difference": max_diff},
            "trade_off": curve,
            "full": {k: {"item": v["item"], "category": v["category"]} for k, v in results.items() if k.startswith("int8")}}
