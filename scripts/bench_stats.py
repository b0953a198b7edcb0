"""Read latency over a generated city (16 districts, 343 streets, 7,000
communities, 25,000 stations, a year of daily roll-ups), under real gunicorn:
GET /api/v1/stats at every level, community rankings within a district, and
city-wide community exports (7,000 rows) as CSV and XLSX.

    python scripts/bench_stats.py [--requests 2000] [--rankings 200] [--exports 5] [--days 365]
"""
from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
import gen_city  # noqa: E402


def login(base: str, timeout: float = 30) -> tuple[http.client.HTTPConnection, dict]:
    """A connection logged in as gen_city's city user, and its cookie header."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    conn.request("POST", "/api/v1/login", body=json.dumps(
        {"username": "city", "password": gen_city.CITY_PASSWORD}),
        headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        raise RuntimeError(f"login failed: HTTP {r.status}")
    cookie = r.getheader("Set-Cookie").split(";")[0]
    return conn, {"Cookie": cookie}


def timed_get(conn, headers, path: str, expect_rows: int | None = None) -> float:
    t0 = time.perf_counter()
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    body = r.read()
    elapsed = time.perf_counter() - t0
    if r.status != 200:
        raise RuntimeError(f"GET {path}: HTTP {r.status} {body[:200]!r}")
    if expect_rows is not None and path.startswith("/exports/stats.csv"):
        rows = body.decode("utf-8-sig").count("\n") - 1
        if rows != expect_rows:
            raise RuntimeError(f"{path}: {rows} rows, expected {expect_rows}")
    return elapsed


def summary(name: str, latencies: list[float]) -> str:
    p = {q: benchlib.percentile(latencies, q) * 1000 for q in (50, 95, 99)}
    return (f"{name:<34} n={len(latencies):<5} p50 {p[50]:6.1f} ms  p95 {p[95]:6.1f} ms  "
            f"p99 {p[99]:6.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rankings", type=int, default=200)
    parser.add_argument("--exports", type=int, default=5)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "city.db"
        info = gen_city.generate(db, args.days)
        communities = info["communities"]
        today = date.today()
        months = sorted({f"{(today.year * 12 + today.month - 1 - k) // 12:04d}-"
                         f"{(today.year * 12 + today.month - 1 - k) % 12 + 1:02d}"
                         for k in range(12)})
        print(f"$ {benchlib.command_line()}")
        print(f"generated {info['rollup_day_rows']:,} daily roll-up rows "
              f"({len(communities):,} communities, {args.days} days) in {info['seconds']:.0f} s")
        with benchlib.gunicorn("server:create_app()", db) as base:
            conn, headers = login(base)
            by_level: dict[str, list[float]] = {}
            for i in range(args.requests):
                c = rng.choice(communities)
                level, code = rng.choice([("city", None), ("district", c[:6]),
                                          ("street", c[:9]), ("community", c)])
                path = f"/api/v1/stats?level={level}&month={rng.choice(months)}"
                if code:
                    path += f"&code={code}"
                if i % 4 == 0:
                    path += "&period=inspection"
                by_level.setdefault(level, []).append(timed_get(conn, headers, path))
            districts = sorted({c[:6] for c in communities})
            ranking = [timed_get(conn, headers, f"/api/v1/rankings?level=community&within="
                                 f"{rng.choice(districts)}&month={rng.choice(months)}&metric="
                                 f"{rng.choice(['accuracy', 'participation', 'awareness'])}")
                       for _ in range(args.rankings)]
            month = months[-2]
            exports = {fmt: [timed_get(conn, headers, f"/exports/stats.{fmt}?level=community"
                                       f"&month={month}", expect_rows=len(communities))
                             for _ in range(args.exports)] for fmt in ("csv", "xlsx")}
        everything = [x for v in by_level.values() for x in v]
        print(summary("GET /api/v1/stats, all levels", everything))
        for level in ("city", "district", "street", "community"):
            print(summary(f"  level={level}", by_level[level]))
        print(summary("community ranking within a district", ranking))
        for fmt, times in exports.items():
            print(summary(f"city-wide community export .{fmt}", times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
