"""Checking values against the schema; every problem is kept with its line and key path."""
from __future__ import annotations

import math
import os
import re
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

from .lines import line_for
from .schema import Field


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
        self.problems.append((line_for(self.lines, path), path, message))

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
