"""Beijing time and reporting periods.

Days and months are always Beijing time (UTC+8, no daylight saving). A period
is a half-open range of Beijing days. The inspection month "2026-11" runs from
2026-10-20 to 2026-11-19: it is named by the month in which it ends, because
that is when the monthly check is published.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
TS_PATTERN = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$")
MONTH_PATTERN = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")  # whole string: use fullmatch
# Months a caller may ask for; the day before the first and after the last stay
# within what datetime can hold, so a period's neighbours can always be computed.
FIRST_YEAR, LAST_YEAR = 1901, 9998
PERIOD_KINDS = ("month", "inspection")


def parse_ts(text: str) -> datetime:
    """An ISO-8601 timestamp that must carry an offset; raises ValueError."""
    if not isinstance(text, str) or not TS_PATTERN.match(text):
        raise ValueError("must be an ISO-8601 timestamp with an offset, "
                         "e.g. 2026-11-29T07:42:13.250+08:00")
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def now_utc() -> datetime:
    return datetime.now(UTC)


def beijing(ts: datetime) -> datetime:
    return ts.astimezone(BEIJING)


@dataclass(frozen=True)
class Period:
    kind: str
    label: str       # YYYY-MM
    start: date      # first Beijing day, inclusive
    end: date        # last Beijing day, inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def start_utc(self) -> datetime:
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=BEIJING)

    def end_utc(self) -> datetime:
        return self.start_utc() + timedelta(days=self.days)

    def previous(self) -> Period:
        y, m = int(self.label[:4]), int(self.label[5:])
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
        return _period(y, m, self.kind)

    def as_json(self) -> dict:
        return {"kind": self.kind, "label": self.label,
                "start": self.start.isoformat(), "end": self.end.isoformat()}


def _month_bounds(y: int, m: int) -> tuple[date, date]:
    first = date(y, m, 1)
    nxt = date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)
    return first, nxt - timedelta(days=1)


def make_period(label: str, kind: str = "month") -> Period:
    """Raises ValueError with a message a caller can show."""
    match = MONTH_PATTERN.fullmatch(label) if isinstance(label, str) else None
    if not match:
        raise ValueError("month must look like YYYY-MM")
    if kind not in PERIOD_KINDS:
        raise ValueError("period must be 'month' or 'inspection'")
    y, m = int(match.group(1)), int(match.group(2))
    if not FIRST_YEAR <= y <= LAST_YEAR:
        raise ValueError(f"month must be from {FIRST_YEAR} to {LAST_YEAR}")
    return _period(y, m, kind)


def _period(y: int, m: int, kind: str) -> Period:
    if kind == "month":
        start, end = _month_bounds(y, m)
    else:
        py, pm = (y - 1, 12) if m == 1 else (y, m - 1)
        start, end = date(py, pm, 20), date(y, m, 19)
    return Period(kind, f"{y:04d}-{m:02d}", start, end)


def periods_of_day(day: date) -> dict[str, str]:
    """The month label and the inspection-month label a Beijing day falls in."""
    month = f"{day.year:04d}-{day.month:02d}"
    if day.day >= 20:
        y, m = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
        inspection = f"{y:04d}-{m:02d}"
    else:
        inspection = month
    return {"month": month, "inspection": inspection}


def current_month_label() -> str:
    today = beijing(now_utc()).date()
    return f"{today.year:04d}-{today.month:02d}"
