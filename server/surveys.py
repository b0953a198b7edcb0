"""Door-to-door survey results an operator imports (import-surveys):
community_code,date,respondents,aware. Refused whole with line numbers."""
from __future__ import annotations

from datetime import date

from .csvfile import finish, read_rows

COLUMNS = ["community_code", "date", "respondents", "aware"]
MAX_RESPONDENTS = 100_000


def parse_surveys(text: str, today: date) -> list[dict]:
    raw, problems = read_rows(text, COLUMNS)
    rows, seen = [], {}
    for line, r in raw:
        code, day, respondents, aware = (r[c] for c in COLUMNS)
        mine = []
        if len(code) != 12 or not code.isascii() or not code.isdigit():
            mine.append(f"community_code must have 12 digits, got {code!r}")
        try:
            d = date.fromisoformat(day)
            if len(day) != 10:
                raise ValueError
            if d > today:
                mine.append(f"date {day} is in the future")
        except ValueError:
            mine.append(f"date must be YYYY-MM-DD, got {day!r}")
        try:
            n = int(respondents)
            if not 1 <= n <= MAX_RESPONDENTS:
                raise ValueError
        except ValueError:
            mine.append(f"respondents must be a whole number from 1 to {MAX_RESPONDENTS}, got {respondents!r}")
            n = None
        try:
            a = int(aware)
            if a < 0 or (n is not None and a > n):
                raise ValueError
        except ValueError:
            mine.append(f"aware must be a whole number from 0 to respondents, got {aware!r}")
        if (code, day) in seen:
            mine.append(f"community {code} on {day} already appears on line {seen[(code, day)]}")
        if mine:
            problems.extend(f"line {line}: {p}" for p in mine)
        else:
            seen[(code, day)] = line
            rows.append({"line": line, "community_code": code, "day": day,
                         "respondents": n, "aware": a})
    return finish(rows, problems)
