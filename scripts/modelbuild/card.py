"""Card stage: models/README.md rendered from the templates in scripts/modelbuild/templates/ and the
model file's metadata.

A grafted model (metadata `head`, made by scripts/graft_head.py) is described from its metadata, the
JSON results of scripts/eval_model.py and scripts/bench_model.py, and the cached probabilities of the
source model (templates/card.md):

    .venv/bin/python scripts/eval_model.py --data ../shared/datasets/waste-images --split validation --json /tmp/graft/val_clean.json
    .venv/bin/python scripts/eval_model.py --data ../shared/datasets/waste-images --split validation --degrade --json /tmp/graft/val_deg.json
    .venv/bin/python scripts/eval_model.py --data ../shared/datasets/waste-images --protocol leave-one-source-out --json /tmp/graft/loso.json
    .venv/bin/python scripts/eval_model.py --data ../shared/datasets/waste-images --protocol leave-items-out --json /tmp/graft/lio.json
    .venv/bin/python scripts/bench_model.py --baseline /tmp/graft/src-8d3b9cae.onnx --json > /tmp/graft/bench.json
    .venv/bin/python scripts/modelbuild/compare_rejection.py --json /tmp/graft/compare.json
    .venv/bin/python scripts/modelbuild/card.py --results /tmp/graft

Sections that do not depend on the head (the item table, training data and licences, how the backbone
was trained, known limits, retraining) are kept from the current card, with the lines of
templates/kept_additions.md added where missing.

A model straight from scripts/build_model.py is described from its metadata alone
(templates/build_card.md; `build_model.py --card`, `render_build`).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from string import Template

ROOT = Path(__file__).resolve().parents[2]
for p in (str(ROOT), str(ROOT / "scripts")):
    if p not in sys.path:
        sys.path.insert(0, p)

import numpy as np  # noqa: E402

TEMPLATES = Path(__file__).resolve().parent / "templates"
KEEP = ("## Training data and licences", "## How it was trained", "## Known limits",
        "## Retraining on a station's own photos")
D = "../shared/datasets/waste-images"


def template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def fill(name: str, **values) -> str:
    """Template `name` with every placeholder filled (a missing value raises KeyError); no final newline."""
    return template(name).substitute(values).rstrip("\n")


def paragraph(text: str | None) -> str:
    """`text` as a paragraph to put in front of another (with its blank line), or nothing."""
    return f"{text}\n\n" if text else ""


def sections(text: str) -> dict[str, str]:
    out, cur = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            cur = line
            out[cur] = []
        elif cur:
            out[cur].append(line)
    return {k: "\n".join(v).strip() for k, v in out.items()}


def additions() -> dict[str, list[str]]:
    """The lines of templates/kept_additions.md, by the heading of the kept section they belong to."""
    out, cur = {}, None
    for line in (TEMPLATES / "kept_additions.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            cur = out.setdefault(line, [])
        elif line.strip() and cur is not None:
            cur.append(line)
    return out


def table(header, rows):
    return "\n".join(["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
                     + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def f3(v):
    return "-" if v is None else f"{v:.3f}"


# ---------------------------------------------------------------- grafted model (templates/card.md)

def source_figures(meta: dict, rules) -> dict:
    """The source model's own head on the validation split, from the embedding cache (its cached probs), or,
    where that cache is not on this machine, the build's own figures from the metadata (`from_metadata`)."""
    from contract.rules import CATEGORIES
    from edge.model.metrics import evaluate
    from modelbuild import embed

    src_sha = meta["head"]["source_model"].split("sha256 ")[1].rstrip(")")
    if not (embed.DEFAULT_CACHE / src_sha[:16]).is_dir():
        return from_metadata(meta["validation"]["summary_before_graft"])
    v = embed.Views(embed.DEFAULT_CACHE / src_sha[:16])
    labels = meta["labels"]
    y = np.array([labels.index(i) for i in v.item])[v.is_val]
    out = {}
    for name, view in (("clean", "clean"), ("degraded", "degraded0")):
        probs = v.load(view)[1][v.is_val]
        out[name] = evaluate(probs, y, labels, rules.category, list(CATEGORIES), meta["validation"]
                             .get("summary_before_graft", {}).get("int8_degraded", {}).get("at_threshold", {})
                             .get("threshold", 0.48))
    return out


def input_note(meta: dict) -> str:
    """What the card says after the input size when graft_head.py --input-size changed the source's input."""
    change = meta.get("input_size_changed")
    if not change:
        return ""
    return (f" (the source backbone's input was changed, {change.split(' (')[0]}, by `graft_head.py --input-size`: "
            "the head was fitted on embeddings at this size)")


def from_metadata(before: dict) -> dict:
    """The build's validation summary (metadata `summary_before_graft`) in the shape of `evaluate`'s result, for
    `summary_table`; the build did not record kitchen recall, which stays None."""
    out = {}
    for name in ("clean", "degraded"):
        s = before[f"int8_{name}"]
        out[name] = {"category": {"balanced_accuracy": s["category_balanced_accuracy"],
                                  "accuracy": s["category_accuracy"],
                                  "per_class": {"kitchen": {"recall": s.get("kitchen_recall")},
                                                "hazardous": {"recall": s["hazardous_recall"]}}},
                     "item": {"accuracy": s["item_accuracy"]}, "ece_item": s["ece"],
                     "threshold": {"uncertain_share": s["at_threshold"]["uncertain_share"],
                                   "category_accuracy_on_rest": s["at_threshold"]["category_accuracy_on_rest"]},
                     "from_metadata": True}
    return out


def baseline_names(baseline: dict, source: str) -> dict:
    """How the speed section names the model timed beside this one: the source, or another backbone file."""
    if baseline["model"] == source:
        return {"baseline": "the source model", "baseline_short": "the source model", "baseline_file": baseline["file"]}
    return {"baseline": f"{baseline['model']} (an earlier build file: the same backbone architecture without the "
                        f"grafted head; the source {source} is not kept)",
            "baseline_short": baseline["model"], "baseline_file": baseline["file"]}


def score_words(rej: dict) -> str:
    """The rejection score of a file's metadata in words, for the card's outputs."""
    from modelbuild.rejection import BANK_PER_ITEM, score_of, score_spec

    spec, par = score_spec(score_of(rej)), rej.get("parameters", {})
    parts = [f"the Mahalanobis distance of the {'L2-normalised ' if spec.l2 else ''}embedding to the nearest item centre "
             f"in the top {par.get('dims', 256)} principal directions of the shared within-item covariance"]
    if spec.bank:
        parts.append(f"its cosine distance to the nearest of {par['bank_size']} k-means centres of the training crops "
                     f"(up to {BANK_PER_ITEM} per item)")
    text = ", plus ".join(parts) + (", each standardised" if spec.bank else ", standardised")
    if not spec.conf_weight:
        return text
    return text + f", minus {'' if spec.conf_weight == 1 else f'{spec.conf_weight:g} times '}the standardised top probability"


def operating_point_words(rej: dict) -> str:
    """The named thresholds a file offers (a sentence to follow the uncertainty rule), or nothing."""
    points = rej.get("operating_points")
    if not points:
        return ""
    listed = "; ".join(f"`{name}` {p['threshold']:g} ({p['coverage']:.0%} of the {p['view']} validation crops get a "
                       f"verdict){' (the default)' if name == rej.get('operating_point') else ''}"
                       for name, p in points.items())
    return (f" The file offers its rejection thresholds by name (`rejection.operating_points`): {listed}. "
            "`python -m edge classify` and `scripts/eval_model.py` measure another with `--operating-point`; a "
            "station rejects at the default, so that a model version is one operating point (its audits correct "
            "its accuracy), and a station that needs another gets a file whose default it is, a version of its own "
            "(`scripts/graft_head.py --coverage-view`).")


def gate_words(rej: dict) -> str:
    """The input gate of a file's metadata in words (a sentence to follow the outputs), or nothing."""
    g = rej.get("gate")
    if not g:
        return ""
    pool = int(g.get("pool", 1))
    where = f"the input averaged over {pool} x {pool} blocks" if pool > 1 else "the input"
    share = f"; it stops {g['training_crops_gated']:.2%} of the training crops" if "training_crops_gated" in g else ""
    return (f" An input gate (`rejection.gate`) sets `rejection_score` to {g.get('score', 99):g} for crops with almost no "
            f"contrast (under {g['min_contrast']}) or whose colour channels do not move together (correlation under "
            f"{g['min_correlation']}) on {where}: blank, black and noise crops{share}.")


def method_why(rej: dict) -> str:
    from modelbuild.rejection import score_of, score_spec

    spec = score_spec(score_of(rej))
    if spec.bank:
        far = ("crops far from where the items lie in the directions they vary (distance), crops far from every group "
               "of training crops even where the items' spreads overlap (bank)")
        if not spec.conf_weight:
            return f"The two parts see two failure modes: {far}; crops between two items are left to the confidence rule."
        weight = "" if spec.conf_weight == 1 else f", at weight {spec.conf_weight:g}, chosen on the training cross-fits"
        return f"The three parts see three failure modes: {far}, and crops between two items (top probability{weight})."
    if spec.conf_weight:
        return ("The two parts see the two failure modes: crops far from every item (distance) and crops between two "
                "items (top probability).")
    return "The distance sees crops far from every item."


def threshold_texts(rej: dict) -> dict:
    """What chose the rejection threshold, for the card's opening and its threshold paragraph."""
    from modelbuild.openset import coverage_view, validation_coverage_rule

    coverage, view = validation_coverage_rule(rej), coverage_view(rej)
    if coverage is None:
        return {"what_chose": "the item head, the rejection score and the rejection threshold were fitted on the "
                              "**training split only**; the temperature (as in the build) and nothing else on the "
                              "validation split",
                "threshold_note": "No threshold reaches ≤ 0.20 for `other` at ≥ 85 % coverage (residual and wood, left "
                                  "out, are called paper or plastic); the threshold keeps the 85 % coverage."}
    return {"what_chose": (f"the item head and the rejection score were fitted on the **training split only**; the "
                           f"temperature (as in the build) and the rejection threshold (the smallest at which "
                           f"{coverage:.0%} of the {view} validation crops get a verdict) on the validation split, so "
                           "the validation coverage below is by construction, and the leave-out protocols' unknown "
                           "crops were among the crops that set it (as known crops of the full head)"),
            "threshold_note": (f"The threshold is set by coverage, not by these cross-fits: on them the score meets both "
                               f"constraints up to a threshold of {rej.get('cross_fit_threshold')}, but the cross-fits "
                               "overstate the coverage a threshold gives on photos the backbone was not fine-tuned on, "
                               "and that threshold lets far more unknown crops through on validation (Known limits)."
                               + halves_note(rej.get("validation_halves")))}


def halves_note(halves: dict | None) -> str:
    """What the coverage rule gives on crops that did not choose the threshold (graft_head.coverage_halves)."""
    if not halves:
        return ""
    pct = " and ".join
    return (" Chosen on one half of the validation groups and applied to the other (thresholds "
            f"{pct(f'{t:.3f}' for t in halves['thresholds'])}), it gives "
            f"{pct(f'{c:.1%}' for c in halves['coverage_degraded'])} of the degraded crops and "
            f"{pct(f'{c:.1%}' for c in halves['coverage_clean'])} of the clean ones a verdict.")


def products(rej: dict, n_items: int) -> str:
    """The matrix products the grafted head and rejection add, for the speed section."""
    par = rej.get("parameters", {})
    shapes = [f"1280x{n_items}", f"1280x{par.get('dims', 256)}"] + ([f"1280x{par['bank_size']}"] if "bank_size" in par else [])
    return f"{len(shapes)} small matrix products ({', '.join(shapes[:-1])} and {shapes[-1]})"


def summary_table(old: dict, vc: dict, vd: dict, this: str, source: str) -> str:
    rows = []
    for tag, res_old, res_new in (("clean", old["clean"], vc), ("degraded", old["degraded"], vd)):
        for who, res in ((source + " (source)", res_old), (this + " (this file)", res_new)):
            c = res["category"]
            rows.append([f"{who}, {tag}", f3(c["balanced_accuracy"]), f3(c["accuracy"]), f3(res["item"]["accuracy"]),
                         f3(c["per_class"]["kitchen"]["recall"]), f3(c["per_class"]["hazardous"]["recall"]),
                         f3(res["ece_item"]), f"{res['threshold']['uncertain_share']:.1%}",
                         f3(res["threshold"]["category_accuracy_on_rest"])])
    return table(["model, set", "category balanced acc.", "category acc.", "item acc.", "kitchen recall",
                  "hazardous recall", "ECE", "uncertain", "category acc. on the rest"], rows)


def outcome_table(vc: dict, vd: dict) -> str:
    rows = [[tag, c, o["n"], f3(o["right"]), f3(o["uncertain"]), f3(o["wrong"])]
            for tag, res in (("clean", vc), ("degraded", vd)) for c, o in res["outcomes"].items()]
    return table(["set", "category", "n", "right", "uncertain", "confidently wrong"], rows)


def confusions(vc: dict, vd: dict, categories) -> str:
    parts = []
    for tag, res in (("clean", vc), ("degraded", vd)):
        cm = res["category"]["confusion"]
        parts += [f"Confusion matrix, category, {tag}, this file (rows: true, columns: predicted, before the "
                  "uncertainty rule):",
                  table(["true \\ predicted"] + list(categories),
                        [[f"`{c}`"] + row for c, row in zip(categories, cm, strict=True)]),
                  f"Per item, {tag}: " + ", ".join(f"`{k}` recall {v['recall']:.3f}"
                                                   for k, v in res["item"]["per_class"].items())]
    return "\n\n".join(parts)


def comparison_text(compare: dict | None, categories) -> str:
    """The candidate rejection scores side by side (scripts/modelbuild/compare_rejection.py), or a note."""
    if not compare:
        return "No other score was compared for this file (`scripts/modelbuild/compare_rejection.py` was not run)."
    from modelbuild.compare_rejection import format_table

    validation = compare.get("validation")
    return fill("comparison.md", coverage=f"{compare['coverage']:.0%}", table=format_table(compare["result"], categories),
                validation=format_table(validation, categories, coverage=True) if validation
                else "(not measured: the results were made before compare_rejection.py had its validation pass)")


def kept_sections(base: str) -> str:
    keep, extra = sections(base), additions()
    parts = []
    for h in KEEP:
        if h in keep:
            body = keep[h]
            for line in extra.get(h, []):
                if line not in body:
                    body += "\n" + line
            parts.append(f"{h}\n\n{body}")
    return "\n\n".join(parts)


def render(model: Path, results: Path, base: str) -> str:
    import eval_model

    from contract.rules import CATEGORIES, load_rules
    from edge.model import load_classifier

    clf = load_classifier(model)
    meta = clf.metadata
    rules = load_rules(meta["rules"].split("@")[0])
    r = {k: json.loads((results / f"{k}.json").read_text()) for k in ("val_clean", "val_deg", "loso", "lio")}
    bench = json.loads((results / "bench.json").read_text()) if (results / "bench.json").is_file() else None
    compare = json.loads((results / "compare.json").read_text()) if (results / "compare.json").is_file() else None
    old = source_figures(meta, rules)
    rej, head = meta["rejection"], meta["head"]
    what = base.split("## What it does", 1)[1].split("## ", 1)[0] if "## What it does" in base else ""
    start = what.find("It recognises")
    cf = rej["cross_fit_at_threshold"]
    cal = meta["validation"]["calibration"]
    protocols = "\n\n".join(
        fill("protocol.md", title=title, data=D, protocol=cmd, table=eval_model.format_protocol(r[key]).split("\n", 1)[1])
        for key, title, cmd in (("loso", "Leave one source out", "leave-one-source-out"),
                                ("lio", "Leave items out", "leave-items-out")))
    bench_text = None
    if bench:
        b = bench
        bench_text = fill("bench.md", file=model.name, size_mib=f"{model.stat().st_size / 2**20:.2f}", runs=b["runs"],
                          run_p50=f"{b['run_p50_ms']:.2f}", run_min=f"{b['run_min_ms']:.2f}",
                          classify_p50=f"{b['classify_p50_ms']:.2f}",
                          classify_min=f"{b.get('classify_min_ms', float('nan')):.2f}",
                          base_p50=f"{b['baseline']['run_p50_ms']:.2f}", base_min=f"{b['baseline']['run_min_ms']:.2f}",
                          products=products(rej, len(meta["labels"])),
                          **baseline_names(b["baseline"], head["source_model"].split(" ")[0]))
    text = template("card.md").substitute(
        name=meta["name"], file=model.name, version=clf.version, sha=hashlib.sha256(model.read_bytes()).hexdigest(),
        size_mib=f"{model.stat().st_size / 2**20:.2f}", grafted=head["grafted"], graft_version=head["graft_version"],
        source_model=head["source_model"].split(" ")[0], built=meta["built"], build_version=meta["version"],
        temperature=meta["temperature"], rejection_threshold=rej["threshold"], threshold=meta["threshold"],
        operating_points=operating_point_words(rej),
        items=paragraph(what[start:].strip() if start >= 0 else None), data=D,
        source_origin=("the source model's figures are the build's own, from the file's metadata "
                       "(`validation.summary_before_graft`: its head, confidence rule only; the build file is not kept, "
                       "so kitchen recall, which the build did not record, is not shown)."
                       if old["clean"].get("from_metadata") else
                       "the source model's figures are its own head on the same cached images (confidence rule only)."),
        summary_table=summary_table(old, r["val_clean"], r["val_deg"], clf.version.split("@")[1],
                                    head["source_model"].split(" ")[0].split("@")[1]),
        outcome_table=outcome_table(r["val_clean"], r["val_deg"]),
        confusions=confusions(r["val_clean"], r["val_deg"], CATEGORIES),
        method=rej["method"], method_why=method_why(rej), score_words=score_words(rej) + "." + gate_words(rej), **threshold_texts(rej),
        threshold_choice=rej["threshold_choice"], cf_coverage=f"{cf['coverage_known']:.3f}",
        cf_wrong=f"{cf['wrong_known']:.3f}", cf_rejected=f"{cf['unknown_rejected']:.3f}",
        cf_unknown_wrong=", ".join(f"{k} {v:.3f}" for k, v in cf["unknown_wrong"].items()),
        comparison=comparison_text(compare, CATEGORIES), protocols=protocols, temperature_choice=head["temperature"], calibration_note=cal["note"],
        half_temperatures=cal.get("half_temperatures"),
        ece_table=table(["set", "ECE before (T = 1)", "ECE after"],
                        [["clean", f3(cal["ece_clean_before"]), f3(cal["ece_clean_after"])],
                         ["degraded", f3(cal["ece_degraded_before"]), f3(cal["ece_degraded_after"])]]),
        input_h=meta["input_size"][0], input_w=meta["input_size"][1],
        input_note=input_note(meta),
        bench=paragraph(bench_text), kept=kept_sections(base))
    return text.rstrip() + "\n"


# ---------------------------------------------------------------- built model (templates/build_card.md)

def _table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join("" if v is None else str(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def _f(v, pct=False):
    if v is None:
        return "-"
    return f"{v:.1%}" if pct else f"{v:.3f}"


def _per_class(val: dict) -> str:
    parts = []
    for key, title in (("int8_clean", "clean"), ("int8_degraded", "degraded")):
        full = val["full"][key]
        rows = []
        for lvl in ("category", "item"):
            for name in full[lvl]["labels"]:
                pc = full[lvl]["per_class"][name]
                rows.append([f"{lvl}: `{name}`", _f(pc["precision"]), _f(pc["recall"]), pc["support"]])
        parts += [f"### Per class, {title} (int8)", _table(["class", "precision", "recall", "support"], rows)]
        for lvl in ("category", "item"):
            names = full[lvl]["labels"]
            short = [n.replace("battery_", "bat_").replace("paper_cardboard", "paper_cb") for n in names]
            parts += [f"Confusion matrix, {lvl}, {title} (rows: true, columns: predicted):",
                      _table(["true \\ predicted"] + short,
                             [[f"`{n}`"] + row for n, row in zip(names, full[lvl]["confusion"], strict=False)])]
    return "\n\n".join(parts)


def _trade_off_table(meta: dict) -> str:
    s, curves = meta["validation"]["summary"], meta["validation"]["trade_off"]
    rows = []
    for c, d in zip(curves["clean"], curves["degraded"], strict=False):
        mark = " **(default)**" if abs(c["threshold"] - meta["threshold"]) < 1e-9 else ""
        rows.append([f"{c['threshold']:.2f}{mark}", _f(c["uncertain_share"], True), _f(c["category_accuracy_on_rest"]),
                     _f(d["uncertain_share"], True), _f(d["category_accuracy_on_rest"]), _f(d["item_accuracy_on_rest"])])
    dflt, clean = s["int8_degraded"]["at_threshold"], s["int8_clean"]["at_threshold"]
    rows.append([f"{meta['threshold']:.2f} **(default)**", _f(clean["uncertain_share"], True),
                 _f(clean["category_accuracy_on_rest"]), _f(dflt["uncertain_share"], True),
                 _f(dflt["category_accuracy_on_rest"]), _f(dflt["item_accuracy_on_rest"])])
    return _table(["threshold", "clean: uncertain", "clean: category acc. on rest", "degraded: uncertain",
                   "degraded: category acc. on rest", "degraded: item acc. on rest"], rows)


def _schedule(rec: dict, note: str) -> str:
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
    if note:
        schedule += f" ({note})"
    return schedule


def render_build(model_path: Path, bench: dict | None) -> str:
    """models/README.md for a model straight from build_model.py, from its own metadata (and a
    bench_model.py --json result)."""
    import onnxruntime as ort

    from edge.model import file_sha256, read_metadata

    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    meta = read_metadata(sess.get_modelmeta().custom_metadata_map)
    return build_card(meta, model_path.name, file_sha256(model_path), model_path.stat().st_size, bench)


def build_card(meta: dict, file_name: str, digest: str, size_bytes: int, bench: dict | None) -> str:
    """The text of templates/build_card.md for a build's metadata (render_build without the file)."""
    from contract.rules import load_rules

    rules = load_rules(meta["rules"].split("@")[0])
    val, tr = meta["validation"], meta["training"]
    s, cal, rec, agree = val["summary"], val["calibration"], tr["recipe"], val["int8_vs_float"]
    items = [[f"`{lbl}`", rules.item_name(lbl), f"{rules.category(lbl)} {rules.category_name(rules.category(lbl))}",
              ", ".join(rules.accepted_bins(lbl))] for lbl in meta["labels"]]
    summary = []
    for key, title in (("int8_clean", "int8, clean"), ("int8_degraded", "int8, degraded"),
                       ("float_clean", "float, clean"), ("float_degraded", "float, degraded")):
        r = s[key]
        summary.append([title, _f(r["category_balanced_accuracy"]), _f(r["category_accuracy"]), _f(r["item_accuracy"]),
                        _f(r["item_balanced_accuracy"]), _f(r["hazardous_recall"]), _f(r["ece"])])
    bench_text = None
    if bench:
        bench_text = fill("build_bench.md", file=bench["file"].split("/")[-1], size_mib=f"{bench['size_mib']:.2f}",
                          threads=bench["threads"], runs=bench["runs"], run_p50=f"{bench['run_p50_ms']:.2f}",
                          run_p90=f"{bench['run_p90_ms']:.2f}", run_min=f"{bench['run_min_ms']:.2f}",
                          classify_p50=f"{bench['classify_p50_ms']:.2f}")
    return template("build_card.md").substitute(
        name=meta["name"], file=file_name, sha8=digest[:8], sha=digest, size_mib=f"{size_bytes / 2**20:.2f}",
        built=meta["built"], version=meta["version"],
        input_w=meta["input_size"][0], input_h=meta["input_size"][1], temperature=meta["temperature"],
        n_labels=len(meta["labels"]), rules=meta["rules"],
        item_table=_table(["item", "中文", "category", "accepted bins"], items),
        n_validation=tr["validation"], n_images=tr["images"], split=tr["split"],
        degrade_seed=tr["degraded_validation"]["seed"],
        summary_table=_table(["model, set", "category balanced acc.", "category acc.", "item acc.",
                              "item balanced acc.", "hazardous recall", "ECE"], summary),
        agree_clean=f"{agree['top1_agreement']['clean']:.1%}", agree_degraded=f"{agree['top1_agreement']['degraded']:.1%}",
        diff_clean=f"{agree['max_prob_difference']['clean']:.3f}",
        diff_degraded=f"{agree['max_prob_difference']['degraded']:.3f}",
        per_class=_per_class(val),
        ece_table=_table(["set", "ECE before (T = 1)", "ECE after"],
                         [["clean", _f(cal["ece_clean_before"]), _f(cal["ece_clean_after"])],
                          ["degraded", _f(cal["ece_degraded_before"]), _f(cal["ece_degraded_after"])]]),
        threshold=meta["threshold"], trade_off_table=_trade_off_table(meta), bench=paragraph(bench_text),
        sources_table=_table(["source", "images", "licence stated", "origin"],
                             [[k, v["images"], v["license"], v["origin"]] for k, v in sorted(tr["sources"].items())]),
        freeze_blocks=rec["freeze_blocks"], schedule=_schedule(rec, tr.get("note")), train_size=rec["train_size"],
        batch=rec["batch"], lr=rec["lr"], category_weight=rec["category_weight"], degrade_p=f"{rec['degrade_p']:.0%}",
        battery_images=tr["sources"].get("sg_battery", {}).get("images", "?"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "waste-effl0-int8.onnx")
    ap.add_argument("--results", type=Path, required=True, help="folder with val_clean/val_deg/loso/lio/bench .json")
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "README.md")
    args = ap.parse_args(argv)
    base = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
    text = render(args.model, args.results, base)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
