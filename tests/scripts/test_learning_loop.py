"""scripts/learning_loop.py on a few shared photos: the table before and after labelling N of each left-out item."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "datasets" / "waste-images"


@pytest.mark.skipif(not (SHARED / "manifest.csv").is_file(), reason=f"the shared photos are not at {SHARED}")
def test_the_simulated_loop_prints_its_table(tmp_path):
    from edge.model import load_classifier
    val = {p.split("/", 1)[1] for p in load_classifier().metadata["validation"]["paths"]}
    with open(SHARED / "manifest.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    seen, chosen = {}, []
    for r in rows:
        k = (r["item"], r["path"] in val)
        seen[k] = seen.get(k, 0) + 1
        if seen[k] <= (2 if r["path"] in val else 5):
            chosen.append(r)
    folder = tmp_path / "waste-images"
    for r in chosen:
        (folder / r["path"]).parent.mkdir(parents=True, exist_ok=True)
        (folder / r["path"]).symlink_to(SHARED / r["path"])
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(chosen)
    r = subprocess.run([sys.executable, "scripts/learning_loop.py", "--data", str(folder), "--cache",
                        str(tmp_path / "emb"), "--views", "1", "--steps", "30", "--n", "1,3", "--markdown",
                        "--left-out", "metal,wood", "--json", str(tmp_path / "loop.json")],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    table = [line for line in r.stdout.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    assert len(table) == 1 + 3 and table[1].startswith("| 0 |") and table[3].startswith("| 3 |"), r.stdout
    assert "Left out: metal, wood" in r.stdout
    import json
    result = json.loads((tmp_path / "loop.json").read_text())
    before = result["rows"][0]["clean"]["left_out_per_item"]
    assert before == {"metal": 0.0, "wood": 0.0}, "a head that never saw an item never names it"
    assert result["rows"][2]["labelled"] == {"metal": min(3, result["pool_per_item"]["metal"]),
                                             "wood": min(3, result["pool_per_item"]["wood"])}


def test_the_loop_refits_the_files_own_score_in_its_own_dimensions():
    # the committed threshold only means something for the file's kind of score; the loop once refitted
    # every file as maha+conf in 256 directions
    import importlib.util

    import numpy as np
    spec = importlib.util.spec_from_file_location("learning_loop", ROOT / "scripts" / "learning_loop.py")
    loop = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loop)
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    x = np.abs(rng.normal(0, 1, (3, 1280))[y] + rng.normal(0, 0.5, (len(y), 1280))).astype(np.float32)
    groups = np.arange(len(y)) // 2
    bank = loop.fit_like({"parameters": {"score": "maha_l2+bank+conf", "dims": 16}}, x, y, groups, 3, 30)
    assert bank.rejection.score_name == "maha_l2+bank+conf" and bank.rejection.whiten.shape[1] == 16
    assert bank.rejection.bank is not None
    old = loop.fit_like({}, x, y, groups, 3, 30)  # a file from before the choice
    assert old.rejection.score_name == "maha+conf" and old.rejection.whiten.shape[1] == 256
