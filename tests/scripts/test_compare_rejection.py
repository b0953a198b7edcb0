"""scripts/modelbuild/compare_rejection.py on synthetic embeddings: every candidate score is computed on
the leave-items-out cross-fits, and the ones that measure distance see items far from every item centre."""
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from modelbuild import compare_rejection, embed  # noqa: E402

from contract.rules import CATEGORIES, load_rules  # noqa: E402

LABELS = ["battery", "battery_lithium", "battery_rechargeable", "carton", "food_waste", "glass", "metal",
          "paper_cardboard", "plastic", "residual", "textile", "wood"]


def _views(tmp_path: Path, per_item: int = 40, dim: int = 300) -> embed.Views:
    """Each item a tight cluster around its own direction; every view a noisier copy of the clean one."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (len(LABELS), dim)) * 3
    items = np.repeat(LABELS, per_item)
    n = len(items)
    keys = np.array([f"d/{i}.jpg" for i in range(n)])
    clean = centres[np.repeat(np.arange(len(LABELS)), per_item)] + rng.normal(0, 1, (n, dim))
    np.savez(tmp_path / "split.npz", keys=keys, item=items, source=np.array(["s"] * n),
             group=np.arange(n), is_val=np.arange(n) % 5 == 0)
    for k, view in enumerate(("clean", "degraded0", "degraded1")):
        emb = (clean + rng.normal(0, 0.3 * k, clean.shape)).astype(np.float32)
        np.savez(tmp_path / f"{view}.npz", keys=keys, embedding=emb, probs=np.zeros((n, len(LABELS)), np.float32))
    return embed.Views(tmp_path)


def test_every_score_is_measured_and_distances_see_unknown_items(tmp_path):
    rules = load_rules("beijing")
    item_cat = np.array([CATEGORIES.index(rules.category(x)) for x in LABELS])
    result = compare_rejection.compare(_views(tmp_path), LABELS, item_cat, temperature=1.0, conf_threshold=0.5)
    names = {"maha+conf", "maha", "msp", "energy", "knn", "knn+conf", "maha+knn+conf", "maha_l2", "maha_l2+conf",
             "maha_l2_32+knn+conf", "maha_l2_32+bank+conf", "maha_l2_32+bank+conf/2", "maha_l2_32+bank", "rmd", "rmd+conf",
             "rmd_l2+conf"}
    for tag in ("clean", "degraded"):
        assert set(result[tag]) == names
        for name in names:
            r = result[tag][name]
            assert 0.8 <= r["known_coverage"] <= 0.9, (tag, name, r)  # the 85 % the thresholds are set at
        for name in ("maha", "maha+conf", "knn", "maha_l2", "maha+knn+conf", "maha_l2_32+knn+conf", "maha_l2_32+bank+conf",
                     "maha_l2_32+bank+conf/2", "maha_l2_32+bank"):
            # an unknown item lies far from every centre: the distances rank it above the known crops
            assert result[tag][name]["auroc"] > 0.95, (tag, name, result[tag][name])
            assert result[tag][name]["worst_unknown_wrong"] < 0.2, (tag, name, result[tag][name])


def test_validation_uses_the_cross_fits_thresholds(tmp_path):
    """The validation table applies the thresholds the training cross-fits chose; it chooses none."""
    rules = load_rules("beijing")
    item_cat = np.array([CATEGORIES.index(rules.category(x)) for x in LABELS])
    views = _views(tmp_path)
    cross_fit = compare_rejection.compare(views, LABELS, item_cat, temperature=1.0, conf_threshold=0.5)
    validation = compare_rejection.validate(views, LABELS, item_cat, 1.0, 0.5, cross_fit)
    for tag in ("clean", "degraded"):
        assert set(validation[tag]) == set(cross_fit[tag])
        for name, r in validation[tag].items():
            assert r["threshold"] == cross_fit[tag][name]["threshold"]
        assert validation[tag]["maha+conf"]["auroc"] > 0.95
    # a threshold under every score rejects every crop
    strict = {tag: {name: {"threshold": -1e9} for name in per} for tag, per in cross_fit.items()}
    none_pass = compare_rejection.validate(views, LABELS, item_cat, 1.0, 0.5, strict)
    assert all(r["known_coverage"] == 0 and r["worst_unknown_wrong"] == 0
               for per in none_pass.values() for r in per.values())
    table = compare_rejection.format_table(validation, CATEGORIES, coverage=True)
    assert "| known coverage |" in table.splitlines()[0]
