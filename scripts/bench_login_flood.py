"""Does a login flood slow ingest? Ingest latency under real gunicorn, quiet and
during a flood of wrong passwords, in one run.

A station posts batches of events back to back while `--flooders` threads post
wrong passwords for random usernames, each from a random client address (the
server trusts X-Forwarded-For here, as it does behind the project's nginx), so
the per-username and per-address throttle never sees the same key twice: the
worst case, a distributed flood, where every attempt would reach the password
hash (scrypt, about 0.1 s of CPU each). It runs twice: with the per-process
budget of password checks off (SORTWATCH_LOGIN_CHECKS_PER_SECOND=0), then at
the default, and prints the p50/p95 of ingest in each phase and the ratios.
For reference it also floods GET /up, the cheapest route: what any flood of
requests at that rate costs two cores, whatever it asks for.

With --proxy the same floods go through the project's nginx
(deploy/nginx/sortwatch.conf), each connection from its own loopback address
(127.x.y.z, so nginx's per-address limit sees many clients), at the default
budget, in two layouts measured in one run: one pool for everything, and the
deployed layout of two pools, devices' and people's, the people's niced
(SORTWATCH_NICE=10), and the same two pools each kept to a CPU of its own
(sched_setaffinity), as two hosts would be but for the caches and memory
they still share; and last the deployed host (nginx and both pools) on one
CPU with the clients (the measuring device, and the flooder niced below it)
on the other, as a host and the network in front of it would be. Ingest goes
through nginx too.

    python scripts/bench_login_flood.py [--seconds 8] [--flooders 16] [--proxy]
"""
from __future__ import annotations

import argparse
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
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts import benchlib  # noqa: E402
from scripts.nginx_front import nginx_in_front  # noqa: E402

BEIJING = timezone(timedelta(hours=8))
REGIONS = ("district_code,district,street_code,street,community_code,community,households\n"
           "110102,西城区,110102001,西长安街街道,110102001001,三里河社区,1000\n")


def register(folder: Path) -> tuple[Path, str]:
    db = folder / "flood.db"
    (folder / "regions.csv").write_text(REGIONS, encoding="utf-8")
    benchlib.flask_cmd(db, "import-regions", str(folder / "regions.csv"))
    benchlib.flask_cmd(db, "add-station", "st-a", "--community", "110102001001")
    token = benchlib.flask_cmd(db, "add-device", "dev-a", "--station", "st-a").strip().splitlines()[-1]
    benchlib.flask_cmd(db, "add-user", "sanlihe", "--role", "community", "--scope", "110102001001",
                       stdin="a-real-password-1\n")
    return db, token


def batch(n: int) -> bytes:
    now = datetime.now(BEIJING).isoformat(timespec="milliseconds")
    events = [{"event_id": str(uuid.uuid4()), "type": "disposal", "ts": now, "station_id": "st-a",
               "bin": "kitchen", "item": "food_waste", "category": "kitchen", "verdict": "correct",
               "confidence": 0.9, "household": None, "assisted": False,
               "model": "waste-effl0-int8@bench", "rules": "beijing@2020.1"} for _ in range(n)]
    return json.dumps({"device_id": "dev-a", "events": events}).encode()


def ingest_latencies(base: str, token: str, seconds: float, size: int) -> list[float]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    out, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = batch(size)
        start = time.perf_counter()
        conn.request("POST", "/api/v1/events", body, headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"ingest answered {response.status}")
        out.append(time.perf_counter() - start)
        time.sleep(0.02)
    conn.close()
    return out


def _flood_thread(base: str, path: str, seed: int, stop, counts, spread: bool) -> None:
    """Requests for `path` as fast as they are answered, each from a random
    client address: in X-Forwarded-For straight to the server, or (`spread`,
    through the proxy) as the connection's own loopback source address, five
    requests per connection."""
    rng = random.Random(seed)
    host, port = base.removeprefix("http://").split(":")
    conn, sent = None, 0
    while not stop.is_set():
        address = ".".join(str(rng.randrange(1, 255)) for _ in range(4))
        if conn is None or (spread and sent >= 5):
            if conn is not None:
                conn.close()
            source = ("127." + address.split(".", 1)[1], 0) if spread else None
            conn, sent = http.client.HTTPConnection(host, int(port), timeout=30, source_address=source), 0
        headers = {} if spread else {"X-Forwarded-For": address}
        try:
            if path == "/up":
                conn.request("GET", "/up", headers=headers)
            else:
                body = json.dumps({"username": f"u{rng.getrandbits(40):x}", "password": "guess"})
                conn.request("POST", path, body.encode(), {"Content-Type": "application/json", **headers})
            response = conn.getresponse()
            response.read()
            sent += 1
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = None
            continue
        counts[response.status] = counts.get(response.status, 0) + 1
    if conn is not None:
        conn.close()


def _flood_process(base: str, path: str, n: int, spread: bool, cpus, nice: int, stop, results) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)
    os.nice(nice)
    counts: dict[int, int] = {}  # updated under the GIL, one key at a time
    threads = [threading.Thread(target=_flood_thread, args=(base, path, i, stop, counts, spread))
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(counts)


class Flood:
    """`n` threads in another process (so that they do not share the
    measuring thread's interpreter) sending `path` as fast as it answers."""

    def __init__(self, base: str, path: str, n: int, spread: bool = False, cpus: set[int] | None = None,
                 nice: int = 0):
        self.stop, self.results = mp.Event(), mp.Queue()
        self.process = mp.Process(target=_flood_process,
                                  args=(base, path, n, spread, cpus, nice, self.stop, self.results))
        self.statuses: dict[int, int] = {}

    def __enter__(self):
        self.process.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.statuses = self.results.get(timeout=60)
        self.process.join()


def summary(values: list[float]) -> str:
    return (f"p50 {benchlib.percentile(values, 50) * 1000:6.1f} ms  "
            f"p95 {benchlib.percentile(values, 95) * 1000:6.1f} ms  ({len(values)} batches)")


def phases(label: str, base: str, token: str, args, spread: bool = False,
           processes: dict[str, list[int]] | None = None, flood_cpus: set[int] | None = None,
           flood_nice: int = 0) -> None:
    """Ingest quiet, then beside a login flood and a /up flood; one line each,
    with the CPU each of `processes` (name: pids) and the flooder used during
    the flood, in cores (CPU seconds per second). `flood_cpus` keeps the
    flooder on those CPUs, at `flood_nice`."""
    processes = processes or {}
    ingest_latencies(base, token, 1.0, args.batch)  # warm every worker
    quiet = ingest_latencies(base, token, args.seconds, args.batch)
    print(f"{label:15s} quiet        {summary(quiet)}")
    for path in ("/api/v1/login", "/up"):
        with Flood(base, path, args.flooders, spread, flood_cpus, flood_nice) as flood:
            time.sleep(0.5)
            groups = {**processes, "flooder": [flood.process.pid]}
            cpu_before = {name: benchlib.cpu_seconds(pids) for name, pids in groups.items()}
            started = time.monotonic()
            flooded = ingest_latencies(base, token, args.seconds, args.batch)
            took = time.monotonic() - started
            cores = {name: (benchlib.cpu_seconds(pids) - cpu_before[name]) / took
                     for name, pids in groups.items()}
        ratio = benchlib.percentile(flooded, 95) / benchlib.percentile(quiet, 95)
        answers = ", ".join(f"{n} x {status}" for status, n in sorted(flood.statuses.items()))
        rate = sum(flood.statuses.values()) / (took + 0.5)
        print(f"{label:15s} {path + ' flood':<15s} {summary(flooded)}  p95 ratio {ratio:.2f}"
              f"  [{answers}; {rate:,.0f}/s]", flush=True)
        print(f"{'':15s} {'':15s} cores: " + ", ".join(f"{name} {used:.2f}" for name, used in cores.items()),
              flush=True)


# gunicorn.conf.py's default: a pool of 8 threads behind nginx queues ingest
# behind the logins being hashed, which no deployment does.
DEPLOYED_THREADS = 1700


def pin(pids: list[int], cpus: set[int]) -> None:
    """Every thread of these processes, and the threads they start later, on `cpus`."""
    for pid in pids:
        for tid in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(tid), cpus)


def pool_pids(base: str) -> list[int]:
    return benchlib.host_pids(int(base.rsplit(":", 1)[1]))


def nginx_pids(folder: Path) -> list[int]:
    return benchlib.process_tree(int((folder / "nginx.pid").read_text()))


def direct(db: Path, token: str, args) -> None:
    for label, budget in (("no budget", "0"), ("default budget", None)):
        env = {"SORTWATCH_TRUSTED_PROXIES": 1}
        if budget is not None:
            env["SORTWATCH_LOGIN_CHECKS_PER_SECOND"] = budget
        with benchlib.gunicorn("server:create_app()", db, workers=2, threads=8, extra_env=env) as base:
            phases(label, base, token, args, processes={"server": pool_pids(base)})


@contextmanager
def two_pools(db: Path, folder: Path, people_nice: int = 10):
    """The devices' and the people's pools behind nginx; yields (base URL, {name: pids})."""
    env = {"SORTWATCH_TRUSTED_PROXIES": 1}
    with benchlib.gunicorn("server:create_app()", db, workers=2, threads=DEPLOYED_THREADS, extra_env=env) as devices, \
            benchlib.gunicorn("server:create_app()", db, workers=2, threads=DEPLOYED_THREADS,
                              extra_env={**env, "SORTWATCH_NICE": people_nice}) as people, \
            nginx_in_front(people, folder, devices=devices) as base:
        yield base, {"nginx": nginx_pids(folder), "devices": pool_pids(devices), "people": pool_pids(people)}


def proxied(db: Path, token: str, args, folder: Path) -> None:
    env = {"SORTWATCH_TRUSTED_PROXIES": 1}
    with benchlib.gunicorn("server:create_app()", db, workers=2, threads=DEPLOYED_THREADS, extra_env=env) as one, \
            nginx_in_front(one, folder / "one") as base:
        phases("one pool", base, token, args, spread=True,
               processes={"nginx": nginx_pids(folder / "one"), "server": pool_pids(one)})
    with two_pools(db, folder / "two") as (base, processes):
        phases("two pools", base, token, args, spread=True, processes=processes)
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        print("own CPUs: skipped, this machine lets the benchmark use one CPU")
        return
    # The two pools each kept to a CPU of its own, as two hosts would be, but
    # sharing the machine's caches and memory; the flood's sender shares the
    # people's CPU, as it would share nothing with the devices' host.
    with two_pools(db, folder / "own", people_nice=0) as (base, processes):
        pin(processes["devices"], {cpus[0]})
        pin(processes["people"], {cpus[1]})
        phases("own CPUs", base, token, args, spread=True, flood_cpus={cpus[1]}, processes=processes)
    # The deployed host (nginx and both pools, the people's niced) on one CPU,
    # and everything that stands for the network on the other: the measuring
    # device and the flooder, niced below the device so that what is measured
    # is the host's answer, not the flooder's machine starving the device.
    with two_pools(db, folder / "host") as (base, processes):
        for pids in processes.values():
            pin(pids, {cpus[0]})
        mine = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {cpus[1]})
        try:
            phases("host on 1 CPU", base, token, args, spread=True, flood_cpus={cpus[1]}, flood_nice=19,
                   processes=processes)
        finally:
            os.sched_setaffinity(0, mine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each phase")
    parser.add_argument("--flooders", type=int, default=16, help="threads posting wrong passwords")
    parser.add_argument("--batch", type=int, default=50, help="events per ingest request")
    parser.add_argument("--proxy", action="store_true",
                        help="through nginx, one pool against the deployed two pools")
    args = parser.parse_args()
    print(benchlib.command_line())
    with tempfile.TemporaryDirectory() as tmp:
        db, token = register(Path(tmp))
        if args.proxy:
            proxied(db, token, args, Path(tmp))
        else:
            direct(db, token, args)


if __name__ == "__main__":
    main()
