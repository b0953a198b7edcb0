"""scripts/bench_streams.py runs end to end at a small size and reports
every stream open and every probe delivered."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from scripts import benchlib

pytestmark = pytest.mark.slow


def test_bench_streams_small_run():
    result = subprocess.run(
        [sys.executable, "scripts/bench_streams.py", "--streams", "5", "--seconds", "2",
         "--rounds", "1", "--clients", "1", "--threads", "16"],
        cwd=benchlib.ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "streams per round: [6] open (the tablets and the probe), [0] refused" in out
    delivered = re.search(r"probe tablet: (\d+)/(\d+) prompts delivered", out)
    assert delivered and delivered.group(1) == delivered.group(2) != "0"
    pushed = re.search(r"(\d+) of the (\d+) disposals posted to the tablets' stations pushed", out)
    assert pushed and pushed.group(1) == pushed.group(2)
    assert "command: python scripts/bench_streams.py --streams 5" in out
