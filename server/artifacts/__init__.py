"""The registry of signed models and rule sets (SORTWATCH_REGISTRY, a folder).

    REGISTRY/public.b64                    the operator's public key (set by the first publish)
    REGISTRY/<kind>/<version>/artifact     the file (kind: model or rules)
    REGISTRY/<kind>/<version>/manifest.json
    REGISTRY/<kind>/<version>/signature    base64 Ed25519 over the canonical manifest
    REGISTRY/assigned.json                 {"model": VERSION, "rules": VERSION} set by assign-*

A version is usable only when its file matches its manifest (size, sha256)
and the signature verifies with the registry's key: a tampered, truncated or
unsigned version is never assigned or served. The version a device should
run is the assigned one of its kind, else the newest usable one.

`publish` (checks.py tries the file first) writes into a temporary folder and
renames it into place, so a version appears whole or not at all.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from contract.artifacts import (
    KINDS,
    VERSION_PATTERN,
    ArtifactError,
    check_file,
    file_digest,
    parse_manifest,
    public_key_from_text,
    public_key_text,
    same_key,
    sign,
    verify_signature,
)
from contract.rules import RuleSet, RuleSetError, known_rule_sets, load_rules, rule_set_or_default

ARTIFACT, MANIFEST, SIGNATURE = "artifact", "manifest.json", "signature"


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rules_for(tag) -> RuleSet:
    """The rule set an event was judged under: a shipped one, else one published in the
    registry (while it checks out), else the default one (contract.rules.rule_set_or_default)."""
    from flask import has_app_context
    if isinstance(tag, str) and tag not in known_rule_sets() and has_app_context():
        published = app_registry().rule_set(tag)
        if published is not None:
            return published
    return rule_set_or_default(tag)


def app_registry() -> Registry:
    """The app's registry: one per app, so each version's file is hashed once, not per request."""
    from flask import current_app
    reg = current_app.extensions.get("artifact_registry")
    if reg is None:
        reg = current_app.extensions["artifact_registry"] = Registry(current_app.config["SETTINGS"].registry_dir)
    return reg


class Registry:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._verified: dict[tuple, dict] = {}  # (kind, version, stat of the three files) -> manifest
        self._rule_sets: dict[tuple[str, str], RuleSet] = {}  # (tag, sha256) -> the loaded rule set

    # -- keys ---------------------------------------------------------------------------------

    def public_key(self):
        path = self.root / "public.b64"
        if not path.is_file():
            return None
        return public_key_from_text(path.read_text(encoding="ascii"))

    # -- reading --------------------------------------------------------------------------------

    def folder(self, kind: str, version: str) -> Path:
        if kind not in KINDS:
            raise ArtifactError(f"kind must be one of {KINDS}, got {kind!r}")
        if not re.match(VERSION_PATTERN, version):
            raise ArtifactError(f"a version is NAME@VERSION, got {version!r}")
        return self.root / kind / version

    def verified(self, kind: str, version: str) -> dict:
        """The manifest of a usable version; ArtifactError (saying why) for anything else."""
        folder = self.folder(kind, version)
        paths = [folder / ARTIFACT, folder / MANIFEST, folder / SIGNATURE, self.root / "public.b64"]
        try:
            stats = tuple((s.st_size, s.st_mtime_ns, s.st_ino) for s in (p.stat() for p in paths))
        except FileNotFoundError as e:
            raise ArtifactError(f"{kind} {version}: no {Path(e.filename).name} in the registry") from None
        # The key is checked again whenever any of the four files changed (the key's file too).
        key = (kind, version, stats)
        if key in self._verified:
            return self._verified[key]
        public = self.public_key()
        if public is None:
            raise ArtifactError(f"the registry {self.root} has no public.b64")
        manifest = parse_manifest(paths[1].read_bytes())
        if (manifest["kind"], manifest["version"]) != (kind, version):
            raise ArtifactError(f"{kind} {version}: the manifest is for {manifest['kind']} {manifest['version']}")
        verify_signature(manifest, paths[2].read_text(encoding="ascii", errors="replace"), public)
        check_file(paths[0], manifest)
        self._verified = {k: v for k, v in self._verified.items() if k[:2] != (kind, version)}
        self._verified[key] = manifest
        return manifest

    def versions(self, kind: str) -> list[str]:
        folder = self.root / kind
        if kind not in KINDS or not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and re.match(VERSION_PATTERN, p.name))

    def usable(self, kind: str) -> list[dict]:
        """Manifests of the usable versions of a kind, oldest first."""
        out = []
        for version in self.versions(kind):
            try:
                out.append(self.verified(kind, version))
            except ArtifactError:
                continue
        return sorted(out, key=lambda m: (m["created"], m["version"]))

    def rule_set(self, tag: str) -> RuleSet | None:
        """A published rule set by its tag while it checks out (devices judge by it), else None."""
        try:
            manifest = self.verified("rules", tag)
            key = (tag, manifest["sha256"])
            if key not in self._rule_sets:
                self._rule_sets[key] = load_rules(self.folder("rules", tag) / ARTIFACT)
            return self._rule_sets[key]
        except (ArtifactError, RuleSetError):
            return None

    def assignments(self) -> dict:
        path = self.root / "assigned.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return {k: v for k, v in data.items() if k in KINDS and isinstance(v, str)}

    def target(self, kind: str) -> dict | None:
        """The manifest of the version devices should run: the assigned one, else the newest."""
        assigned = self.assignments().get(kind)
        if assigned:
            try:
                return self.verified(kind, assigned)
            except ArtifactError:
                pass  # an assigned version that went bad is never offered; fall back to the newest
        usable = self.usable(kind)
        return usable[-1] if usable else None

    # -- writing --------------------------------------------------------------------------------

    def trust(self, private) -> None:
        """Record the public key of `private` on first use; refuse another key later."""
        public = private.public_key()
        current = self.public_key()
        if current is None:
            self.root.mkdir(parents=True, exist_ok=True)
            _write_atomically(self.root / "public.b64", public_key_text(public) + "\n")
        elif not same_key(current, public):
            raise ArtifactError(f"this private key does not match the registry's public key "
                                f"({self.root / 'public.b64'}); nothing was published")

    def publish(self, kind: str, path: Path, name: str, version: str, private, notes: str = "") -> dict:
        """Sign `path` as `version` and add it; ArtifactError if the version exists or the key is foreign."""
        self.trust(private)
        folder = self.folder(kind, version)
        if folder.exists():
            raise ArtifactError(f"{kind} {version} is already published; a version is never replaced")
        digest, size = file_digest(path)
        manifest = {"kind": kind, "name": name, "version": version, "sha256": digest, "size": size,
                    "notes": notes, "created": datetime.now(UTC).isoformat(timespec="microseconds")}
        signature = sign(manifest, private)
        (self.root / kind).mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.root / kind, prefix=".publish-"))
        try:
            shutil.copyfile(path, tmp / ARTIFACT)
            check_file(tmp / ARTIFACT, manifest)  # the copy is the file that was checked
            (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            (tmp / SIGNATURE).write_text(signature + "\n", encoding="ascii")
            for p in tmp.iterdir():
                with open(p, "rb") as f:
                    os.fsync(f.fileno())
            os.rename(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.verified(kind, version)
        return manifest

    def assign(self, kind: str, version: str | None) -> None:
        """Name the version devices should run (None: back to the newest); it must be usable."""
        if version is not None:
            self.verified(kind, version)
        assigned = self.assignments()
        if version is None:
            assigned.pop(kind, None)
        else:
            assigned[kind] = version
        self.root.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.root / "assigned.json", json.dumps(assigned, sort_keys=True) + "\n")
