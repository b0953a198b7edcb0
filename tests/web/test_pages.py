"""The pages through Flask's test client: login and CSRF, landing pages,
scopes, language, the tablet's stream. The browser tests (test_browser.py)
do the same journeys in Chromium; these are the fast, exhaustive part."""
from __future__ import annotations

import re
import time
from datetime import timedelta

import markupsafe
import pytest

from server.web.chart import trend_svg
from tests.server.support import audited_district, disposal, post_events

from .conftest import csrf_of, web_login

FAST_STREAM = {"WEB_STREAM_POLL": 0.02, "WEB_STREAM_MAX_SECONDS": 0.3, "WEB_STREAM_HEARTBEAT": 0.1}


def test_login_form_needs_its_csrf_token(client, city):
    client.get("/login")
    response = client.post("/login", data={"username": "sanlihe", "password": "password-123"})
    assert response.status_code == 400
    assert "表单已过期" in response.get_data(as_text=True)
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"username": "sanlihe", "password": "password-123",
                                           "csrf_token": csrf_of(page) + "x"})
    assert response.status_code == 400


def test_wrong_password_is_refused_with_a_message(client, city):
    response = web_login(client, "sanlihe", password="not-it")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert client.get("/dashboard/110102001001").status_code == 302


@pytest.mark.parametrize("username, home", [
    ("city", "/rankings"), ("xicheng", "/dashboard/110102"),
    ("xichangan", "/dashboard/110102001"), ("sanlihe", "/dashboard/110102001001"),
    ("vol", "/station/st-a")])
def test_each_role_lands_on_its_page(client, city, username, home):
    response = web_login(client, username)
    assert response.status_code == 302 and response.headers["Location"] == home
    assert client.get("/").headers["Location"] == home
    assert client.get(home).status_code == 200


def test_the_session_cookie_expires_and_is_renewed_at_login(app, client, city):
    before = client.get("/login")
    response = web_login(client, "sanlihe")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    # a new session at login: the CSRF token from before is no longer valid
    assert csrf_of(client.get("/dashboard/110102001001").get_data(as_text=True)) \
        != csrf_of(before.get_data(as_text=True))


def test_an_expired_session_sends_back_to_login(app, client, city):
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=1)
    web_login(client, "sanlihe")
    assert client.get("/dashboard/110102001001").status_code == 200
    time.sleep(2.2)
    response = client.get("/dashboard/110102001001")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/dashboard/110102001001")


def test_login_goes_back_to_the_page_asked_for_but_never_off_site(client, city):
    response = client.get("/dashboard/110102001001?month=2026-10")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'name="next" value="/dashboard/110102001001?month=2026-10"' in page
    response = client.post("/login", data={"username": "sanlihe", "password": "password-123",
                                           "csrf_token": csrf_of(page),
                                           "next": "/dashboard/110102001001?month=2026-10"})
    assert response.headers["Location"] == "/dashboard/110102001001?month=2026-10"
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        page = client.get("/login").get_data(as_text=True)
        response = client.post("/login", data={"username": "sanlihe", "password": "password-123",
                                               "csrf_token": csrf_of(page), "next": evil})
        assert response.headers["Location"] == "/dashboard/110102001001", evil


def test_pages_forbid_foreign_scripts_and_framing(client, city):
    web_login(client, "vol")
    response = client.get("/station/st-a")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in response.get_data(as_text=True)  # no inline script to allow


def test_logout_needs_csrf(client, city):
    web_login(client, "sanlihe")
    assert client.post("/logout").status_code == 400
    page = client.get("/dashboard/110102001001").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf_of(page)}).status_code == 302
    assert client.get("/dashboard/110102001001").status_code == 302


PAGES = ["/station/st-a", "/station/st-b", "/station/st-c", "/dashboard/110102001001",
         "/dashboard/110102001002", "/dashboard/110102001", "/dashboard/110102",
         "/dashboard/110105", "/dashboard/city", "/rankings", "/rankings?within=110105",
         "/station/st-a/stream"]
ALLOWED = {
    "city": set(PAGES),
    "xicheng": {"/station/st-a", "/station/st-b", "/dashboard/110102001001",
                "/dashboard/110102001002", "/dashboard/110102001", "/dashboard/110102",
                "/rankings", "/station/st-a/stream"},
    "xichangan": {"/station/st-a", "/station/st-b", "/dashboard/110102001001",
                  "/dashboard/110102001002", "/dashboard/110102001", "/rankings",
                  "/station/st-a/stream"},
    "sanlihe": {"/station/st-a", "/dashboard/110102001001", "/station/st-a/stream"},
    "chaoyang": {"/station/st-c", "/dashboard/110105", "/rankings", "/rankings?within=110105"},
    "vol": {"/station/st-a", "/station/st-a/stream"},
}


@pytest.mark.parametrize("username", list(ALLOWED))
def test_everyone_sees_only_their_scope(app, client, city, username):
    app.config.update(FAST_STREAM)
    web_login(client, username)
    for path in PAGES:
        response = client.get(path)
        expected = 200 if path in ALLOWED[username] else 403
        assert response.status_code == expected, (username, path)
        if expected == 403 and not path.endswith("/stream"):
            assert "无权访问" in response.get_data(as_text=True)
        response.close()


def test_unknown_things_are_404_and_bad_months_400(client, city):
    web_login(client, "city")
    assert client.get("/station/nope").status_code == 404
    assert client.get("/dashboard/110102009").status_code == 404
    assert client.get("/dashboard/not-a-code").status_code == 404
    assert client.get("/dashboard/110102?month=2026-13").status_code == 400
    assert client.get("/rankings?level=province").status_code == 400
    assert client.get("/rankings?within=110102001&level=community").status_code == 200
    # a level that does not exist inside the scope falls back to the first that does
    page = client.get("/rankings?within=110102&level=district").get_data(as_text=True)
    assert "各街道排名" in page


@pytest.mark.parametrize("args", ["month=2026-13", "month=0001-01", "month=2026-11%0A", "period=week",
                                  "within=12345", "within=110102&metric=speed"])
def test_the_rankings_page_and_api_refuse_the_same_query_with_the_same_reason(client, city, args):
    """One parser (server/query.py) reads the query for the page and the API."""
    web_login(client, "city")
    page = client.get("/rankings?level=street&" + args)
    api = client.get("/api/v1/rankings?level=street&" + args)
    assert (page.status_code, api.status_code) == (400, 400)
    assert markupsafe.escape(api.get_json()["error"]["message"]) in page.get_data(as_text=True)


def test_english_is_a_switch_remembered_in_the_session(client, city):
    web_login(client, "sanlihe")
    page = client.get("/dashboard/110102001001").get_data(as_text=True)
    assert 'lang="zh-CN"' in page and "自主投放准确率" in page
    page = client.get("/dashboard/110102001001?lang=en").get_data(as_text=True)
    assert 'lang="en"' in page and "Self-directed accuracy" in page
    page = client.get("/station/st-a").get_data(as_text=True)
    assert "Start duty" in page
    page = client.get("/dashboard/110102001001?lang=zh").get_data(as_text=True)
    assert "自主投放准确率" in page


def test_dashboard_shows_the_rates_and_feedback_moves_them(client, city):
    wrong = disposal(verdict="wrong")
    glass = disposal(verdict="wrong", item="glass", category="recyclable", bin="other")
    post_events(client, city, [disposal(verdict="correct", bin="hazardous"), wrong, glass])
    web_login(client, "sanlihe")

    def accuracy():
        page = client.get("/dashboard/110102001001").get_data(as_text=True)
        card = re.search(r'data-rate="accuracy" data-numerator="(\d+)" data-denominator="(\d+)"', page)
        return int(card.group(1)), int(card.group(2))
    assert accuracy() == (1, 3)
    # The manager reads; the station's volunteer gives the feedback.
    url = f"/api/v1/events/{wrong['event_id']}/feedback"
    assert client.post(url, json={"assisted": True}).status_code == 403
    assert accuracy() == (1, 3)
    web_login(client, "vol")
    response = client.post(url, json={"assisted": True})
    assert response.status_code == 200, response.get_json()
    web_login(client, "sanlihe")
    assert accuracy() == (1, 2)
    page = client.get("/dashboard/110102001001").get_data(as_text=True)
    assert "<svg" in page and "<circle" in page
    # the latest wrong disposals name the item in Chinese; the assisted one left
    latest = page.split("最近的错误投放", 1)[1]
    assert "玻璃" in latest and "电池" not in latest
    # where it stands among the street's communities, in each of the three rates
    standing = page.split('id="standing"', 1)[1].split("</ul>", 1)[0]
    assert "自主投放准确率" in standing and "第 1 名 / 共 1 个" in standing
    assert "知晓率" in standing and "暂无数据" in standing


def test_long_rankings_show_the_first_rows_and_point_to_the_download(client, city, monkeypatch):
    from server.web import city as city_page
    monkeypatch.setattr(city_page, "MAX_ROWS", 2)
    web_login(client, "xicheng")
    page = client.get("/rankings?level=community").get_data(as_text=True)
    assert page.count("data-code=") == 2
    assert "仅显示前 2 名（共 3 个）" in page


def ranking_rows(page: str) -> list[tuple[str, str]]:
    """(code, row html) of the ranking table, in its order."""
    table = page.split('id="ranking"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr class="[^"]*" data-code="(\d+)">(.*?)</tr>', table, re.S)


def test_rankings_page_shows_and_orders_by_the_corrected_accuracy(client, city):
    month = audited_district(client, city)
    web_login(client, "xicheng")
    page = client.get(f"/rankings?level=community&within=110102&month={month}").get_data(as_text=True)
    rows = dict(ranking_rows(page))
    assert [code for code, _ in ranking_rows(page)] == ["110102003001", "110102001002", "110102001001"]
    assert "校正后准确率" in page and "巡查准确率" in page
    api = client.get(f"/api/v1/rankings?level=community&within=110102&month={month}").get_json()
    a = next(m for m in api["members"] if m["code"] == "110102001001")["accuracy"]
    low, high = a["corrected"]["interval"]
    assert f"{a['corrected']['value'] * 100:.1f}%" in rows["110102001001"]
    assert f"{low * 100:.1f}%–{high * 100:.1f}%" in rows["110102001001"]
    assert "查40错4" in rows["110102001001"] and "90.0%" in rows["110102001001"]
    page = client.get(f"/rankings?level=community&within=110102&month={month}&metric=accuracy_corrected"
                      ).get_data(as_text=True)
    assert [code for code, _ in ranking_rows(page)] == ["110102001001", "110102001002", "110102003001"]
    assert "抽检不足（排在最后）" in dict(ranking_rows(page))["110102003001"]
    assert 'id="order-note"' in page and "30 次" in page
    assert '<option value="accuracy_corrected" selected' in page
    assert client.get("/rankings?level=community&within=110102&metric=corrected").status_code == 400


def test_rankings_page_links_both_downloads(client, city):
    post_events(client, city, [disposal(verdict="correct", bin="hazardous")])
    web_login(client, "xicheng")
    page = client.get("/rankings?level=community&month=2026-11").get_data(as_text=True)
    assert "三里河社区" in page and "白云观社区" in page and "建外社区" not in page
    assert '<option value="inspection"' in page
    page = client.get("/rankings?level=community&month=2026-11&period=inspection").get_data(
        as_text=True)
    assert "2026-10-20 – 2026-11-19" in page and "period=inspection" in page
    links = re.findall(r'href="(/exports/stats\.(?:csv|xlsx)\?[^"]+)"', page)
    assert len(links) == 2
    for link in links:
        response = client.get(link.replace("&amp;", "&"))
        assert response.status_code == 200, link
        response.close()


def read_stream(client, path, **headers) -> list[dict]:
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    text = response.get_data(as_text=True)
    response.close()
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines()
                      if ": " in line and not line.startswith(":"))
        if fields:
            events.append(fields)
    return events


def test_stream_resumes_after_last_event_id_and_starts_at_now(app, client, city):
    import json
    app.config.update(FAST_STREAM)
    old = disposal(verdict="correct", bin="hazardous")
    post_events(client, city, [old])
    web_login(client, "vol")
    events = read_stream(client, "/station/st-a/stream")
    assert [e["event"] for e in events if e["event"] != "ping"] == ["counts"]
    start = int(events[0]["id"])
    first, second = disposal(), disposal(item="glass", category="recyclable", bin="other")
    post_events(client, city, [first, second])
    events = read_stream(client, "/station/st-a/stream", **{"Last-Event-ID": str(start)})
    disposals = [json.loads(e["data"]) for e in events if e["event"] == "disposal"]
    assert [d["event_id"] for d in disposals] == [first["event_id"], second["event_id"]]
    assert disposals[0]["item_name"] == "电池" and disposals[0]["category_name"] == "有害垃圾"
    assert disposals[0]["colour"] == "#c62828" and disposals[0]["colour_name"] == "红色"
    assert disposals[1]["item_name"] == "玻璃" and disposals[1]["bin_name"] == "其他垃圾"
    cursor = int([e for e in events if e["event"] == "disposal"][0]["id"])
    events = read_stream(client, f"/station/st-a/stream?after={cursor}")
    assert [json.loads(e["data"])["event_id"] for e in events if e["event"] == "disposal"] \
        == [second["event_id"]]
    counts = json.loads([e for e in events if e["event"] == "counts"][-1]["data"])
    assert counts["disposals"] == 3 and counts["wrong"] == 2 and counts["correct"] == 1


def test_stream_sends_heartbeats_and_needs_a_login(app, client, city):
    app.config.update(FAST_STREAM)
    assert client.get("/station/st-a/stream").status_code == 401
    web_login(client, "vol")
    response = client.get("/station/st-a/stream")
    text = response.get_data(as_text=True)
    assert text.startswith("retry: ")
    assert ": keep-alive\n" in text and "event: ping" in text
    assert response.headers["Cache-Control"].startswith("no-cache")


def test_streams_beyond_the_process_cap_are_refused_and_slots_come_back(app, client, city):
    app.config.update(FAST_STREAM, WEB_STREAM_SLOTS=1)
    web_login(client, "vol")
    held = client.get("/station/st-a/stream")
    assert held.status_code == 200
    refused = client.get("/station/st-a/stream")
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "2"
    held.close()  # never read: the slot must come back anyway
    again = client.get("/station/st-a/stream")
    assert again.status_code == 200
    again.close()


def test_trend_chart_is_plain_svg_with_gaps_for_days_without_judgements():
    days = [{"day": f"2026-11-{d:02d}", "disposals": n,
             "accuracy": {"value": v}} for d, n, v in
            [(1, 10, 0.9), (2, 0, None), (3, 5, 0.6), (4, 8, 1.0), (5, 3, 0.5)]]
    svg = str(trend_svg(days, 0.9, {"title": "趋势 <x>", "empty": "无"}))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "趋势 &lt;x&gt;" in svg and "<script" not in svg
    assert svg.count("<polyline") == 1          # day 1 alone, then days 3-5
    assert svg.count("<circle") == 4
    assert svg.count("<rect") == 4               # no bar on the empty day
    empty = str(trend_svg([{"day": "2026-11-01", "disposals": 0,
                            "accuracy": {"value": None}}], 0.9, {"title": "t", "empty": "无"}))
    assert "无" in empty and "<circle" not in empty


def test_worst_stations_name_each_station_by_its_id_too(client, city):
    """Two communities of a street each have a 1号桶站: the street's list tells them apart."""
    for sid, community in (("st-d", "110102001001"), ("st-e", "110102001002")):
        result = city.runner.invoke(args=["add-station", sid, "--community", community, "--name", "1号桶站"])
        assert result.exit_code == 0, result.output
        city.tokens[sid] = city.add_device(f"dev-{sid}", sid)
        batch = [disposal(station=sid, verdict="wrong" if k < 4 else "correct", bin="hazardous" if k >= 4 else "other")
                 for k in range(10)]  # the list needs 10 disposals a station
        post_events(client, city, batch, station=sid)
    web_login(client, "xichangan")
    page = client.get("/dashboard/110102001").get_data(as_text=True)
    worst = page.split("错误最多的桶站", 1)[1].split("</table>", 1)[0]
    assert worst.count("1号桶站") == 2 and "st-d" in worst and "st-e" in worst


def test_participation_without_tokens_reads_no_data_and_a_silent_reader_is_shown(client, city):
    from datetime import datetime

    from tests.server.support import BEIJING
    yesterday = (datetime.now(BEIJING) - timedelta(days=1)).replace(hour=12).isoformat(timespec="milliseconds")
    post_events(client, city, [disposal(ts=yesterday, household=None) for _ in range(12)])
    web_login(client, "sanlihe")
    month = yesterday[:7]
    page = client.get(f"/dashboard/110102001001?month={month}").get_data(as_text=True)
    card = page.split('data-rate="participation"', 1)[1].split("</section>", 1)[0]
    assert "暂无数据：本期尚未收到住户识别" in card and "0.0%" not in card and "未达标" not in card
    assert 'data-problem="reader_silent"' in page


def test_a_dashboard_shows_neighbours_only_to_whoever_may_rank_them(client, city):
    """三里河's manager reads "1st of 2" but not 白云观's name or rate, which
    /api/v1/rankings refuses them; the district's staff see both."""
    post_events(client, city, [disposal(verdict="correct", bin="hazardous")])
    post_events(client, city, [disposal(station="st-b", verdict="wrong")], station="st-b")
    web_login(client, "sanlihe")
    page = client.get("/dashboard/110102001001").get_data(as_text=True)
    assert "第 1 名 / 共 2 个" in page.split('id="standing"', 1)[1].split("</ul>", 1)[0]
    assert "白云观社区" not in page
    assert client.get("/api/v1/rankings?level=community&within=110102001").status_code == 403
    web_login(client, "xicheng")
    page = client.get("/dashboard/110102001001").get_data(as_text=True)
    assert "白云观社区" in page and "第 1 名 / 共 2 个" in page


@pytest.mark.parametrize("username, may_correct, may_audit", [
    ("vol", True, True), ("insp", False, True), ("sanlihe", False, False), ("city", False, False)])
def test_the_tablet_offers_feedback_only_to_whoever_may_give_it(client, city, username, may_correct,
                                                                 may_audit):
    """Feedback is the station's volunteer's (server/access.py may_correct),
    audits the volunteer's and the inspectors': nobody is offered buttons that
    would answer 403."""
    web_login(client, username)
    page = client.get("/station/st-a").get_data(as_text=True)
    for button in ("alert-helped", "alert-camera"):
        tag = re.search(rf'<button [^>]*id="{button}"[^>]*>', page).group(0)
        assert (" hidden" not in tag) is may_correct, tag
    assert ('"may_correct": true' in page) is may_correct
    assert ('id="audit-toggle"' in page) is may_audit
