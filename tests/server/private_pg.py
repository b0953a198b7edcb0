"""A throwaway PostgreSQL cluster of the test's own (initdb, pg_ctl) on a
free loopback port in a temporary folder, so that a test can stop and
restart a real PostgreSQL server without touching the machine's shared one."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from scripts import benchlib


def _bindir() -> Path | None:
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False)
        path = Path(out.stdout.strip())
        if (path / "initdb").exists():
            return path
    for path in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (path / "initdb").exists():
            return path
    return None


BINDIR = _bindir()


class PrivateCluster:
    """One cluster in `folder`: start(), stop(), url(dbname)."""

    def __init__(self, folder: Path):
        self.folder, self.data = folder, folder / "data"
        self.port = benchlib.free_port()
        # initdb and postgres refuse to run as root: run them as postgres then.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        result = subprocess.run(self.as_user + [str(BINDIR / args[0]), *args[1:]],
                                capture_output=True, text=True, check=False, timeout=120)
        assert result.returncode == 0, f"{args[0]} failed: {result.stdout}{result.stderr}"

    def init(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            shutil.chown(self.folder, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-E", "UTF8", "--no-sync",
                  "-U", "postgres")

    def start(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.folder} -c fsync=off")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"


@contextlib.contextmanager
def private_cluster():
    """A started cluster in a new folder of /tmp (the postgres user must
    reach it, which pytest's private tmp_path does not let it); stopped and
    removed afterwards."""
    cluster = PrivateCluster(Path(tempfile.mkdtemp(prefix="sortwatch-pg-")))
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(AssertionError):
            cluster.stop("immediate")
        shutil.rmtree(cluster.folder, ignore_errors=True)
