"""The community manager's dashboard: each
household count is labelled for what it is, and on a 390 px phone what does
not fit scrolls sideways with a hint, the wrong-disposal table's key columns
first. Browser tests run the real server (gunicorn, SQLite) in Chromium."""
from __future__ import annotations

import pytest

from tests.server.support import disposal

from .browser import WIDTHS, log_in, missing_browser, served_city, shoot
from .conftest import web_login


def test_the_two_household_counts_have_two_labels(client, city):
    """Xicheng district: 1,000 households in the one community with a reader
    (the participation denominator), 2,300 registered in all."""
    event = disposal(station="st-a", household="hh-0001")
    sent = client.post("/api/v1/events", json={"device_id": "dev-st-a", "events": [event]},
                       headers={"Authorization": f"Bearer {city.tokens['st-a']}"})
    assert sent.status_code == 200 and sent.get_json()["accepted"] == 1, sent.get_json()
    assert web_login(client, "xicheng").status_code == 302
    html = client.get("/dashboard/110102").get_data(as_text=True)
    assert "参与 1 户 / 有读卡桶站社区登记 1000 户" in html
    assert "登记户数（全部） <b id=\"registered-all\">2300</b>" in html
    assert "/ 登记 1000 户" not in html


browser_only = pytest.mark.skipif(missing_browser() is not None, reason=str(missing_browser()))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with served_city(tmp_path_factory.mktemp("dash"), workers=1, threads=8, seeded=True) as (base, _):
        yield base


def open_dashboard(site, browser, width):
    w, h = WIDTHS[width]
    context = browser.new_context(viewport={"width": w, "height": h}, locale="zh-CN")
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    log_in(page, site, "sanlihe")
    assert page.url.endswith("/dashboard/110102001001")
    return context, page, errors


LAYOUT = """() => {
    const box = id => document.getElementById(id);
    const shown = el => getComputedStyle(el).display !== 'none';
    const trend = box('trend-scroll'), wrong = box('wrong-scroll');
    const heads = [...document.querySelectorAll('#latest-wrong thead th')];
    const right = wrong.getBoundingClientRect().right;
    return {
        trendScrolls: trend.scrollWidth > trend.clientWidth + 1,
        trendHint: shown(box('trend-hint')),
        wrongScrolls: wrong.scrollWidth > wrong.clientWidth + 1,
        wrongHint: shown(box('wrong-hint')),
        healthHint: shown(box('health-hint')),
        heads: heads.map(th => th.textContent.trim()),
        visible: heads.filter(th => th.getBoundingClientRect().right <= right + 1)
                      .map(th => th.textContent.trim()),
        pageScrolls: document.documentElement.scrollWidth > window.innerWidth + 1,
    };
}"""


@pytest.mark.slow
@browser_only
@pytest.mark.parametrize("width", ["phone", "tablet"])
def test_on_a_phone_what_does_not_fit_scrolls_and_says_so(site, browser, width):
    context, page, errors = open_dashboard(site, browser, width)
    try:
        layout = page.evaluate(LAYOUT)
        shoot(page, f"dashboard-layout-{width}", full=True)
        shoot(page, f"dashboard-layout-{width}")
    finally:
        context.close()
    assert not errors, errors
    assert not layout["pageScrolls"], "the page itself never scrolls sideways"
    # the key columns first: what went wrong, where it went and where it belongs
    assert layout["heads"][:3] == ["物品", "投入", "应投"], layout["heads"]
    if width == "phone":
        assert layout["trendScrolls"] and layout["trendHint"], layout
        assert set(layout["heads"][:3]) <= set(layout["visible"]), layout
        assert layout["wrongHint"] and layout["healthHint"], layout
    else:
        assert not layout["trendScrolls"] and not layout["trendHint"], layout
        assert not layout["wrongScrolls"] and not layout["wrongHint"], layout
        assert not layout["healthHint"], layout


@pytest.fixture(scope="module")
def site_with_cases(tmp_path_factory):
    """The small city with an overflow left for hours and a fresh litter case at st-a."""
    import uuid
    from datetime import datetime, timedelta

    from server.timeutil import BEIJING

    from .browser import post_json
    with served_city(tmp_path_factory.mktemp("dash-cases"), workers=1, threads=8) as (base, city):
        now = datetime.now(BEIJING)
        events = [{"event_id": str(uuid.uuid4()), "type": kind, "station_id": "st-a", "bin": bin_,
                   "ts": (now - ago).isoformat(timespec="milliseconds")}
                  for kind, bin_, ago in (("bin_full", "other", timedelta(hours=2, minutes=10)),
                                          ("litter", "other", timedelta(minutes=5)))]
        status, body = post_json(base + "/api/v1/events", {"device_id": "dev-st-a", "events": events},
                                 token=city.tokens["st-a"])
        assert status == 200 and body["accepted"] == 2, body
        yield base


@pytest.mark.slow
@browser_only
@pytest.mark.parametrize("width", ["phone", "desktop"])
def test_the_open_cases_with_their_age_and_level(site_with_cases, browser, width):
    context, page, errors = open_dashboard(site_with_cases, browser, width)
    try:
        rows = page.locator("#open-cases tbody tr")
        assert rows.count() == 2
        text = page.inner_text("#open-cases")
        assert "满冒" in text and "超级滞留" in text and "2 小时 10 分" in text and "垃圾落地" in text
        wide = page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth + 1")
        page.locator("#open-cases").scroll_into_view_if_needed()
        shoot(page, f"dashboard-cases-{width}")
    finally:
        context.close()
    assert not errors, errors
    assert not wide, "the page itself never scrolls sideways"
