"""The whole system on one machine: the server under gunicorn on the demo
district, and simulated stations running the real edge program with the real
model on generated clips, round after round, until Ctrl-C. Each clip plays
at its own pace, like a live camera, and the residents who scan their
household card before they drop have it written to the station's card
reader as they do (every demo station has a reader).

    python scripts/demo.py [--items DIR] [--port 8000] [--stations 3] [--rounds N]

--items is a folder of item photos with a manifest.csv in the shared format
(e.g. ../shared/datasets/waste-images, read in place). Without it the demo
draws its own items and says so. --rounds stops after N clips per station
(for tests); by default it runs until interrupted: Ctrl-C, SIGINT or SIGTERM
stop the stations and the server. `make demo` runs it with --while-exists: a
SIGINT to make's own process stops it too (see the Makefile).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import benchlib  # noqa: E402
import draw_items  # noqa: E402

DEMO_PASSWORD = "sortwatch-demo"
HOUSEHOLDS_PER_STATION = 150
FIRST_FRAME = "first frame read"   # what edge/capture logs when the clip starts playing
# A card is scanned just before the item falls in (truth's t_end): after the
# previous disposal has ended and before this one ends (edge/privacy/household.py).
SCAN_BEFORE_FALL = 0.2


class DemoError(Exception):
    pass


def check_port(port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise DemoError(f"port {port} is taken (another demo or server is running?); "
                            f"stop it or choose another port: make demo PORT={port + 1}") from None


def secret_key(instance: Path) -> str:
    """One secret for every worker, kept across runs so logins survive a restart."""
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


class Demo:
    def __init__(self, args):
        self.args = args
        self.instance = args.instance
        self.db = self.instance / "sortwatch.db"
        self.stop = threading.Event()
        self.procs: list[subprocess.Popen] = []
        self.lock = threading.Lock()
        self.delivered = {}

    def env(self) -> dict:
        return benchlib.server_env(self.db, SORTWATCH_ENV="development",
                                   SORTWATCH_SECRET_KEY=secret_key(self.instance),
                                   SORTWATCH_COOKIE_SECURE="false")

    def run_quiet(self, cmd: list[str], **kw) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, cwd=ROOT, env=self.env(), capture_output=True, text=True, **kw)

    def spawn(self, cmd: list[str], log: Path) -> subprocess.Popen:
        with self.lock:
            if self.stop.is_set():
                raise DemoError("stopping")
            proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env(), stdout=open(log, "a"),
                                    stderr=subprocess.STDOUT, start_new_session=True)
            self.procs.append(proc)
            return proc

    def items(self) -> Path:
        if self.args.items:
            if not (self.args.items / "manifest.csv").is_file():
                raise DemoError(f"{self.args.items} has no manifest.csv; give a folder in the "
                                "shared format (path,source,source_label,item,...)")
            print(f"item photos: {self.args.items} (read in place)")
            return self.args.items
        drawn = self.instance / "demo-items"
        if not (drawn / "manifest.csv").exists():
            draw_items.draw(drawn)
        print(f"no --items folder given: the stations show items the demo drew itself "
              f"({drawn}); the model was trained on photos, so expect more uncertain verdicts. "
              "For real photos: make demo ITEMS=../shared/datasets/waste-images")
        return drawn

    def load_demo(self) -> dict:
        result = self.run_quiet([sys.executable, "-m", "flask", "--app", "server", "load-demo"])
        if result.returncode != 0:
            raise DemoError("load-demo failed:\n" + result.stderr[-2000:])
        return json.loads((self.instance / "demo-devices.json").read_text())

    def station_loop(self, device: str, station: str, token: str, items: Path, base: str,
                     index: int) -> None:
        folder = self.instance / "demo-stations" / station
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "token").write_text(token)
        (folder / "token").chmod(0o600)
        log = folder / "edge.log"
        round_ = 0
        while not self.stop.is_set() and (self.args.rounds is None or round_ < self.args.rounds):
            round_ += 1
            clip = folder / f"round-{round_ % 2}"
            try:
                gen = self.spawn(clip_command(self.args, items, station, device, base, clip, index, round_), log)
                if gen.wait() != 0:
                    raise DemoError(f"{station}: could not make a clip (see {log})")
                (clip / "token").write_text(token)
                (clip / "reader.txt").write_text("")
                log_start = log.stat().st_size
                edge = self.spawn([sys.executable, "-m", "edge", "run", "--config",
                                   str(clip / "station.toml"), "--once", "--timeout", "60"], log)
                scan_cards(clip, log, log_start, edge, self.stop)
                code = edge.wait()
            except DemoError:
                return
            if self.stop.is_set():
                return
            truth = sum(1 for _ in open(clip / "truth.jsonl"))
            with self.lock:
                self.delivered[station] = self.delivered.get(station, 0) + truth
            status = "delivered" if code == 0 else f"edge exited {code}, see {log}"
            print(f"  {station}: round {round_}, {truth} drops, {status}", flush=True)

    def shutdown(self) -> None:
        with self.lock:
            self.stop.set()
            procs = list(self.procs)
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)

    def run(self) -> int:
        check_port(self.args.port)
        self.instance.mkdir(parents=True, exist_ok=True)
        items = self.items()
        tokens = self.load_demo()
        base = f"http://127.0.0.1:{self.args.port}"
        server = self.spawn([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                             "--bind", f"127.0.0.1:{self.args.port}", "server:create_app()"],
                            self.instance / "server.log")
        try:
            benchlib.wait_until_up(base + "/up/db", timeout=60)
        except RuntimeError:
            raise DemoError(f"the server did not start; see {self.instance / 'server.log'}") from None
        print(f"\nsortwatch demo is running on {base}/  (server log: {self.instance / 'server.log'})")
        print(f"  logins (password {DEMO_PASSWORD}):")
        for user, what in (("volunteer1", "volunteer, tablet of station st-xc-0001"),
                           ("sanlihe", "community manager"), ("xichangan", "street"),
                           ("xicheng", "district"), ("city", "city staff")):
            print(f"    {user:<11} {what}")
        print(f"  tablet: {base}/station/st-xc-0001   API: {base}/api/v1/openapi.json")
        print("  Ctrl-C stops everything.\n", flush=True)
        threads = []
        for i, (device, info) in enumerate(sorted(tokens.items())[:self.args.stations]):
            t = threading.Thread(target=self.station_loop, daemon=True,
                                 args=(device, info["station_id"], info["token"], items, base, i))
            t.start()
            threads.append(t)
        while any(t.is_alive() for t in threads):
            if server.poll() is not None:
                raise DemoError(f"the server stopped; see {self.instance / 'server.log'}")
            time.sleep(0.5)
        return 0


def clip_command(args, items: Path, station: str, device: str, base: str, clip: Path, index: int,
                 round_: int) -> list[str]:
    """The command that makes station `index`'s clip of round `round_` (seeded
    by both when the demo runs a fixed number of rounds, by the clock if not)."""
    seed = int(time.time()) * 10 + index if args.rounds is None else 1000 * index + round_
    return [sys.executable, "scripts/make_station_clip.py", "--items", str(items), "--drops", str(args.drops),
            "--seed", str(seed), "--wrong-share", str(args.wrong_share), "--station-id", station,
            "--out", str(clip), "--server", base, "--device-id", device, "--evidence", "--live",
            "--households", str(HOUSEHOLDS_PER_STATION)]


def scan_cards(clip: Path, log: Path, log_start: int, edge: subprocess.Popen,
               stop: threading.Event) -> None:
    """Play the residents' card scans of truth.jsonl into the clip's card
    reader, timed from the moment the station program reads the first frame."""
    scans = [(drop["t_end"] - SCAN_BEFORE_FALL, drop["household"])
             for drop in map(json.loads, (clip / "truth.jsonl").read_text(encoding="utf-8").splitlines())
             if drop["household"]]
    started = None
    while started is None:
        with open(log, "rb") as f:
            f.seek(log_start)
            if FIRST_FRAME.encode() in f.read():
                started = time.monotonic()
        if stop.is_set() or edge.poll() is not None:
            return
        time.sleep(0.02)
    for at, household in scans:
        if stop.wait(max(0.0, started + at - time.monotonic())):
            return
        with open(clip / "reader.txt", "a", encoding="utf-8") as reader:
            reader.write(household + "\n")


def watch_flag(flag: Path) -> None:
    """make deletes the flag file it made when it is interrupted (SIGINT to
    make's own process is not passed on to its child): interrupt ourselves
    then, whatever the demo is doing (loading, starting, running)."""
    while flag.exists():
        time.sleep(0.3)
    os.kill(os.getpid(), signal.SIGINT)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=Path)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stations", type=int, default=3, choices=range(1, 4))
    parser.add_argument("--drops", type=int, default=6)
    parser.add_argument("--rounds", type=int)
    # Beijing publishes 82-90 % of disposals sorted right: the simulated
    # residents put 15 % of their items into a wrong bin.
    parser.add_argument("--wrong-share", type=float, default=0.15,
                        help="share of the residents' drops that go into a wrong bin (default 0.15)")
    parser.add_argument("--instance", type=Path, default=ROOT / "instance")
    parser.add_argument("--while-exists", type=Path, metavar="FLAG",
                        help="stop when this file is deleted (make deletes it when interrupted)")
    return parser.parse_args(argv)


def main() -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - a newcomer may start it with an older python3
        print(f"sortwatch needs Python 3.11 or newer; this is {sys.version.split()[0]}", file=sys.stderr)
        return 2
    args = parse_args()
    demo = Demo(args)
    # SIGTERM (make passes it on to its child, and supervisors send it) stops
    # the demo as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.while_exists:
        threading.Thread(target=watch_flag, args=(args.while_exists,), daemon=True).start()
    try:
        return demo.run()
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping: stations first, then the server", flush=True)
        return 0
    finally:
        # A second Ctrl-C or SIGTERM must not cut the shutdown short and leave
        # the server or a station running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        demo.shutdown()


if __name__ == "__main__":
    sys.exit(main())
