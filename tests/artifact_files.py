"""Model and rule-set files for the registry and updater tests.

`model_variant` makes a different but valid model from the committed one: it
appends one entry to the ONNX file's `metadata_props` (field 14 of
ModelProto; a repeated field may be appended to a serialised message), so the
file loads and classifies as before but has another sha256, hence another
version. onnx itself is not installed in the runtime venv.
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "waste-effl0-int8.onnx"
RULES = ROOT / "models" / "rules" / "beijing.json"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def model_variant(dst: Path, note: str, src: Path = MODEL) -> Path:
    """A copy of `src` with metadata `variant` = `note` (JSON): a valid model with a new version."""
    entry = field(1, b"variant") + field(2, json.dumps(note).encode())
    dst.write_bytes(src.read_bytes() + field(14, entry))
    return dst


def rules_variant(dst: Path, version: str, src: Path = RULES) -> Path:
    """A copy of the Beijing rule set under another version."""
    data = json.loads(src.read_text(encoding="utf-8"))
    data["version"] = version
    dst.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return dst
