"""The updates folder on a station: downloads, verified versions, and a pointer per kind.

    DIR/staging/<kind>-<version>.part       a download in progress (resumed with Range)
    DIR/<kind>/<version>/<name>.onnx|.json  a verified version, with manifest.json and signature
    DIR/current-<kind>.json                 {"version": ..., "previous": ...}

A version is moved into its folder only after its size, sha256 and signature
checked out. The pointer is the one thing a swap changes: it is written to a
temporary file, flushed to disk (fsync), renamed over the old pointer and the
folder is flushed, so after a power cut at any step the pointer names the old
version or the new one, never half of either. At start the station runs the
pointer's version if it still checks out and loads, else the previous one,
else the model and rule set of its config file.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from contract.artifacts import ArtifactError, check_file, check_manifest, verify_signature

MANIFEST, SIGNATURE = "manifest.json", "signature"
SUFFIX = {"model": ".onnx", "rules": ".json"}


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Replace `path` by `data` atomically and durably (tmp, fsync, rename, fsync of the folder)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class Slots:
    def __init__(self, root: Path, public_key):
        self.root = Path(root)
        self.public_key = public_key
        self.staging = self.root / "staging"

    def part(self, kind: str, version: str) -> Path:
        self.staging.mkdir(parents=True, exist_ok=True)
        return self.staging / f"{kind}-{version}.part"

    def folder(self, kind: str, version: str) -> Path:
        return self.root / kind / version

    def file(self, kind: str, manifest: dict) -> Path:
        # The file keeps its name, so a model without a name in its metadata keeps its version.
        return self.folder(kind, manifest["version"]) / (manifest["name"] + SUFFIX[kind])

    # -- checking -----------------------------------------------------------------------------

    def check(self, kind: str, path: Path, manifest: dict, signature: str) -> None:
        """ArtifactError unless the manifest is of this kind, signed by the registry's key, and
        the file is the manifest's size and sha256."""
        check_manifest(manifest)
        if manifest["kind"] != kind:
            raise ArtifactError(f"a {manifest['kind']} manifest where a {kind} was expected")
        verify_signature(manifest, signature, self.public_key)
        check_file(path, manifest)

    def installed(self, kind: str, version: str) -> Path:
        """The file of an installed version, checked again now; ArtifactError otherwise."""
        folder = self.folder(kind, version)
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            signature = (folder / SIGNATURE).read_text(encoding="ascii")
        except (OSError, ValueError) as e:
            raise ArtifactError(f"{kind} {version} is not installed whole: {e}") from None
        if not isinstance(manifest, dict) or manifest.get("version") != version:
            raise ArtifactError(f"{kind} {version}: its manifest names another version")
        path = self.file(kind, manifest)
        self.check(kind, path, manifest, signature)
        return path

    # -- installing -----------------------------------------------------------------------------

    def install(self, kind: str, part: Path, manifest: dict, signature: str) -> Path:
        """Move a checked download into its version folder (whole or not at all)."""
        self.check(kind, part, manifest, signature)
        final = self.folder(kind, manifest["version"])
        if final.exists():
            shutil.rmtree(final)  # an earlier copy that no longer checked out
        tmp = final.with_name(f".{final.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        os.replace(part, tmp / (manifest["name"] + SUFFIX[kind]))
        write_durably(tmp / MANIFEST, json.dumps(manifest, ensure_ascii=False).encode("utf-8"))
        write_durably(tmp / SIGNATURE, signature.encode("ascii"))
        os.replace(tmp, final)
        fsync_dir(final.parent)
        return self.installed(kind, manifest["version"])

    # -- the pointer ------------------------------------------------------------------------------

    def pointer_path(self, kind: str) -> Path:
        return self.root / f"current-{kind}.json"

    def pointer(self, kind: str) -> dict:
        """{"version", "previous"} of the running version, {} before the first update."""
        try:
            data = json.loads(self.pointer_path(kind).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def point(self, kind: str, version: str, previous: str | None) -> None:
        """Make `version` the one to run from now on, `previous` the one to fall back to."""
        self.root.mkdir(parents=True, exist_ok=True)
        write_durably(self.pointer_path(kind),
                      json.dumps({"version": version, "previous": previous}).encode("utf-8"))

    def prune(self, kind: str) -> None:
        """Remove installed versions other than the current and the previous one."""
        p = self.pointer(kind)
        keep = {p.get("version"), p.get("previous")}
        folder = self.root / kind
        if folder.is_dir():
            for d in folder.iterdir():
                if d.name not in keep:
                    shutil.rmtree(d, ignore_errors=True)
