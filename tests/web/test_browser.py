"""The three kinds of user in a real browser (headless Chromium) against the
real server (gunicorn, SQLite): the volunteer's prompt arrives within a
second, feedback moves the manager's rate, downloads open, scopes hold.
Screenshots of every page at each width go to artifacts/web/."""
from __future__ import annotations

import csv
import io
import re
import time

import pytest

from tests.server.support import disposal

from .browser import WIDTHS, log_in, missing_browser, post_json, served_city, shoot

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(missing_browser() is not None,
                                 reason=str(missing_browser()))]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The small city of the server tests, served by gunicorn."""
    # The tablet's quiz is clicked through faster than a resident reads it.
    with served_city(tmp_path_factory.mktemp("web"), workers=2, threads=16, seeded=True,
                     extra_env={"SORTWATCH_QUIZ_SECONDS_PER_QUESTION": 0}) as served:
        yield served


@pytest.fixture
def open_as(site, browser):
    """A logged-in page for a user, at a width; closed after the test."""
    base, _ = site
    contexts, csp_errors = [], []

    def open_as(username: str | None, width: str = "tablet", lang: str = "zh"):
        w, h = WIDTHS[width]
        context = browser.new_context(viewport={"width": w, "height": h}, accept_downloads=True,
                                      locale="zh-CN")
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: csp_errors.append(m.text)
                if "Content Security Policy" in m.text else None)
        page.set_default_timeout(10_000)
        query = "?lang=en" if lang == "en" else ""
        if username:
            log_in(page, base, username, query)
        else:
            page.goto(base + "/login" + query)
        return page

    yield open_as
    for context in contexts:
        context.close()
    assert not csp_errors, f"the pages broke their own Content-Security-Policy: {csp_errors}"


def send(site, station: str, **fields) -> dict:
    base, city = site
    event = disposal(station=station, **fields)
    status, body = post_json(base + "/api/v1/events",
                             {"device_id": f"dev-{station}", "events": [event]},
                             token=city.tokens[station])
    assert status == 200 and body["accepted"] == 1, body
    return event


def rate(page, key: str) -> tuple[int, int, str]:
    """(numerator, denominator, value as shown to 4 places) of a rate card."""
    card = f"[data-rate={key}]"
    return (int(page.get_attribute(card, "data-numerator")),
            int(page.get_attribute(card, "data-denominator")),
            page.get_attribute(f"{card} .value", "data-value"))


BIN_BACKGROUNDS = {"rgb(46, 125, 50)", "rgb(21, 101, 192)", "rgb(198, 40, 40)", "rgb(97, 97, 97)"}


def assert_reads_as_wrong(tablet, put_in: str, put_in_colour: str, right: str, right_colour: str):
    """From 2 m away a wrong prompt reads as wrong first: a warning frame and
    a 投错了 larger than anything else, in no bin's colour; then where it went
    and where it belongs, each in its bin's colour."""
    style = tablet.evaluate("""() => {
        const css = id => getComputedStyle(document.getElementById(id));
        const a = css('alert'), k = css('alert-kicker'), t = css('alert-title');
        return {bg: a.backgroundColor, frame: parseFloat(a.borderTopWidth), frameStyle: a.borderTopStyle,
                kicker: parseFloat(k.fontSize), title: parseFloat(t.fontSize),
                from: css('alert-from').backgroundColor, to: css('alert-to').backgroundColor};
    }""")
    assert style["bg"] not in BIN_BACKGROUNDS, style
    assert style["frame"] >= 12 and style["frameStyle"] != "none", style
    assert style["kicker"] >= 48 and style["kicker"] >= 1.4 * style["title"], style
    assert "投错了" in tablet.inner_text("#alert-kicker")
    assert tablet.inner_text("#alert-route").split() == ["放进了", put_in, "→", "应投", right]
    assert (style["from"], style["to"]) == (put_in_colour, right_colour)


@pytest.mark.parametrize("width", ["phone"])
def test_a_wrong_prompt_reads_as_wrong_on_a_phone_too(site, open_as, width):
    """Even when the right bin is the green one, the screen is not the green "correct" screen."""
    tablet = open_as("vol", width)
    tablet.click("#start-btn")
    tablet.wait_for_selector("#conn-dot.on")
    time.sleep(0.6)
    send(site, "st-a", item="food_waste", category="kitchen", bin="other", verdict="wrong")
    tablet.wait_for_selector("#alert:not([hidden])", timeout=3000)
    assert_reads_as_wrong(tablet, "其他垃圾", "rgb(97, 97, 97)", "厨余垃圾", "rgb(46, 125, 50)")
    shoot(tablet, "tablet-wrong-phone")


def test_prompt_within_a_second_and_feedback_moves_the_managers_rate(site, open_as):
    base, _ = site
    manager = open_as("sanlihe", "desktop")
    assert manager.url.endswith("/dashboard/110102001001")
    correct, judged, _ = rate(manager, "accuracy")
    assisted = int(manager.inner_text("#assisted"))

    tablet = open_as("vol", "tablet")
    assert tablet.url.endswith("/station/st-a")
    tablet.click("#start-btn")
    tablet.wait_for_selector("#conn-dot.on")
    time.sleep(0.6)  # the stream is open and has polled once
    sent_at = time.monotonic()
    event = send(site, "st-a", item="battery", category="hazardous", bin="other",
                 verdict="wrong")
    tablet.wait_for_selector("#alert:not([hidden])", timeout=3000)
    delay = time.monotonic() - sent_at
    assert delay < 1.0, f"the prompt took {delay:.2f} s"
    assert tablet.inner_text("#alert-title") == "电池 → 有害垃圾"
    assert "红色" in tablet.inner_text("#alert-sub")
    assert tablet.query_selector("#alert-icon svg") is not None
    assert_reads_as_wrong(tablet, "其他垃圾", "rgb(97, 97, 97)", "有害垃圾", "rgb(198, 40, 40)")
    shoot(tablet, "tablet-wrong")

    manager.reload()
    assert rate(manager, "accuracy") == (correct, judged + 1, f"{correct / (judged + 1):.4f}")
    tablet.click("#alert-helped")
    tablet.wait_for_selector("#alert-note:not(:empty)")
    assert tablet.inner_text("#alert-note") == "已记录"
    manager.reload()
    # Assisted: out of self-directed accuracy, counted as assisted.
    assert rate(manager, "accuracy") == (correct, judged, f"{correct / judged:.4f}")
    assert int(manager.inner_text("#assisted")) == assisted + 1
    shoot(manager, "dashboard-after-feedback")
    tablet.click("#alert-ok")
    assert tablet.is_hidden("#alert")
    # the day's counts on the tablet follow
    tablet.wait_for_selector("#c-assisted:text-is('1')")
    assert tablet.query_selector(f"#recent li[data-id='{event['event_id']}'].assisted")


def test_correct_disposal_is_quiet_and_the_tablet_reconnects(site, open_as):
    tablet = open_as("vol", "tablet")
    tablet.click("#start-btn")
    tablet.wait_for_selector("#conn-dot.on")
    time.sleep(0.6)
    send(site, "st-a", item="plastic", category="recyclable", bin="recyclable", verdict="correct")
    tablet.wait_for_selector(".tstatus.good", timeout=3000)
    assert tablet.is_hidden("#alert")
    assert "塑料 → 可回收物" in tablet.inner_text("#status-text")

    tablet.context.set_offline(True)
    tablet.wait_for_selector("#offline:not([hidden])", timeout=5000)
    assert "网络已断开" in tablet.inner_text("#offline")
    shoot(tablet, "tablet-offline")
    tablet.context.set_offline(False)
    tablet.wait_for_selector("#offline", state="hidden", timeout=15000)
    send(site, "st-a", item="glass", category="recyclable", bin="kitchen", verdict="wrong")
    tablet.wait_for_selector("#alert:not([hidden])", timeout=5000)
    assert tablet.inner_text("#alert-title") == "玻璃 → 可回收物"


def test_camera_was_wrong_and_the_quiz(site, open_as):
    tablet = open_as("vol", "phone")
    tablet.click("#start-btn")
    tablet.wait_for_selector("#conn-dot.on")
    time.sleep(0.6)
    send(site, "st-a", item="battery", category="hazardous", bin="kitchen", verdict="wrong")
    tablet.wait_for_selector("#alert:not([hidden])", timeout=3000)
    shoot(tablet, "tablet-wrong")
    tablet.click("#alert-camera")
    tablet.wait_for_selector("#picker:not([hidden])")
    shoot(tablet, "tablet-picker")
    tablet.click("#picker-grid button:text-is('厨余')")
    tablet.wait_for_selector("#alert", state="hidden")
    tablet.wait_for_selector("#recent li:first-child:has-text('厨余')")

    tablet.click("#quiz-open")
    tablet.wait_for_selector("#quiz-choices:not([hidden])")
    assert re.match(r"\S+ 应该投入哪个桶？", tablet.inner_text("#quiz-q"))
    tablet.fill("#quiz-household", "hh-quiz-1")
    shoot(tablet, "tablet-quiz")
    for _ in range(5):
        tablet.click("#quiz-choices .choice[data-cat=hazardous]")
    tablet.wait_for_selector("#quiz-result:not([hidden])")
    assert re.match(r"答对 [0-5] / 5 题", tablet.inner_text("#quiz-q"))
    corrections = tablet.query_selector_all("#quiz-result p")
    assert len(corrections) == 5
    assert all(re.match(r"[✓✗] \S+ → (有害垃圾|可回收物|厨余垃圾|其他垃圾)", p.inner_text())
               for p in corrections)
    shoot(tablet, "tablet-quiz-result")


def test_downloads_open(site, open_as, tmp_path):
    import openpyxl
    page = open_as("city", "desktop")
    assert "/rankings" in page.url
    page.select_option("select[name=within]", "110102")
    page.select_option("select[name=level]", "community")
    page.click("#filters button[type=submit]")
    page.wait_for_load_state()
    assert "三里河社区" in page.inner_text("#ranking")
    with page.expect_download() as info:
        page.click("#dl-csv")
    path = tmp_path / "stats.csv"
    info.value.save_as(path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM, so that Excel reads Chinese
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    names = {cell for row in rows[1:] for cell in row}
    assert {"三里河社区", "白云观社区", "官园社区"} <= names
    assert len(rows) == 1 + 3
    with page.expect_download() as info:
        page.click("#dl-xlsx")
    path = tmp_path / "stats.xlsx"
    info.value.save_as(path)
    book = openpyxl.load_workbook(path, read_only=True)
    sheet = book.worksheets[0]
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert len(values) == 1 + 3
    assert "三里河社区" in {c for row in values for c in row}
    book.close()


def test_a_volunteer_stays_in_their_station(site, open_as):
    base, _ = site
    page = open_as("vol", "phone")
    for path in ("/station/st-b", "/station/st-c", "/rankings", "/dashboard/110102001001",
                 "/exports/stats.csv?level=community&within=110102001"):
        response = page.goto(base + path)
        assert response.status == 403, path
    page.goto(base + "/rankings")
    assert "无权访问" in page.inner_text("h1")
    manager = open_as("sanlihe", "phone")
    assert manager.goto(base + "/rankings").status == 403
    assert manager.goto(base + "/dashboard/110102001002").status == 403
    assert manager.goto(base + "/station/st-c").status == 403
    assert manager.goto(base + "/station/st-a").status == 200


@pytest.mark.parametrize("width", list(WIDTHS))
def test_screenshots(site, open_as, width):
    """Every page at every width, for a person to look at; also checks that
    nothing overflows the viewport sideways."""
    base, _ = site
    pages = [(None, "/login", "login"), ("vol", "/station/st-a", "tablet"),
             ("sanlihe", "/dashboard/110102001001", "dashboard-community"),
             ("xicheng", "/dashboard/110102", "dashboard-district"),
             ("city", "/rankings", "rankings-city"),
             ("xicheng", "/rankings?level=community", "rankings-district")]
    for user, path, name in pages:
        page = open_as(user, width)
        page.goto(base + path)
        if name == "tablet":
            page.click("#start-btn")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow}px wider than a {width} screen"
        shoot(page, name)
        if name.startswith(("dashboard", "rankings")):
            shoot(page, name, full=True)
    page = open_as("city", width, lang="en")
    page.goto(base + "/rankings?lang=en")
    assert "Download CSV" in page.inner_text("#dl-csv")
    shoot(page, "rankings-city-en")
