"""The schema of a station config: one Field per key, with a description and
bounds. `check-config --describe` prints it, the checker enforces it, and the
frozen dataclass of each section (`SECTION_TYPES`) is generated from it, so
the three cannot drift apart."""
from __future__ import annotations

from dataclasses import dataclass, make_dataclass
from typing import Any

from contract.limits import CATEGORIES, MAX_EVENTS, MAX_EVIDENCE_SIDE, STATION_ID_PATTERN


@dataclass(frozen=True)
class Field:
    kind: str  # str, int, float, bool, source, polygon, windows, path, offset
    description: str
    default: Any = None
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple | None = None
    pattern: str | None = None


SCHEMA: dict[str, dict[str, Field]] = {
    "station": {
        "id": Field("str", "station id as registered on the server", required=True,
                    pattern=STATION_ID_PATTERN),
        "timezone": Field("offset", "UTC offset of event timestamps, e.g. +08:00", default="+08:00"),
        "rules": Field("str", "rule set name passed to contract.rules.load_rules", default="beijing",
                       pattern=r"^[A-Za-z0-9_.@-]{1,64}$"),
        "windows": Field("windows", 'opening windows (定时定点) as "HH:MM-HH:MM"; empty means always open',
                         default=()),
    },
    "camera": {
        "source": Field("source", "USB index, rtsp:// or http:// URL, video file, or folder of images",
                        required=True),
        "fps": Field("float", "frame rate of a folder of images (and pacing rate when realtime)",
                     default=10.0, minimum=0.1, maximum=240),
        "queue_size": Field("int", "frames held between capture and processing; more are dropped",
                            default=16, minimum=1, maximum=1000),
        "realtime": Field("bool", "treat a file like a live camera: pace it and drop frames when behind",
                          default=False),
        "loop": Field("bool", "replay a file or folder source forever (demos)", default=False),
        "reconnect_min": Field("float", "first reconnect delay in seconds", default=0.5,
                               minimum=0.01, maximum=60),
        "reconnect_max": Field("float", "largest reconnect delay in seconds", default=30.0,
                               minimum=0.01, maximum=3600),
        "stall_timeout": Field("float", "seconds without a frame before the camera counts as stalled",
                               default=5.0, minimum=0.1, maximum=3600),
    },
    "motion": {
        "width": Field("int", "width in pixels at which motion is computed", default=320,
                       minimum=64, maximum=1920),
        "threshold": Field("int", "grey-level difference that counts as change", default=25,
                           minimum=1, maximum=255),
        "min_fraction": Field("float", "share of a drop zone that must change to count as motion",
                              default=0.01, minimum=0.0001, maximum=1.0),
        "background_alpha": Field("float", "how fast the background adapts while a zone is quiet",
                                  default=0.05, minimum=0.0, maximum=1.0),
    },
    "episode": {
        "start_frames": Field("int", "consecutive moving frames that start a disposal", default=2,
                              minimum=1, maximum=100),
        "end_quiet": Field("float", "seconds of stillness that end a disposal", default=0.4,
                           minimum=0.01, maximum=60),
        "max_duration": Field("float", "longest disposal in seconds; longer motion is split",
                              default=10.0, minimum=0.1, maximum=600),
        "min_area": Field("int", "smallest item in pixels of the camera frame", default=400,
                          minimum=1, maximum=10_000_000),
    },
    "classifier": {
        "model": Field("path", "ONNX model file; the committed default model when absent"),
        "threads": Field("int", "inference threads", default=1, minimum=1, maximum=64),
        "threshold": Field("float", "confidence needed for a 'wrong' verdict; the model's default "
                           "when absent", minimum=0.0, maximum=1.0),
    },
    "server": {
        "url": Field("str", "server base URL, e.g. https://sortwatch.example.org", required=True,
                     pattern=r"^https?://[^\s/]+(/\S*)?$"),
        "device_id": Field("str", "device id as registered on the server", required=True,
                           pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"),
        "token": Field("str", "device token (prefer token_file)"),
        "token_file": Field("path", "file holding the device token"),
        "timeout": Field("float", "seconds before an HTTP request is abandoned", default=10.0,
                         minimum=0.1, maximum=600),
        "batch_size": Field("int", f"events per request (the server takes at most {MAX_EVENTS})",
                            default=MAX_EVENTS, minimum=1, maximum=MAX_EVENTS),
        "heartbeat_interval": Field("float", "seconds between heartbeats", default=60.0,
                                    minimum=0.05, maximum=86400),
        "backoff_min": Field("float", "first retry delay in seconds", default=1.0,
                             minimum=0.01, maximum=3600),
        "backoff_max": Field("float", "largest retry delay in seconds", default=300.0,
                             minimum=0.01, maximum=86400),
    },
    "outbox": {
        "path": Field("path", "SQLite file of events waiting for upload", default="outbox.sqlite"),
        "max_bytes": Field("int", "disk budget of the outbox; evidence is dropped first",
                           default=512 * 1024 * 1024, minimum=64 * 1024, maximum=1 << 50),
    },
    "privacy": {
        "evidence": Field("bool", "send one small blurred JPEG for each wrong verdict", default=False),
        "evidence_max_px": Field("int", "longest side of an evidence image", default=320,
                                 minimum=64, maximum=MAX_EVIDENCE_SIDE),
        "evidence_quality": Field("int", "JPEG quality of evidence", default=70, minimum=20, maximum=95),
        "household_reader": Field("path", "line-based reader of household cards or QR codes "
                                  "(serial device, FIFO or file)"),
        "household_window": Field("float", "seconds a household token waits for its disposal",
                                  default=15.0, minimum=0.1, maximum=3600),
        "household_to_tablet": Field("bool", "also pass each card read to the station's tablet, which "
                                     "shows that household's points for a minute (the token only)",
                                     default=True),
    },
    "learning": {
        "samples": Field("bool", "send learning samples: for each uncertain disposal, and each one the "
                         "station's volunteer corrects, the item's crop (a small JPEG under the evidence "
                         "rules), the model's embedding and scores", default=False),
        "max_px": Field("int", "longest side of a sample's crop", default=224, minimum=32,
                        maximum=MAX_EVIDENCE_SIDE),
        "quality": Field("int", "JPEG quality of a sample's crop", default=80, minimum=20, maximum=95),
        "hold_minutes": Field("float", "how long a wrong verdict's sample waits on the station for its "
                              "volunteer's correction before it is deleted unsent", default=120.0,
                              minimum=1, maximum=1440),
    },
    "condition": {
        "model": Field("path", "ONNX model of the station's condition (bin openings, ground zones); "
                       "the committed models/station-state-int8.onnx when absent"),
        "interval": Field("float", "seconds between two judgements of the bin openings and ground zones",
                          default=5.0, minimum=0.1, maximum=3600),
        "hold": Field("float", "seconds a new state (full, overflow, ok; litter, clean) must hold before it is "
                      "reported, so a passing bag is not a case", default=120.0, minimum=0, maximum=86400),
        "quiet": Field("float", "seconds without motion (a person in view, a disposal) before a judgement counts",
                       default=2.0, minimum=0, maximum=600),
        "evidence": Field("bool", "send one small JPEG of the region with each start (overflow, litter): "
                          "everything outside the region pixelated, as a wrong verdict's evidence", default=False),
    },
    "updates": {
        "public_key": Field("str", "base64 Ed25519 public key of the registry (public.b64 from keygen); "
                        "with neither this nor public_key_file, updates are off",
                        pattern=r"^[A-Za-z0-9+/]{43}=$"),
        "public_key_file": Field("path", "file holding that public key"),
        "dir": Field("path", "folder of downloaded, verified models and rule sets and the pointers "
                     "to the running ones", default="updates"),
    },
}

BIN_SCHEMA: dict[str, Field] = {
    "name": Field("str", "a name for logs, needed only to tell apart two bins of one category "
                  "(events carry the category, which is how the server knows a station's bins)",
                  pattern=r"^[A-Za-z0-9_-]{1,32}$"),
    "category": Field("str", "waste category the bin takes", required=True, choices=CATEGORIES),
    "zone": Field("polygon", "drop zone: [[x, y], ...] in pixels of the camera frame", required=True),
    "opening": Field("polygon", "the bin's opening and the space above it, [[x, y], ...]: judged ok, full or "
                     "overflow every condition.interval seconds (none: not judged)"),
}

GROUND_SCHEMA: dict[str, Field] = {
    "name": Field("str", "a name for logs", pattern=r"^[A-Za-z0-9_-]{1,32}$"),
    "zone": Field("polygon", "ground in front of the bins, [[x, y], ...]: judged clean or litter every "
                  "condition.interval seconds", required=True),
    "bin": Field("str", "name of the bin a litter event names (the nearest); the first bin when absent",
                 pattern=r"^[A-Za-z0-9_-]{1,32}$"),
}

REQUIRED_SECTIONS = ("station", "camera", "server")


# One frozen dataclass per section, its fields in schema order: `config.camera.fps`.
SECTION_TYPES: dict[str, type] = {
    name: make_dataclass(name.capitalize(), [(key, Any) for key in fields], frozen=True)
    for name, fields in SCHEMA.items()
}


def describe() -> str:
    """Every key with its description, default and bounds (for --describe)."""
    out = []
    for section, schema in list(SCHEMA.items()) + [("[bins]", BIN_SCHEMA), ("[ground]", GROUND_SCHEMA)]:
        out.append(f"[{section}]")
        for key, f in schema.items():
            extra = []
            if f.required:
                extra.append("required")
            elif f.default not in (None, ()):
                extra.append(f"default {f.default!r}")
            if f.minimum is not None or f.maximum is not None:
                extra.append(f"{f.minimum:g}..{f.maximum:g}")
            if f.choices:
                extra.append("|".join(f.choices))
            out.append(f"  {key} ({f.kind}{'; ' + '; '.join(extra) if extra else ''}): {f.description}")
    return "\n".join(out)
