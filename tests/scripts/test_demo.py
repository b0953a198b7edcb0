"""The demo command as a newcomer runs it: real gunicorn, the real edge
program with the real model, drawn items (no photos needed)."""
from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import benchlib

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run_demo(instance: Path, port: int, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "scripts/demo.py", "--instance", str(instance),
                           "--port", str(port), *extra], cwd=ROOT, capture_output=True,
                          text=True, timeout=400)


def events(instance: Path) -> int:
    with sqlite3.connect(instance / "sortwatch.db") as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


def test_demo_runs_twice_on_the_same_database(tmp_path):
    instance = tmp_path / "instance"
    first = run_demo(instance, benchlib.free_port(), "--rounds", "1", "--stations", "1", "--drops", "2")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "drew itself" in first.stdout and "round 1, 2 drops, delivered" in first.stdout
    assert "sanlihe" in first.stdout and "/station/st-xc-0001" in first.stdout
    assert events(instance) == 2
    # the residents' cards, played into the station's reader as they scanned
    # them, arrive on their own disposals, in order
    truth_file = instance / "demo-stations" / "st-xc-0001" / "round-1" / "truth.jsonl"
    truth = [json.loads(line) for line in truth_file.read_text().splitlines()]
    with sqlite3.connect(instance / "sortwatch.db") as conn:
        stored = [row[0] for row in conn.execute("SELECT household FROM events ORDER BY ts")]
    assert any(t["household"] for t in truth)
    assert stored == [t["household"] for t in truth]
    second = run_demo(instance, benchlib.free_port(), "--rounds", "1", "--stations", "1", "--drops", "2")
    assert second.returncode == 0, second.stdout + second.stderr
    assert events(instance) == 4          # the first run's data is still there
    with sqlite3.connect(instance / "sortwatch.db") as conn:  # each wrong verdict came with its evidence
        missing = conn.execute("SELECT count(*) FROM events e LEFT JOIN evidence v USING (event_id) "
                               "WHERE e.verdict = 'wrong' AND v.event_id IS NULL").fetchone()[0]
    assert missing == 0


def test_demo_refuses_a_taken_port(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_demo(tmp_path / "instance", port, "--rounds", "1")
    assert result.returncode == 1
    assert f"port {port} is taken" in result.stderr
    assert not (tmp_path / "instance" / "sortwatch.db").exists()


def test_demo_refuses_a_folder_without_manifest(tmp_path):
    result = run_demo(tmp_path / "instance", benchlib.free_port(), "--items", str(tmp_path), "--rounds", "1")
    assert result.returncode == 1 and "has no manifest.csv" in result.stderr

