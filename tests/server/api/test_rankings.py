"""Rankings: order, ties, members without data, lists, month over month."""
from __future__ import annotations

import pytest

from ..support import audited_district, disposal, login, post_events


def rank(client, **query):
    r = client.get("/api/v1/rankings", query_string=query)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def send(client, city, station, month, correct, wrong):
    ts = f"{month}-10T12:00:00+08:00"
    events = ([disposal(station=station, ts=ts, verdict="correct", bin="other") for _ in range(correct)]
              + [disposal(station=station, ts=ts, verdict="wrong", bin="other") for _ in range(wrong)])
    assert post_events(client, city, events, station=station).get_json()["accepted"] == len(events)


def test_order_ties_and_no_data(client, city):
    # st-a (community 110102001001): 3/4; st-b (110102001002): 3/4 as well, but
    # more disposals wins the tie; 110102003001 has no station: no data.
    send(client, city, "st-a", "2026-11", 3, 1)
    send(client, city, "st-b", "2026-11", 6, 2)
    login(client, "xicheng")
    body = rank(client, level="community", within="110102", month="2026-11", n=1)
    codes = [m["code"] for m in body["members"]]
    assert codes == ["110102001002", "110102001001", "110102003001"]
    assert [m["rank"] for m in body["members"]] == [1, 2, None]
    assert body["members"][2]["no_data"] is True and body["members"][2]["value"] is None
    assert [m["code"] for m in body["red_list"]] == ["110102001002"]
    assert [m["code"] for m in body["black_list"]] == ["110102001001"]
    assert "ties" in body["order"]


def test_numbers_equal_each_members_own_stats(client, city):
    send(client, city, "st-a", "2026-11", 5, 3)
    send(client, city, "st-c", "2026-11", 2, 2)
    login(client, "city")
    body = rank(client, level="district", month="2026-11", metric="accuracy")
    for m in body["members"]:
        own = client.get("/api/v1/stats", query_string={
            "level": "district", "code": m["code"], "month": "2026-11"}).get_json()
        for metric in ("accuracy", "participation", "awareness"):
            # the accuracy with its inspected and corrected figures
            assert m[metric] == own[metric], (m["code"], metric)
        assert m["coverage"] == own["coverage"]["value"]
        assert m["online_share"] == own["online_share"]["value"]


def test_month_over_month(client, city):
    send(client, city, "st-a", "2026-10", 1, 1)   # Oct: a 0.5
    send(client, city, "st-b", "2026-10", 9, 1)   # Oct: b 0.9
    send(client, city, "st-a", "2026-11", 9, 0)   # Nov: a 1.0
    send(client, city, "st-b", "2026-11", 1, 1)   # Nov: b 0.5
    login(client, "xichangan")
    body = rank(client, level="community", within="110102001", month="2026-11")
    a, b = body["members"]
    assert (a["code"], a["rank"], a["previous_rank"], a["rank_change"]) == ("110102001001", 1, 2, 1)
    assert a["value_change"] == pytest.approx(0.5)
    assert (b["rank"], b["previous_rank"], b["rank_change"]) == (2, 1, -1)


@pytest.mark.parametrize("query, status", [
    ({"level": "community", "within": "110102", "metric": "speed"}, 400),
    ({"level": "community", "within": "110102", "metric": "accuracy_correct"}, 400),
    ({"level": "district", "within": "110102"}, 400),
    ({"level": "community", "within": "1101"}, 400),
    ({"level": "community", "within": "110102", "n": "0"}, 400),
    ({"level": "community", "within": "110105"}, 403),
    ({"level": "community", "within": "110199"}, 403),
])
def test_refusals(client, city, query, status):
    login(client, "xicheng")
    assert client.get("/api/v1/rankings", query_string=query).status_code == status


def test_unknown_scope_for_the_city_user(client, city):
    login(client, "city")
    r = client.get("/api/v1/rankings", query_string={"level": "community", "within": "110199"})
    assert r.status_code == 404


def _lists(body):
    return [m["code"] for m in body["red_list"]], [m["code"] for m in body["black_list"]]


def test_a_member_is_on_at_most_one_list(client, city):
    """Fewer ranked members than twice the list size: each list gets half of
    them (rounded down), the middle one of an odd count is on neither, and a
    single ranked member is on none."""
    city.add_station("st-d", "110102003001")
    city.tokens["st-d"] = city.add_device("dev-st-d", "st-d")
    login(client, "xicheng")
    send(client, city, "st-a", "2026-11", 3, 1)
    body = rank(client, level="community", within="110102", month="2026-11", n=5)
    assert _lists(body) == ([], [])  # one ranked member: on no list
    send(client, city, "st-b", "2026-11", 1, 1)
    body = rank(client, level="community", within="110102", month="2026-11", n=5)
    assert _lists(body) == (["110102001001"], ["110102001002"])
    send(client, city, "st-d", "2026-11", 9, 1)
    body = rank(client, level="community", within="110102", month="2026-11", n=5)
    assert _lists(body) == (["110102003001"], ["110102001002"])  # the middle one on neither
    assert body["list_size"] == 5
    body = rank(client, level="community", within="110102", month="2026-11", n=1)
    assert _lists(body) == (["110102003001"], ["110102001002"])


A, B, D = "110102001001", "110102001002", "110102003001"   # the communities of audited_district


def test_each_member_carries_the_inspected_and_corrected_accuracy_of_its_own_stats(client, city):
    month = audited_district(client, city)
    login(client, "xicheng")
    body = rank(client, level="community", within="110102", month=month)
    members = {m["code"]: m for m in body["members"]}
    for code, m in members.items():
        own = client.get("/api/v1/stats", query_string={"level": "community", "code": code,
                                                        "month": month}).get_json()
        # the ranking's bulk correction gives the figure each member's own page shows
        assert m["accuracy"] == own["accuracy"], code
    a, b, d = members[A]["accuracy"], members[B]["accuracy"], members[D]["accuracy"]
    assert (a["inspected"]["checked"], a["inspected"]["wrong"], a["inspected"]["value"]) == (40, 4, 0.9)
    assert b["inspected"] is None and d["inspected"] is None
    assert a["corrected"]["audited"] == 100 and b["corrected"]["audited"] == 40
    assert d["corrected"] is None                       # its camera was never audited
    assert a["value"] == pytest.approx(0.70) and a["corrected"]["value"] == pytest.approx(0.89, abs=0.02)
    assert b["value"] == pytest.approx(0.80) and b["corrected"]["value"] == pytest.approx(0.78, abs=0.02)
    for figure in (a["corrected"], b["corrected"]):
        assert figure["interval"][0] <= figure["value"] <= figure["interval"][1]


def test_rankings_order_by_the_corrected_accuracy_with_the_uncorrected_last(client, city):
    month = audited_district(client, city)
    login(client, "xicheng")
    camera = rank(client, level="community", within="110102", month=month, n=1)
    assert [m["code"] for m in camera["members"]] == [D, B, A]
    body = rank(client, level="community", within="110102", month=month, n=1, metric="accuracy_corrected")
    assert body["metric"] == "accuracy_corrected" and body["target"] == camera["target"]
    assert [(m["code"], m["rank"], m["no_data"]) for m in body["members"]] == \
        [(A, 1, False), (B, 2, False), (D, None, True)]
    for m in body["members"]:
        corrected = m["accuracy"]["corrected"]
        assert m["value"] == (corrected["value"] if corrected else None)
    assert "without a corrected value" in body["order"] and "30 audits" in body["order"]
    assert [m["code"] for m in body["red_list"]] == [A] and [m["code"] for m in body["black_list"]] == [B]
    assert all(m["previous_rank"] is None for m in body["members"])   # nothing the month before


def test_an_unknown_metric_is_refused_in_the_error_shape(client, city):
    login(client, "xicheng")
    r = client.get("/api/v1/rankings", query_string={"level": "community", "within": "110102",
                                                     "metric": "corrected"})
    assert r.status_code == 400
    error = r.get_json()["error"]
    assert error["code"] == "invalid_request" and error["details"][0]["field"] == "metric"
    assert "accuracy_corrected" in error["message"]


def test_the_corrected_ranking_compares_with_the_corrected_values_of_the_month_before(client, city):
    month = audited_district(client, city)
    login(client, "xicheng")
    before = {m["code"]: m for m in rank(client, level="community", within="110102", month=month,
                                         metric="accuracy_corrected")["members"]}
    year, mon = map(int, month.split("-"))
    following = f"{year + mon // 12:04d}-{mon % 12 + 1:02d}"
    body = rank(client, level="community", within="110102", month=following, metric="accuracy_corrected")
    members = {m["code"]: m for m in body["members"]}
    for code in (A, B):
        assert members[code]["no_data"] and members[code]["previous_rank"] == before[code]["rank"]
        assert members[code]["previous_value"] == before[code]["accuracy"]["corrected"]["value"]
    assert members[D]["previous_rank"] is None and members[D]["previous_value"] is None
