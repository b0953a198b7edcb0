"""Station config: one TOML file, validated once and strictly.

`python -m edge check-config FILE` validates a file without running.

Every field is declared below with a description and bounds; unknown keys are
rejected, and every error names its line and key path, e.g.

    station.toml:14: bins[1].zone: a polygon needs at least 3 points

Relative paths (camera source, outbox, token file, model, household reader)
are relative to the directory of the config file.
"""
from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

from contract.limits import CATEGORIES, STATION_ID_PATTERN


class ConfigError(Exception):
    """A config file that cannot be used; `problems` holds (line, key, message)."""

    def __init__(self, path, problems):
        self.path = str(path)
        self.problems = sorted(problems, key=lambda p: (p[0] or 0, p[1]))
        super().__init__("\n".join(self.lines()))

    def lines(self):
        out = []
        for line, key, message in self.problems:
            where = f"{self.path}:{line}" if line else self.path
            out.append(f"{where}: {key}: {message}" if key else f"{where}: {message}")
        return out


# --------------------------------------------------------------------------
# Where each key is: tomllib gives values but no positions, so a small scanner
# maps key paths ("bins[1].zone") to the line that defines them.

_BARE = r"[A-Za-z0-9_-]+"
_KEY = rf'(?:{_BARE}|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_TABLE_RE = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]")
_ARRAY_TABLE_RE = re.compile(rf"^\s*\[\[\s*({_DOTTED})\s*\]\]")
_KEYVAL_RE = re.compile(rf"^\s*({_DOTTED})\s*=")


def _split_key(dotted: str) -> list[str]:
    parts = re.findall(_KEY, dotted)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


def _bracket_delta(text: str) -> tuple[int, bool]:
    """Net [ and { depth change of a value fragment, ignoring strings and comments."""
    depth = 0
    i = 0
    while i < len(text):
        c = text[i]
        if c == "#":
            break
        if c in "\"'":
            triple = text[i:i + 3] == c * 3
            if triple:
                end = text.find(c * 3, i + 3)
                if end < 0:
                    return depth, True  # multi-line string continues
                i = end + 3
                continue
            j = i + 1
            while j < len(text) and text[j] != c:
                j += 2 if (c == '"' and text[j] == "\\") else 1
            i = j + 1
            continue
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        i += 1
    return depth, False


def key_lines(text: str) -> dict[str, int]:
    """Map key paths such as "server.url" and "bins[0].zone" to line numbers."""
    lines: dict[str, int] = {}
    table: list[str] = []
    array_counts: dict[str, int] = {}
    depth = 0
    in_multiline = False
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if '"""' in line or "'''" in line:
                in_multiline = False
            continue
        if depth > 0:
            d, in_multiline = _bracket_delta(line)
            depth += d
            continue
        m = _ARRAY_TABLE_RE.match(line)
        if m:
            name = ".".join(_split_key(m.group(1)))
            index = array_counts.get(name, 0)
            array_counts[name] = index + 1
            table = [f"{name}[{index}]"]
            lines.setdefault(name, number)
            lines[table[0]] = number
            continue
        m = _TABLE_RE.match(line)
        if m:
            table = [".".join(_split_key(m.group(1)))]
            lines.setdefault(table[0], number)
            continue
        m = _KEYVAL_RE.match(line)
        if m:
            path = ".".join(table + _split_key(m.group(1)))
            lines.setdefault(path, number)
            d, in_multiline = _bracket_delta(line[m.end():])
            depth = max(d, 0)
    return lines


def _line_for(lines: dict[str, int], path: str) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            break
        path = path[:cut]
    return lines.get(path)


# --------------------------------------------------------------------------
# The schema: one Field per key, with a description and bounds.

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
        "rules": Field("str", "rule set name passed to edge.rules.load_rules", default="beijing",
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
        "batch_size": Field("int", "events per request (the server takes at most 500)", default=500,
                            minimum=1, maximum=500),
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
                                 minimum=64, maximum=1280),
        "evidence_quality": Field("int", "JPEG quality of evidence", default=70, minimum=20, maximum=95),
        "household_reader": Field("path", "line-based reader of household cards or QR codes "
                                  "(serial device, FIFO or file)"),
        "household_window": Field("float", "seconds a household token waits for its disposal",
                                  default=15.0, minimum=0.1, maximum=3600),
    },
}

BIN_SCHEMA: dict[str, Field] = {
    "name": Field("str", "a name for logs, needed only to tell apart two bins of one category "
                  "(events carry the category, which is how the server knows a station's bins)",
                  pattern=r"^[A-Za-z0-9_-]{1,32}$"),
    "category": Field("str", "waste category the bin takes", required=True, choices=CATEGORIES),
    "zone": Field("polygon", "drop zone: [[x, y], ...] in pixels of the camera frame", required=True),
}

REQUIRED_SECTIONS = ("station", "camera", "server")


# --------------------------------------------------------------------------
# The validated result.

@dataclass
class Bin:
    name: str
    category: str
    zone: list[tuple[float, float]]


@dataclass
class Config:
    path: Path
    station: dict
    camera: dict
    motion: dict
    episode: dict
    classifier: dict
    server: dict
    outbox: dict
    privacy: dict
    bins: list[Bin] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # problems that only `run` refuses

    @property
    def tz(self) -> timezone:
        return parse_offset(self.station["timezone"])

    def token(self) -> str:
        if self.server.get("token"):
            return self.server["token"]
        return read_token(self.server["token_file"])

    def in_window(self, hour_minute: int) -> bool:
        """Whether minute-of-day `hour_minute` is inside an opening window."""
        windows = self.station["windows"]
        if not windows:
            return True
        for start, end in windows:
            if start <= end and start <= hour_minute < end:
                return True
            if start > end and (hour_minute >= start or hour_minute < end):
                return True
        return False


def parse_offset(text: str) -> timezone:
    m = re.fullmatch(r"([+-])(\d\d):(\d\d)", text)
    if not m:
        raise ValueError("expected an offset like +08:00")
    sign = 1 if m.group(1) == "+" else -1
    hours, minutes = int(m.group(2)), int(m.group(3))
    if hours > 14 or minutes > 59:
        raise ValueError("offset out of range")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def read_token(path) -> str:
    token = Path(path).read_text(encoding="utf-8").strip()
    if not token or any(c.isspace() for c in token):
        raise ValueError("token file is empty or holds more than one token")
    return token


def _polygon_area(points) -> float:
    area = 0.0
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True):
        area += x1 * y2 - x2 * y1
    return abs(area) / 2


class _Checker:
    def __init__(self, base_dir: Path, lines: dict[str, int]):
        self.base_dir = base_dir
        self.lines = lines
        self.problems: list[tuple[int | None, str, str]] = []

    def problem(self, path: str, message: str):
        self.problems.append((_line_for(self.lines, path), path, message))

    def value(self, path: str, spec: Field, value: Any):
        """Return the checked value, or raise _Bad after recording a problem."""
        kind = spec.kind
        if kind == "bool":
            if not isinstance(value, bool):
                return self._bad(path, "must be true or false")
            return value
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                return self._bad(path, "must be an integer")
            return self._bounds(path, spec, value)
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                return self._bad(path, "must be a number")
            return self._bounds(path, spec, float(value))
        if kind in ("str", "path", "offset"):
            if not isinstance(value, str):
                return self._bad(path, "must be a string")
            if spec.pattern and not re.fullmatch(spec.pattern, value):
                return self._bad(path, f"{value!r} does not match {spec.pattern}")
            if spec.choices and value not in spec.choices:
                return self._bad(path, f"{value!r} is not one of {', '.join(spec.choices)}")
            if kind == "path":
                if not value:
                    return self._bad(path, "must not be empty")
                return self.base_dir / os.path.expanduser(value)
            if kind == "offset":
                try:
                    parse_offset(value)
                except ValueError as e:
                    return self._bad(path, str(e))
            return value
        if kind == "source":
            if isinstance(value, bool):
                return self._bad(path, "must be a camera index, URL, file or folder")
            if isinstance(value, int):
                if not 0 <= value <= 63:
                    return self._bad(path, "camera index must be 0..63")
                return value
            if not isinstance(value, str) or not value:
                return self._bad(path, "must be a camera index, URL, file or folder")
            if re.match(r"^[a-z][a-z0-9+.-]*://", value):
                return value
            resolved = self.base_dir / os.path.expanduser(value)
            if not resolved.exists():
                return self._bad(path, f"{value!r}: no such file or folder")
            return resolved
        if kind == "polygon":
            if not isinstance(value, list) or len(value) < 3:
                return self._bad(path, "a polygon needs at least 3 points [[x, y], ...]")
            points = []
            for i, p in enumerate(value):
                if (not isinstance(p, list) or len(p) != 2
                        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)):
                    return self._bad(f"{path}[{i}]", "a point is [x, y] with two numbers")
                if p[0] < 0 or p[1] < 0 or p[0] > 10000 or p[1] > 10000:
                    return self._bad(f"{path}[{i}]", "coordinates must be 0..10000 pixels")
                points.append((float(p[0]), float(p[1])))
            if _polygon_area(points) < 1.0:
                return self._bad(path, "polygon has no area")
            return points
        if kind == "windows":
            if not isinstance(value, list):
                return self._bad(path, 'must be a list of "HH:MM-HH:MM"')
            out = []
            for i, w in enumerate(value):
                m = re.fullmatch(r"(\d\d):(\d\d)-(\d\d):(\d\d)", w) if isinstance(w, str) else None
                if not m:
                    return self._bad(f"{path}[{i}]", 'a window is "HH:MM-HH:MM"')
                h1, m1, h2, m2 = map(int, m.groups())
                if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
                    return self._bad(f"{path}[{i}]", "not a time of day")
                out.append((h1 * 60 + m1, h2 * 60 + m2))
            return tuple(out)
        raise AssertionError(kind)

    def _bounds(self, path, spec, value):
        if spec.minimum is not None and value < spec.minimum:
            return self._bad(path, f"{value} is below the minimum {spec.minimum:g}")
        if spec.maximum is not None and value > spec.maximum:
            return self._bad(path, f"{value} is above the maximum {spec.maximum:g}")
        return value

    def _bad(self, path, message):
        self.problem(path, message)
        raise _Bad()

    def table(self, path: str, schema: dict[str, Field], data: Any) -> dict:
        if not isinstance(data, dict):
            self.problem(path, "must be a table")
            return {k: f.default for k, f in schema.items()}
        out = {}
        for key in data:
            if key not in schema:
                known = ", ".join(schema)
                self.problem(f"{path}.{key}", f"unknown key (known: {known})")
        for key, spec in schema.items():
            sub = f"{path}.{key}"
            if key not in data:
                if spec.required:
                    self.problem(sub, "is required")
                out[key] = spec.default
                if spec.kind == "path" and spec.default is not None:
                    out[key] = self.base_dir / spec.default
                continue
            try:
                out[key] = self.value(sub, spec, data[key])
            except _Bad:
                out[key] = spec.default
        return out


class _Bad(Exception):
    pass


def load_config(path, overrides: dict | None = None, *, token_required: bool = True) -> Config:
    """Read and validate a station config; raise ConfigError with every problem.

    A token file that cannot be read is a problem when `token_required` (the
    station is about to run), and only a warning in `Config.warnings`
    otherwise: check-config validates a file written for another machine,
    such as the shipped example that names /etc/sortwatch/token.

    `overrides` maps "section.key" to values given on the command line (for
    example {"camera.source": "clip.mp4"}); they are checked like file values
    and reported with the key and "command line" instead of a line number.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(path, [(None, "", f"cannot read: {e.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(path, [(None, "", "not UTF-8")]) from None
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        raise ConfigError(path, [(int(m.group(1)) if m else None, "", f"TOML syntax: {e}")]) from None

    base_dir = path.resolve().parent
    checker = _Checker(base_dir, key_lines(text))
    for key in data:
        if key not in SCHEMA and key != "bins":
            checker.problem(key, f"unknown section (known: {', '.join(list(SCHEMA) + ['bins'])})")
    for name in REQUIRED_SECTIONS:
        if name not in data:
            checker.problem(name, "section is required")
    sections = {name: checker.table(name, schema, data.get(name, {})) for name, schema in SCHEMA.items()}

    # Command-line overrides are validated by the same rules.
    cli = _Checker(Path.cwd(), {})
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, key = dotted.split(".")
        with contextlib.suppress(_Bad):  # the problem is recorded in cli.problems
            sections[section][key] = cli.value(dotted, SCHEMA[section][key], value)
        if dotted == "server.token_file":
            sections["server"]["token"] = None
    checker.problems.extend((None, k, f"{m} (command line)") for _, k, m in cli.problems)

    bins: list[Bin] = []
    raw_bins = data.get("bins")
    if raw_bins is None:
        checker.problem("bins", "at least one [[bins]] table is required")
    elif not isinstance(raw_bins, list) or not all(isinstance(b, dict) for b in raw_bins):
        checker.problem("bins", "must be [[bins]] tables")
    else:
        seen = {}
        for i, b in enumerate(raw_bins):
            values = checker.table(f"bins[{i}]", BIN_SCHEMA, b)
            if values["category"] and values["zone"]:
                values["name"] = values["name"] or values["category"]
                if values["name"] in seen:
                    checker.problem(f"bins[{i}].name", f"{values['name']!r} repeats bins[{seen[values['name']]}]")
                seen.setdefault(values["name"], i)
                bins.append(Bin(values["name"], values["category"], values["zone"]))
        if not raw_bins:
            checker.problem("bins", "at least one [[bins]] table is required")

    server = sections["server"]
    warnings: list[str] = []
    if server.get("token") and server.get("token_file"):
        checker.problem("server.token", "give token or token_file, not both")
    elif not server.get("token") and not server.get("token_file"):
        checker.problem("server", "token or token_file is required")
    elif server.get("token_file"):
        try:
            read_token(server["token_file"])
        except OSError as e:
            message = f"cannot read {server['token_file']}: {e.strerror}"
            if token_required:
                checker.problem("server.token_file", message)
            else:
                warnings.append(f"server.token_file: {message}")
        except ValueError as e:
            checker.problem("server.token_file", str(e))
    if server["backoff_min"] > server["backoff_max"]:
        checker.problem("server.backoff_min", "is larger than backoff_max")
    camera = sections["camera"]
    if camera["reconnect_min"] > camera["reconnect_max"]:
        checker.problem("camera.reconnect_min", "is larger than reconnect_max")
    if checker.problems:
        raise ConfigError(path, checker.problems)
    return Config(path=path, bins=bins, warnings=warnings, **sections)


def describe() -> str:
    """Every key with its description, default and bounds (for --describe)."""
    out = []
    for section, schema in list(SCHEMA.items()) + [("[bins]", BIN_SCHEMA)]:
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


def add_arguments(parser) -> None:
    parser.add_argument("file", nargs="?", help="station config (TOML)")
    parser.add_argument("--describe", action="store_true", help="list every key with its bounds")


def main(args) -> int:
    if args.describe:
        print(describe())
        return 0
    if not args.file:
        print("check-config: a FILE is required", file=sys.stderr)
        return 2
    try:
        config = load_config(args.file, token_required=False)
    except ConfigError as e:
        for line in e.lines():
            print(line, file=sys.stderr)
        return 1
    for warning in config.warnings:
        print(f"{args.file}: warning: {warning} (`run` refuses this)", file=sys.stderr)
    print(f"{args.file}: ok: station {config.station['id']}, {len(config.bins)} bins, "
          f"source {config.camera['source']}")
    return 0


__all__ = ["Bin", "Config", "ConfigError", "load_config", "add_arguments", "main"]
