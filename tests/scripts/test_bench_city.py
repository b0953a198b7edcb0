"""scripts/bench_city.py in a few seconds: the city generated (one day),
devices of its stations posting, stats, rankings and exports read meanwhile,
and every acknowledged event found stored once."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from scripts import benchlib

pytestmark = pytest.mark.slow


def test_bench_city_reports_every_figure_and_stores_each_event_once():
    result = subprocess.run([sys.executable, "scripts/bench_city.py", "--days", "1", "--seconds", "4",
                             "--rate", "40", "--clients", "1", "--connections", "4",
                             "--stats-per-second", "2", "--rankings-per-second", "1",
                             "--export-every", "2"],
                            cwd=benchlib.ROOT, capture_output=True, text=True, timeout=600, check=False)
    out = result.stdout
    assert result.returncode == 0, (out + result.stderr)[-3000:]
    assert out.startswith("$ python scripts/bench_city.py --days 1")
    achieved = re.search(r"^achieved ([\d,]+) events/s .*: ([\d,]+) acknowledged", out, re.M)
    assert achieved and int(achieved.group(2).replace(",", "")) == 160, out
    for name in ("device's request", "GET /api/v1/stats", "community ranking in district",
                 "city-wide community export .csv"):
        assert re.search(rf"^{re.escape(name)} +n=[1-9]", out, re.M), (name, out)
    assert re.search(r"^memory per host \(peak RSS\): \d+ MiB", out, re.M), out
    assert "every acknowledged event stored once (160)" in out
