"""Views stage of the model build: the 1280-d `embedding` (and the shipped `probs`) of an ONNX model
for every image of the manifests, clean and through edge.model.degrade, cached on disk.

    .venv/bin/python scripts/modelbuild/embed.py [--data ../shared/datasets/waste-images] [--views 3]

Cache: <cache>/<sha256 of the model file, 16 hex>/<view>.npz with arrays `keys` (the manifest key
`<folder>/<path>` of each row), `embedding` (N x 1280 float32) and `probs` (N x labels), so a cached
view is keyed by the model's content and the image path; `split.npz` next to them holds the build's
own deterministic split (scripts/modelbuild/data.py: near-duplicate groups, stratified 20 %
validation; where the model's metadata lists its validation paths, that list decides `is_val`):
`keys`, `item`, `source`, `group`, `is_val`.

Views: `clean` (the image as the loader sees it) and `degraded0`, `degraded1`, ... View `degraded0`
is the build's fixed degraded copy (edge.model.degrade.degraded_view, seed 20261129, image i of the
manifest gets rng([seed, i])), the one `scripts/eval_model.py --degrade` and the card report on;
view k > 0 uses seed 20261129 + 1000 k, extra degraded views for fitting heads on training images.
Images are decoded in chunks and never kept, so memory stays small; one onnxruntime thread.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for p in (str(ROOT), str(ROOT / "scripts")):
    if p not in sys.path:
        sys.path.insert(0, p)

import numpy as np  # noqa: E402

DEFAULT_CACHE = Path("/tmp/emb")
DEFAULT_DATA = ROOT / ".." / "shared" / "datasets" / "waste-images"
DEFAULT_MODEL = ROOT / "models" / "waste-effl0-int8.onnx"
VIEW_SEED_STEP = 1000


def model_key(model: Path) -> str:
    h = hashlib.sha256()
    with open(model, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def view_seed(view: str) -> int | None:
    """None for the clean view, else the degradation seed of `degradedK`."""
    from edge.model.degrade import DEFAULT_SEED

    if view == "clean":
        return None
    return DEFAULT_SEED + VIEW_SEED_STEP * int(view.removeprefix("degraded"))


def view_image(image: np.ndarray, index: int, view: str, size=(224, 224)) -> np.ndarray:
    from edge.model import degrade as dg

    seed = view_seed(view)
    return image if seed is None else dg.degraded_view(image, index, seed, size)


class Views:
    """The cached views of one model over one set of manifests."""

    def __init__(self, directory: Path):
        self.dir = directory
        s = np.load(directory / "split.npz", allow_pickle=False)
        self.keys = s["keys"]
        self.item = s["item"]
        self.source = s["source"]
        self.group = s["group"]
        self.is_val = s["is_val"]
        self._index = {k: i for i, k in enumerate(self.keys.tolist())}

    def available(self) -> list[str]:
        return sorted(p.stem for p in self.dir.glob("*.npz") if p.stem != "split")

    def load(self, view: str) -> tuple[np.ndarray, np.ndarray]:
        """(embedding, probs) of `view`, in the order of the split's keys."""
        z = np.load(self.dir / f"{view}.npz", allow_pickle=False)
        order = np.array([self._index[k] for k in z["keys"].tolist()])
        emb = np.empty_like(z["embedding"])
        probs = np.empty_like(z["probs"])
        emb[order], probs[order] = z["embedding"], z["probs"]
        return emb, probs


def compute(data: list[Path], model: Path, cache: Path = DEFAULT_CACHE, n_views: int = 3, chunk: int = 64,
            progress: bool = True) -> Views:
    """Fill the cache for `model` over the manifests of `data` (views clean, degraded0..n_views-1) and return it."""
    import cv2

    from contract.rules import load_rules
    from edge.model import WasteClassifier
    from edge.model.preprocess import preprocess_batch
    from modelbuild.data import dhash, group_near_duplicates, read_manifests, split, thumbnail

    cv2.setNumThreads(1)
    clf = WasteClassifier(model, threads=1, warmup=False)
    directory = cache / model_key(model)
    directory.mkdir(parents=True, exist_ok=True)
    rules = load_rules(clf.metadata.get("rules", "beijing").split("@")[0])
    rows = read_manifests([d.resolve() for d in data], rules)
    keys = np.array([r["key"] for r in rows])
    views = ["clean"] + [f"degraded{k}" for k in range(n_views)]
    todo = [v for v in views if not (directory / f"{v}.npz").is_file()]
    need_split = not (directory / "split.npz").is_file()
    if todo or need_split:
        size = tuple(clf.preprocessing["input_size"])
        out = {v: ([], []) for v in todo}
        hashes, thumbs = [], []
        starts = range(0, len(rows), chunk)
        if progress:
            from tqdm import tqdm
            starts = tqdm(starts, desc=f"embed {', '.join(todo) or 'split'}", unit="chunk", file=sys.stderr)
        for s in starts:
            images = []
            for r in rows[s:s + chunk]:
                im = cv2.imread(r["file"], cv2.IMREAD_COLOR)
                if im is None:
                    sys.exit(f"error: cannot read {r['file']}")
                hashes.append(dhash(im))
                thumbs.append(thumbnail(im))
                images.append(im)
            for v in todo:
                batch = [view_image(im, s + j, v, size) for j, im in enumerate(images)]
                probs, emb = clf.run(preprocess_batch(batch, clf.preprocessing))
                out[v][0].append(emb.astype(np.float32))
                out[v][1].append(probs.astype(np.float32))
        for v in todo:
            np.savez(directory / f"{v}.npz", keys=keys, embedding=np.concatenate(out[v][0]),
                     probs=np.concatenate(out[v][1]))
        if need_split:
            groups = group_near_duplicates(hashes, thumbs)
            is_val = split(rows, groups, 0.2)
            np.savez(directory / "split.npz", keys=keys, item=np.array([r["item"] for r in rows]),
                     source=np.array([r["source"] for r in rows]), group=groups, is_val=is_val)
    views_obj = Views(directory)
    meta_val = set(clf.metadata.get("validation", {}).get("paths", []))
    if meta_val:
        ours = set(views_obj.keys[views_obj.is_val].tolist())
        if ours != meta_val:
            # the model's own list is the authority (recomputed groups can differ by an image or two,
            # e.g. after a change of OpenCV's JPEG decoder): use it, so validation is what the build held out
            print(f"note: the recomputed split differs from the model's listed validation paths in "
                  f"{len(ours ^ meta_val)} images; using the model's list", file=sys.stderr)
            z = dict(np.load(directory / "split.npz", allow_pickle=False))
            z["is_val"] = np.array([k in meta_val for k in z["keys"].tolist()])
            np.savez(directory / "split.npz", **z)
            views_obj = Views(directory)
    return views_obj


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, action="append", help="folder with manifest.csv (repeatable)")
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--views", type=int, default=3, help="degraded views per image (default 3)")
    args = ap.parse_args(argv)
    v = compute(args.data or [DEFAULT_DATA], args.model, args.cache, args.views)
    print(f"{v.dir}: {len(v.keys)} images, train {int((~v.is_val).sum())}, validation {int(v.is_val.sum())}, "
          f"{len(set(v.group.tolist()))} groups; views {', '.join(v.available())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
