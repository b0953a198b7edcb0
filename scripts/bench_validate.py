"""Per-event validation speed of ingest (server/contract/validate.py).

Validates a fixed mix of events, 95 % valid disposals and 5 % invalid ones
(the share a healthy fleet never reaches), and prints microseconds per event,
best of five rounds.

    python scripts/bench_validate.py [--events 20000]
"""
from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from server.contract.validate import event_errors  # noqa: E402


def events(n: int) -> list[dict]:
    out = []
    for i in range(n):
        ev = {"event_id": str(uuid.UUID(int=i)), "type": "disposal",
              "ts": "2026-11-29T07:42:13.250+08:00", "station_id": "st-xc-0042", "bin": "other",
              "item": "battery", "category": "hazardous", "verdict": "wrong", "confidence": 0.93,
              "household": "hh-5f1c9e", "assisted": False, "model": "waste-effl0-int8@3fa2c1d0",
              "rules": "beijing@2020.1"}
        if i % 20 == 0:
            ev.update(bin="green", confidence=1.5, colour="red")
        out.append(ev)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    batch = events(args.events)
    rejected = sum(bool(event_errors(ev)) for ev in batch)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for ev in batch:
            event_errors(ev)
        best = min(best, time.perf_counter() - start)
    print(f"{args.events} events ({rejected} invalid): {best / args.events * 1e6:.2f} us per event, "
          f"best of 5")


if __name__ == "__main__":
    main()
