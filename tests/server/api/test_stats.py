"""GET /api/v1/stats: values, periods and who may read what."""
from __future__ import annotations

from datetime import UTC

import pytest

from ..support import disposal, login, post_events

SCOPES = [("city", None), ("district", "110102"), ("district", "110105"),
          ("street", "110102001"), ("street", "110102003"),
          ("community", "110102001001"), ("community", "110102001002")]
# user -> scopes (by code, None for the city) it may read
ALLOWED = {
    "city": {None, "110102", "110105", "110102001", "110102003", "110102001001", "110102001002"},
    "xicheng": {"110102", "110102001", "110102003", "110102001001", "110102001002"},
    "chaoyang": {"110105"},
    "xichangan": {"110102001", "110102001001", "110102001002"},
    "sanlihe": {"110102001001"},
    "vol": set(),
}


def stats(client, level, code=None, **extra):
    query = {"level": level, **extra}
    if code:
        query["code"] = code
    return client.get("/api/v1/stats", query_string=query)


def test_needs_a_session(client, city):
    r = stats(client, "city")
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("user", sorted(ALLOWED))
def test_scope_matrix(client, city, user):
    login(client, user)
    for level, code in SCOPES:
        r = stats(client, level, code)
        expected = 200 if code in ALLOWED[user] else 403
        assert r.status_code == expected, (user, level, code, r.get_json())


@pytest.mark.parametrize("query", [
    {"level": "planet"}, {"level": "district", "code": "1101"}, {"level": "city", "code": "110102"},
    {"level": "community", "code": "110102001"}, {"level": "district", "code": "110102", "month": "2026-13"},
    {"level": "district", "code": "110102", "period": "weekly"}])
def test_bad_queries(client, city, query):
    login(client, "city")
    r = client.get("/api/v1/stats", query_string=query)
    assert r.status_code == 400 and r.get_json()["error"]["details"]


def test_unknown_code_in_scope_is_404(client, city):
    login(client, "city")
    assert stats(client, "district", "110199").status_code == 404


def test_rates_of_a_community(client, city):
    ts = "2026-11-10T08:00:00+08:00"  # staffed
    events = [disposal(ts=ts, verdict="correct", household="h1"),
              disposal(ts=ts, verdict="correct", household="h2"),
              disposal(ts="2026-11-10T12:00:00+08:00", verdict="wrong", household="h1"),
              disposal(ts=ts, verdict="uncertain", household=None),
              disposal(ts=ts, verdict="wrong", assisted=True, household="h3")]
    assert post_events(client, city, events).get_json()["accepted"] == 5
    login(client, "sanlihe")
    body = stats(client, "community", "110102001001", month="2026-11").get_json()
    assert body["name"] == "三里河社区" and body["disposals"] == 5
    # no inspection and no audit yet: the camera's figure alone
    assert body["accuracy"] == {"value": 2 / 3, "numerator": 2, "denominator": 3,
                                "target": 0.9, "met": False, "inspected": None, "corrected": None}
    assert body["coverage"]["value"] == 3 / 5
    assert body["participation"]["numerator"] == 3
    assert body["participation"]["denominator"] == 1000
    assert body["accuracy_by_staffing"]["staffed"]["value"] == 1.0
    assert body["accuracy_by_staffing"]["unstaffed"]["value"] == 0.0
    assert body["awareness"]["value"] is None and body["awareness"]["interval"] is None
    other_month = stats(client, "community", "110102001001", month="2026-10").get_json()
    assert other_month["disposals"] == 0 and other_month["accuracy"]["value"] is None


def test_participation_is_not_measured_without_readers(client, city):
    login(client, "city")
    body = stats(client, "community", "110102001002").get_json()
    assert body["participation"]["measured"] is False
    assert body["participation"]["value"] is None
    assert body["participation"]["registered_households"] == 500


def test_participation_without_any_household_token_yet_is_no_data_not_zero(client, city):
    """A reader station whose tokens have not arrived in the period: the rate
    is not a measured 0 %, it has no data yet; the first token measures it."""
    ts = "2026-11-10T08:00:00+08:00"
    post_events(client, city, [disposal(ts=ts, household=None), disposal(ts=ts, household=None)])
    login(client, "sanlihe")
    body = stats(client, "community", "110102001001", month="2026-11").get_json()["participation"]
    assert body["measured"] is True and body["no_data"] is True
    assert body["value"] is None and body["met"] is None
    post_events(client, city, [disposal(ts=ts, household="hh-1")])
    body = stats(client, "community", "110102001001", month="2026-11").get_json()["participation"]
    assert body["no_data"] is False and body["value"] == 1 / 1000


BELOW = {"city": "district", "district": "community", "street": "community"}
STATION_COMMUNITY = {"st-a": "110102001001", "st-b": "110102001002", "st-c": "110105001001"}


def scope_urls(level, code):
    q = f"level={level}" + (f"&code={code}" if code else "")
    urls = [f"/api/v1/stats?{q}", f"/api/v1/stats/daily?{q}", f"/api/v1/insights?{q}"]
    within = f"&within={code}" if code else ""
    urls.append(f"/api/v1/stations/health?{within[1:]}")
    if level in BELOW:
        urls.append(f"/api/v1/rankings?level={BELOW[level]}{within}")
        urls.append(f"/exports/stats.csv?level={BELOW[level]}{within}")
        urls.append(f"/exports/stats.xlsx?level={BELOW[level]}{within}")
    return urls


@pytest.mark.parametrize("user", sorted(ALLOWED))
def test_every_endpoint_keeps_to_the_users_scope(client, city, user):
    login(client, user)
    for level, code in SCOPES:
        for url in scope_urls(level, code):
            allowed = code in ALLOWED[user] and user != "vol"
            r = client.get(url)
            assert r.status_code == (200 if allowed else 403), (user, url, r.status_code)
    for station, community in STATION_COMMUNITY.items():
        allowed = (station == "st-a") if user == "vol" else (
            user == "city" or any(community.startswith(c) for c in ALLOWED[user] if c))
        for url in (f"/api/v1/stations/{station}/events", f"/api/v1/stations/{station}/today",
                    f"/api/v1/quiz/questions?station={station}"):
            r = client.get(url)
            assert r.status_code == (200 if allowed else 403), (user, url, r.status_code)


def test_online_share_counts_each_station_from_its_registration(app, client, city):
    """A station added today is not offline for the days before it existed."""
    from datetime import datetime

    from server import store as store_pkg

    from ..support import BEIJING
    s = store_pkg.connect(app.config["SETTINGS"].database)
    created = datetime.fromisoformat(s.station("st-a")["created_at"])
    s.close()
    login(client, "sanlihe")
    month = datetime.now(BEIJING).strftime("%Y-%m")
    body = client.get("/api/v1/stats", query_string={"level": "community", "code": "110102001001",
                                                     "month": month}).get_json()
    since = (datetime.now(UTC) - created).total_seconds()
    assert 0 < body["online_share"]["possible_seconds"] <= since + 5


def test_possible_online_seconds_of_a_past_month():
    from datetime import datetime

    from server.report import possible_online_seconds
    from server.timeutil import make_period
    period = make_period("2026-10")
    start = period.start_utc()
    mid = datetime(2026, 10, 16, 16, 0, tzinfo=UTC)  # 17 Oct 00:00 in Beijing
    end = period.end_utc()
    after = datetime(2026, 11, 20, tzinfo=UTC)
    assert possible_online_seconds([start.isoformat(), mid.isoformat(), after.isoformat()], period) == \
        int((end - start).total_seconds()) + int((end - mid).total_seconds())
