"""Parsing the hierarchy file an operator imports (import-regions).

The whole file is checked before anything is written: one bad line refuses
the file, with every problem's line number and reason."""
from __future__ import annotations

from .csvfile import ImportRefused, finish, read_rows

__all__ = ["COLUMNS", "ImportRefused", "parse_regions"]

COLUMNS = ["district_code", "district", "street_code", "street",
           "community_code", "community", "households"]
MAX_HOUSEHOLDS = 200_000


def _code_problem(value: str, digits: int, parent: str | None, what: str) -> str | None:
    if len(value) != digits or not value.isascii() or not value.isdigit():
        return f"{what}_code must have {digits} digits, got {value!r}"
    if parent is not None and not value.startswith(parent):
        return f"{what}_code {value} does not start with its parent's code {parent}"
    return None


def parse_regions(text: str, max_problems: int = 50) -> list[dict]:
    """Rows of a regions CSV as dicts; raises ImportRefused."""
    raw, problems = read_rows(text, COLUMNS)
    rows = []
    seen: dict[str, tuple] = {}
    names: dict[str, tuple[str, int]] = {}
    for line, r in raw:
        mine = [
            _code_problem(r["district_code"], 6, None, "district"),
            _code_problem(r["street_code"], 9, r["district_code"], "street"),
            _code_problem(r["community_code"], 12, r["street_code"], "community"),
        ]
        for col in ("district", "street", "community"):
            if not r[col]:
                mine.append(f"{col} name is empty")
        try:
            households = int(r["households"])
            if not 0 <= households <= MAX_HOUSEHOLDS:
                raise ValueError
            r["households"] = households
        except ValueError:
            mine.append(f"households must be a whole number from 0 to {MAX_HOUSEHOLDS}, "
                        f"got {r['households']!r}")
        if r["community_code"] in seen:
            mine.append(f"community {r['community_code']} already appears on line "
                        f"{seen[r['community_code']][0]}")
        for code_col, name_col in (("district_code", "district"), ("street_code", "street")):
            code, name = r[code_col], r[name_col]
            if code in names and names[code][0] != name:
                mine.append(f"{code_col} {code} is named {name!r} here but "
                            f"{names[code][0]!r} on line {names[code][1]}")
        mine = [p for p in mine if p]
        if mine:
            problems.extend(f"line {line}: {p}" for p in mine)
        else:
            seen[r["community_code"]] = (line,)
            for code_col, name_col in (("district_code", "district"), ("street_code", "street")):
                names.setdefault(r[code_col], (r[name_col], line))
            rows.append(r)
        if len(problems) >= max_problems:
            problems.append("... (stopped after the first problems)")
            break
    return finish(rows, problems)
