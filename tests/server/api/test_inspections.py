"""Inspections (查N错M), audits and the corrected accuracy, through HTTP on
both stores (docs/design.md, "Trusting the numbers")."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from server.timeutil import BEIJING

from ..support import disposal, login, post_events

# The middle of last month: every record and disposal of these tests lies in
# one month, whatever the hour they run at.
NOW = (datetime.now(BEIJING).replace(day=1, hour=10, minute=0, second=0, microsecond=0)
       - timedelta(days=15))


def iso(dt: datetime) -> str:
    return dt.isoformat()


def record(**fields) -> dict:
    body = {"station_id": "st-a", "start": iso(NOW - timedelta(hours=1)),
            "end": iso(NOW - timedelta(minutes=30)), "checked": 40, "wrong": 3, "note": "早高峰"}
    body.update(fields)
    return body


def month_stats(client, level, code=None):
    query = f"level={level}" + (f"&code={code}" if code else "")
    response = client.get(f"/api/v1/stats?{query}&month={NOW.strftime('%Y-%m')}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["accuracy"]


def test_an_inspector_records_a_spot_check_and_every_level_shows_it(client, city):
    login(client, "insp")
    response = client.post("/api/v1/inspections", json=record())
    assert response.status_code == 201, response.get_json()
    stored = response.get_json()
    assert stored["checked"] == 40 and stored["wrong"] == 3 and stored["inspector"] == "insp"
    assert stored["accuracy"] == pytest.approx(37 / 40) and stored["note"] == "早高峰"
    listed = client.get(f"/api/v1/inspections?within=110102001&month={NOW.strftime('%Y-%m')}").get_json()
    assert [i["id"] for i in listed["inspections"]] == [stored["id"]]
    login(client, "city")
    for level, code in (("community", "110102001001"), ("street", "110102001"),
                        ("district", "110102"), ("city", None)):
        inspected = month_stats(client, level, code)["inspected"]
        assert inspected["checked"] == 40 and inspected["wrong"] == 3, level
        assert inspected["interval"][0] < 37 / 40 < inspected["interval"][1]
    assert month_stats(client, "community", "110102001002")["inspected"] is None
    assert month_stats(client, "district", "110105")["inspected"] is None
    page = client.get(f"/dashboard/110102001?month={NOW:%Y-%m}").get_data(as_text=True)
    assert "巡查准确率" in page and "92.5%" in page and "查40错3" in page
    assert "抽检不足，暂无" in page


@pytest.mark.parametrize("fields, status, field", [
    ({"wrong": 41}, 400, "wrong"),
    ({"checked": -1}, 400, "checked"),
    ({"checked": 2.5}, 400, "checked"),
    ({"checked": True}, 400, "checked"),
    ({"end": iso(NOW - timedelta(hours=2))}, 400, "end"),
    ({"end": iso(datetime.now(BEIJING) + timedelta(hours=1))}, 400, "end"),
    ({"start": "2026-11-29 07:00"}, 400, "start"),
    ({"start": iso(NOW - timedelta(days=3))}, 400, "end"),
    ({"note": "x" * 501}, 400, "note"),
    ({"station_id": "st-c"}, 403, None),        # another district
    ({"station_id": "st-nope"}, 404, None),
    ({"inspector": "someone"}, 400, "inspector"),
])
def test_bad_inspections_are_refused_and_store_nothing(client, city, fields, status, field):
    login(client, "insp")
    response = client.post("/api/v1/inspections", json=record(**fields))
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    if field:
        assert error["details"][0]["field"] == field, error
    assert client.get("/api/v1/inspections?within=110102001").get_json()["inspections"] == []


@pytest.mark.parametrize("user", ["vol", "sanlihe", "city"])
def test_only_inspectors_record_inspections(client, city, user):
    login(client, user)
    assert client.post("/api/v1/inspections", json=record()).status_code == 403


def wrong_disposal(**fields):
    return disposal(**{"ts": iso(NOW), "bin": "other", "item": "battery_lithium", "category": "hazardous",
                       "verdict": "wrong", **fields})


def right_disposal(**fields):
    return disposal(**{"ts": iso(NOW), "bin": "kitchen", "item": "food_waste", "category": "kitchen",
                       "verdict": "correct", **fields})


def test_an_audit_records_the_truth_beside_the_verdict_and_changes_no_count(client, city):
    events = [wrong_disposal() for _ in range(3)]
    assert post_events(client, city, events).get_json()["accepted"] == 3
    login(client, "city")
    before = month_stats(client, "community", "110102001001")
    login(client, "vol")
    url = f"/api/v1/events/{events[0]['event_id']}/audit"
    first = client.post(url, json={"truth": "correct", "item": "battery"})
    assert first.status_code == 201
    assert first.get_json() == {"event_id": events[0]["event_id"], "station_id": "st-a",
                                "model": events[0]["model"], "camera": "wrong", "truth": "correct",
                                "item": "battery", "agrees": False, "replaced": False}
    again = client.post(url, json={"truth": "wrong"})   # a second audit replaces the first
    assert again.status_code == 200 and again.get_json()["replaced"] and again.get_json()["agrees"]
    login(client, "insp")
    assert client.post(f"/api/v1/events/{events[1]['event_id']}/audit",
                       json={"truth": "wrong"}).status_code == 201
    login(client, "city")
    after = month_stats(client, "community", "110102001001")
    assert {k: after[k] for k in ("numerator", "denominator", "value")} == \
        {k: before[k] for k in ("numerator", "denominator", "value")}


def test_bad_audits_are_refused(client, city):
    ours, theirs = wrong_disposal(), wrong_disposal(station="st-c")
    assert post_events(client, city, [ours]).get_json()["accepted"] == 1
    assert post_events(client, city, [theirs], station="st-c").get_json()["accepted"] == 1
    login(client, "insp")
    url = f"/api/v1/events/{ours['event_id']}/audit"
    for body in ({"truth": "maybe"}, {}, {"truth": "wrong", "item": "unicorn"},
                 {"truth": "wrong", "extra": 1}, ["wrong"]):
        response = client.post(url, json=body)
        assert response.status_code == 400, body
        assert response.get_json()["error"]["code"] == "invalid_request"
    assert client.post(f"/api/v1/events/{theirs['event_id']}/audit",
                       json={"truth": "wrong"}).status_code == 403
    login(client, "sanlihe")      # a manager reads the station, and does not audit it
    assert client.post(url, json={"truth": "wrong"}).status_code == 403
    login(client, "vol")
    assert client.post(url, json={"truth": "wrong"}).status_code == 201   # nothing stored before


def test_the_corrected_accuracy_finds_the_truth_behind_a_camera_that_errs(client, city):
    """The issue's example: 400 disposals of which 80 % are truly right, a
    camera with sensitivity 0.7 and specificity 0.85 that therefore reads
    about 0.74, half of the disposals audited."""
    # exactly so: 320 truly right (272 called right), 80 truly wrong (56 called wrong)
    cases = ([("correct", "correct")] * 272 + [("correct", "wrong")] * 48
             + [("wrong", "wrong")] * 56 + [("wrong", "correct")] * 24)
    random.Random(4).shuffle(cases)
    events = [wrong_disposal() if called == "wrong" else right_disposal() for _, called in cases]
    truths = [truth for truth, _ in cases]
    for i in range(0, 400, 200):
        assert post_events(client, city, events[i:i + 200]).get_json()["accepted"] == 200
    login(client, "city")
    assert month_stats(client, "community", "110102001001")["corrected"] is None   # no audits yet
    login(client, "insp")
    for ev, truth in list(zip(events, truths, strict=True))[::2]:
        assert client.post(f"/api/v1/events/{ev['event_id']}/audit", json={"truth": truth}).status_code == 201
    login(client, "city")
    accuracy = month_stats(client, "community", "110102001001")
    assert accuracy["value"] == pytest.approx(0.74)
    corrected = accuracy["corrected"]
    assert corrected["audited"] == 200
    assert corrected["value"] == pytest.approx(0.80, abs=0.05)
    assert corrected["interval"][0] < 0.80 < corrected["interval"][1]
    # the city holds the same disposals and the same audits
    assert month_stats(client, "city")["corrected"] == corrected
    # and the community's dashboard shows both figures beside the camera's
    page = client.get(f"/dashboard/110102001001?month={NOW:%Y-%m}").get_data(as_text=True)
    assert "校正后准确率" in page and f"{corrected['value'] * 100:.1f}%" in page
    assert "本期无巡查" in page


def test_the_ledger_lists_each_check_beside_the_cameras_accuracy_over_its_window(client, city):
    import csv
    import io

    from openpyxl import load_workbook

    start, end = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    inside = [right_disposal(ts=iso(start + timedelta(minutes=m))) for m in (5, 10, 15)]
    inside.append(wrong_disposal(ts=iso(start + timedelta(minutes=20))))
    inside.append(wrong_disposal(ts=iso(start + timedelta(minutes=25)), assisted=True))   # not the camera's
    outside = [wrong_disposal(ts=iso(end + timedelta(minutes=5)))]
    assert post_events(client, city, inside + outside).get_json()["accepted"] == 6
    login(client, "vol")    # feedback changes the counted verdict, not the camera's
    assert client.post(f"/api/v1/events/{inside[3]['event_id']}/feedback",
                       json={"camera_wrong": True, "item": "battery"}).status_code == 200
    login(client, "insp")
    assert client.post("/api/v1/inspections", json=record(start=iso(start), end=iso(end), checked=5,
                                                          wrong=1, note="雨天")).status_code == 201
    month = NOW.strftime("%Y-%m")
    response = client.get(f"/exports/inspections.csv?within=110102001&month={month}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:6] == ["检查日期", "街道", "社区", "桶站", "时段", "查N错M"]
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["查N错M"] == "查5错1" and row["投放准确率（%）"] == "80.00"
    assert row["摄像头准确率（%）"] == "75.00" and row["摄像头判定数"] == "4"
    assert row["街道"] == "西长安街街道" and row["备注"] == "雨天" and row["检查员"] == "insp"
    assert row["时段"] == f"{start:%H:%M}–{end:%H:%M}"
    book = load_workbook(io.BytesIO(client.get(
        f"/exports/inspections.xlsx?within=110102001&month={month}&lang=en").data))
    sheet = book["inspections"]
    header = [c.value for c in sheet[1]]
    values = dict(zip(header, [c.value for c in sheet[2]], strict=True))
    assert values["checked N wrong M"] == "查5错1" and values["camera accuracy (%)"] == 0.75
    assert "columns" in book.sheetnames
    login(client, "chaoyang")      # another district's manager
    assert client.get(f"/exports/inspections.csv?within=110102001&month={month}").status_code == 403


def inspected_today(client, city, camera_calls: list[str], wrong: int) -> tuple[list[dict], datetime]:
    """Disposals at st-a in the last hour of today (the health page looks at
    this month), the camera calling them as `camera_calls`, and an
    inspection of that hour that found `wrong` of them wrong."""
    now = datetime.now(BEIJING).replace(microsecond=0)
    start = max(now - timedelta(hours=1), now.replace(hour=0, minute=0, second=0) + timedelta(seconds=1))
    end = now - timedelta(seconds=1)
    step = (end - start) / 25
    events = [(right_disposal if called == "correct" else wrong_disposal)(ts=iso(start + step * (i + 1)))
              for i, called in enumerate(camera_calls)]
    assert post_events(client, city, events).get_json()["accepted"] == len(events)
    login(client, "insp")
    assert client.post("/api/v1/inspections", json=record(start=iso(start), end=iso(end),
                                                          checked=len(events), wrong=wrong)).status_code == 201
    return events, now


def test_a_camera_that_disagrees_with_its_inspectors_is_flagged(client, city):
    # the camera calls every one right while the inspector finds half wrong
    events, now = inspected_today(client, city, ["correct"] * 20, wrong=10)
    for ev, truth in zip(events[:8], ["wrong"] * 4 + ["correct"] * 4, strict=True):
        assert client.post(f"/api/v1/events/{ev['event_id']}/audit", json={"truth": truth}).status_code == 201
    login(client, "sanlihe")
    month = now.strftime("%Y-%m")
    body = client.get(f"/api/v1/stations/st-a/agreement?month={month}").get_json()
    windows = body["windows"]
    assert windows["inspected"]["value"] == 0.5 and windows["camera"]["value"] == 1.0
    assert windows["camera"]["n"] == 20 and windows["disagrees"] is True
    [audits] = body["audits"]
    assert audits["audited"] == 8
    assert audits["sensitivity"]["value"] == 0.0 and audits["sensitivity"]["n"] == 4
    assert audits["specificity"]["value"] == 1.0 and audits["specificity"]["n"] == 4
    health = {s["station_id"]: s for s in client.get("/api/v1/stations/health?within=110102001001")
              .get_json()["stations"]}
    assert health["st-a"]["camera_disagrees"] is True
    page = client.get("/dashboard/110102001001").get_data(as_text=True)   # the manager sees it
    assert 'data-problem="camera_disagrees"' in page and "摄像头与巡查结果不符" in page
    login(client, "xichangan")
    health = {s["station_id"]: s for s in client.get("/api/v1/stations/health?within=110102001")
              .get_json()["stations"]}
    assert health["st-b"]["camera_disagrees"] is False


def test_a_camera_that_disagrees_opens_one_camera_check_case(client, city, runner):
    inspected_today(client, city, ["correct"] * 20, wrong=10)
    for _ in range(2):                       # cron runs it again: still one case
        result = runner.invoke(args=["check-stations"])
        assert result.exit_code == 0, result.output
    assert "camera check cases opened: 0" in result.output
    login(client, "sanlihe")
    cases = client.get("/api/v1/cases?within=110102001001").get_json()["cases"]
    camera = [c for c in cases if c["kind"] == "camera"]
    assert [c["station_id"] for c in camera] == ["st-a"]
    assert "camera 100% against the inspectors' 50%" in camera[0]["detail"]


def test_a_camera_that_agrees_within_the_intervals_is_not_flagged(client, city, runner):
    _, now = inspected_today(client, city, ["correct"] * 18 + ["wrong"] * 2, wrong=3)
    result = runner.invoke(args=["check-stations"])
    assert result.exit_code == 0 and "camera check cases opened: 0" in result.output, result.output
    login(client, "sanlihe")
    windows = client.get(f"/api/v1/stations/st-a/agreement?month={now:%Y-%m}").get_json()["windows"]
    assert windows["camera"]["value"] == 0.9 and windows["inspected"]["value"] == 0.85
    assert windows["disagrees"] is False
