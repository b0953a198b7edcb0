"""Shared by the benchmark scripts: a temporary server under real gunicorn,
operator commands run as an operator would, and latency summaries."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(db: Path, **extra) -> dict:
    env = dict(os.environ, SORTWATCH_DATABASE=str(db), SORTWATCH_ENV="test",
               SORTWATCH_SECRET_KEY="bench-secret-" + "x" * 20, SORTWATCH_ACCESS_LOG="",
               PYTHONPATH=str(ROOT))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def flask_cmd(db: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "server", *args],
                            cwd=ROOT, env=server_env(db), input=stdin, capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed: {result.stderr or result.stdout}")
    return result.stdout


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up in {timeout} s")
        time.sleep(0.1)


@contextlib.contextmanager
def gunicorn(app: str, db: Path | str, workers: int = 2, threads: int = 4,
             extra_env: dict | None = None, chdir: Path = ROOT, log_dir: Path | None = None):
    """A real gunicorn on loopback; yields its base URL; stops it after.
    `db` is a SQLite file or a PostgreSQL URL (then give log_dir)."""
    port = free_port()
    env = server_env(db, SORTWATCH_BIND=f"127.0.0.1:{port}", SORTWATCH_WORKERS=workers,
                     SORTWATCH_THREADS=threads, **(extra_env or {}))
    log = open((log_dir or Path(db).parent) / f"gunicorn-{port}.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
                             "--chdir", str(chdir), app], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_up(base + "/up")
        except RuntimeError:
            log.seek(0)
            raise RuntimeError("gunicorn did not start:\n" + log.read()[-3000:]) from None
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def command_line() -> str:
    return "python " + " ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])


def host_pids(port: int) -> list[int]:
    """The gunicorn master and workers that gunicorn() above started on this
    port (their SORTWATCH_BIND; Linux /proc)."""
    mark = f"SORTWATCH_BIND=127.0.0.1:{port}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if mark not in f.read().split(b"\0"):
                        continue
                with open(f"/proc/{entry}/cmdline", "rb") as c:
                    if b"gunicorn" in c.read():
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (Linux /proc)."""
    out = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            out += process_tree(child)
    return out


def rss_mib(pids: list[int]) -> float:
    """Resident memory of these processes together, MiB (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def scratch_database_url(server_url: str, name: str) -> str:
    """The URL of database `name` on the PostgreSQL server of `server_url`."""
    from urllib.parse import urlsplit
    parts = urlsplit(server_url)
    return f"{parts.scheme}://{parts.netloc}/{name}" + (f"?{parts.query}" if parts.query else "")


@contextlib.contextmanager
def scratch_database(server_url: str, prefix: str):
    """A new empty PostgreSQL database on `server_url`'s server; yields its
    URL and drops it after (with whatever connections are left)."""
    import secrets

    import psycopg
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield scratch_database_url(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return total / tick


def postgres_pids() -> list[int]:
    """The local PostgreSQL server's processes (Linux /proc), to see its CPU."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() in ("postgres", "postmaster"):
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores
    (Linux /proc/stat): busy / total over an interval is how loaded it was."""
    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]            # idle + iowait
    return (sum(fields[:8]) - idle) / tick, sum(fields[:8]) / tick


class WaitSampler:
    """Samples what the server's PostgreSQL backends of one database are
    doing (pg_stat_activity, every `interval` s, in a thread) while it runs:
    counts of 'CPU' (active, no wait), each wait event, and idle."""

    def __init__(self, url: str, interval: float = 0.01):
        import threading
        self.url, self.interval = url, interval
        self.counts: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(self.interval):
                for state, kind, event in conn.execute(
                        "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                        "WHERE datname = current_database() AND application_name = 'sortwatch'"):
                    if state != "active":
                        key = "idle (waiting for the host)"
                    elif kind is None:
                        key = "running (CPU)"
                    else:
                        key = f"{kind}: {event}"
                    self.counts[key] = self.counts.get(key, 0) + 1

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def shares(self) -> list[tuple[str, float]]:
        """Each state's share of the samples of active backends (idle apart), largest first."""
        active = {k: v for k, v in self.counts.items() if not k.startswith("idle")}
        total = sum(active.values()) or 1
        return sorted(((k, v / total) for k, v in active.items()), key=lambda kv: -kv[1])
