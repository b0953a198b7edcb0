"""The project's nginx site (deploy/nginx/sortwatch.conf) run by a real nginx
on loopback, in front of real gunicorns: for the tests and the benchmarks."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from scripts import benchlib

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def site_config(people: str | list[str], port: int, devices: str | list[str] | None = None) -> str:
    """deploy/nginx/sortwatch.conf listening on 127.0.0.1:`port`, sending
    people's requests to `people` and devices' to `devices` (base URLs
    http://host:port, one or several; devices default to the people's)."""
    site = (ROOT / "deploy" / "nginx" / "sortwatch.conf").read_text(encoding="utf-8")
    for line, upstreams in (("server server:8000;", people), ("server devices:8000;", devices or people)):
        assert line in site, f"deploy/nginx/sortwatch.conf no longer has {line!r}"
        upstreams = [upstreams] if isinstance(upstreams, str) else upstreams
        site = site.replace(line, " ".join(f"server {u.removeprefix('http://')};" for u in upstreams))
    return site.replace("listen 8080;", f"listen 127.0.0.1:{port};")


@contextlib.contextmanager
def nginx_in_front(people: str, folder: Path, devices: str | None = None):
    """nginx with the project's site config in front of `people` (and
    `devices`, see site_config); yields its base URL."""
    port = benchlib.free_port()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "site.conf").write_text(site_config(people, port, devices), encoding="utf-8")
    user = "user root;" if os.geteuid() == 0 else ""
    (folder / "nginx.conf").write_text(f"""
{user}
daemon off; worker_processes 1; pid {folder}/nginx.pid; error_log {folder}/error.log warn;
events {{ worker_connections 4096; }}
http {{ access_log off; {temp_paths(folder)} include {folder}/site.conf; }}
""", encoding="utf-8")
    with running_nginx(folder, port) as base:
        yield base


def temp_paths(folder: Path) -> str:
    """nginx's temporary files under the caller's folder, not /var."""
    return " ".join(f"{kind}_temp_path {folder}/{kind};"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))


@contextlib.contextmanager
def running_nginx(folder: Path, port: int, check: bool = False):
    """nginx on folder/nginx.conf (first checked with -t if `check`),
    listening on `port`; yields its base URL once /up answers."""
    command = [NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf")]
    if check:
        checked = subprocess.run(command + ["-t"], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        benchlib.wait_until_up(base + "/up")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
