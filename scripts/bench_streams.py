"""Do 200 open tablet streams slow ingest or pages? Measured under real
gunicorn (gunicorn.conf.py) on loopback over a temporary SQLite file.

In one run, phases of the same load alternate, without and with N tablets
connected to GET /station/<id>/stream (server-sent events over raw sockets,
held open by one reader thread), --rounds times each, so that a drift in the
machine's background load hits both sides alike:

- ingest: device clients post batches of disposals to 20 stations in a
  closed loop (keep-alive connections); events/s and request latency;
- pages: one logged-in person loads a community dashboard again and again;
  page latency;
- idle: the server's CPU time over 5 s with nothing to do, without and with
  the N tablets connected (what holding the streams open costs by itself);
- tablets (with streams): one tablet per station, as at a real station; their
  stations get 10 disposals a second between them (a busy peak hour), which
  the streams push; a probe tablet on its own station gets an event every
  half second, and the time until its stream delivers it is measured.

Prints both sides, the ratios (with / without streams) and the command line.
Bounded: --seconds per phase, --rounds, --streams connections, loopback only.

    python scripts/bench_streams.py [--streams 200] [--seconds 10] [--rounds 2]
"""
from __future__ import annotations

import argparse
import http.client
import json
import re
import selectors
import socket
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

sys.path.insert(0, str(benchlib.ROOT))
BEIJING = timezone(timedelta(hours=8))
STATIONS = 20
PASSWORD = "bench-password-1"
DISTRICT, STREET = "110102", "110102001"


def setup(db: Path, tablets: int) -> dict[str, str]:
    """Ten communities; STATIONS stations that the ingest load posts to,
    one station per tablet and a probe station, each with its device; a city
    user. Straight through the store (an operator would use the commands;
    the result is the same rows)."""
    from server import store as store_pkg
    from server.auth import hash_password, hash_token, new_device_token
    store_pkg.migrate(db)
    s = store_pkg.connect(db)
    now = datetime.now(UTC).isoformat()
    s.import_regions([{"district_code": DISTRICT, "district": "西城区", "street_code": STREET,
                       "street": "西长安街街道", "community_code": f"{STREET}{i:03d}",
                       "community": f"社区{i}", "households": 1000} for i in range(1, 11)])
    ids = ([f"st-{i:03d}" for i in range(STATIONS)] + [f"tab-{i:03d}" for i in range(tablets)]
           + ["st-probe"])
    s.add_stations([{"id": sid, "community_code": f"{STREET}{(i % 10) + 1:03d}", "name": sid,
                     "bins": ["kitchen", "recyclable", "hazardous", "other"],
                     "household_reader": True,
                     "staffed_windows": [["07:00", "09:00"], ["18:00", "21:00"]],
                     "created_at": now} for i, sid in enumerate(ids)])
    tokens = {}
    for sid in ids:
        token = new_device_token()
        s.add_device(f"dev-{sid}", sid, hash_token(token), now)
        tokens[sid] = token
    s.add_user({"username": "bench", "password_hash": hash_password(PASSWORD), "role": "city",
                "scope": "", "created_at": now})
    s.close()
    return tokens


def server_pids(db: Path) -> list[int]:
    """The gunicorn master and workers serving this run's database."""
    import os
    mark = f"SORTWATCH_DATABASE={db}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if mark in f.read().split(b"\0"):
                        with open(f"/proc/{entry}/cmdline", "rb") as c:
                            if b"gunicorn" in c.read():
                                pids.append(int(entry))
            except OSError:
                continue
    return pids


def idle_cpu(pids: list[int], seconds: float) -> float:
    """Share of one core the server uses while nobody sends anything."""
    before, t0 = benchlib.cpu_seconds(pids), time.monotonic()
    time.sleep(seconds)
    return (benchlib.cpu_seconds(pids) - before) / (time.monotonic() - t0)


def login(host: str, port: int) -> str:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("POST", "/api/v1/login", json.dumps({"username": "bench", "password": PASSWORD}),
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    assert r.status == 200, r.status
    cookie = r.getheader("Set-Cookie").split(";", 1)[0]
    conn.close()
    return cookie


def disposal(station: str, wrong: bool = False) -> dict:
    return {"event_id": str(uuid.uuid4()), "type": "disposal",
            "ts": datetime.now(BEIJING).isoformat(timespec="milliseconds"),
            "station_id": station, "bin": "other" if wrong else "hazardous", "item": "battery",
            "category": "hazardous", "verdict": "wrong" if wrong else "correct",
            "confidence": 0.9, "household": f"hh-{uuid.uuid4().hex[:6]}", "assisted": False,
            "model": "waste-effl0-int8@bench", "rules": "beijing@2020.1"}


class Streams:
    """N open SSE connections read by one thread with a selector."""

    def __init__(self, host, port, cookie, stations, n, probe=None):
        self.host, self.port, self.cookie = host, port, cookie
        self.sel = selectors.DefaultSelector()
        self.open = self.refused = self.events = 0
        self.bytes = 0
        self.stop = threading.Event()
        self.probe_seen: dict[str, float] = {}
        self.socks = []
        for i in range(n):
            self._connect(stations[i % len(stations)])
        if probe:
            self._connect(probe, probe=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _connect(self, station, probe=False):
        sock = socket.create_connection((self.host, self.port), timeout=10)
        sock.sendall((f"GET /station/{station}/stream HTTP/1.1\r\nHost: {self.host}\r\n"
                      f"Cookie: {self.cookie}\r\nAccept: text/event-stream\r\n\r\n").encode())
        sock.setblocking(False)
        self.socks.append(sock)
        self.sel.register(sock, selectors.EVENT_READ, {"station": station, "probe": probe,
                                                       "head": True, "buf": b""})

    def _read(self):
        ids = re.compile(rb'"event_id": "([0-9a-f-]{36})"')
        while not self.stop.is_set():
            for key, _ in self.sel.select(timeout=0.2):
                state = key.data
                try:
                    data = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                if not data:
                    self.sel.unregister(key.fileobj)
                    continue
                now = time.monotonic()
                self.bytes += len(data)
                if state["head"]:
                    state["buf"] += data
                    if b"\r\n\r\n" not in state["buf"]:
                        continue
                    state["head"] = False
                    if state["buf"].startswith(b"HTTP/1.1 200"):
                        self.open += 1
                    else:
                        self.refused += 1
                    data = state["buf"].split(b"\r\n\r\n", 1)[1]
                    state["buf"] = b""
                self.events += data.count(b"event: disposal")
                if state["probe"]:
                    for m in ids.finditer(data):
                        self.probe_seen.setdefault(m.group(1).decode(), now)

    def close(self):
        self.stop.set()
        self.thread.join(2)
        for s in self.socks:
            s.close()


def run_phase(host, port, tokens, cookie, seconds, clients, batch, probe=None):
    stop = threading.Event()
    ingest_lat, page_lat, posted, tablet_posted = [], [], [0], [0]
    probe_sent: dict[str, float] = {}
    lock = threading.Lock()
    stations = [s for s in tokens if s.startswith("st-") and s != "st-probe"]
    tablets = [s for s in tokens if s.startswith("tab-")]

    def device(k):
        conn = http.client.HTTPConnection(host, port, timeout=30)
        station = stations[k % len(stations)]
        headers = {"Content-Type": "application/json",
                   "Authorization": f"Bearer {tokens[station]}"}
        while not stop.is_set():
            body = json.dumps({"device_id": f"dev-{station}",
                               "events": [disposal(station, wrong=i % 5 == 0)
                                          for i in range(batch)]})
            t0 = time.perf_counter()
            conn.request("POST", "/api/v1/events", body, headers)
            r = conn.getresponse()
            r.read()
            dt = time.perf_counter() - t0
            assert r.status == 200, r.status
            with lock:
                ingest_lat.append(dt)
                posted[0] += batch

    def person():
        conn = http.client.HTTPConnection(host, port, timeout=30)
        while not stop.is_set():
            t0 = time.perf_counter()
            conn.request("GET", f"/dashboard/{STREET}001", headers={"Cookie": cookie})
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
            page_lat.append(time.perf_counter() - t0)

    def prober():
        conn = http.client.HTTPConnection(host, port, timeout=30)
        headers = {"Content-Type": "application/json",
                   "Authorization": f"Bearer {tokens['st-probe']}"}
        while not stop.wait(0.5):
            ev = disposal("st-probe", wrong=True)
            conn.request("POST", "/api/v1/events",
                         json.dumps({"device_id": "dev-st-probe", "events": [ev]}), headers)
            r = conn.getresponse()
            r.read()
            probe_sent[ev["event_id"]] = time.monotonic()

    def tablet_traffic():
        # 10 disposals a second spread over the tablets' stations.
        conn = http.client.HTTPConnection(host, port, timeout=30)
        k = 0
        while not stop.wait(0.1):
            station = tablets[k % len(tablets)]
            k += 7
            conn.request("POST", "/api/v1/events",
                         json.dumps({"device_id": f"dev-{station}",
                                     "events": [disposal(station, wrong=k % 3 == 0)]}),
                         {"Content-Type": "application/json",
                          "Authorization": f"Bearer {tokens[station]}"})
            r = conn.getresponse()
            r.read()
            with lock:
                tablet_posted[0] += 1

    threads = [threading.Thread(target=device, args=(k,)) for k in range(clients)]
    threads.append(threading.Thread(target=person))
    if probe is not None:
        threads.append(threading.Thread(target=prober))
        threads.append(threading.Thread(target=tablet_traffic))
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    out = {"posted": posted[0], "elapsed": elapsed, "ingest": ingest_lat, "pages": page_lat}
    if probe is not None:
        time.sleep(1.5)  # let the last probes arrive
        out["probes"] = len(probe_sent)
        out["tablet_posted"] = tablet_posted[0] + len(probe_sent)
        out["delays"] = [probe.probe_seen[i] - t for i, t in probe_sent.items()
                         if i in probe.probe_seen]
    return out


def summary(phases: list[dict]) -> dict:
    """Phases of one side pooled: total throughput, latency percentiles."""
    ingest = [x for p in phases for x in p["ingest"]]
    pages = [x for p in phases for x in p["pages"]]
    out = {"events_per_s": sum(p["posted"] for p in phases) / sum(p["elapsed"] for p in phases),
           "ingest_p50_ms": 1000 * benchlib.percentile(ingest, 50),
           "ingest_p95_ms": 1000 * benchlib.percentile(ingest, 95),
           "page_p50_ms": 1000 * benchlib.percentile(pages, 50),
           "page_p95_ms": 1000 * benchlib.percentile(pages, 95)}
    if "delays" in phases[0]:
        delays = [x for p in phases for x in p["delays"]]
        out.update(probes=sum(p["probes"] for p in phases), delivered=len(delays),
                   delivery_p50_ms=1000 * benchlib.percentile(delays, 50),
                   delivery_max_ms=1000 * max(delays) if delays else float("nan"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=200, help="tablets, one per station")
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase")
    parser.add_argument("--rounds", type=int, default=2, help="phases per side, alternating")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=256,
                        help="per worker (gunicorn.conf.py's default)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent device clients")
    parser.add_argument("--batch", type=int, default=10, help="events per request")
    args = parser.parse_args()
    if not 1 <= args.streams <= 1000 or not 1 <= args.seconds <= 120 or not 1 <= args.rounds <= 5:
        parser.error("--streams is 1-1000, --seconds 1-120 and --rounds 1-5")

    without, with_streams, opened, refused, pushed, for_tablets = [], [], [], [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "streams.db"
        tokens = setup(db, args.streams)
        with benchlib.gunicorn("server:create_app()", db, workers=args.workers,
                               threads=args.threads) as base:
            host, port = base[len("http://"):].split(":")
            port = int(port)
            cookie = login(host, port)
            tablets = [s for s in tokens if s.startswith("tab-")]
            print(f"gunicorn gthread: {args.workers} workers x {args.threads} threads; "
                  f"{args.clients} device clients x {args.batch} events/request; "
                  f"{args.rounds} x {args.seconds:.0f} s per side", flush=True)
            pids = server_pids(db)
            idle_without = idle_cpu(pids, 5)
            streams = Streams(host, port, cookie, tablets, args.streams, probe="st-probe")
            time.sleep(2)
            idle_with = idle_cpu(pids, 5)
            streams.close()
            time.sleep(1)
            for _ in range(args.rounds):
                without.append(run_phase(host, port, tokens, cookie, args.seconds, args.clients,
                                         args.batch))
                streams = Streams(host, port, cookie, tablets, args.streams, probe="st-probe")
                deadline = time.monotonic() + 30
                while streams.open + streams.refused < args.streams + 1 \
                        and time.monotonic() < deadline:
                    time.sleep(0.1)
                opened.append(streams.open)
                refused.append(streams.refused)
                with_streams.append(run_phase(host, port, tokens, cookie, args.seconds,
                                              args.clients, args.batch, probe=streams))
                time.sleep(0.5)
                streams.close()
                pushed += streams.events
                for_tablets += with_streams[-1]["tablet_posted"]
    a, b = summary(without), summary(with_streams)
    print(f"streams per round: {opened} open (the tablets and the probe), {refused} refused; "
          f"{pushed} of the {for_tablets} disposals posted to the tablets' stations pushed")
    rows = [("ingest events/s", "events_per_s", "{:.0f}"),
            ("ingest request p50 ms", "ingest_p50_ms", "{:.1f}"),
            ("ingest request p95 ms", "ingest_p95_ms", "{:.1f}"),
            ("dashboard page p50 ms", "page_p50_ms", "{:.1f}"),
            ("dashboard page p95 ms", "page_p95_ms", "{:.1f}")]
    print(f"{'':24}{'without':>10}{'with ' + str(args.streams):>12}{'ratio':>8}")
    for label, key, fmt in rows:
        x, y = a[key], b[key]
        print(f"{label:24}{fmt.format(x):>10}{fmt.format(y):>12}{y / x if x else float('nan'):>8.2f}")
    print(f"server CPU while idle ({len(pids)} gunicorn processes): "
          f"{100 * idle_without:.1f}% of a core without streams, "
          f"{100 * idle_with:.1f}% with {args.streams} tablets connected")
    print(f"probe tablet: {b['delivered']}/{b['probes']} prompts delivered, "
          f"p50 {b['delivery_p50_ms']:.0f} ms, max {b['delivery_max_ms']:.0f} ms "
          "after the device's request returned")
    print("command:", benchlib.command_line())


if __name__ == "__main__":
    main()
