"""The residents' sorting quiz (docs/design.md §6.3, awareness 知晓率).

The server draws the questions from the rule set and signs the sheet, so a
client can neither choose its questions nor claim a score: it sends only
the answers, and each signed sheet counts once. A sheet has the configured
number of questions, and answers that come back sooner than a person can
read the questions are refused (QuizTooFast); the store refuses a second
quiz at one station within the configured interval."""
from __future__ import annotations

import math
import random
import secrets
import time

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .errors import ApiError
from .feedback import rules_for

PASS_SHARE = 0.8
MAX_AGE_SECONDS = 30 * 60


class QuizTooFast(ApiError):
    def __init__(self, wait: int):
        super().__init__(429, "too_fast", "these answers came back faster than a person can read "
                         f"the questions; answer again in {wait} s",
                         headers={"Retry-After": str(wait)})


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="sortwatch-quiz")


def draw_questions(secret: str, station_id: str, n: int,
                   rules_tag: str = "beijing", rng: random.Random | None = None) -> dict:
    rules = rules_for(rules_tag)
    rng = rng or random.SystemRandom()
    items = rng.sample(rules.items, min(n, len(rules.items)))
    nonce = secrets.token_urlsafe(12)
    token = _serializer(secret).dumps({"s": station_id, "i": items, "r": rules.tag, "n": nonce})
    choices = list(rules.categories)
    return {
        "station_id": station_id, "rules": rules.tag, "token": token, "pass_share": PASS_SHARE,
        "questions": [{
            "item": item,
            "text": {"zh": f"{rules.item_name(item, 'zh')}应该投进哪个桶？",
                     "en": f"Which bin does {rules.item_name(item, 'en')} go into?"},
            "choices": [{"bin": c, "zh": rules.category_name(c, "zh"),
                         "en": rules.category_name(c, "en")} for c in choices],
        } for item in items],
    }


def score(secret: str, station_id: str, token, answers, seconds_per_question: float = 0,
          now: float | None = None) -> dict:
    """Check the signed sheet and score the answers; raises ApiError."""
    if not isinstance(token, str):
        raise ApiError(400, "invalid_request", "token is required",
                       [{"field": "token", "message": "is required"}])
    try:
        sheet, issued = _serializer(secret).loads(token, max_age=MAX_AGE_SECONDS,
                                                  return_timestamp=True)
    except SignatureExpired:
        raise ApiError(400, "quiz_expired", "this question sheet is too old; draw a new one") from None
    except BadSignature:
        raise ApiError(400, "invalid_token", "this question sheet was not issued by the server") from None
    if sheet["s"] != station_id:
        raise ApiError(400, "invalid_token", "this question sheet belongs to another station")
    items = sheet["i"]
    if not isinstance(answers, list) or len(answers) != len(items):
        raise ApiError(400, "invalid_request", f"send exactly {len(items)} answers",
                       [{"field": "answers", "message": f"must be a list of {len(items)} bins"}])
    rules = rules_for(sheet["r"])
    details = [{"field": f"answers/{i}", "message": "must be one of " + ", ".join(rules.categories)}
               for i, a in enumerate(answers) if not isinstance(a, str) or a not in rules.categories]
    if details:
        raise ApiError(400, "invalid_request", "answers must be bins", details)
    least = seconds_per_question * len(items)
    taken = (time.time() if now is None else now) - issued.timestamp()
    if taken < least:
        raise QuizTooFast(max(1, math.ceil(least - taken)))
    right = [rules.accepts(item, answer) for item, answer in zip(items, answers, strict=True)]
    k = sum(right)
    return {
        "nonce": sheet["n"], "score": k, "of": len(items), "passed": k >= PASS_SHARE * len(items),
        "corrections": [{"item": item, "answer": answer, "right": ok,
                         "bin": rules.category(item),
                         "zh": f"{rules.item_name(item, 'zh')} → {rules.category_name(rules.category(item), 'zh')}"}
                        for item, answer, ok in zip(items, answers, right, strict=True)],
    }
