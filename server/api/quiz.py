"""The residents' quiz on the volunteer tablet: draw a sheet, send answers."""
from __future__ import annotations

import re
from datetime import timedelta

from flask import Blueprint, current_app, g, request

from contract.limits import HOUSEHOLD_PATTERN, looks_like_phone_number

from .. import get_store
from ..auth import login_required
from ..errors import ApiError
from ..quiz import draw_questions, score
from ..timeutil import beijing, now_utc
from .events import json_body
from .stations import visible_station

bp = Blueprint("quiz", __name__, url_prefix="/api/v1")
HOUSEHOLD = re.compile(HOUSEHOLD_PATTERN)


@bp.get("/quiz/questions")
@login_required
def questions():
    station = visible_station(get_store(), request.args.get("station", ""))
    n = current_app.config["SETTINGS"].quiz_questions
    if request.args.get("n", str(n)) != str(n):
        # Every respondent answers a sheet of the same length, or the share
        # who pass would depend on the sheet a volunteer picked.
        raise ApiError(400, "invalid_request", f"a sheet has {n} questions on this server",
                       [{"field": "n", "message": f"must be {n} (or left out)"}])
    return draw_questions(current_app.config["SECRET_KEY"], station["id"], n)


@bp.post("/quiz")
@login_required
def take_quiz():
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "send a JSON object")
    unknown = sorted(set(body) - {"station_id", "token", "answers", "household"})
    if unknown:
        raise ApiError(400, "invalid_request", "unknown fields",
                       [{"field": k, "message": "unknown field"} for k in unknown])
    household = body.get("household")
    if household is not None and (not isinstance(household, str) or not HOUSEHOLD.fullmatch(household)
                                  or looks_like_phone_number(household)):
        raise ApiError(400, "invalid_request", "household must be an opaque token, never a phone number",
                       [{"field": "household", "message": "1-64 letters, digits, _ or -, not a phone number"}])
    store = get_store()
    station = visible_station(store, str(body.get("station_id", "")))
    settings = current_app.config["SETTINGS"]
    result = score(current_app.config["SECRET_KEY"], station["id"], body.get("token"),
                   body.get("answers"), settings.quiz_seconds_per_question)
    now = now_utc()
    recorded = store.record_quiz({
        "nonce": result["nonce"], "station_id": station["id"],
        "community_code": station["community_code"], "day": beijing(now).date().isoformat(),
        "score": result["score"], "questions": result["of"], "passed": int(result["passed"]),
        "household": household, "taken_by": g.user["username"], "taken_at": now.isoformat()},
        not_after=(now - timedelta(seconds=settings.quiz_interval_seconds)).isoformat())
    if recorded is None:
        raise ApiError(429, "too_soon", f"station {station['id']} records at most one quiz every "
                       f"{settings.quiz_interval_seconds} s", headers={
                           "Retry-After": str(settings.quiz_interval_seconds)})
    del result["nonce"]
    return {**result, "recorded": recorded}
