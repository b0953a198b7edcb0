"""The tablet's household card in a real browser against the real server: a
card typed in (as a USB or QR scanner types it) shows the household's points
and last disposals; a redemption whose answer is lost on the way back is
pressed again and recorded once."""
from __future__ import annotations

import sqlite3

import pytest

from tests.server.support import disposal

from .browser import WIDTHS, log_in, missing_browser, post_json, served_city, shoot
from .test_tablet import start

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(missing_browser() is not None, reason=str(missing_browser()))]


def test_a_card_shows_points_and_a_lost_answer_redeems_once(tmp_path, browser):
    with served_city(tmp_path, workers=1, threads=16) as (base, city):
        rule = tmp_path / "rule.json"
        rule.write_text('{"correct": 1, "expiry_days": 365}', encoding="utf-8")
        result = city.runner.invoke(args=["set-points-rule", "city", str(rule)])
        assert result.exit_code == 0, result.output
        events = ([disposal(household="hh-7", verdict="correct", item="food_waste", category="kitchen",
                            bin="kitchen") for _ in range(6)]
                  + [disposal(household="hh-7", verdict="wrong", item="battery_lithium", category="hazardous",
                              bin="other")])
        status, body = post_json(base + "/api/v1/events", {"device_id": "dev-st-a", "events": events},
                                 city.tokens["st-a"])
        assert status == 200 and body["accepted"] == 7
        w, h = WIDTHS["tablet"]
        context = browser.new_context(viewport={"width": w, "height": h}, locale="zh-CN")
        problems, posts = [], []
        page = context.new_page()
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
        page.set_default_timeout(10_000)

        def lose_the_first_answer(route):
            # The server gets and records the first redemption; its answer never reaches the tablet.
            posts.append(route.request.post_data_json)
            if len(posts) == 1:
                route.fetch()
                route.abort("connectionreset")
            else:
                route.continue_()

        try:
            log_in(page, base, "vol")
            start(page)
            page.route("**/households/hh-7/redemptions", lose_the_first_answer)
            page.fill("#card-token", "13812345678")
            page.press("#card-token", "Enter")
            page.wait_for_selector("#card-note:has-text('电话号码')")
            page.fill("#card-token", "hh-7")
            page.press("#card-token", "Enter")
            page.wait_for_selector("#card-balance:has-text('6')")
            assert "锂电池" in page.inner_text("#card-advice") and "有害垃圾" in page.inner_text("#card-advice")
            assert len(page.query_selector_all("#card-recent li")) == 7
            page.fill("#redeem-points", "4")
            page.fill("#redeem-reward", "环保袋")
            page.click("#redeem-btn")
            page.wait_for_selector("#card-note:has-text('不会重复扣分')")
            page.click("#redeem-btn")
            page.wait_for_selector("#card-note:has-text('余 2')")
            shoot(page, "tablet-points")
        finally:
            context.close()
        assert not problems, problems
        assert len(posts) == 2 and posts[0] == posts[1]          # the same redemption id both times
        with sqlite3.connect(tmp_path / "web.db") as conn:
            rows = conn.execute("SELECT household, points, reward, station_id FROM redemptions").fetchall()
        assert rows == [("hh-7", 4, "环保袋", "st-a")]


def test_a_card_read_by_the_stations_reader_opens_on_the_tablet(tmp_path, browser):
    """The whole way of a card: a line from the station's reader (a file the
    reader follows), the edge's scan sender posting it with the device token,
    the tablet's stream, the household's card on screen, nothing typed."""
    from edge.privacy.household import HouseholdTokens, LineReader
    from edge.uploader import Client
    from edge.uploader.scans import ScanSender
    with served_city(tmp_path, workers=1, threads=16) as (base, city):
        rule = tmp_path / "rule.json"
        rule.write_text('{"correct": 1, "expiry_days": 365}', encoding="utf-8")
        assert city.runner.invoke(args=["set-points-rule", "city", str(rule)]).exit_code == 0
        events = [disposal(household="hh-42", verdict="correct", item="food_waste", category="kitchen",
                           bin="kitchen") for _ in range(3)]
        status, body = post_json(base + "/api/v1/events", {"device_id": "dev-st-a", "events": events},
                                 city.tokens["st-a"])
        assert status == 200 and body["accepted"] == 3
        reader_file = tmp_path / "reader.txt"
        reader_file.write_text("")
        sender = ScanSender(Client(base, "dev-st-a", city.tokens["st-a"], timeout=5.0))
        tokens = HouseholdTokens(window=15, on_read=sender.offer)
        reader = LineReader(reader_file, tokens, poll=0.05)
        w, h = WIDTHS["tablet"]
        context = browser.new_context(viewport={"width": w, "height": h}, locale="zh-CN")
        problems = []
        page = context.new_page()
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.set_default_timeout(10_000)
        sender.start()
        reader.start()
        try:
            log_in(page, base, "vol")
            start(page)
            assert page.is_hidden("#card-result")
            with reader_file.open("a") as f:
                f.write("hh-42\r\n")                          # a scanner ends its line with CR
            page.wait_for_selector("#card-household:has-text('hh-42')")
            assert page.inner_text("#card-balance") == "3"
            assert page.input_value("#card-token") == "hh-42"
            assert "读卡器" in page.inner_text("#card-note")
            assert len(page.query_selector_all("#card-recent li")) == 3
            shoot(page, "tablet-card-scan")
        finally:
            reader.stop()
            sender.stop()
            context.close()
        assert not problems, problems
        assert sender.sent == 1
        assert tokens.take() == "hh-42"              # the next disposal still carries it
