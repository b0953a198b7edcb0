"""Fetching an offered version from the server: its manifest and signature, then
the file into the staging folder, resuming an interrupted download with an
HTTP Range request. Every request has a timeout; errors are DownloadError."""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import requests

from contract.artifacts import ArtifactError

CHUNK = 64 * 1024


class DownloadError(ArtifactError):
    """The server did not give the manifest or the file (network, status, size)."""


def _url(client, kind: str, version: str, tail: str = "") -> str:
    return f"{client.base_url}/api/v1/artifacts/{kind}/{quote(version, safe='@')}{tail}"


def fetch_manifest(client, kind: str, version: str) -> tuple[dict, str]:
    """(manifest, signature) as the server sends them; checked by the caller."""
    try:
        r = client.session.get(_url(client, kind, version, "/manifest"), timeout=client.timeout)
    except requests.RequestException as e:
        raise DownloadError(f"manifest of {kind} {version}: {type(e).__name__}: {e}") from None
    if r.status_code != 200:
        raise DownloadError(f"manifest of {kind} {version}: HTTP {r.status_code}")
    try:
        body = r.json()
        return body["manifest"], str(body["signature"])
    except (ValueError, KeyError, TypeError):
        raise DownloadError(f"manifest of {kind} {version}: unreadable answer") from None


def fetch_file(client, kind: str, version: str, part: Path, size: int, limit: int | None = None) -> Path:
    """Download into `part` until it holds `size` bytes, continuing from what it already holds.

    `limit` stops after that many bytes of this call (to test an interrupted
    download); the part file keeps what arrived, flushed to disk."""
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        have = 0
    if have == size:
        return part
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with client.session.get(_url(client, kind, version), headers=headers, stream=True,
                                timeout=client.timeout) as r:
            if r.status_code == 200:
                have = 0        # the server sent the whole file: start over
            elif r.status_code != 206:
                raise DownloadError(f"{kind} {version}: HTTP {r.status_code}")
            elif not r.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
                raise DownloadError(f"{kind} {version}: answered a range other than bytes {have}-")
            got = 0
            with open(part, "r+b" if have else "wb") as f:
                f.seek(have)
                f.truncate()
                for block in r.iter_content(CHUNK):
                    if have + got + len(block) > size:
                        raise DownloadError(f"{kind} {version}: the server sent more than {size} bytes")
                    f.write(block)
                    got += len(block)
                    if limit is not None and got >= limit:
                        break
                f.flush()
                os.fsync(f.fileno())
    except requests.RequestException as e:
        raise DownloadError(f"{kind} {version}: {type(e).__name__} after {part.stat().st_size if part.exists() else 0} "
                            f"of {size} bytes: {e}") from None
    if part.stat().st_size != size:
        raise DownloadError(f"{kind} {version}: {part.stat().st_size} of {size} bytes so far")
    return part
