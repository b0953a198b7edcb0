"""Where each key of a TOML file is: tomllib gives values but no positions, so
a small scanner maps key paths ("bins[1].zone") to the line that defines them."""
from __future__ import annotations

import re

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


def line_for(lines: dict[str, int], path: str) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            break
        path = path[:cut]
    return lines.get(path)
