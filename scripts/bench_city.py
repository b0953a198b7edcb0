"""The city's peak: devices of 25,000 stations post disposals at 4,000
events/s (DESIGN.md §7) for a while, under real gunicorn on loopback, over a
generated year of city roll-ups (gen_city.py), while the city's staff read
stats and rankings and export every community; one run per backend.

Each event is posted by its own station's device as the station program
does at that pace (a station sees a disposal every 6 s: its outbox holds one
event when it sends), so 4,000 events/s are 4,000 requests/s. The load is
open-loop: events are due at a fixed rate, spread over --clients processes
of --connections connections each; a request that cannot start on time is
counted late, and the load stops at --seconds whatever is left unsent (the
achieved rate is what was acknowledged per second). The device's latency is
that of its request.

    python scripts/bench_city.py [--rate 4000] [--seconds 300] [--days 365]
    python scripts/bench_city.py --database postgresql://root@127.0.0.1:5432/postgres
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
import gen_city  # noqa: E402
from bench_stats import login  # noqa: E402

BEIJING = timezone(timedelta(hours=8))
VERDICTS = ("correct", "correct", "correct", "wrong", "uncertain")


def register_devices(db, stations: int) -> None:
    """One device per station, through the store (tokens are the station's
    number: bench-token-N)."""
    sys.path.insert(0, str(benchlib.ROOT))
    from server import store as store_pkg
    from server.auth import hash_token
    from server.timeutil import now_utc
    s = store_pkg.connect(db)
    now = now_utc().isoformat()
    for at in range(0, stations, 5000):
        s.add_devices([(f"dev-{i:05d}", f"st-{i:05d}", hash_token(f"bench-token-{i}"))
                       for i in range(at, min(stations, at + 5000))], now)
    s.close()


def exchange(conn: http.client.HTTPConnection, method: str, path: str, body, headers):
    """One request on a keep-alive connection, sent again once on a new
    connection if the server had closed the idle one (safe: events are
    stored once by event_id, and the reads change nothing)."""
    for attempt in (1, 2):
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response, response.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            conn.close()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def device_load(bases: list[str], me: int, clients: int, connections: int, rate: float,
                seconds: float, stations: int, batch: int, start, out) -> None:
    """One load process: its share of the rate over its share of the
    stations (station i belongs to process i mod clients)."""
    mine = list(range(me, stations, clients))
    interval = batch * clients / rate          # seconds between this process's requests
    lock, due = threading.Lock(), [0]
    latencies: list[float] = []
    late, failures, acked = [0], [], [0]
    start.wait()
    t0 = time.monotonic()
    cpu0 = time.process_time()
    total = int(seconds / interval)
    end = t0 + seconds

    def connection(k: int) -> None:
        host, port = bases[(me + k) % len(bases)].removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        rng = random.Random(me * 1000 + k)
        while True:
            with lock:
                n = due[0]
                due[0] += 1
            if n >= total or time.monotonic() >= end:
                return      # what was not sent by the end is not sent: the load stops on time
            wait = t0 + n * interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            elif wait < -0.1:
                late[0] += 1
            station = rng.choice(mine)
            now = datetime.now(BEIJING).isoformat(timespec="milliseconds")
            events = [{"event_id": str(uuid.uuid4()), "type": "disposal", "ts": now,
                       "station_id": f"st-{station:05d}",
                       "bin": ("kitchen", "recyclable", "hazardous", "other")[n % 4],
                       "item": "food_waste", "category": "kitchen", "verdict": VERDICTS[n % 5],
                       "confidence": 0.9, "household": f"hh-{station}-{rng.randrange(120)}",
                       "assisted": n % 17 == 0, "model": "waste-effl0-int8@bench",
                       "rules": "beijing@2020.1"} for _ in range(batch)]
            body = json.dumps({"device_id": f"dev-{station:05d}", "events": events})
            headers = {"Content-Type": "application/json",
                       "Authorization": f"Bearer bench-token-{station}"}
            sent = time.perf_counter()
            try:
                response, payload = exchange(conn, "POST", "/api/v1/events", body, headers)
            except (OSError, http.client.HTTPException) as exc:
                failures.append(repr(exc))
                conn.close()
                continue
            took = time.perf_counter() - sent
            with lock:
                latencies.append(took)
                if response.status == 200:
                    acked[0] += json.loads(payload)["accepted"]
                else:
                    failures.append(f"HTTP {response.status} {payload[:120]!r}")

    threads = [threading.Thread(target=connection, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put({"latencies": latencies, "late": late[0], "failures": failures, "acked": acked[0],
             "requests": total, "sent": len(latencies) + len(failures),
             "elapsed": time.monotonic() - t0,
             "cpu": time.process_time() - cpu0})


def timed_get(conn, headers, path: str) -> float:
    t0 = time.perf_counter()
    r, body = exchange(conn, "GET", path, None, headers)
    if r.status != 200:
        raise RuntimeError(f"GET {path}: HTTP {r.status} {body[:200]!r}")
    return time.perf_counter() - t0


def months_back(n: int) -> list[str]:
    today = date.today()
    m = today.year * 12 + today.month - 1
    return [f"{(m - k) // 12:04d}-{(m - k) % 12 + 1:02d}" for k in range(n)]


def reader(base: str, communities: list[str], kind: str, per_second: float, seconds: float,
           start, out) -> None:
    """Stats, rankings or exports, at a steady pace, as the city's staff."""
    conn, headers = login(base, timeout=120)
    rng = random.Random(kind)
    months = months_back(12)
    districts = sorted({c[:6] for c in communities})
    latencies = []
    start.wait()
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < seconds:
        wait = t0 + n / per_second - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        n += 1
        c = rng.choice(communities)
        if kind == "stats":
            level, code = rng.choice([("city", None), ("district", c[:6]), ("street", c[:9]),
                                      ("community", c)])
            path = f"/api/v1/stats?level={level}&month={rng.choice(months)}"
            path += f"&code={code}" if code else ""
        elif kind == "ranking":
            path = (f"/api/v1/rankings?level=community&within={rng.choice(districts)}"
                    f"&month={rng.choice(months)}&metric="
                    f"{rng.choice(['accuracy', 'participation', 'awareness'])}")
        else:
            path = f"/exports/stats.csv?level=community&month={months[0]}"
        latencies.append(timed_get(conn, headers, path))
    out.put((kind, latencies))


def summary(name: str, values: list[float], qs=(50, 95, 99)) -> str:
    if not values:
        return f"{name:<30} n=0"
    return (f"{name:<30} n={len(values):<7,}" + "  ".join(
        f"p{q} {benchlib.percentile(values, q) * 1000:7.1f} ms" for q in qs)
            + f"  max {max(values) * 1000:7.1f} ms")


class MemoryWatch:
    """The largest resident memory each host reached, sampled every second."""

    def __init__(self, bases: list[str]):
        self.ports = [int(b.rsplit(":", 1)[1]) for b in bases]
        self.peak = [0.0] * len(bases)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            for i, port in enumerate(self.ports):
                self.peak[i] = max(self.peak[i], benchlib.rss_mib(benchlib.host_pids(port)))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def stored_events(db) -> tuple[int, int, int]:
    """(events, distinct ids, the city roll-up's disposals of today)."""
    today = datetime.now(BEIJING).date().isoformat()
    queries = ("SELECT count(*), count(DISTINCT event_id) FROM events",
               f"SELECT coalesce(sum(disposals), 0) FROM rollup_day WHERE scope = 'city' "
               f"AND day = '{today}'")
    if isinstance(db, str):
        import psycopg
        with psycopg.connect(db) as conn:
            rows, distinct = conn.execute(queries[0]).fetchone()
            return rows, distinct, conn.execute(queries[1]).fetchone()[0]
    import sqlite3
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows, distinct = conn.execute(queries[0]).fetchone()
        return rows, distinct, conn.execute(queries[1]).fetchone()[0]


def collect(queue, procs: list, timeout: float):
    """The next result of `procs`; fails instead of waiting for a dead one."""
    import queue as queue_module
    deadline = time.monotonic() + timeout
    while True:
        try:
            return queue.get(timeout=2)
        except queue_module.Empty:
            if any(p.exitcode not in (None, 0) for p in procs) or time.monotonic() > deadline:
                raise RuntimeError("a load or reader process failed (see above)") from None


def run(db, args, folder: Path) -> int:
    t0 = time.perf_counter()
    info = gen_city.generate(db, args.days)
    register_devices(db, gen_city.STATIONS)
    # The generated year already counts today; what the load adds is measured from here.
    before = stored_events(db)
    print(f"city: {gen_city.STATIONS:,} stations and devices, {len(info['communities']):,} "
          f"communities, {info['rollup_day_rows']:,} daily roll-up rows ({args.days} days), "
          f"made in {time.perf_counter() - t0:.0f} s", flush=True)
    with contextlib.ExitStack() as stack:
        bases = [stack.enter_context(benchlib.gunicorn("server:create_app()", db, args.workers,
                                                       args.threads, log_dir=folder))
                 for _ in range(args.hosts)]
        host_pids = [p for b in bases for p in benchlib.host_pids(int(b.rsplit(":", 1)[1]))]
        start, out, read_out = mp.Event(), mp.Queue(), mp.Queue()
        loaders = [mp.Process(target=device_load,
                              args=(bases, k, args.clients, args.connections, args.rate,
                                    args.seconds, gen_city.STATIONS, args.batch, start, out))
                   for k in range(args.clients)]
        readers = [mp.Process(target=reader, args=(bases[i % len(bases)], info["communities"],
                                                   kind, pace, args.seconds, start, read_out))
                   for i, (kind, pace) in enumerate((("stats", args.stats_per_second),
                                                     ("ranking", args.rankings_per_second),
                                                     ("export", 1 / args.export_every)))]
        for p in loaders + readers:
            p.start()
        time.sleep(2)
        pg = benchlib.postgres_pids() if isinstance(db, str) else []
        pg_before = {p: benchlib.cpu_seconds([p]) for p in pg}
        hosts_before = benchlib.cpu_seconds(host_pids)
        machine0 = benchlib.machine_cpu()
        waits = benchlib.WaitSampler(db, 0.05) if isinstance(db, str) else contextlib.nullcontext()
        with MemoryWatch(bases) as memory, waits:
            started = time.perf_counter()
            start.set()
            loads = [collect(out, loaders, args.seconds * 3 + 120) for _ in loaders]
            elapsed = time.perf_counter() - started
            machine1 = benchlib.machine_cpu()
            hosts_cpu = benchlib.cpu_seconds(host_pids) - hosts_before
            pg_cpu = sum(t - pg_before.get(p, 0.0) for p, t in
                         ((p, benchlib.cpu_seconds([p])) for p in benchlib.postgres_pids()))
            reads = dict(collect(read_out, readers, 600) for _ in readers)
        for p in loaders + readers:
            p.join()
    after = stored_events(db)
    latencies = [x for r in loads for x in r["latencies"]]
    acked = sum(r["acked"] for r in loads)
    failures = [f for r in loads for f in r["failures"]]
    late = sum(r["late"] for r in loads)
    asked = sum(r["requests"] for r in loads) * args.batch
    print(f"asked {args.rate:,.0f} events/s for {args.seconds:.0f} s ({asked:,} events, "
          f"{args.batch} per request) from {args.clients} processes x {args.connections} "
          f"connections to {args.hosts} host(s) of {args.workers} workers x {args.threads} threads")
    sent = sum(r["sent"] for r in loads)
    print(f"achieved {acked / elapsed:,.0f} events/s ({acked / elapsed / args.rate:.0%} of asked): "
          f"{acked:,} acknowledged in {elapsed:.0f} s; {sent:,} requests sent, "
          f"{late:,} of them >0.1 s late; {len(failures)} failed"
          f"{' (' + failures[0] + ')' if failures else ''}")
    print(summary("device's request", latencies, (50, 99)))
    print(summary("GET /api/v1/stats", reads["stats"], (50, 95)))
    print(summary("community ranking in district", reads["ranking"], (50, 95)))
    print(summary("city-wide community export .csv", reads["export"], (50, 95)))
    print("memory per host (peak RSS): " + ", ".join(f"{m:.0f} MiB" for m in memory.peak))
    busy = (machine1[0] - machine0[0]) / (machine1[1] - machine0[1])
    load_cpu = sum(r["cpu"] for r in loads) / elapsed
    print(f"CPU (cores of {os.cpu_count()}): hosts {hosts_cpu / elapsed:.2f}, "
          + (f"PostgreSQL {pg_cpu / elapsed:.2f}, " if pg else "")
          + f"device load generator {load_cpu:.2f}; machine {busy:.0%} busy")
    if pg:
        print("PostgreSQL backends in a statement: "
              + ", ".join(f"{k} {v:.0%}" for k, v in waits.shares()[:5]))
    added = tuple(a - b for a, b in zip(after, before, strict=True))
    if not (added[0] == added[1] == acked and added[2] >= acked):
        print(f"STORED WRONG: acknowledged {acked}, stored (rows, distinct ids, city today) {added}")
        return 1
    print(f"every acknowledged event stored once ({acked:,}); the city's roll-up of today counts them")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=4000, help="events/s asked (4000)")
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--days", type=int, default=365, help="days of generated roll-ups")
    parser.add_argument("--batch", type=int, default=1, help="events per device request (1)")
    parser.add_argument("--database", metavar="URL",
                        help="PostgreSQL: a server (any database on it) where a scratch database "
                             "is made and dropped; default SQLite in a temporary folder")
    parser.add_argument("--hosts", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--clients", type=int, default=4, help="device load processes")
    parser.add_argument("--connections", type=int, default=32, help="connections per load process")
    parser.add_argument("--stats-per-second", type=float, default=10)
    parser.add_argument("--rankings-per-second", type=float, default=1)
    parser.add_argument("--export-every", type=float, default=30, help="seconds between exports")
    args = parser.parse_args()
    if args.database is not None and not args.database.startswith(("postgresql://", "postgres://")):
        parser.error("--database takes a postgresql:// URL")
    print(f"$ {benchlib.command_line()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if args.database is None:
            return run(Path(tmp) / "city.db", args, Path(tmp))
        with benchlib.scratch_database(args.database, "sortwatch_bench_city") as url:
            return run(url, args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
