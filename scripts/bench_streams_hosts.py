"""How many tablet streams does one host hold, with prompts from another
host? Two real gunicorn hosts (gunicorn.conf.py) on one PostgreSQL database,
on loopback:

- host A serves the tablets: N streams (GET /station/<id>/stream,
  server-sent events over raw sockets read by one selector thread), one per
  station, as at real stations; it also serves one device client that posts
  batches of 10 disposals in a closed loop (is ingest still served?);
- host B ingests: --rate disposals a second, each to the station of one
  open stream in turn; the prompt latency is the time from host B's answer
  to the device until host A's stream delivers that event.

For each N of --streams (one after the other, the streams of one step
closed before the next) it prints the streams open and refused (503 beyond
the slots of gunicorn.conf.py), prompts delivered and their p50/p95/max,
host A's ingest request p50/p95 while the tablets are connected, host A's
CPU (share of one core) and memory (RSS of master and workers), then the
command line.

A scratch database is made on the server of --database URL and dropped at
the end.
Bounded: --seconds per step, at most 3,000 streams, loopback only.

    python scripts/bench_streams_hosts.py [--streams 100,384,1000] [--seconds 10]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import selectors
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from bench_streams import disposal, login, setup  # noqa: E402

sys.path.insert(0, str(benchlib.ROOT))
ADMIN_URL = os.environ.get("SORTWATCH_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/postgres")
EVENT_ID = re.compile(rb'"event_id": "([0-9a-f-]{36})"')


def established(port: int) -> int:
    """Connections to this local port that are open now (Linux /proc/net/tcp)."""
    count, hexport = 0, f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    local, state = line.split()[1], line.split()[3]
                    count += local.endswith(hexport) and state == "01"
        except OSError:
            continue
    return count


class Tablets:
    """N open SSE connections, read by one thread; when each event id was
    first read, over all of them."""

    def __init__(self, host: str, port: int, cookie: str, stations: list[str]):
        self.sel = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.open_stations: list[str] = []
        self.refused = self.closed = 0
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()
        self.socks = []
        for station in stations:
            sock = socket.create_connection((host, port), timeout=30)
            sock.sendall((f"GET /station/{station}/stream HTTP/1.1\r\nHost: {host}\r\n"
                          f"Cookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n").encode())
            sock.setblocking(False)
            self.socks.append(sock)
            self.sel.register(sock, selectors.EVENT_READ,
                              {"station": station, "head": True, "buf": b""})
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    @property
    def answered(self) -> int:
        return len(self.open_stations) + self.refused

    def _read(self):
        while not self.stop.is_set():
            for key, _ in self.sel.select(timeout=0.2):
                state = key.data
                try:
                    data = key.fileobj.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.sel.unregister(key.fileobj)
                    self.closed += 1
                    continue
                now = time.monotonic()
                buf = state["buf"] + data
                if state["head"]:
                    if b"\r\n\r\n" not in buf:
                        state["buf"] = buf
                        continue
                    state["head"] = False
                    with self.lock:
                        if buf.startswith(b"HTTP/1.1 200"):
                            self.open_stations.append(state["station"])
                        else:
                            self.refused += 1
                    buf = buf.split(b"\r\n\r\n", 1)[1]
                for m in EVENT_ID.finditer(buf):
                    self.seen.setdefault(m.group(1).decode(), now)
                state["buf"] = buf[-80:]   # an id split between two reads

    def close(self):
        self.stop.set()
        self.thread.join(2)
        for s in self.socks:
            s.close()


def post(conn: http.client.HTTPConnection, token: str, body: dict) -> None:
    conn.request("POST", "/api/v1/events", json.dumps(body),
                 {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    r = conn.getresponse()
    payload = r.read()
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {payload[:300]!r}")


def step(a: tuple[str, int], b: tuple[str, int], tokens: dict, cookie: str, n: int,
         seconds: float, rate: float) -> dict:
    tablet_stations = [s for s in tokens if s.startswith("tab-")][:n]
    pids = benchlib.host_pids(a[1])
    t_open = time.monotonic()
    tablets = Tablets(a[0], a[1], cookie, tablet_stations)
    deadline = time.monotonic() + 60
    while tablets.answered < n and time.monotonic() < deadline:
        time.sleep(0.05)
    open_s = time.monotonic() - t_open
    if not tablets.open_stations:
        tablets.close()
        raise RuntimeError(f"no stream of {n} opened ({tablets.refused} refused)")
    # Each stream takes its cursor when it starts: let the last ones start.
    time.sleep(1.0)
    stop = threading.Event()
    sent: dict[str, float] = {}
    ingest_lat: list[float] = []

    def prober():
        conn = http.client.HTTPConnection(*b, timeout=30)
        k, period, nxt = 0, 1.0 / rate, time.monotonic()
        while not stop.is_set():
            station = tablets.open_stations[k % len(tablets.open_stations)]
            k += 1
            ev = disposal(station, wrong=k % 3 == 0)
            post(conn, tokens[station], {"device_id": f"dev-{station}", "events": [ev]})
            sent[ev["event_id"]] = time.monotonic()
            nxt += period
            stop.wait(max(0.0, nxt - time.monotonic()))
        conn.close()

    def device():
        conn = http.client.HTTPConnection(*a, timeout=30)
        station = "st-000"
        while not stop.is_set():
            t0 = time.perf_counter()
            post(conn, tokens[station], {"device_id": f"dev-{station}",
                                         "events": [disposal(station) for _ in range(10)]})
            ingest_lat.append(time.perf_counter() - t0)
        conn.close()

    threads = [threading.Thread(target=prober), threading.Thread(target=device)]
    cpu0, t0 = benchlib.cpu_seconds(pids), time.monotonic()
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join()
    cpu = (benchlib.cpu_seconds(pids) - cpu0) / (time.monotonic() - t0)
    memory = benchlib.rss_mib(pids)
    # The last prompts: a wait for them, bounded (a prompt later than 3 s
    # counts as not delivered).
    last = max(sent.values()) if sent else time.monotonic()
    while time.monotonic() < last + 3 and not all(i in tablets.seen for i in sent):
        time.sleep(0.05)
    delays = [tablets.seen[i] - t for i, t in sent.items() if i in tablets.seen]
    out = {"n": n, "open": len(tablets.open_stations), "refused": tablets.refused,
           "dropped": tablets.closed, "open_s": open_s, "sent": len(sent),
           "delivered": len(delays), "within_1s": sum(d <= 1.0 for d in delays),
           "p50": benchlib.percentile(delays, 50), "p95": benchlib.percentile(delays, 95),
           "max": max(delays) if delays else float("nan"),
           "ingest_n": len(ingest_lat), "ingest_p50": benchlib.percentile(ingest_lat, 50),
           "ingest_p95": benchlib.percentile(ingest_lat, 95), "cpu": cpu, "rss": memory,
           "processes": len(pids)}
    tablets.close()
    # The next step starts once host A has let these streams go (each
    # notices its tablet's hang-up at its next poll).
    deadline = time.monotonic() + 15
    while established(a[1]) > 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", default="100,384,1000",
                        help="comma-separated stream counts, one step each")
    parser.add_argument("--seconds", type=float, default=10.0, help="of load per step")
    parser.add_argument("--rate", type=float, default=10.0,
                        help="disposals/s ingested on host B for the tablets' stations")
    parser.add_argument("--workers", type=int, default=2, help="host A's (gunicorn.conf.py: 2)")
    parser.add_argument("--threads", type=int, default=1700,
                        help="host A's per worker (gunicorn.conf.py: 1700, of which 3/4 stream)")
    parser.add_argument("--worker-connections", type=int,
                        help="host A's gunicorn worker_connections (gunicorn.conf.py: threads + 200)")
    parser.add_argument("--database", default=ADMIN_URL, metavar="URL",
                        help="a PostgreSQL server (any database on it); a scratch "
                             "database is made there and dropped")
    args = parser.parse_args()
    counts = [int(x) for x in args.streams.split(",") if x.strip()]
    if not counts or not all(1 <= c <= 3000 for c in counts) or not 1 <= args.seconds <= 120 \
            or not 0.5 <= args.rate <= 200:
        parser.error("--streams are 1-3000 each, --seconds 1-120, --rate 0.5-200")

    connections = args.worker_connections or args.threads + 200
    results = []
    with benchlib.scratch_database(args.database, "sortwatch_bench_streams") as url:
        tokens = setup(url, max(counts))
        with tempfile.TemporaryDirectory() as tmp, \
                benchlib.gunicorn("server:create_app()", url, workers=args.workers,
                                  threads=args.threads, log_dir=Path(tmp),
                                  extra_env={"GUNICORN_CMD_ARGS":
                                             f"--worker-connections {connections}"}
                                  ) as base_a, \
                benchlib.gunicorn("server:create_app()", url, workers=1, threads=8,
                                  log_dir=Path(tmp)) as base_b:
            a = base_a.removeprefix("http://").split(":")
            b = base_b.removeprefix("http://").split(":")
            a, b = (a[0], int(a[1])), (b[0], int(b[1]))
            cookie = login(*a)
            slots = max(1, int(args.threads * 0.75))
            print(f"host A: gunicorn gthread {args.workers} workers x {args.threads} threads "
                  f"({args.workers} x {slots} = {args.workers * slots} stream slots), "
                  f"worker_connections {connections}; host B ingests "
                  f"{args.rate:g} disposals/s for the tablets' stations; PostgreSQL; "
                  f"{args.seconds:g} s per step; {os.cpu_count()} cores shared with "
                  "the client and the database", flush=True)
            for n in counts:
                results.append(step(a, b, tokens, cookie, n, args.seconds, args.rate))
                r = results[-1]
                print(f"  {n} streams: {r['open']} open, {r['refused']} refused "
                      f"(in {r['open_s']:.1f} s)", flush=True)
        from server.store import postgres
        postgres.close_pools()

    print(f"{'asked':>6}{'open':>6}{'503':>6}{'prompts':>9}{'<=1s':>7}{'p50 ms':>8}{'p95 ms':>8}"
          f"{'max ms':>8}{'ingest p50':>11}{'p95 ms':>8}{'CPU A':>7}{'RSS A MiB':>10}")
    for r in results:
        print(f"{r['n']:>6}{r['open']:>6}{r['refused']:>6}{r['delivered']:>5}/{r['sent']:<3}"
              f"{r['within_1s']:>7}{1000 * r['p50']:>8.0f}{1000 * r['p95']:>8.0f}"
              f"{1000 * r['max']:>8.0f}{1000 * r['ingest_p50']:>11.1f}{1000 * r['ingest_p95']:>8.1f}"
              f"{100 * r['cpu']:>6.0f}%{r['rss']:>10.0f}")
    print("prompt: from host B's answer to the device until host A's stream delivered the "
          "event; ingest: host A's POST of 10 disposals while the tablets are connected; "
          "CPU A: host A's processes, share of one core")
    print("command:", benchlib.command_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
