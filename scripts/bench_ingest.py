"""Ingest throughput under real gunicorn on loopback.

Posts a fixed number of events in batches from several concurrent client
processes, first to the real POST /api/v1/events (validation, storage and
roll-ups in SQLite), then, in the same run, to an endpoint that only parses
the JSON, and prints events/s, request latency and the ratio of the two.

With --database URL (a PostgreSQL server; a scratch database is made there
for each phase and dropped after it) the same run also measures the
PostgreSQL store behind 1, 2, ... --hosts gunicorn hosts (each --workers x
--threads, all on this machine; client k posts to host k mod hosts), checks
that every event was stored once, and prints each phase's ratio to SQLite
with one host and to the parse-only ceiling, and each host's memory.

    python scripts/bench_ingest.py [--events 200000] [--batch 200] [--clients 4]
    python scripts/bench_ingest.py --database postgresql://root@127.0.0.1:5432/postgres --hosts 3
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

BEIJING = timezone(timedelta(hours=8))


def parse_only_app():
    """The baseline: the same HTTP stack and JSON parsing, no storage."""
    from flask import Flask, request
    app = Flask("parse_only")

    @app.get("/up")
    def up():
        return {"status": "ok"}

    @app.post("/api/v1/events")
    def events():
        body = request.get_json()
        return {"accepted": len(body["events"]), "duplicates": 0, "rejected": []}
    return app


def make_bodies(device: str, station: str, batches: int, batch: int, seed: int) -> list[bytes]:
    base = datetime.now(BEIJING) - timedelta(days=1)
    bodies = []
    n = 0
    for _ in range(batches):
        events = []
        for _ in range(batch):
            n += 1
            events.append({
                "event_id": str(uuid.UUID(int=(seed << 64) + n)), "type": "disposal",
                "ts": (base + timedelta(seconds=n % 80000)).isoformat(timespec="milliseconds"),
                "station_id": station, "bin": ("kitchen", "recyclable", "hazardous", "other")[n % 4],
                "item": "food_waste", "category": "kitchen",
                "verdict": ("correct", "correct", "correct", "wrong", "uncertain")[n % 5],
                "confidence": 0.9, "household": f"hh-{seed}-{n % 3000}", "assisted": n % 17 == 0,
                "model": "waste-effl0-int8@bench", "rules": "beijing@2020.1"})
        bodies.append(json.dumps({"device_id": device, "events": events}).encode())
    return bodies


def client(base: str, token: str, bodies: list[bytes], start, out) -> None:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    start.wait()
    cpu0 = time.process_time()
    latencies, accepted = [], 0
    for body in bodies:
        t0 = time.perf_counter()
        conn.request("POST", "/api/v1/events", body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        latencies.append(time.perf_counter() - t0)
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {payload[:300]!r}")
        accepted += json.loads(payload)["accepted"]
    out.put((latencies, accepted, time.process_time() - cpu0))


def run_load(base: str | list[str], tokens: list[tuple[str, str, str]],
             per_client: list[list[bytes]]) -> dict:
    """Client k posts to base k mod len(bases)."""
    bases = [base] if isinstance(base, str) else base
    start, out = mp.Event(), mp.Queue()
    procs = [mp.Process(target=client, args=(bases[k % len(bases)], token, bodies, start, out))
             for k, ((_, _, token), bodies) in enumerate(zip(tokens, per_client, strict=True))]
    for p in procs:
        p.start()
    time.sleep(0.5)
    machine0 = benchlib.machine_cpu()
    t0 = time.perf_counter()
    start.set()
    results = [out.get() for _ in procs]
    elapsed = time.perf_counter() - t0
    machine1 = benchlib.machine_cpu()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError("a client failed")
    latencies = [x for lat, _, _ in results for x in lat]
    accepted = sum(a for _, a, _ in results)
    return {"elapsed": elapsed, "accepted": accepted, "requests": len(latencies),
            "p50": benchlib.percentile(latencies, 50), "p99": benchlib.percentile(latencies, 99),
            "clients_cpu": sum(c for _, _, c in results) / elapsed,
            "machine_busy": (machine1[0] - machine0[0]) / (machine1[1] - machine0[1])}


def setup_city(db: Path | str, clients: int, folder: Path | None = None) -> list[tuple[str, str, str]]:
    """One community, station and device per client, through the operator
    commands; `db` is a SQLite file or a PostgreSQL URL (then give folder)."""
    regions = (folder or Path(db).parent) / "regions.csv"
    regions.write_text("district_code,district,street_code,street,community_code,community,households\n"
                       + "".join(f"110102,西城区,110102001,西长安街街道,110102001{i:03d},社区{i},3000\n"
                                 for i in range(1, clients + 1)), encoding="utf-8")
    benchlib.flask_cmd(db, "migrate")
    benchlib.flask_cmd(db, "import-regions", str(regions))
    devices = []
    for i in range(1, clients + 1):
        station, device = f"st-bench-{i}", f"dev-bench-{i}"
        benchlib.flask_cmd(db, "add-station", station, "--community", f"110102001{i:03d}",
                           "--household-reader")
        token = benchlib.flask_cmd(db, "add-device", device, "--station", station).strip().splitlines()[-1]
        devices.append((device, station, token))
    return devices


def rate_of(r: dict, batch: int) -> float:
    return r["accepted"] / r["elapsed"] if r["accepted"] else r["requests"] * batch / r["elapsed"]


def report(name: str, r: dict, batch: int) -> float:
    rate = rate_of(r, batch)
    print(f"{name:<28} {rate:>10,.0f} events/s  {r['requests']:>5} requests  "
          f"p50 {r['p50'] * 1000:6.1f} ms  p99 {r['p99'] * 1000:6.1f} ms")
    return rate


def postgres_phase(server_url: str, hosts: int, args, per_client: list[list[bytes]],
                   folder: Path) -> tuple[dict, list[float]]:
    """A scratch database, `hosts` gunicorn hosts on it, the load; the
    result and each host's resident memory after the load (MiB)."""
    with benchlib.scratch_database(server_url, "sortwatch_bench_ingest") as url:
        devices = setup_city(url, args.clients, folder)
        with contextlib.ExitStack() as stack:
            bases = [stack.enter_context(benchlib.gunicorn("server:create_app()", url, args.workers,
                                                           args.threads, log_dir=folder))
                     for _ in range(hosts)]
            hosts_pids = [p for b in bases for p in benchlib.host_pids(int(b.rsplit(":", 1)[1]))]
            pg_before = {p: benchlib.cpu_seconds([p]) for p in benchlib.postgres_pids()}
            hosts_before = benchlib.cpu_seconds(hosts_pids)
            with benchlib.WaitSampler(url) as waits:
                result = run_load(bases, devices, per_client)
            result["waits"] = waits.shares()
            # PostgreSQL backends that started during the load (the pools
            # growing) count whole.
            pg_after = {p: benchlib.cpu_seconds([p]) for p in benchlib.postgres_pids()}
            result["cpu"] = ((benchlib.cpu_seconds(hosts_pids) - hosts_before) / result["elapsed"],
                             sum(t - pg_before.get(p, 0.0) for p, t in pg_after.items())
                             / result["elapsed"])
            memory = [benchlib.rss_mib(benchlib.host_pids(int(b.rsplit(":", 1)[1]))) for b in bases]
        import psycopg
        with psycopg.connect(url) as conn:
            stored = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone()
            counted = conn.execute("SELECT sum(disposals) FROM rollup_period "
                                   "WHERE scope = 'city' AND kind = 'month'").fetchone()[0]
        result["stored"], result["counted"] = stored, counted
    return result, memory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--database", metavar="URL",
                        help="also measure PostgreSQL: a server (any database on it) where a "
                             "scratch database is made for each phase and dropped")
    parser.add_argument("--hosts", type=int, default=3,
                        help="with --database: PostgreSQL behind 1, 2, ... N gunicorn hosts")
    args = parser.parse_args()
    if args.database is not None and not args.database.startswith(("postgresql://", "postgres://")):
        parser.error("--database takes a postgresql:// URL")
    if not 1 <= args.hosts <= 8:
        parser.error("--hosts is 1-8")
    batches = args.events // args.batch // args.clients
    expected = batches * args.batch * args.clients
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        devices = setup_city(db, args.clients)
        per_client = [make_bodies(d, s, batches, args.batch, seed=i + 1)
                      for i, (d, s, _) in enumerate(devices)]
        print(f"$ {benchlib.command_line()}")
        print(f"{args.clients} clients x {batches} batches of {args.batch} events; gunicorn "
              f"{args.workers} workers x {args.threads} threads (gthread) per host; SQLite WAL, "
              f"synchronous=FULL{'; PostgreSQL (server defaults)' if args.database else ''}; "
              f"{os.cpu_count()} cores shared by clients, hosts and database", flush=True)
        with benchlib.gunicorn("server:create_app()", db, args.workers, args.threads) as base:
            full = run_load(base, devices, per_client)
            sqlite_memory = benchlib.rss_mib(benchlib.host_pids(int(base.rsplit(":", 1)[1])))
        if full["accepted"] != expected:
            raise SystemExit(f"stored {full['accepted']} events, expected {expected}")
        pg = []
        if args.database:
            for hosts in range(1, args.hosts + 1):
                result, memory = postgres_phase(args.database, hosts, args, per_client, Path(tmp))
                if (result["accepted"], result["stored"], result["counted"]) \
                        != (expected, (expected, expected), expected):
                    raise SystemExit(f"PostgreSQL with {hosts} hosts: accepted {result['accepted']}, "
                                     f"stored (rows, distinct ids) {result['stored']}, counted "
                                     f"{result['counted']}; expected {expected} each")
                pg.append((hosts, result, memory))
        with benchlib.gunicorn("bench_ingest:parse_only_app()", db, args.workers, args.threads,
                               chdir=Path(__file__).resolve().parent) as base:
            parse = run_load(base, devices, per_client)
        full_rate = report("ingest with roll-ups", full, args.batch)
        parse_rate = report("parse-only baseline", parse, args.batch)
        print(f"ratio ingest / parse-only: {full_rate / parse_rate:.2f} "
              f"(storage, validation and roll-ups cost {1 - full_rate / parse_rate:.0%} of the "
              "HTTP+JSON budget)")
        if pg:
            print(f"{'':28} {'events/s':>10}  {'/ SQLite':>8}  {'/ parse-only':>12}  memory per host")
            rows = [("SQLite, 1 host", full_rate, [sqlite_memory])]
            rows += [(f"PostgreSQL, {h} host{'s' if h > 1 else ''}", rate_of(r, args.batch), m)
                     for h, r, m in pg]
            for name, rate, memory in rows:
                print(f"{name:<28} {rate:>10,.0f}  {rate / full_rate:>8.2f}  "
                      f"{rate / parse_rate:>12.2f}  "
                      + ", ".join(f"{x:.0f} MiB" for x in memory))
            for h, r, _ in pg:
                report(f"PostgreSQL {h} host{'s' if h > 1 else ''}", r, args.batch)
                print(f"{'':28} CPU during the load: hosts {r['cpu'][0]:.2f} cores, "
                      f"PostgreSQL {r['cpu'][1]:.2f} cores, clients {r['clients_cpu']:.2f} cores; "
                      f"machine {r['machine_busy']:.0%} busy (of {os.cpu_count()} cores)")
                print(f"{'':28} the hosts' PostgreSQL backends while in a statement: "
                      + ", ".join(f"{k} {v:.0%}" for k, v in r["waits"][:5]))
            print(f"every PostgreSQL phase stored and counted each of its {expected} events once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
