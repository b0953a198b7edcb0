"""Awareness: quizzes scored by the server, surveys imported by an operator."""
from __future__ import annotations

import pytest

from contract.rules import load_rules
from server.rates import wilson_interval

from ..support import login, write_regions

RULES = load_rules("beijing")


def sheet(client, station="st-a", n=5):
    r = client.get("/api/v1/quiz/questions", query_string={"station": station, "n": n})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def answer(client, body, answers, station="st-a"):
    return client.post("/api/v1/quiz", json={"station_id": station, "token": body["token"],
                                             "answers": answers})


def right_answers(body):
    return [RULES.category(q["item"]) for q in body["questions"]]


def awareness(client, code="110102001001", month=None):
    from server.timeutil import current_month_label
    r = client.get("/api/v1/stats", query_string={"level": "community", "code": code,
                                                  "month": month or current_month_label()})
    return r.get_json()["awareness"]


def test_quiz_is_scored_by_the_server_and_counted_once(client, city):
    login(client, "vol")
    body = sheet(client)
    assert len(body["questions"]) == 5 and len(body["questions"][0]["choices"]) == 4
    assert "token" in body and "answer" not in str(body["questions"][0]).lower()
    good = right_answers(body)
    bad = good[:3] + [("other" if g != "other" else "kitchen") for g in good[3:]]
    wrong_items = [q["item"] for q, a in zip(body["questions"][3:], bad[3:], strict=True)
                   if not RULES.accepts(q["item"], a)]
    r = answer(client, body, bad).get_json()
    assert r["of"] == 5 and r["score"] == 5 - len(wrong_items)
    assert r["passed"] == (r["score"] >= 4) and r["recorded"] is True
    again = answer(client, body, good).get_json()
    assert again["recorded"] is False          # the same sheet counts once
    second = sheet(client)
    assert answer(client, second, right_answers(second)).get_json()["passed"] is True
    login(client, "sanlihe")
    a = awareness(client)
    assert a["denominator"] == 2 and a["numerator"] == int(r["passed"]) + 1
    assert a["interval"] == pytest.approx(wilson_interval(a["numerator"], 2))


def test_quiz_refusals(client, city):
    login(client, "vol")
    body = sheet(client)
    tampered = dict(body, token=body["token"][:-2] + ("AA" if body["token"][-2:] != "AA" else "BB"))
    assert answer(client, tampered, right_answers(body)).status_code == 400
    assert answer(client, body, right_answers(body)[:4]).status_code == 400
    assert answer(client, body, ["green"] * 5).status_code == 400
    assert client.get("/api/v1/quiz/questions", query_string={"station": "st-b"}).status_code == 403
    r = client.post("/api/v1/quiz", json={"station_id": "st-a", "token": body["token"],
                                          "answers": right_answers(body), "score": 5})
    assert r.status_code == 400 and r.get_json()["error"]["details"][0]["field"] == "score"
    # A household that reads as a phone number is personal data: refused, the sheet still unused.
    r = client.post("/api/v1/quiz", json={"station_id": "st-a", "token": body["token"],
                                          "answers": right_answers(body), "household": "138-1234-5678"})
    assert r.status_code == 400 and r.get_json()["error"]["details"][0]["field"] == "household"
    assert answer(client, body, right_answers(body)).get_json()["recorded"] is True
    login(client, "city")
    other = sheet(client, "st-c")
    r = client.post("/api/v1/quiz", json={"station_id": "st-a", "token": other["token"],
                                          "answers": ["other"] * 5})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_token"


SURVEY = "community_code,date,respondents,aware\n110102001001,2026-11-03,50,47\n110105001001,2026-11-04,20,20\n"


def test_surveys_import_replace_and_refuse(app, client, city, runner, tmp_path):
    ok = runner.invoke(args=["import-surveys", str(write_regions(tmp_path, SURVEY, "s.csv"))])
    assert ok.exit_code == 0 and "added: 2" in ok.output, ok.output
    again = runner.invoke(args=["import-surveys", str(write_regions(tmp_path, SURVEY, "s.csv"))])
    assert "unchanged: 2" in again.output
    fixed = SURVEY.replace("50,47", "60,50")
    assert "replaced: 1" in runner.invoke(
        args=["import-surveys", str(write_regions(tmp_path, fixed, "t.csv"))]).output
    login(client, "city")
    a = awareness(client, month="2026-11")
    assert (a["numerator"], a["denominator"]) == (50, 60)
    district = client.get("/api/v1/stats", query_string={"level": "city", "month": "2026-11"}).get_json()
    assert district["awareness"]["denominator"] == 80
    bad = ("community_code,date,respondents,aware\n110102001001,2026-11-05,10,11\n"
           "110102001001,2026-13-01,10,1\n1101020010,2026-11-05,10,1\n"
           "110102001002,2099-01-01,5,1\n")
    result = runner.invoke(args=["import-surveys", str(write_regions(tmp_path, bad, "b.csv"))])
    assert result.exit_code != 0
    for line in ("line 2: aware", "line 3: date", "line 4: community_code", "line 5: date"):
        assert line in result.output, result.output
    unknown = "community_code,date,respondents,aware\n110102001001,2026-11-06,9,9\n999999999999,2026-11-06,1,1\n"
    result = runner.invoke(args=["import-surveys", str(write_regions(tmp_path, unknown, "u.csv"))])
    assert result.exit_code != 0 and "line 3: unknown community" in result.output
    assert (awareness(client, month="2026-11")["denominator"]) == 60   # nothing of it was written
