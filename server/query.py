"""What a query string may say, read once for the API, the pages and the
downloads: each parser returns the value or raises ApiError(400), which the
API answers in its JSON error shape and the pages as their error page."""
from __future__ import annotations

from .errors import ApiError
from .rankings import LEVELS_BELOW, RANKING_METRICS
from .scopes import CITY, LEVEL_LENGTHS, LEVELS, level_of
from .timeutil import Period, current_month_label, make_period


def invalid(field: str, message: str, detail: str = "invalid") -> ApiError:
    return ApiError(400, "invalid_request", message, [{"field": field, "message": detail}])


def scope(args) -> tuple[str, str]:
    """`level=` and `code=` (no code for the city)."""
    level = args.get("level", "")
    if level not in LEVELS:
        raise invalid("level", f"level must be one of {', '.join(LEVELS)}")
    if level == "city":
        if args.get("code"):
            raise invalid("code", "omit code for the city", "not allowed with level=city")
        return level, CITY
    code = args.get("code", "")
    length = LEVEL_LENGTHS[level]
    if len(code) != length or not code.isdigit():
        raise invalid("code", f"a {level} code has {length} digits")
    return level, code


def within(args, default: str = CITY) -> str:
    """`within=CODE` (a district, street or community code), or `default`."""
    code = args.get("within") or default
    try:
        level_of(code)
    except ValueError:
        raise invalid("within", "within must be a 6, 9 or 12-digit division code") from None
    return code


def member_level(args, inside: str) -> str:
    """`level=`: the level whose members are ranked inside `inside`."""
    level = args.get("level", "")
    allowed = LEVELS_BELOW[level_of(inside)]
    if level not in allowed:
        raise invalid("level", f"level must be one of {', '.join(allowed) or '(none)'} inside {inside}",
                      "invalid for this scope")
    return level


def metric(args) -> str:
    value = args.get("metric") or "accuracy"
    if value not in RANKING_METRICS:
        raise invalid("metric", f"metric must be one of {', '.join(RANKING_METRICS)}")
    return value


def period(args) -> Period:
    """`month=YYYY-MM` (default this month) and `period=` (default month)."""
    try:
        return make_period(args.get("month") or current_month_label(), args.get("period", "month"))
    except ValueError as exc:
        raise invalid("month", str(exc), str(exc)) from None
