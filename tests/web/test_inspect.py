"""The inspector's phone page in a real browser against the real server: a
live count (正确 / 错误, the running 查N错M) saved as an inspection, and a
finished record entered by hand; a refused record says why and saves nothing."""
from __future__ import annotations

import sqlite3

import pytest

from .browser import WIDTHS, log_in, missing_browser, served_city, shoot

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(missing_browser() is not None, reason=str(missing_browser()))]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inspect")
    with served_city(folder, workers=1, threads=4) as served:
        yield served[0], folder / "web.db"


def stored(db) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT station_id, checked, wrong, note, username FROM inspections "
                            "ORDER BY id").fetchall()


def test_an_inspector_counts_live_and_enters_a_record_on_a_phone(site, browser):
    base, db = site
    w, h = WIDTHS["phone"]
    context = browser.new_context(viewport={"width": w, "height": h}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    problems = []
    page = context.new_page()
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.set_default_timeout(10_000)
    try:
        log_in(page, base, "insp")
        assert page.url.endswith("/inspect")            # the inspector's landing page
        assert "本月还没有巡查记录" in page.inner_text("main")
        # st-c lies outside the inspector's street: not offered
        offered = page.eval_on_selector_all("#station option", "os => os.map(o => o.value)")
        assert offered == ["", "st-a", "st-b"]
        page.click("#live-start")
        assert "请先选择桶站" in page.inner_text("#inspect-note")
        page.select_option("#station", "st-a")
        page.click("#live-start")
        for button in ["#count-right"] * 6 + ["#count-wrong"] * 2 + ["#count-right"]:
            page.click(button)
        page.click("#count-undo")
        assert page.inner_text("#tally") == "查8错2"
        box = page.locator("#count-wrong").bounding_box()
        assert box["height"] >= 90 and box["x"] + box["width"] <= w    # a thumb's button, on screen
        shoot(page, "inspect-counting")
        with page.expect_navigation():
            page.click("#live-stop")
        assert stored(db) == [("st-a", 8, 2, "", "insp")]
        assert "75.0 %" in page.inner_text("table")
        # a finished record, typed in; first with more wrong than checked
        page.select_option("#station", "st-b")
        page.fill("input[name=start]", "2026-11-20T07:00")
        page.fill("input[name=end]", "2026-11-20T07:40")
        page.fill("input[name=checked]", "30")
        page.fill("input[name=wrong]", "31")
        page.click("#manual button[type=submit]")
        page.wait_for_selector("#inspect-note:has-text('保存失败')")
        assert "wrong cannot be more than checked" in page.inner_text("#inspect-note")
        assert len(stored(db)) == 1
        page.fill("input[name=wrong]", "4")
        page.fill("input[name=note]", "晚高峰")
        with page.expect_navigation():
            page.click("#manual button[type=submit]")
        assert stored(db)[-1] == ("st-b", 30, 4, "晚高峰", "insp")
        shoot(page, "inspect-records", full=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= w
    finally:
        context.close()
    assert not problems, problems
