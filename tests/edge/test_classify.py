"""`python -m edge classify --json PATH...` on generated images, folders and unreadable files."""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge import classify

ROOT = Path(__file__).resolve().parents[2]


def _write_images(folder: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    (folder / "nested" / "deeper").mkdir(parents=True)
    paths = [folder / "a.jpg", folder / "nested" / "b.png", folder / "nested" / "deeper" / "c.jpeg"]
    sizes = [(120, 90), (40, 300), (224, 224)]
    for p, (h, w) in zip(paths, sizes, strict=False):
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        cv2.circle(img, (w // 2, h // 2), min(h, w) // 3, (30, 200, 240), -1)
        assert cv2.imwrite(str(p), img)
    (folder / "nested" / "notes.txt").write_text("not an image, and not picked up from a folder")
    return paths


def _args(*paths, **kw):
    p = argparse.ArgumentParser()
    classify.add_arguments(p)
    argv = ["--json", *map(str, paths)]
    for k, v in kw.items():
        argv += [f"--{k}", str(v)]
    return p.parse_args(argv)


def test_parser_is_cheap_and_documented():
    code = ("import sys, argparse, edge.classify as c; p = argparse.ArgumentParser(); c.add_arguments(p); "
            "print('onnxruntime' in sys.modules, 'cv2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]


def test_json_lines_for_files_and_folders(tmp_path, capsys):
    paths = _write_images(tmp_path / "imgs")
    rc = classify.main(_args(tmp_path / "imgs", top=3))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 0
    assert sorted(r["path"] for r in lines) == sorted(map(str, paths))
    for r in lines:
        assert r["category"] in {"kitchen", "recyclable", "hazardous", "other"}
        assert 0.0 <= r["confidence"] <= 1.0
        assert r["model"].startswith("waste-effl0-int8@") and r["rules"] == "beijing@2020.2"
        assert r["category_zh"] and r["item_zh"]
        assert isinstance(r["uncertain"], bool)
        assert len(r["top"]) == 3 and r["top"][0]["item"] == r["item"]


def test_unreadable_and_missing_files_get_an_error_line_and_the_rest_still_run(tmp_path, capsys):
    paths = _write_images(tmp_path)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 this is not really a JPEG")
    missing = tmp_path / "missing.png"
    rc = classify.main(_args(paths[0], broken, missing, paths[1]))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 1
    assert [r["path"] for r in lines] == [str(paths[0]), str(broken), str(missing), str(paths[1])]
    assert lines[1] == {"path": str(broken), "error": "not a readable image"}
    assert lines[2] == {"path": str(missing), "error": "no such file"}
    assert "item" in lines[0] and "item" in lines[3]


def test_a_bad_model_path_fails_cleanly(tmp_path, capsys):
    rc = classify.main(_args(tmp_path, model=tmp_path / "none.onnx"))
    assert rc == 2
    assert "model file not found" in capsys.readouterr().err


@pytest.mark.slow
def test_python_dash_m_edge_classify(tmp_path):
    paths = _write_images(tmp_path)
    broken = tmp_path / "zz-broken.png"
    broken.write_text("nope")
    out = subprocess.run([sys.executable, "-m", "edge", "classify", "--json", str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert out.returncode == 1, out.stderr
    assert len(lines) == len(paths) + 1
    assert lines[-1]["path"] == str(broken) and "error" in lines[-1]
    assert all("item" in r for r in lines[:-1])


def test_plain_text_output(tmp_path, capsys):
    paths = _write_images(tmp_path)
    args = _args(paths[0])
    args.json = False
    assert classify.main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith(str(paths[0])) and "->" in out
