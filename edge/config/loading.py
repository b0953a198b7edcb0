"""Reading a station config file into a frozen, validated Config."""
from __future__ import annotations

import contextlib
import re
import tomllib
from dataclasses import dataclass, replace
from datetime import timezone
from pathlib import Path
from typing import Any

from .checking import ConfigError, _Bad, _Checker, parse_offset, read_token
from .lines import key_lines
from .schema import BIN_SCHEMA, GROUND_SCHEMA, REQUIRED_SECTIONS, SCHEMA, SECTION_TYPES

ARRAYS = ("bins", "ground")


@dataclass(frozen=True)
class Bin:
    name: str
    category: str
    zone: tuple[tuple[float, float], ...]
    opening: tuple[tuple[float, float], ...] | None = None  # judged ok / full / overflow


@dataclass(frozen=True)
class Ground:
    """A ground zone judged clean or litter; `bin` is the category its litter events name."""
    name: str
    zone: tuple[tuple[float, float], ...]
    bin: str


@dataclass(frozen=True)
class Config:
    """A validated station config: one frozen section object per [table]
    (fields as in schema.SCHEMA), the bins, and warnings that only `run` refuses."""

    path: Path
    station: Any
    camera: Any
    motion: Any
    episode: Any
    classifier: Any
    server: Any
    outbox: Any
    privacy: Any
    learning: Any
    condition: Any
    updates: Any
    bins: tuple[Bin, ...] = ()
    ground: tuple[Ground, ...] = ()
    warnings: tuple[str, ...] = ()

    def updated(self, section: str, **values) -> Config:
        """A copy with some values of one section changed (tests, benchmarks)."""
        return replace(self, **{section: replace(getattr(self, section), **values)})

    @property
    def tz(self) -> timezone:
        return parse_offset(self.station.timezone)

    def token(self) -> str:
        if self.server.token:
            return self.server.token
        return read_token(self.server.token_file)

    def public_key(self):
        """The registry's Ed25519 public key, or None when updates are off."""
        from contract.artifacts import public_key_from_text
        u = self.updates
        if u.public_key:
            return public_key_from_text(u.public_key)
        if u.public_key_file:
            return public_key_from_text(Path(u.public_key_file).read_text(encoding="ascii"))
        return None

    def in_window(self, hour_minute: int) -> bool:
        """Whether minute-of-day `hour_minute` is inside an opening window."""
        windows = self.station.windows
        if not windows:
            return True
        for start, end in windows:
            if start <= end and start <= hour_minute < end:
                return True
            if start > end and (hour_minute >= start or hour_minute < end):
                return True
        return False


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
        if key not in SCHEMA and key not in ARRAYS:
            checker.problem(key, f"unknown section (known: {', '.join(list(SCHEMA) + list(ARRAYS))})")
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
                opening = tuple(values["opening"]) if values["opening"] else None
                bins.append(Bin(values["name"], values["category"], tuple(values["zone"]), opening))
        if not raw_bins:
            checker.problem("bins", "at least one [[bins]] table is required")
    ground = _ground_zones(checker, data.get("ground"), bins)
    condition = sections["condition"]
    if condition["hold"] < condition["interval"]:
        checker.problem("condition.hold", f"{condition['hold']:g} s is shorter than condition.interval "
                        f"({condition['interval']:g} s): a state could never hold for two judgements")

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
    _check_public_key(checker, sections["updates"])
    camera = sections["camera"]
    if camera["reconnect_min"] > camera["reconnect_max"]:
        checker.problem("camera.reconnect_min", "is larger than reconnect_max")
    if checker.problems:
        raise ConfigError(path, checker.problems)
    return Config(path=path, bins=tuple(bins), ground=ground, warnings=tuple(warnings),
                  **{name: SECTION_TYPES[name](**values) for name, values in sections.items()})


def _ground_zones(checker, raw, bins: list[Bin]) -> tuple[Ground, ...]:
    """The [[ground]] tables; each names a bin of [[bins]] (the first one by default)."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(g, dict) for g in raw):
        checker.problem("ground", "must be [[ground]] tables")
        return ()
    by_name = {b.name: b for b in bins}
    out, seen = [], {}
    for i, g in enumerate(raw):
        values = checker.table(f"ground[{i}]", GROUND_SCHEMA, g)
        name = values["name"] or f"ground{i}"
        if name in seen:
            checker.problem(f"ground[{i}].name", f"{name!r} repeats ground[{seen[name]}]")
        seen.setdefault(name, i)
        bin_name = values["bin"]
        if bin_name is not None and bin_name not in by_name:
            checker.problem(f"ground[{i}].bin", f"no bin is named {bin_name!r} (bins: {', '.join(by_name) or 'none'})")
            continue
        if values["zone"] and bins:
            out.append(Ground(name, tuple(values["zone"]), by_name[bin_name].category if bin_name
                              else bins[0].category))
    return tuple(out)


def _check_public_key(checker, updates: dict) -> None:
    from contract.artifacts import ArtifactError, public_key_from_text
    if updates.get("public_key") and updates.get("public_key_file"):
        checker.problem("updates.public_key", "give public_key or public_key_file, not both")
        return
    for key in ("public_key", "public_key_file"):
        if not updates.get(key):
            continue
        try:
            text = updates[key] if key == "public_key" else Path(updates[key]).read_text(encoding="ascii")
            public_key_from_text(text)
        except OSError as e:
            checker.problem(f"updates.{key}", f"cannot read {updates[key]}: {e.strerror}")
        except (ArtifactError, UnicodeDecodeError) as e:
            checker.problem(f"updates.{key}", f"not an Ed25519 public key: {e}")
