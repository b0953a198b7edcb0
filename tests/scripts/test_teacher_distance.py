"""scripts/modelbuild/teacher_distance.py: the distance on another network's features, fitted and summed with
the shipped kind of score as the leave-items-out comparison does (synthetic features; the real run needs the
teacher's cache)."""
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from modelbuild import teacher_distance as td  # noqa: E402
from modelbuild.openset import fit_quick  # noqa: E402
from modelbuild.rejection import auroc  # noqa: E402


def test_the_teacher_distance_ranks_what_is_far_in_its_features_and_sums_with_the_shipped_score():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (4, 64))
    y = np.repeat(np.arange(3), 60)
    x = np.abs(centres[y] + rng.normal(0, 0.5, (len(y), 64))).astype(np.float32)
    held = np.abs(centres[y[:60]] + rng.normal(0, 0.5, (60, 64))).astype(np.float32)
    distance = td.fit_distance_score(x, y, held, dims=8)
    known = np.abs(centres[y[:30]] + rng.normal(0, 0.5, (30, 64))).astype(np.float32)
    unknown = np.abs(centres[np.full(30, 3)] + rng.normal(0, 0.5, (30, 64))).astype(np.float32)
    assert auroc(distance.score(known, None), distance.score(unknown, None)) > 0.95
    model = fit_quick(x, y, 3, 1.0, held, steps=40, dims=8, score="maha_l2+bank+conf/2")
    probs, s = td.scores(model, distance, known, known)
    assert probs.shape == (30, 3)
    assert set(s) == {"fine-tuned (shipped kind)", "teacher distance", "fine-tuned + 0.5 x teacher",
                      "fine-tuned + 1 x teacher"}
    np.testing.assert_allclose(s["fine-tuned + 0.5 x teacher"],
                               s["fine-tuned (shipped kind)"] + 0.5 * s["teacher distance"], rtol=1e-6)
    table = td.format_rows([{"fold": "without a", "view": "clean", "score": "teacher distance", "auroc": 0.64,
                             "known_coverage": 0.915, "category": "other", "wrong": 0.86}])
    assert table.splitlines()[-1] == "| without a | clean | teacher distance | 0.640 | 0.915 | other 0.86 |"
