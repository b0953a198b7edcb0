"""Classification metrics shared by the build, the eval script and the tests (pure numpy)."""
from __future__ import annotations

import numpy as np

from .preprocess import expected_calibration_error


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    """n x n matrix: rows are true classes, columns predicted classes."""
    m = np.zeros((n, n), np.int64)
    np.add.at(m, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return m


def per_class(cm: np.ndarray, names: list[str]) -> dict:
    """Precision, recall and support per class from a confusion matrix."""
    out = {}
    for i, name in enumerate(names):
        tp = cm[i, i]
        support = int(cm[i].sum())
        predicted = int(cm[:, i].sum())
        out[name] = {
            "precision": round(float(tp / predicted), 4) if predicted else None,
            "recall": round(float(tp / support), 4) if support else None,
            "support": support,
        }
    return out


def summary(y_true, y_pred, names: list[str]) -> dict:
    """Accuracy, balanced accuracy (mean recall over classes present), per-class figures, confusion matrix."""
    y_true = np.asarray(y_true, int)
    y_pred = np.asarray(y_pred, int)
    cm = confusion(y_true, y_pred, len(names))
    recalls = [cm[i, i] / cm[i].sum() for i in range(len(names)) if cm[i].sum()]
    return {
        "n": int(y_true.size),
        "accuracy": round(float((y_true == y_pred).mean()), 4) if y_true.size else None,
        "balanced_accuracy": round(float(np.mean(recalls)), 4) if recalls else None,
        "per_class": per_class(cm, names),
        "labels": list(names),
        "confusion": cm.tolist(),
    }


def evaluate(probs: np.ndarray, y_item: np.ndarray, labels: list[str], category_of,
             categories: list[str], threshold: float | None = None) -> dict:
    """Item and category metrics, calibration and the uncertainty trade-off for one set of predictions.

    `probs` are the model's (calibrated) item probabilities, N x len(labels);
    `y_item` the true item indices. The category of a prediction is the category
    of its most probable item; its confidence is that item's probability.
    """
    probs = np.asarray(probs, np.float64)
    y_item = np.asarray(y_item, int)
    pred = probs.argmax(1)
    conf = probs.max(1)
    cat_index = {c: i for i, c in enumerate(categories)}
    item_cat = np.array([cat_index[category_of(lbl)] for lbl in labels])
    y_cat, p_cat = item_cat[y_item], item_cat[pred]
    out = {
        "item": summary(y_item, pred, labels),
        "category": summary(y_cat, p_cat, categories),
        "ece_item": round(expected_calibration_error(conf, pred == y_item), 4),
    }
    if threshold is not None:
        out["threshold"] = trade_off(conf, p_cat == y_cat, pred == y_item, threshold)
    return out


def trade_off(conf, cat_correct, item_correct, threshold: float) -> dict:
    """At `threshold`: share of uncertain verdicts (confidence below it) and accuracy on the rest."""
    conf = np.asarray(conf, np.float64)
    sure = conf >= threshold
    cat_correct = np.asarray(cat_correct, bool)
    item_correct = np.asarray(item_correct, bool)
    return {
        "threshold": round(float(threshold), 4),
        "uncertain_share": round(float(1 - sure.mean()), 4) if conf.size else None,
        "category_accuracy_on_rest": round(float(cat_correct[sure].mean()), 4) if sure.any() else None,
        "item_accuracy_on_rest": round(float(item_correct[sure].mean()), 4) if sure.any() else None,
    }


def format_report(title: str, result: dict) -> str:
    """Human-readable text of `evaluate`'s result (accuracy per category and item, confusion matrices)."""
    lines = [f"== {title}"]
    for level in ("category", "item"):
        s = result[level]
        lines.append(f"{level}: n={s['n']} accuracy={s['accuracy']:.4f} balanced_accuracy={s['balanced_accuracy']:.4f}")
        w = max(len(n) for n in s["labels"])
        lines.append(f"  {'':{w}}  precision  recall  support")
        for name in s["labels"]:
            pc = s["per_class"][name]
            fmt = lambda v: "   -  " if v is None else f"{v:.4f}"  # noqa: E731
            lines.append(f"  {name:{w}}  {fmt(pc['precision']):>9}  {fmt(pc['recall']):>6}  {pc['support']:>7}")
        lines.append(f"  confusion ({level}; rows true, columns predicted in the order above):")
        for name, row in zip(s["labels"], s["confusion"], strict=False):
            lines.append(f"  {name:{w}} " + " ".join(f"{v:4d}" for v in row))
    lines.append(f"ECE (item confidence, 15 bins): {result['ece_item']:.4f}")
    t = result.get("threshold")
    if t:
        f4 = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
        rej = "" if t.get("rejection_threshold") is None else f" or rejection score > {t['rejection_threshold']}"
        lines.append(f"threshold {t['threshold']:.2f}{rej}: uncertain {t['uncertain_share']:.1%}, "
                     f"category accuracy on the rest {f4(t['category_accuracy_on_rest'])}, "
                     f"item accuracy on the rest {f4(t['item_accuracy_on_rest'])}")
    return "\n".join(lines)
