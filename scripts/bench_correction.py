"""The corrected accuracy for N members of a ranking (default 7,000, the
city's communities), one member at a time (corrected_accuracy, what
/api/v1/stats does) against all at once (corrected_accuracies, what the
rankings and exports do), measured in one run, with the figures checked
equal. --against REV also times server/correction.py as it was at git
revision REV, one member at a time, in the same run.

    python scripts/bench_correction.py [--members 7000] [--versions 3] [--draws 2000] [--against REV]

Each member has one or two of the model versions (a rollout in progress),
a month of disposals (200-3,000) and the versions' audits (60-400 each).
Time is CPU time of this process (time.process_time), so other work on
the machine slows it less than a wall clock."""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
import benchlib  # noqa: E402

from server.correction import DRAWS, Audits, corrected_accuracies, corrected_accuracy  # noqa: E402


def members(n: int, versions: int, seed: int = 1) -> list[list[tuple[dict, Audits]]]:
    rng = np.random.default_rng(seed)
    audits = []
    for v in range(versions):
        size = int(rng.integers(60, 400))
        right = rng.multinomial(int(size * 0.8), [0.83, 0.12, 0.05])
        wrong = rng.multinomial(size - int(size * 0.8), [0.25, 0.68, 0.07])
        audits.append(Audits({"correct": dict(zip(("correct", "wrong", "uncertain"), map(int, right), strict=True)),
                              "wrong": dict(zip(("correct", "wrong", "uncertain"), map(int, wrong), strict=True))},
                             model=f"waste-effl0-int8@v{v}"))
    out = []
    for _ in range(n):
        chosen = rng.choice(versions, size=min(versions, int(rng.integers(1, 3))), replace=False)
        groups = []
        for v in chosen:
            disposals = int(rng.integers(200, 3000))
            counts = rng.multinomial(disposals, [0.72, 0.2, 0.08])
            groups.append((dict(zip(("correct", "wrong", "uncertain"), map(int, counts), strict=True)), audits[v]))
        out.append(groups)
    return out


def previous_module(rev: str):
    """server/correction.py at git revision `rev`, imported as a module of the server package."""
    source = subprocess.run(["git", "show", f"{rev}:server/correction.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader(f"server.correction_at_{rev}", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "server"
    sys.modules[spec.name] = module      # dataclasses look their module up there
    exec(compile(source, f"{rev}:server/correction.py", "exec"), module.__dict__)
    return module


def timed(fn) -> tuple[float, object]:
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


def line(name: str, seconds: float, n: int) -> str:
    return f"{name:<44} {seconds:8.2f} s  {seconds / n * 1000:7.3f} ms per member"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=7000)
    parser.add_argument("--versions", type=int, default=3)
    parser.add_argument("--draws", type=int, default=DRAWS, help="bootstrap draws (the server uses DRAWS)")
    parser.add_argument("--against", help="a git revision whose correction to time as well")
    args = parser.parse_args()
    scopes = members(args.members, args.versions)
    rows = sum(len(g) for g in scopes)
    print(f"$ {benchlib.command_line()}")
    print(f"{args.members:,} members, {rows:,} (member, model version) rows, {args.versions} versions, "
          f"{args.draws:,} bootstrap draws")
    single_s, single = timed(lambda: [corrected_accuracy(g, draws=args.draws) for g in scopes])
    bulk_s, bulk = timed(lambda: corrected_accuracies(scopes, draws=args.draws))
    if bulk != single:
        print("the bulk figures differ from the single ones", file=sys.stderr)
        return 1
    print(line("one member at a time (corrected_accuracy)", single_s, args.members))
    print(line("all at once (corrected_accuracies)", bulk_s, args.members))
    if args.against:
        old = previous_module(args.against)
        old_s, _ = timed(lambda: [old.corrected_accuracy([(o, old.Audits(a.counts)) for o, a in g],
                                                         draws=args.draws) for g in scopes])
        print(line(f"one at a time at {args.against}", old_s, args.members))
        print(f"all at once vs {args.against}: {old_s / bulk_s:.1f}x faster")
    print(f"all at once vs one at a time: {single_s / bulk_s:.1f}x faster; figures identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
