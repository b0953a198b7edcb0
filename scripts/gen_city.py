"""A generated city for benchmarks: 16 districts, 343 streets, 7,000
communities, 25,000 stations and a year of daily roll-ups.

The hierarchy and stations go through the store as an operator's import
would; the year of history is written straight into the roll-up tables
(generating and ingesting ~180 M events would take hours).

    python scripts/gen_city.py --out /tmp/city.db [--days 365] [--seed 7]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server import store as store_pkg  # noqa: E402
from server.auth import hash_password  # noqa: E402
from server.rollups import COUNTERS  # noqa: E402
from server.scopes import CITY  # noqa: E402
from server.timeutil import now_utc, periods_of_day  # noqa: E402

DISTRICTS, STREETS, COMMUNITIES, STATIONS = 16, 343, 7000, 25000
CITY_PASSWORD = "bench-password"


def hierarchy(rng: random.Random) -> list[dict]:
    districts = [(f"1101{d:02d}", f"第{d}区") for d in range(1, DISTRICTS + 1)]
    streets = [(districts[s % DISTRICTS][0] + f"{s // DISTRICTS + 1:03d}", f"第{s + 1}街道")
               for s in range(STREETS)]
    rows = []
    for c in range(COMMUNITIES):
        street_code, street = streets[c % STREETS]
        district_code = street_code[:6]
        rows.append({"district_code": district_code, "district": dict(districts)[district_code],
                     "street_code": street_code, "street": street,
                     "community_code": street_code + f"{c // STREETS + 1:03d}",
                     "community": f"第{c + 1}社区", "households": rng.randrange(300, 2500)})
    return rows


def generate(db: Path, days: int = 365, seed: int = 7, end: date | None = None) -> dict:
    rng = random.Random(seed)
    store_pkg.migrate(db)
    s = store_pkg.connect(db)
    now = now_utc().isoformat()
    rows = hierarchy(rng)
    s.import_regions(rows)
    communities = [r["community_code"] for r in rows]
    s.add_stations([{"id": f"st-{i:05d}", "community_code": communities[i % COMMUNITIES],
                     "name": f"{i}号桶站", "bins": ["kitchen", "recyclable", "hazardous", "other"],
                     "household_reader": True,
                     "staffed_windows": [["07:00", "09:00"], ["18:00", "21:00"]],
                     "created_at": now} for i in range(STATIONS)])
    s.add_user({"username": "city", "password_hash": hash_password(CITY_PASSWORD), "role": "city",
                "scope": "", "created_at": now})
    end = end or date.today()
    day_list = [end - timedelta(days=i) for i in range(days)]
    quality = {c: rng.uniform(0.75, 0.97) for c in communities}

    def day_rows():
        totals: dict[tuple, list[int]] = {}
        for day in day_list:
            iso = day.isoformat()
            for c in communities:
                for staffed in (0, 1):
                    n = rng.randrange(20, 60) if staffed else rng.randrange(40, 120)
                    assisted = n // 20
                    uncertain = n // 12
                    judged = n - assisted - uncertain
                    correct = int(judged * quality[c])
                    counters = (n, assisted, correct, judged - correct, uncertain, n // 200)
                    yield (c, iso, staffed, *counters)
                    for scope in (c[:9], c[:6], CITY):
                        t = totals.setdefault((scope, iso, staffed), [0] * len(COUNTERS))
                        for i, v in enumerate(counters):
                            t[i] += v
        for key, counters in totals.items():
            yield (*key, *counters)

    t0 = time.perf_counter()
    n_day = s.bulk_load("rollup_day", ("scope", "day", "staffed", *COUNTERS), day_rows())
    labels = sorted({(kind, label) for d in day_list for kind, label in periods_of_day(d).items()})
    households = {r["community_code"]: r["households"] for r in rows}

    def participation_rows():
        sums: dict[tuple, int] = {}
        for kind, label in labels:
            for c in communities:
                n = int(households[c] * rng.uniform(0.6, 0.99))
                yield (c, kind, label, n)
                for scope in (c[:9], c[:6], CITY):
                    sums[(scope, kind, label)] = sums.get((scope, kind, label), 0) + n
        for key, n in sums.items():
            yield (*key, n)

    s.bulk_load("participation_period", ("scope", "kind", "period", "households"),
                participation_rows())

    def online_rows():
        per_community = STATIONS // COMMUNITIES + 1
        sums: dict[tuple, int] = {}
        for day in day_list:
            iso = day.isoformat()
            for c in communities:
                seconds = int(per_community * 86400 * rng.uniform(0.9, 1.0))
                yield (c, iso, seconds)
                for scope in (c[:9], c[:6], CITY):
                    sums[(scope, iso)] = sums.get((scope, iso), 0) + seconds
        for key, seconds in sums.items():
            yield (*key, seconds)

    s.bulk_load("online_day", ("scope", "day", "seconds"), online_rows())
    s.rebuild_period_rollups()
    s.conn.execute("ANALYZE")
    s.close()
    return {"rollup_day_rows": n_day, "seconds": time.perf_counter() - t0,
            "communities": communities}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.out.exists():
        raise SystemExit(f"{args.out} exists; give a new file")
    info = generate(args.out, args.days, args.seed)
    print(f"{args.out}: {info['rollup_day_rows']:,} daily roll-up rows in {info['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
