"""Cases (工单) through HTTP on both stores: opened by the stations' findings,
resolved by their end, moved along by the people whose scope holds them
(docs/design.md §10)."""
from __future__ import annotations

import io
import uuid
from datetime import datetime, timedelta

import pytest
from openpyxl import load_workbook

from server.cases import check_stations
from server.timeutil import BEIJING, now_utc

from ..support import disposal, post_events
from ..support import login as log_in

# The scope each manager's list is asked for (a volunteer's is their station's).
SCOPES = {"sanlihe": "110102001001", "xichangan": "110102001", "xicheng": "110102",
          "chaoyang": "110105", "insp": "110102001"}


def login(client, username):
    log_in(client, username)
    client.within = SCOPES.get(username)


# The middle of last month, for figures that must lie in one month at any hour.
MID_LAST_MONTH = (datetime.now(BEIJING).replace(day=1, hour=12, minute=0, second=0, microsecond=0)
                  - timedelta(days=15))


def finding(kind, state=None, station="st-a", bin="other", ago=timedelta(0), at=None):
    ev = {"event_id": str(uuid.uuid4()), "type": kind, "station_id": station, "bin": bin,
          "ts": ((at or datetime.now(BEIJING)) - ago).isoformat(timespec="milliseconds")}
    if state:
        ev["state"] = state
    return ev


def cases(client, **query):
    within = {"within": client.within} if getattr(client, "within", None) else {}
    response = client.get("/api/v1/cases", query_string={**within, **query})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["cases"]


def move(client, case_id, **body):
    return client.post(f"/api/v1/cases/{case_id}/transition", json=body)


def opened(client, city, *events, station="st-a"):
    body = post_events(client, city, list(events), station=station).get_json()
    assert body["accepted"] == len(events), body
    return body


def test_an_overflow_opens_one_case_and_the_emptied_bin_resolves_it(client, city):
    start = finding("bin_full", "overflow", ago=timedelta(minutes=50))
    opened(client, city, start)
    # The same event again, and a second report while the case is open: still one case.
    assert post_events(client, city, [start]).get_json()["duplicates"] == 1
    second = finding("bin_full", "overflow", ago=timedelta(minutes=40))
    opened(client, city, second)
    full = finding("bin_full", "full", bin="kitchen")   # full is not a case
    opened(client, city, full)
    login(client, "sanlihe")
    [case] = cases(client)
    assert case["kind"] == "overflow" and case["bin"] == "other" and case["state"] == "open"
    assert case["evidence_event_id"] == start["event_id"]
    assert case["level_name"] == "overdue" and case["age_seconds"] >= 50 * 60 - 5
    end = finding("bin_full", "ok", ago=timedelta(minutes=10))
    opened(client, city, end)
    [case] = cases(client)
    assert case["state"] == "resolved" and case["level_name"] == "overdue"
    assert case["resolve_seconds"] == pytest.approx(40 * 60, abs=1)
    detail = client.get(f"/api/v1/cases/{case['id']}").get_json()
    assert [(h["action"], h["to"], h["by"]) for h in detail["history"]] == [
        ("opened", "open", "station"), ("resolved", "resolved", "station")]
    assert detail["history"][1]["event_id"] == end["event_id"]
    # The next overflow of the same bin is a new case.
    again = finding("bin_full")        # no state: an overflow (contract v1)
    opened(client, city, again)
    assert [c["state"] for c in cases(client)] == ["open", "resolved"]
    # A finding counts once in the station's day, at its start (the end is not a second one).
    login(client, "vol")
    today = client.get("/api/v1/stations/st-a/today").get_json()
    assert today["bin_full"] == sum(e["ts"][:10] == today["day"] for e in (start, second, full, again))


def test_litter_and_its_cleaning_in_one_batch(client, city):
    opened(client, city, finding("litter", "clean", ago=timedelta(minutes=1)),
           finding("litter", ago=timedelta(minutes=20)))
    login(client, "xichangan")
    [case] = cases(client, kind="litter")
    assert case["state"] == "resolved" and case["bin"] is None
    assert case["resolve_seconds"] == pytest.approx(19 * 60, abs=1)


def test_the_lifecycle_with_a_closing_note(client, city):
    opened(client, city, finding("litter"))
    login(client, "sanlihe")
    [case] = cases(client)
    r = move(client, case["id"], to="dispatched", assignee="物业保洁")
    assert r.status_code == 200 and r.get_json()["assignee"] == "物业保洁", r.get_json()
    r = move(client, case["id"], to="resolved", note="已清扫")
    assert r.status_code == 200 and r.get_json()["resolved_at"] is not None
    r = move(client, case["id"], to="closed", note="复查干净", outcome="done")
    body = r.get_json()
    assert r.status_code == 200 and body["state"] == "closed" and body["note"] == "复查干净"
    assert body["outcome"] == "done" and body["resolve_seconds"] >= 0
    assert [h["action"] for h in body["history"]] == ["opened", "dispatched", "resolved", "closed"]
    # A closed case goes nowhere: 400 with what is allowed (nothing), and nothing changes.
    r = move(client, case["id"], to="open")
    error = r.get_json()["error"]
    assert r.status_code == 400 and error["code"] == "invalid_transition"
    assert len(client.get(f"/api/v1/cases/{case['id']}").get_json()["history"]) == 4


def test_an_unknown_transition_names_the_allowed_ones_and_stores_nothing(client, city):
    opened(client, city, finding("litter"))
    login(client, "sanlihe")
    [case] = cases(client)
    for to in ("closed", "nonsense", "open"):
        r = move(client, case["id"], to=to)
        error = r.get_json()["error"]
        assert r.status_code == 400 and error["code"] == "invalid_transition", error
        assert "dispatched, resolved, false_alarm" in error["message"]
    assert cases(client)[0]["state"] == "open"
    assert len(client.get(f"/api/v1/cases/{case['id']}").get_json()["history"]) == 1


@pytest.mark.parametrize("body, field", [
    ({}, "to"),
    ({"to": 3}, "to"),
    ({"to": "dispatched", "assignee": "王师傅 13912345678"}, "assignee"),
    ({"to": "resolved", "assignee": "物业"}, "assignee"),
    ({"to": "closed", "outcome": "perfect"}, "outcome"),
    ({"to": "resolved", "note": "x" * 501}, "note"),
    ({"to": "resolved", "who": "me"}, "who"),
])
def test_bad_transitions_are_a_400_and_store_nothing(client, city, body, field):
    opened(client, city, finding("litter"))
    login(client, "sanlihe")
    [case] = cases(client)
    r = move(client, case["id"], **body)
    error = r.get_json()["error"]
    assert r.status_code == 400 and error["details"][0]["field"] == field, error
    assert cases(client)[0]["updated_at"] == case["updated_at"]


def test_who_may_do_what(client, city):
    opened(client, city, finding("litter"))
    opened(client, city, finding("litter", station="st-c", bin="other"), station="st-c")
    login(client, "city")
    ids = {c["station_id"]: c["id"] for c in cases(client)}
    a, c = ids["st-a"], ids["st-c"]
    login(client, "chaoyang")                      # another district
    assert client.get(f"/api/v1/cases/{a}").status_code == 403
    assert move(client, a, to="resolved").status_code == 403
    assert client.get("/api/v1/cases/999999").status_code == 404
    assert [x["id"] for x in cases(client)] == [c]
    assert client.get("/api/v1/cases?within=110102").status_code == 403
    login(client, "insp")                          # reads, does not move
    assert client.get(f"/api/v1/cases/{a}").status_code == 200
    assert move(client, a, to="resolved").status_code == 403
    login(client, "sanlihe")
    assert client.post(f"/api/v1/cases/{a}/escalate", json={}).status_code == 403
    login(client, "vol")                           # the volunteer marks it handled, nothing else
    assert [x["id"] for x in cases(client)] == [a]
    assert client.get("/api/v1/cases?station=st-b").status_code == 403
    assert move(client, a, to="dispatched").status_code == 403
    login(client, "xichangan")                     # the street supervises: 督办
    r = client.post(f"/api/v1/cases/{a}/escalate", json={"note": "请尽快处理"})
    assert r.status_code == 200 and r.get_json()["level_name"] == "street_supervised"
    login(client, "xicheng")
    r = client.post(f"/api/v1/cases/{a}/escalate", json={})
    assert r.status_code == 200 and r.get_json()["level_name"] == "district_supervised"
    login(client, "vol")
    r = move(client, a, to="resolved", note="已处理")
    assert r.status_code == 200 and r.get_json()["state"] == "resolved"
    assert r.get_json()["history"][-1]["role"] == "volunteer"
    # A level never goes down, and a resolved case is no longer supervised.
    assert r.get_json()["level_name"] == "district_supervised"
    login(client, "xicheng")
    assert client.post(f"/api/v1/cases/{a}/escalate", json={}).status_code == 400
    login(client, "city")
    assert move(client, c, to="false_alarm", note="阴影").get_json()["outcome"] == "false_alarm"


def test_levels_rise_with_age(client, city):
    opened(client, city, finding("litter", ago=timedelta(minutes=10)),
           finding("bin_full", ago=timedelta(minutes=31)),
           finding("bin_full", bin="kitchen", ago=timedelta(hours=2, minutes=1)))
    login(client, "sanlihe")
    levels = {(c["kind"], c["bin"]): c["level_name"] for c in cases(client)}
    assert levels == {("litter", None): "new", ("overflow", "other"): "overdue",
                      ("overflow", "kitchen"): "long_overdue"}


def test_filters(client, city):
    opened(client, city, finding("litter"), finding("bin_full"))
    login(client, "xicheng")
    assert [c["kind"] for c in cases(client, kind="litter")] == ["litter"]
    assert len(cases(client, state="open", station="st-a")) == 2
    assert cases(client, state="closed") == []
    assert len(cases(client, month=f"{datetime.now(BEIJING):%Y-%m}")) == 2
    assert cases(client, month="2020-01") == []
    for query, field in (({"state": "done"}, "state"), ({"kind": "fire"}, "kind"),
                         ({"month": "2026-13"}, "month"), ({"within": "12"}, "within")):
        r = client.get("/api/v1/cases", query_string={"within": "110102", **query})
        assert r.status_code == 400 and r.get_json()["error"]["details"][0]["field"] == field


def test_a_station_offline_too_long_opens_a_case_and_its_heartbeat_resolves_it(app, client, city):
    beat = {"device_id": "dev-st-a", "ts": datetime.now(BEIJING).isoformat(), "fps": 5.0,
            "dead_letters": 0, "pending_events": 0, "model": "waste-effl0-int8@3fa2c1d0",
            "rules": "beijing@2020.1", "camera": "ok"}
    headers = {"Authorization": f"Bearer {city.tokens['st-a']}"}
    assert client.post("/api/v1/heartbeat", json=beat, headers=headers).status_code == 200
    result = city.runner.invoke(args=["check-stations"])
    assert result.exit_code == 0 and "offline cases opened: 0" in result.output, result.output
    settings = app.config["SETTINGS"]
    from server.store import connect
    store = connect(settings.database)
    later = now_utc() + timedelta(minutes=settings.case_offline_minutes + 1)
    assert check_stations(store, settings, later)["offline_opened"] == 1
    assert check_stations(store, settings, later)["offline_opened"] == 0    # one case, not two
    login(client, "sanlihe")
    [case] = cases(client)
    assert case["kind"] == "offline" and case["evidence_event_id"] is None
    assert client.post("/api/v1/heartbeat", json=beat, headers=headers).status_code == 200
    [case] = cases(client)
    assert case["state"] == "resolved"
    # Hours later, the age escalations are stored with their history (and webhooks):
    # the litter's, and that of the station's new silence, 2.5 hours old by then.
    opened(client, city, finding("litter"))
    much_later = now_utc() + timedelta(hours=3)
    assert check_stations(store, settings, much_later) == {"offline_opened": 1, "camera_opened": 0, "escalated": 2}
    litter = [c for c in cases(client) if c["kind"] == "litter"][0]
    history = client.get(f"/api/v1/cases/{litter['id']}").get_json()["history"]
    assert [(h["action"], h["level"]) for h in history] == [("opened", 0), ("escalated", 2)]
    store.close()


def test_a_camera_its_volunteer_keeps_correcting_opens_one_case(client, city):
    events = [disposal(item="battery", category="hazardous", bin="other") for _ in range(8)]
    opened(client, city, *events)
    login(client, "vol")
    for ev in events[:6]:
        r = client.post(f"/api/v1/events/{ev['event_id']}/feedback",
                        json={"camera_wrong": True, "item": "food_waste"})
        assert r.status_code == 200, r.get_json()
    [case] = cases(client)
    assert case["kind"] == "camera" and case["evidence_event_id"] == events[4]["event_id"]
    assert "5 of 8" in case["detail"]


def test_exports_with_chinese_headers(client, city):
    opened(client, city, finding("litter"), finding("bin_full"))
    month = f"{datetime.now(BEIJING):%Y-%m}"
    login(client, "sanlihe")
    assert client.get(f"/exports/cases.csv?within=110102001001&month={month}").status_code == 403
    login(client, "xichangan")
    r = client.get(f"/exports/cases.csv?within=110102001&month={month}")
    assert r.status_code == 200
    lines = r.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0].startswith("工单号,类型,街道,社区,桶站,桶,发现时间,状态,等级")
    assert len(lines) == 3 and "满冒" in r.get_data(as_text=True) and "待派单" in lines[1]
    r = client.get(f"/exports/cases.xlsx?within=110102001&month={month}")
    sheet = load_workbook(io.BytesIO(r.data))["工单"]
    assert sheet.cell(1, 2).value == "类型" and sheet.max_row == 3
    assert client.get(f"/exports/cases.csv?within=110105&month={month}").status_code == 403


def test_the_summary_of_a_month(client, city):
    at = MID_LAST_MONTH
    opened(client, city,
           finding("bin_full", at=at - timedelta(hours=3)), finding("bin_full", "ok", at=at - timedelta(hours=2)),
           finding("bin_full", bin="kitchen", at=at - timedelta(hours=2)),
           finding("bin_full", "ok", bin="kitchen", at=at - timedelta(minutes=30)),
           finding("litter", at=at - timedelta(minutes=20)))
    login(client, "xichangan")
    month = f"{at:%Y-%m}"
    r = client.get(f"/api/v1/cases/summary?within=110102001&month={month}")
    body = r.get_json()
    assert r.status_code == 200, body
    assert body["by_kind"]["overflow"] == {"opened": 2, "resolved": 2, "false_alarm": 0, "unresolved": 0}
    assert body["by_kind"]["litter"]["unresolved"] == 1
    assert body["rectification_rate"] == pytest.approx(2 / 3)
    assert body["resolve_seconds"]["median"] == pytest.approx(75 * 60, abs=2)
    assert body["resolve_seconds"]["p90"] == pytest.approx(87 * 60, abs=2)
    assert body["overflow_hours"] == [{"station_id": "st-a", "hours": 2.5}]
    nothing = client.get("/api/v1/cases/summary?within=110102001&month=2020-01").get_json()
    assert nothing["opened"] == 0 and nothing["rectification_rate"] is None
    login(client, "sanlihe")
    assert client.get(f"/api/v1/cases/summary?within=110102001&month={month}").status_code == 403


def test_answers_match_the_openapi_document(client, city):
    from .test_contract import check
    opened(client, city, finding("bin_full"))
    login(client, "xichangan")
    check(client.get("/api/v1/cases?within=110102001"), "/api/v1/cases", "get")
    check(client.get("/api/v1/cases?within=110102001&kind=x"), "/api/v1/cases", "get")
    [case] = cases(client)
    check(client.get(f"/api/v1/cases/{case['id']}"), "/api/v1/cases/{case_id}", "get")
    check(client.post(f"/api/v1/cases/{case['id']}/escalate", json={}),
          "/api/v1/cases/{case_id}/escalate", "post")
    check(move(client, case["id"], to="closed"), "/api/v1/cases/{case_id}/transition", "post")
    check(move(client, case["id"], to="dispatched", assignee="保洁"),
          "/api/v1/cases/{case_id}/transition", "post")
    check(client.get("/api/v1/cases/summary?within=110102001"), "/api/v1/cases/summary", "get")


def test_the_dashboard_lists_open_cases_with_age_and_level(client, city):
    opened(client, city, finding("bin_full", ago=timedelta(hours=2, minutes=5)), finding("litter"))
    opened(client, city, finding("litter", station="st-c"), station="st-c")
    log_in(client, "sanlihe")
    page = client.get("/dashboard/110102001001").get_data(as_text=True)
    at = page.index('id="open-cases"')
    section = page[at:page.index("</section>", at)]
    assert "未办结工单" in section and section.count("data-case=") == 2
    assert "满冒" in section and "超级滞留" in section and "2 小时 5 分" in section
    assert "垃圾落地" in section and "发现" in section and "st-c" not in section


def test_station_management_is_ranked_beside_accuracy(client, city):
    at = MID_LAST_MONTH
    month = f"{at:%Y-%m}"
    # 三里河: two overflows, one emptied; 白云观: one litter, cleaned; 官园 has none.
    opened(client, city, finding("bin_full", at=at - timedelta(hours=2)),
           finding("bin_full", "ok", at=at - timedelta(hours=1)),
           finding("bin_full", bin="kitchen", at=at - timedelta(hours=1)))
    opened(client, city, finding("litter", station="st-b", at=at - timedelta(hours=3)),
           finding("litter", "clean", station="st-b", at=at - timedelta(hours=2)), station="st-b")
    login(client, "xicheng")
    r = client.get(f"/api/v1/rankings?within=110102&level=community&metric=station_management&month={month}")
    body = r.get_json()
    assert r.status_code == 200, body
    ranked = [(m["code"], m["rank"], m["value"]) for m in body["members"]]
    assert ranked == [("110102001002", 1, 1.0), ("110102001001", 2, 0.5), ("110102003001", None, None)]
    assert body["target"] == 0.95
    stats = client.get(f"/api/v1/stats?level=street&code=110102001&month={month}").get_json()
    assert stats["station_management"]["numerator"] == 2 and stats["station_management"]["denominator"] == 3
    page = client.get(f"/rankings?within=110102&level=community&metric=station_management&month={month}")
    assert page.status_code == 200 and "桶站管理（整改率）" in page.get_data(as_text=True)
    login(client, "city")
    city_stats = client.get(f"/api/v1/stats?level=city&month={month}").get_json()
    assert city_stats["station_management"]["denominator"] == 3
