"""A community's households by card token, for its own manager: the list,
the door-to-door lists and the downloads, through HTTP on both stores."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta

import openpyxl
import pytest

from server.timeutil import BEIJING

from ..support import disposal, login, post_events

# The middle of last month, so that a test's month is complete whenever it runs.
NOW = (datetime.now(BEIJING).replace(day=1, hour=10, minute=0, second=0, microsecond=0)
       - timedelta(days=15))
MONTH = f"{NOW:%Y-%m}"


def at(days: float = 0, hours: float = 0) -> str:
    return (NOW + timedelta(days=days, hours=hours)).isoformat(timespec="milliseconds")


def kitchen(household, verdict="correct", **fields):
    """A disposal of food waste that the camera judged `verdict`."""
    return disposal(household=household, verdict=verdict, item="food_waste", category="kitchen",
                    bin="other" if verdict == "wrong" else "kitchen", **fields)


def battery_wrong(household, **fields):
    return disposal(household=household, verdict="wrong", item="battery_lithium", category="hazardous",
                    bin="other", **fields)


@pytest.fixture
def month(client, city):
    """hh-good: 6 correct on 3 days; hh-poor: 2 correct, 4 wrong (3 of them
    batteries), 1 uncertain, 1 assisted; hh-few: 1 wrong (too few to judge);
    hh-gone: seen last month only; hh-old: seen four months ago only; and a
    household of the neighbouring community that must never show."""
    events = ([kitchen("hh-good", ts=at(days=d % 3, hours=d)) for d in range(6)]
              + [kitchen("hh-poor", ts=at(hours=1)), kitchen("hh-poor", ts=at(hours=2)),
                 battery_wrong("hh-poor", ts=at(days=1)), battery_wrong("hh-poor", ts=at(days=2)),
                 battery_wrong("hh-poor", ts=at(days=3)), kitchen("hh-poor", "wrong", ts=at(days=3, hours=1)),
                 kitchen("hh-poor", "uncertain", ts=at(days=4)),
                 kitchen("hh-poor", "wrong", ts=at(days=4, hours=1), assisted=True),
                 battery_wrong("hh-few", ts=at(days=5)),
                 kitchen(None, ts=at(days=5))]
              + [kitchen("hh-gone", ts=at(days=-31)), kitchen("hh-good", ts=at(days=-32))]
              + [kitchen("hh-old", ts=at(days=-125))])
    for station, batch in (("st-a", events), ("st-b", [kitchen("hh-next-door", ts=at(days=1), station="st-b")])):
        response = post_events(client, city, batch, station=station)
        assert response.status_code == 200 and response.get_json()["accepted"] == len(batch), response.get_json()
    return {e["event_id"]: e for e in events}


def households(client, **params):
    query = "&".join(f"{k}={v}" for k, v in {"community": "110102001001", "month": MONTH, **params}.items())
    return client.get(f"/api/v1/households?{query}")


def test_the_community_manager_sees_each_household_of_the_month(client, city, month):
    login(client, "sanlihe")
    response = households(client)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    rows = {r["household"]: r for r in body["households"]}
    assert sorted(rows) == ["hh-few", "hh-good", "hh-poor"]
    good, poor, few = rows["hh-good"], rows["hh-poor"], rows["hh-few"]
    assert (good["disposals"], good["correct"], good["wrong"], good["days_seen"]) == (6, 6, 0, 3)
    assert good["accuracy"] == 1.0 and not good["needs_visit"] and good["most_wrong"] == []
    assert (poor["disposals"], poor["correct"], poor["wrong"], poor["uncertain"], poor["assisted"]) == (8, 2, 4, 1, 1)
    assert poor["accuracy"] == pytest.approx(2 / 6)
    assert poor["most_wrong"] == ["hazardous", "kitchen"]         # 3 batteries, 1 food
    assert poor["last_seen"] == (NOW + timedelta(days=4)).date().isoformat()
    assert few["accuracy"] == 0.0 and not few["needs_visit"]     # 1 judged: under the minimum of 5
    assert body["needs_visit"] == ["hh-poor"]
    assert body["not_seen"] == [{"household": "hh-gone", "last_seen": (NOW - timedelta(days=31)).date().isoformat()}]
    assert body["visit_rule"] == {"accuracy_under": 0.8, "min_judged": 5}


def test_sorting_puts_the_worst_first_and_households_without_accuracy_last(client, city, month):
    login(client, "sanlihe")
    by_accuracy = [r["household"] for r in households(client, sort="accuracy").get_json()["households"]]
    assert by_accuracy == ["hh-few", "hh-poor", "hh-good"]
    by_disposals = [r["household"] for r in households(client, sort="disposals").get_json()["households"]]
    assert by_disposals == ["hh-poor", "hh-good", "hh-few"]
    ascending = households(client, sort="disposals", order="asc").get_json()["households"]
    assert [r["household"] for r in ascending] == ["hh-few", "hh-good", "hh-poor"]


def test_a_volunteers_correction_moves_the_household(client, city, month):
    wrong = next(e for e in month.values() if e["household"] == "hh-poor" and e["verdict"] == "wrong"
                 and e["item"] == "food_waste" and not e["assisted"])
    login(client, "vol")
    r = client.post(f"/api/v1/events/{wrong['event_id']}/feedback", json={"camera_wrong": True, "item": "plastic"})
    assert r.status_code == 200, r.get_json()
    login(client, "sanlihe")
    poor = next(r for r in households(client).get_json()["households"] if r["household"] == "hh-poor")
    # The bin was "other": plastic there is still wrong, now a recyclable.
    assert (poor["correct"], poor["wrong"]) == (2, 4)
    assert poor["most_wrong"] == ["hazardous", "recyclable"]


@pytest.mark.parametrize("user, status", [("xichangan", 403), ("xicheng", 403), ("city", 403),
                                           ("vol", 403), ("insp", 403)])
def test_nobody_above_or_beside_the_community_sees_its_households(client, city, month, user, status):
    login(client, user)
    response = households(client)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == "forbidden"
    assert client.get(f"/exports/households.csv?community=110102001001&month={MONTH}").status_code == status


def test_another_communitys_manager_is_refused(client, city, month):
    city.add_user("baiyun", "community", "110102001002")
    login(client, "baiyun")
    assert households(client).status_code == 403
    body = households(client, community="110102001002").get_json()
    assert [r["household"] for r in body["households"]] == ["hh-next-door"]


@pytest.mark.parametrize("params, field", [
    ({"community": "1101020010"}, "community"), ({"community": "abcdefghijkl"}, "community"),
    ({"month": "2026-13"}, "month"), ({"sort": "name"}, "sort"), ({"order": "up"}, "order"),
])
def test_bad_parameters_answer_400(client, city, month, params, field):
    login(client, "sanlihe")
    response = households(client, **params)
    assert response.status_code == 400
    assert response.get_json()["error"]["details"][0]["field"] == field


def test_the_downloads_have_chinese_headers_and_the_same_rows(client, city, month):
    login(client, "sanlihe")
    r = client.get(f"/exports/households.csv?community=110102001001&month={MONTH}&sort=accuracy")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["户卡编号", "投放次数", "正确"] and "需入户指导" in rows[0]
    poor = next(row for row in rows if row[0] == "hh-poor")
    header = rows[0]
    assert poor[header.index("投放准确率（%）")] == "33.33"
    assert poor[header.index("常错类别")] == "有害垃圾、厨余垃圾"
    assert poor[header.index("需入户指导")] == "✓"
    assert [row[0] for row in rows[1:]] == ["hh-few", "hh-poor", "hh-good"]
    x = client.get(f"/exports/households.xlsx?community=110102001001&month={MONTH}&lang=en")
    assert x.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(x.get_data()))["households"]
    values = list(sheet.values)
    assert values[0][0] == "household"
    assert {v[0] for v in values[1:]} == {"hh-few", "hh-poor", "hh-good"}
    assert next(v for v in values[1:] if v[0] == "hh-poor")[values[0].index("most often wrong")] == \
        "hazardous waste, kitchen waste"


@pytest.mark.parametrize("token", ["13812345678", "138-1234-5678", "8613812345678", "010_62345678"])
def test_a_phone_number_as_household_is_refused_and_the_rest_of_the_batch_stored(client, city, token):
    events = [kitchen(token, ts=at()), kitchen("hh-ok", ts=at(hours=1))]
    body = post_events(client, city, events).get_json()
    assert body["accepted"] == 1
    [rejected] = body["rejected"]
    assert rejected["event_id"] == events[0]["event_id"]
    assert rejected["errors"][0]["field"] == "household"
    assert "phone number" in rejected["errors"][0]["message"]
    login(client, "sanlihe")
    assert [r["household"] for r in households(client).get_json()["households"]] == ["hh-ok"]


def test_a_households_month_survives_prune_events_in_two_steps(app, client, city, month, runner):
    """prune-events keeps each household's month (household_month) as it
    deletes the raw events; a month pruned in two steps adds up, and the
    rows read the same before, in between and after."""
    from ..support import make_settings
    login(client, "sanlihe")
    before = {r["household"]: r for r in households(client).get_json()["households"]}
    not_seen_before = households(client).get_json()["not_seen"]
    summary_before = summary(client, "community", "110102001001").get_json()
    assert summary_before["needs_visit"] == 1
    today = datetime.now(BEIJING).date()
    # First the days before NOW + 2 days (the middle of the month), then the whole month.
    for cutoff in (NOW.date() + timedelta(days=2), NOW.date() + timedelta(days=20)):
        settings = app.config["SETTINGS"]
        app.config["SETTINGS"] = make_settings(settings.database, event_retention_days=(today - cutoff).days)
        result = runner.invoke(args=["prune-events"])
        assert result.exit_code == 0, result.output
        assert re.search(r"deleted [1-9]\d* raw events", result.output), result.output
        app.config["SETTINGS"] = settings
        after = {r["household"]: r for r in households(client).get_json()["households"]}
        assert sorted(after) == sorted(before)
        for token, row in before.items():
            keep = ("disposals", "assisted", "correct", "wrong", "uncertain", "accuracy", "days_seen",
                    "last_seen", "needs_visit")
            assert {k: after[token][k] for k in keep} == {k: row[k] for k in keep}, (cutoff, token)
        assert summary(client, "community", "110102001001").get_json() == summary_before, cutoff
    assert households(client).get_json()["not_seen"] == not_seen_before


@pytest.fixture
def points_rule(runner, city, tmp_path):
    path = tmp_path / "rule.json"
    path.write_text('{"correct": 1, "uncertain": 0, "daily_cap": 5, "expiry_days": 365}', encoding="utf-8")
    result = runner.invoke(args=["set-points-rule", "city", str(path)])
    assert result.exit_code == 0, result.output


def test_without_a_points_rule_every_row_has_points_null(client, city, month):
    login(client, "sanlihe")
    rows = households(client).get_json()["households"]
    assert rows and all("points" in r and r["points"] is None for r in rows)


def test_each_row_has_the_households_balance_as_its_card_shows_it(client, city, month, points_rule):
    """hh-good: 6 correct this month (2 a day) and 1 the month before: 7;
    hh-poor: 2 correct, the rest earns nothing: 2; hh-few: only a wrong one: 0."""
    login(client, "sanlihe")
    body = households(client).get_json()
    points = {r["household"]: r["points"] for r in body["households"]}
    assert points == {"hh-good": 7, "hh-poor": 2, "hh-few": 0}
    for token, value in points.items():
        card = client.get(f"/api/v1/stations/st-a/households/{token}").get_json()
        assert card["points"]["balance"] == value
    by_points = [r["household"] for r in households(client, sort="points").get_json()["households"]]
    assert by_points == ["hh-good", "hh-poor", "hh-few"]
    # A redemption at the station lowers the listed points at once.
    login(client, "vol")
    r = client.post("/api/v1/stations/st-a/households/hh-good/redemptions",
                    json={"redemption_id": "r-list-0001", "points": 3, "reward": "环保袋"})
    assert r.status_code == 201, r.get_json()
    login(client, "sanlihe")
    assert {r["household"]: r["points"] for r in households(client).get_json()["households"]}["hh-good"] == 4
    csv_text = client.get(f"/exports/households.csv?community=110102001001&month={MONTH}").get_data(as_text=True)
    table = list(csv.reader(io.StringIO(csv_text.lstrip("\ufeff"))))
    column = table[0].index("积分余额")
    assert {row[0]: row[column] for row in table[1:]} == {"hh-good": "4", "hh-poor": "2", "hh-few": "0"}


def summary(client, level, code=None, **params):
    query = {"level": level, "month": MONTH, **({"code": code} if code else {}), **params}
    return client.get("/api/v1/households/summary", query_string=query)


def test_street_district_and_city_staff_see_the_share_needing_a_visit(client, city, month):
    """Of the street's four households this month, hh-poor (of 三里河, with
    hh-good and hh-few) needs a visit; hh-next-door (of the other community) does not."""
    login(client, "xichangan")
    body = summary(client, "street", "110102001").get_json()
    assert (body["households"], body["needs_visit"], body["share"]) == (4, 1, 0.25)
    assert body["member_level"] == "community"
    assert [(m["code"], m["households"], m["needs_visit"], m["share"]) for m in body["members"]] == [
        ("110102001001", 3, 1, pytest.approx(1 / 3)), ("110102001002", 1, 0, 0.0)]
    assert "hh-" not in summary(client, "street", "110102001").get_data(as_text=True)
    login(client, "xicheng")
    body = summary(client, "district", "110102").get_json()
    assert (body["households"], body["needs_visit"]) == (4, 1)
    assert [(m["code"], m["households"], m["needs_visit"]) for m in body["members"]] == [
        ("110102001", 4, 1), ("110102003", 0, 0)]
    login(client, "city")
    body = summary(client, "city").get_json()
    assert (body["households"], body["needs_visit"], body["share"]) == (4, 1, 0.25)
    assert {m["code"]: (m["households"], m["share"]) for m in body["members"]} == {
        "110102": (4, 0.25), "110105": (0, None)}
    # ... and never the list itself.
    assert households(client).status_code == 403


def test_the_summary_of_a_community_agrees_with_its_list(client, city, month):
    login(client, "sanlihe")
    body = summary(client, "community", "110102001001").get_json()
    rows = households(client).get_json()
    assert body["households"] == len(rows["households"]) and body["needs_visit"] == len(rows["needs_visit"])
    assert body["members"] == [] and body["member_level"] is None


@pytest.mark.parametrize("user, level, code", [
    ("vol", "community", "110102001001"), ("insp", "street", "110102001"),
    ("xichangan", "district", "110102"), ("chaoyang", "district", "110102"),
    ("sanlihe", "street", "110102001"), ("xicheng", "city", None)])
def test_the_summary_outside_ones_scope_is_refused(client, city, month, user, level, code):
    login(client, user)
    response = summary(client, level, code)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("params, field", [
    ({"level": "street", "code": "1101"}, "code"), ({"level": "town", "code": "110102001"}, "level"),
    ({"level": "street", "code": "110102001", "month": "2026-1"}, "month")])
def test_a_bad_summary_request_answers_400(client, city, month, params, field):
    login(client, "city")
    response = client.get("/api/v1/households/summary", query_string=params)
    assert response.status_code == 400
    assert response.get_json()["error"]["details"][0]["field"] == field
