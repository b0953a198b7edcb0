"""Rankings: order, ties, members without data, lists, month over month."""
from __future__ import annotations

import pytest

from ..support import disposal, login, post_events


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
            # the rankings carry the camera's figures; /stats adds the
            # inspected and corrected accuracy beside them
            assert m[metric] == {k: v for k, v in own[metric].items()
                                 if k not in ("inspected", "corrected")}, (m["code"], metric)
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
