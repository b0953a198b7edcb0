"""Signed artifacts: a model file or a rule-set file, its manifest and an Ed25519 signature.

The registry on the server and the updater on a station both check a file
this way, so the rules live here, once:

- the manifest is ``{kind, name, version, sha256, size, notes, created}``;
  ``version`` is the ``NAME@VERSION`` tag events carry (a model:
  ``name@`` and the first 8 hex digits of its sha256; a rule set: its own
  ``name@version``);
- the signature is Ed25519 over the canonical manifest bytes (sorted keys,
  compact JSON, UTF-8), kept as base64 text;
- a file matches its manifest when its size and its sha256 are the manifest's.

Keys are raw Ed25519 keys: the public key as 44 characters of base64 (what a
station's file holds), the private key as an unencrypted PKCS#8 PEM file
that only its owner may read.

>>> private, public = new_key_pair()
>>> m = {"kind": "rules", "name": "beijing", "version": "beijing@2020.1", "sha256": "00" * 32,
...      "size": 1, "notes": "", "created": "2026-12-03T00:00:00+00:00"}
>>> verify_signature(m, sign(m, private), public_key_from_text(public_key_text(public)))
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KINDS = ("model", "rules")
MANIFEST_KEYS = ("kind", "name", "version", "sha256", "size", "notes", "created")
# NAME@VERSION: never a path, so a version can name a folder and a URL segment.
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}@[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"
MAX_ARTIFACT_BYTES = 256 * 1024 * 1024


class ArtifactError(ValueError):
    """A manifest, signature, key or file that does not check out."""


def canonical(manifest: dict) -> bytes:
    """The bytes that are signed: sorted keys, compact JSON, UTF-8."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def file_digest(path: Path) -> tuple[str, int]:
    """(sha256 hex, size in bytes) of a file."""
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def check_manifest(manifest) -> dict:
    """The manifest if it has exactly the expected keys and sane values; ArtifactError otherwise."""
    if not isinstance(manifest, dict):
        raise ArtifactError("a manifest must be a JSON object")
    keys = set(manifest)
    if keys != set(MANIFEST_KEYS):
        raise ArtifactError(f"manifest keys must be {sorted(MANIFEST_KEYS)}, got {sorted(keys)}")
    if manifest["kind"] not in KINDS:
        raise ArtifactError(f"manifest kind must be one of {KINDS}, got {manifest['kind']!r}")
    version = manifest["version"]
    if not isinstance(version, str) or not re.match(VERSION_PATTERN, version):
        raise ArtifactError(f"manifest version must be NAME@VERSION, got {version!r}")
    if version.split("@", 1)[0] != manifest["name"]:
        raise ArtifactError(f"manifest version {version!r} does not start with its name {manifest['name']!r}")
    if not isinstance(manifest["sha256"], str) or not re.fullmatch(r"[0-9a-f]{64}", manifest["sha256"]):
        raise ArtifactError("manifest sha256 must be 64 lower-case hex digits")
    size = manifest["size"]
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_ARTIFACT_BYTES:
        raise ArtifactError(f"manifest size must be 1..{MAX_ARTIFACT_BYTES} bytes, got {size!r}")
    if manifest["kind"] == "model" and not version.endswith("@" + manifest["sha256"][:8]):
        raise ArtifactError(f"a model's version ends with the first 8 hex of its sha256, got {version!r}")
    for key in ("notes", "created"):
        if not isinstance(manifest[key], str):
            raise ArtifactError(f"manifest {key} must be a string")
    return manifest


def parse_manifest(data: bytes) -> dict:
    try:
        return check_manifest(json.loads(data.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtifactError(f"the manifest is not UTF-8 JSON: {e}") from None


def check_file(path: Path, manifest: dict) -> None:
    """ArtifactError unless the file's size and sha256 are the manifest's."""
    try:
        digest, size = file_digest(path)
    except OSError as e:
        raise ArtifactError(f"cannot read {path}: {e.strerror}") from None
    if size != manifest["size"]:
        raise ArtifactError(f"{path.name}: {size} bytes, the manifest says {manifest['size']}")
    if digest != manifest["sha256"]:
        raise ArtifactError(f"{path.name}: sha256 {digest[:12]}… is not the manifest's {manifest['sha256'][:12]}…")


# -- keys and signatures ---------------------------------------------------------------------

def new_key_pair() -> tuple[Ed25519PrivateKey, Ed25519PublicKey]:
    private = Ed25519PrivateKey.generate()
    return private, private.public_key()


def public_key_text(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def public_key_from_text(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ArtifactError("a public key is 44 characters of base64") from None
    if len(raw) != 32:
        raise ArtifactError(f"an Ed25519 public key is 32 bytes, this one is {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def private_key_pem(private: Ed25519PrivateKey) -> bytes:
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


def write_key_pair(folder: Path) -> tuple[Path, Path]:
    """`private.pem` (mode 0600, never overwritten) and `public.b64` in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    private_path, public_path = folder / "private.pem", folder / "public.b64"
    for p in (private_path, public_path):
        if p.exists():
            raise ArtifactError(f"{p} exists; keys are never overwritten")
    private, public = new_key_pair()
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_key_pem(private))
    public_path.write_text(public_key_text(public) + "\n", encoding="ascii")
    return private_path, public_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except OSError as e:
        raise ArtifactError(f"cannot read the private key {path}: {e.strerror}") from None
    except (ValueError, TypeError) as e:
        raise ArtifactError(f"{path} is not an unencrypted PEM private key: {e}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ArtifactError(f"{path} is not an Ed25519 key")
    return key


def sign(manifest: dict, private: Ed25519PrivateKey) -> str:
    """The base64 Ed25519 signature of the canonical manifest."""
    return base64.b64encode(private.sign(canonical(check_manifest(manifest)))).decode("ascii")


def verify_signature(manifest: dict, signature: str | bytes, public: Ed25519PublicKey) -> None:
    """ArtifactError unless `signature` (base64) signs this manifest with `public`'s private key."""
    if isinstance(signature, bytes):
        signature = signature.decode("ascii", "replace")
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ArtifactError("the signature is not base64") from None
    try:
        public.verify(raw, canonical(check_manifest(manifest)))
    except InvalidSignature:
        raise ArtifactError(f"the signature of {manifest['version']} does not verify with this key") from None


def same_key(a: Ed25519PublicKey, b: Ed25519PublicKey) -> bool:
    return public_key_text(a) == public_key_text(b)
