"""Parsing a JSON request body strictly: bounded nesting, finite numbers.

The rules: a body nested deeper than MAX_DEPTH is refused before it is
parsed (the parser recurses once per level); NaN, Infinity and numbers
that overflow a float are refused, since JSON has no such values and a rate
or a health figure must be a real number."""
from __future__ import annotations

import json
import math
import re

MAX_DEPTH = 32  # an event batch is 3 deep, a heartbeat or a login 1

# A JSON string, written so that the regex engine does not backtrack.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class BodyError(ValueError):
    """The body is not acceptable JSON; the message says why."""


def nesting_depth(raw: bytes, limit: int = MAX_DEPTH) -> int:
    """The bracket depth of a JSON text, counted up to limit + 1 without parsing."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return 0  # cannot be deeper than its number of brackets
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = 0
    while brackets and depth <= limit:
        # Strip the innermost pairs: one pass per level.
        shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if shorter == brackets:
            break  # unbalanced: the parser will say where
        brackets, depth = shorter, depth + 1
    return depth


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BodyError(f"the number {text} is too large")
    return value


def _no_constant(name: str):
    raise BodyError(f"{name} is not a JSON number")


def parse(raw: bytes):
    """The JSON value of a request body; raises BodyError."""
    if nesting_depth(raw) > MAX_DEPTH:
        raise BodyError(f"the JSON is nested more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(raw, parse_float=_finite, parse_constant=_no_constant)
    except RecursionError:
        raise BodyError(f"the JSON is nested more than {MAX_DEPTH} levels deep") from None
    except UnicodeDecodeError:
        raise BodyError("the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise BodyError(f"the body is not valid JSON: {exc.msg} at line {exc.lineno} "
                        f"column {exc.colno}") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise BodyError(f"the body is not acceptable JSON: {exc}") from None
