"""Awareness cannot be inflated at will: a sheet has the configured number of
questions, is not answered faster than a person reads it, and one station
records at most one quiz per interval; refused attempts count nothing."""
from __future__ import annotations

import time

import pytest

from server import create_app
from server.settings import Settings

from ..support import login, make_settings
from .test_contract import check
from .test_quiz_and_surveys import answer, awareness, right_answers, sheet

DEFAULTS = Settings(env="test", database=None, secret_key="x")


@pytest.fixture
def app(db_path):
    """The server with the quiz limits of production, a little faster."""
    settings = make_settings(db_path, quiz_seconds_per_question=0.2, quiz_interval_seconds=2)
    return create_app({"SETTINGS": settings, "TESTING": True})


def test_production_defaults():
    assert (DEFAULTS.quiz_questions, DEFAULTS.quiz_seconds_per_question,
            DEFAULTS.quiz_interval_seconds) == (5, 2, 30)


def test_a_sheet_has_the_configured_number_of_questions(client, city):
    login(client, "vol")
    assert len(sheet(client)["questions"]) == 5
    for n in (1, 4, 10, "x"):
        r = client.get("/api/v1/quiz/questions", query_string={"station": "st-a", "n": n})
        assert r.status_code == 400 and r.get_json()["error"]["details"][0]["field"] == "n"


def test_answers_faster_than_reading_are_refused_and_not_counted(client, city):
    login(client, "vol")
    body = sheet(client)
    r = answer(client, body, right_answers(body))     # at once: 5 questions need 1 s
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "too_fast"
    check(r, "/api/v1/quiz", "post")
    assert 1 <= int(r.headers["Retry-After"]) <= 1
    login(client, "sanlihe")
    assert awareness(client)["denominator"] == 0
    login(client, "vol")
    time.sleep(1.0)
    assert answer(client, body, right_answers(body)).get_json()["recorded"] is True


def test_one_quiz_per_station_per_interval(client, city):
    login(client, "vol")
    first, second = sheet(client), sheet(client)
    time.sleep(1.0)
    assert answer(client, first, right_answers(first)).get_json()["recorded"] is True
    r = answer(client, second, right_answers(second))
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "too_soon"
    assert r.headers["Retry-After"] == "2"
    # The same sheet again is still a duplicate, not a refusal.
    assert answer(client, first, right_answers(first)).get_json()["recorded"] is False
    login(client, "sanlihe")
    assert awareness(client)["denominator"] == 1
    login(client, "vol")
    time.sleep(2.0)
    assert answer(client, second, right_answers(second)).get_json()["recorded"] is True


def test_fifty_one_question_quizzes_count_once(client, city):
    """The attack as it was found: many quick short quizzes by one volunteer."""
    login(client, "vol")
    sheets = [sheet(client) for _ in range(50)]
    time.sleep(1.0)
    statuses = [answer(client, s, right_answers(s)).status_code for s in sheets]
    assert statuses.count(200) == 1 and statuses.count(429) == 49
    login(client, "sanlihe")
    assert awareness(client)["denominator"] == 1
