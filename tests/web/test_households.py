"""The community manager's households page: the households to visit, those not
seen, every household of the month; the community's manager only. Rendered
through HTTP on both stores, and in a real browser against the real server."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from server.timeutil import BEIJING
from tests.server.support import disposal, post_events

from .browser import WIDTHS, log_in, missing_browser, post_json, served_city, shoot

NOW = (datetime.now(BEIJING).replace(day=1, hour=10, minute=0, second=0, microsecond=0)
       - timedelta(days=15))
MONTH = f"{NOW:%Y-%m}"


def month_of_disposals() -> list[dict]:
    """hh-careful sorts well, hh-careless puts batteries in the other bin, hh-away
    was seen last month only."""
    at = lambda days: (NOW + timedelta(days=days)).isoformat(timespec="milliseconds")  # noqa: E731
    good = [disposal(household="hh-careful", verdict="correct", item="food_waste", category="kitchen",
                     bin="kitchen", ts=at(d % 4)) for d in range(8)]
    bad = [disposal(household="hh-careless", verdict="wrong", item="battery_lithium", category="hazardous",
                    bin="other", ts=at(d)) for d in range(5)]
    bad += [disposal(household="hh-careless", verdict="correct", item="food_waste", category="kitchen",
                     bin="kitchen", ts=at(6))]
    away = [disposal(household="hh-away", verdict="correct", item="food_waste", category="kitchen",
                     bin="kitchen", ts=at(-30))]
    return good + bad + away


def test_the_page_lists_who_to_visit_and_who_was_not_seen(client, city, login_as):
    assert post_events(client, city, month_of_disposals()).get_json()["accepted"] == 15
    login_as("sanlihe")
    page = client.get(f"/households/110102001001?month={MONTH}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    to_visit = html.split('id="to-visit"')[1].split("</section>")[0]
    assert "hh-careless" in to_visit and "有害垃圾" in to_visit and "hh-careful" not in to_visit
    assert "hh-away" in html.split('id="not-seen"')[1].split("</section>")[0]
    table = html.split('id="households"')[1]
    assert table.index("hh-careless") < table.index("hh-careful")     # worst accuracy first
    assert "/exports/households.csv?community=110102001001" in html
    assert "系统不保存姓名、电话或门牌" in html
    assert [c.strip() for c in re.findall(r'<td class="points">([^<]*)</td>', table)] == ["—", "—"]  # no rule


def test_the_page_shows_each_households_points(client, city, login_as, runner, tmp_path):
    rule = tmp_path / "rule.json"
    rule.write_text('{"correct": 1, "expiry_days": 365}', encoding="utf-8")
    assert runner.invoke(args=["set-points-rule", "city", str(rule)]).exit_code == 0
    assert post_events(client, city, month_of_disposals()).get_json()["accepted"] == 15
    login_as("sanlihe")
    html = client.get(f"/households/110102001001?month={MONTH}&sort=points").get_data(as_text=True)
    table = html.split('id="households"')[1]
    assert "积分 ▾" in table
    rows = re.findall(r'<tr class="household[^"]*"><td>([^<]+)</td>.*?<td class="points">([^<]*)</td>', table, re.S)
    assert rows == [("hh-careful", "8"), ("hh-careless", "1")]


@pytest.mark.parametrize("user", ["xichangan", "xicheng", "city", "vol"])
def test_nobody_else_gets_the_page(client, city, login_as, user):
    login_as(user)
    page = client.get(f"/households/110102001001?month={MONTH}")
    assert page.status_code == 403
    assert "hh-" not in page.get_data(as_text=True)


@pytest.mark.slow
@pytest.mark.skipif(missing_browser() is not None, reason=str(missing_browser()))
def test_the_households_page_in_a_browser(tmp_path, browser):
    with served_city(tmp_path, workers=1, threads=4) as (base, city):
        status, body = post_json(base + "/api/v1/events", {"device_id": "dev-st-a",
                                                           "events": month_of_disposals()},
                                 city.tokens["st-a"])
        assert status == 200 and body["accepted"] == 15
        rule = tmp_path / "rule.json"
        rule.write_text('{"correct": 1, "expiry_days": 365}', encoding="utf-8")
        assert city.runner.invoke(args=["set-points-rule", "city", str(rule)]).exit_code == 0
        w, h = WIDTHS["desktop"]
        context = browser.new_context(viewport={"width": w, "height": h}, locale="zh-CN",
                                      timezone_id="Asia/Shanghai")
        problems = []
        page = context.new_page()
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
        try:
            log_in(page, base, "sanlihe")
            page.click("nav >> text=住户分类情况")
            page.wait_for_load_state()
            assert "/households/110102001001" in page.url
            page.goto(page.url.split("?")[0] + f"?month={MONTH}")
            assert "hh-careless" in page.inner_text("#to-visit")
            assert "hh-away" in page.inner_text("#not-seen")
            rows = page.eval_on_selector_all("#households tbody tr", "rs => rs.map(r => r.cells[0].innerText)")
            assert rows == ["hh-careless", "hh-careful"]
            page.click("#households thead >> text=投放次数")
            page.wait_for_load_state()
            rows = page.eval_on_selector_all("#households tbody tr", "rs => rs.map(r => r.cells[0].innerText)")
            assert rows == ["hh-careful", "hh-careless"]                  # 8 disposals, then 6
            points = page.eval_on_selector_all("#households tbody td.points", "cs => cs.map(c => c.innerText)")
            assert points == ["8", "1"]
            with page.expect_download() as download:
                page.click("text=CSV")
            assert download.value.suggested_filename == f"sortwatch-households-110102001001-{MONTH}.csv"
            page.goto(page.url.split("?")[0] + f"?month={MONTH}")
            shoot(page, "households", full=True)
        finally:
            context.close()
        assert not problems, problems
