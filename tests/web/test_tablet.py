"""The volunteer's station tablet in a real browser (headless Chromium) against
the real server (gunicorn, SQLite), at a phone's and a tablet's width: a
wrong prompt reads as wrong first, prompts queue and collapse and never
cover the quiz, and the prompt is spoken in Mandarin
unless the volunteer switches it off."""
from __future__ import annotations

import time

import pytest

from tests.server.support import disposal

from .browser import WIDTHS, log_in, missing_browser, post_json, served_city, shoot

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(missing_browser() is not None,
                                 reason=str(missing_browser()))]
WIDTH_NAMES = ["phone", "tablet"]
BIN_BACKGROUNDS = {"rgb(46, 125, 50)", "rgb(21, 101, 192)", "rgb(198, 40, 40)", "rgb(97, 97, 97)"}
GREY, GREEN, BLUE, RED = "rgb(97, 97, 97)", "rgb(46, 125, 50)", "rgb(21, 101, 192)", "rgb(198, 40, 40)"

# Records what the page asks the browser to say; the page's own code runs
# unchanged. Headless Chromium has the API but usually no voice.
RECORD_SPEECH = """
window.__spoken = [];
(function () {
  var record = function (u) { window.__spoken.push({text: u.text, lang: u.lang}); };
  if (window.speechSynthesis) {
    window.speechSynthesis.speak = record;
  } else {
    Object.defineProperty(window, 'speechSynthesis', {value: {speak: record,
      cancel: function () {}, getVoices: function () { return []; }}});
  }
})();
"""
NO_SPEECH = """
Object.defineProperty(window, 'speechSynthesis', {value: undefined});
Object.defineProperty(window, 'SpeechSynthesisUtterance', {value: undefined});
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The small city of the server tests, served by gunicorn (no history:
    the tablet only needs today's events)."""
    with served_city(tmp_path_factory.mktemp("tablet"), workers=1, threads=16) as served:
        yield served


@pytest.fixture
def tablet_page(site, browser):
    """The volunteer's tablet of st-a, logged in, on duty and connected; fails
    the test on any script error or CSP violation."""
    base, _ = site
    contexts, problems = [], []

    def open_tablet(width: str, init_script: str | None = None):
        w, h = WIDTHS[width]
        context = browser.new_context(viewport={"width": w, "height": h}, locale="zh-CN")
        contexts.append(context)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text)
                if "Content Security Policy" in m.text else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.set_default_timeout(10_000)
        log_in(page, base, "vol")
        assert page.url.endswith("/station/st-a")
        start(page)
        return page

    yield open_tablet
    for context in contexts:
        context.close()
    assert not problems, f"the tablet raised errors: {problems}"


def start(page):
    page.click("#start-btn")
    page.wait_for_selector("#conn-dot.on")
    time.sleep(0.6)   # the stream is open before anything is sent


def ev(item: str, category: str, bin_: str, verdict: str) -> dict:
    return {"item": item, "category": category, "bin": bin_, "verdict": verdict}


def send(site, *events: dict) -> list[dict]:
    base, city = site
    events = [disposal(station="st-a", **fields) for fields in events]
    status, body = post_json(base + "/api/v1/events", {"device_id": "dev-st-a", "events": events},
                             token=city.tokens["st-a"])
    assert status == 200 and body["accepted"] == len(events), body
    return events


def alert_style(page) -> dict:
    return page.evaluate("""() => {
        const css = id => getComputedStyle(document.getElementById(id));
        const a = css('alert'), k = css('alert-kicker'), t = css('alert-title');
        return {bg: a.backgroundColor, frame: parseFloat(a.borderTopWidth), frameStyle: a.borderTopStyle,
                kicker: parseFloat(k.fontSize), title: parseFloat(t.fontSize),
                from: css('alert-from').backgroundColor, to: css('alert-to').backgroundColor,
                kickerBox: document.getElementById('alert-kicker').getBoundingClientRect().height};
    }""")


def uncovered(page, selector: str) -> bool:
    """The element is what a finger on its centre touches."""
    return page.evaluate("""sel => {
        const el = document.querySelector(sel), r = el.getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return r.width > 0 && r.height > 0 && (hit === el || el.contains(hit));
    }""", selector)


@pytest.mark.parametrize("width", WIDTH_NAMES)
def test_a_wrong_prompt_reads_as_wrong_first_even_for_the_green_bin(site, tablet_page, width):
    """A large 投错了 in a warning frame in no bin's colour; then where the
    item went and where it belongs, each in its own bin's colour."""
    page = tablet_page(width)
    send(site, ev("food_waste", "kitchen", "other", "wrong"))
    page.wait_for_selector("#alert:not([hidden])", timeout=3000)
    style = alert_style(page)
    assert style["bg"] not in BIN_BACKGROUNDS, style          # not the green "correct" screen
    assert style["frame"] >= 12 and style["frameStyle"] != "none", style
    assert style["kicker"] > style["title"] and style["kickerBox"] >= 60, style
    assert "⚠" in page.inner_text("#alert-kicker") and "投错了" in page.inner_text("#alert-kicker")
    assert page.inner_text("#alert-route").split() == ["放进了", "其他垃圾", "→", "应投", "厨余垃圾"]
    assert (style["from"], style["to"]) == (GREY, GREEN)
    # on the screen, below the header, not scrolled out of sight
    assert uncovered(page, "#alert-kicker") and uncovered(page, "#alert-route")
    assert uncovered(page, "#alert-ok")
    shoot(page, "tablet-wrong-green")


@pytest.mark.parametrize("width", WIDTH_NAMES)
def test_prompts_collapse_and_the_quiz_is_always_in_reach(site, tablet_page, width):
    page = tablet_page(width)
    send(site, ev("battery", "hazardous", "other", "wrong"))
    page.wait_for_selector("#alert:not([hidden])", timeout=3000)
    assert page.is_hidden("#alert-more")
    send(site, ev("glass", "recyclable", "other", "wrong"),
         ev("plastic", "recyclable", "kitchen", "wrong"),
         ev("food_waste", "kitchen", "recyclable", "wrong"))
    # the newest is shown, the three before it counted, none stacked
    page.wait_for_selector("#alert-title:text-is('厨余 → 厨余垃圾')", timeout=3000)
    assert page.inner_text("#alert-more") == "+3 条" and uncovered(page, "#alert-more")
    assert uncovered(page, "#alert-kicker")
    assert page.inner_text("#alert-route").split() == ["放进了", "可回收物", "→", "应投", "厨余垃圾"]
    assert (alert_style(page)["from"], alert_style(page)["to"]) == (BLUE, GREEN)
    shoot(page, "tablet-wrong-queued")
    # the quiz button and the voice switch are never covered by a prompt
    assert uncovered(page, "#quiz-open") and uncovered(page, "#speak-toggle")
    assert uncovered(page, "#alert-ok")
    page.click("#quiz-open", timeout=2000)
    page.wait_for_selector("#quiz:not([hidden])")
    assert page.is_hidden("#alert")
    # a prompt arriving during the quiz does not cover it; it is in the list
    event, = send(site, ev("metal", "recyclable", "other", "wrong"))
    page.wait_for_selector(f"#recent li[data-id='{event['event_id']}']", state="attached")
    assert page.is_hidden("#alert") and page.is_visible("#quiz")
    assert uncovered(page, "#quiz-close")
    page.click("#quiz-close")
    # the dismiss button clears the prompt and its queue; the cases are in reach
    send(site, ev("battery", "hazardous", "kitchen", "wrong"),
         ev("glass", "recyclable", "kitchen", "wrong"))
    page.wait_for_selector("#alert-more:text-is('+1 条')", timeout=3000)
    page.click("#alert-ok")
    assert page.is_hidden("#alert")
    page.locator("#recent li .tsmall").first.scroll_into_view_if_needed()
    assert uncovered(page, "#recent li .tsmall")
    send(site, ev("battery", "hazardous", "kitchen", "wrong"))
    page.wait_for_selector("#alert:not([hidden])", timeout=3000)
    assert page.is_hidden("#alert-more")


def test_a_prompt_goes_away_by_itself_within_ten_seconds(site, tablet_page):
    page = tablet_page("tablet")
    send(site, ev("battery", "hazardous", "other", "wrong"))
    page.wait_for_selector("#alert:not([hidden])", timeout=3000)
    page.wait_for_selector("#alert", state="hidden", timeout=10_000)


@pytest.mark.parametrize("width", WIDTH_NAMES)
def test_the_prompt_is_spoken_in_mandarin_unless_switched_off(site, tablet_page, width):
    page = tablet_page(width, RECORD_SPEECH)
    assert page.get_attribute("#speak-toggle", "aria-pressed") == "true"
    assert "语音：开" in page.inner_text("#speak-toggle")
    send(site, ev("battery", "hazardous", "other", "wrong"))
    page.wait_for_selector("#alert:not([hidden])", timeout=3000)
    spoken = page.evaluate("() => window.__spoken")
    assert spoken == [{"text": "投错了。电池应投有害垃圾，不是其他垃圾。", "lang": "zh-CN"}]
    # a correct disposal says nothing
    send(site, ev("plastic", "recyclable", "recyclable", "correct"))
    page.wait_for_selector(".tstatus.good", timeout=3000)
    assert len(page.evaluate("() => window.__spoken")) == 1
    page.click("#alert-ok")
    page.click("#speak-toggle")
    assert page.get_attribute("#speak-toggle", "aria-pressed") == "false"
    assert "语音：关" in page.inner_text("#speak-toggle")
    # remembered across a reload
    page.reload()
    start(page)
    assert page.get_attribute("#speak-toggle", "aria-pressed") == "false"
    send(site, ev("glass", "recyclable", "other", "wrong"))
    page.wait_for_selector("#alert:not([hidden])", timeout=3000)
    assert page.evaluate("() => window.__spoken") == []
    page.click("#alert-ok")
    page.click("#speak-toggle")
    send(site, ev("glass", "recyclable", "kitchen", "wrong"))
    page.wait_for_selector("#alert:not([hidden])", timeout=3000)
    assert [s["text"] for s in page.evaluate("() => window.__spoken")] == \
        ["投错了。玻璃应投可回收物，不是厨余垃圾。"]


def test_the_spoken_prompt_is_mandarin_on_an_english_screen_too(site, tablet_page):
    page = tablet_page("tablet", RECORD_SPEECH)
    page.goto(page.url + "?lang=en")
    start(page)
    send(site, ev("battery", "hazardous", "other", "wrong"))
    page.wait_for_selector("#alert:not([hidden])", timeout=3000)
    assert page.evaluate("() => window.__spoken")[0]["text"] == "投错了。电池应投有害垃圾，不是其他垃圾。"


def test_no_speech_synthesis_is_no_error(site, tablet_page):
    """A browser without speech synthesis shows the prompt and raises nothing
    (the fixture fails the test on any page error)."""
    page = tablet_page("phone", NO_SPEECH)
    page.click("#speak-toggle")
    page.click("#speak-toggle")
    send(site, ev("battery", "hazardous", "other", "wrong"))
    page.wait_for_selector("#alert:not([hidden])", timeout=3000)
    assert page.inner_text("#alert-title") == "电池 → 有害垃圾"


def test_an_audit_session_asks_about_every_disposal_and_stores_the_answers(site, tablet_page):
    """抽检: "was the camera right?" for each disposal shown; one tap for yes,
    the item list for no (the bin then decides right or wrong); uncertain
    disposals are asked what they were; the counts do not change."""
    base, _ = site
    page = tablet_page("tablet")
    page.click("#audit-toggle")
    assert page.get_attribute("#audit-toggle", "aria-pressed") == "true"
    assert "等待下一次投放" in page.inner_text("#audit")
    before = page.request.get(base + "/api/v1/stations/st-a/today").json()
    right, unsure, wrong = send(site, ev("food_waste", "kitchen", "kitchen", "correct"),
                                ev("plastic", "recyclable", "recyclable", "uncertain"),
                                ev("glass", "recyclable", "kitchen", "wrong"))
    page.wait_for_selector("#audit-what:has-text('厨余')")
    page.click("#audit-yes")                                   # the camera was right
    page.wait_for_selector("#audit-question:has-text('不确定')")
    assert page.is_hidden("#audit-yes")                        # nothing to confirm: say what it was
    page.click("#audit-no")
    page.click("#picker-grid button[data-item=plastic]")       # plastic into the recyclable bin: right
    if page.is_visible("#alert"):
        page.click("#alert-ok")                                # the wrong prompt of the third
    page.wait_for_selector("#audit-what:has-text('玻璃')")
    page.click("#audit-no")
    page.click("#picker-grid button[data-item=food_waste]")    # it was food, and food goes in kitchen
    page.wait_for_selector("#audit-done:has-text('3')")
    assert "等待下一次投放" in page.inner_text("#audit")
    month = right["ts"][:7]
    [audits] = page.request.get(base + f"/api/v1/stations/st-a/agreement?month={month}").json()["audits"]
    assert audits["audited"] == 3
    # camera said wrong and the disposal was right: specificity's one miss
    assert audits["specificity"]["n"] == 2 and audits["specificity"]["value"] == 0.5
    after = page.request.get(base + "/api/v1/stations/st-a/today").json()
    assert (after["correct"] - before["correct"], after["wrong"] - before["wrong"]) == (1, 1)
    shoot(page, "tablet-audit")


def test_the_stations_open_cases_and_the_handled_button(site, tablet_page):
    """A litter finding shows up among the station's cases by itself; the
    volunteer's 已处理 resolves it."""
    import uuid
    from datetime import datetime

    from server.timeutil import BEIJING
    page = tablet_page("tablet")
    base, city = site
    litter = {"event_id": str(uuid.uuid4()), "type": "litter", "station_id": "st-a", "bin": "other",
              "ts": datetime.now(BEIJING).isoformat(timespec="milliseconds")}
    status, body = post_json(base + "/api/v1/events", {"device_id": "dev-st-a", "events": [litter]},
                             token=city.tokens["st-a"])
    assert status == 200 and body["accepted"] == 1, body
    page.wait_for_selector("#cases-list li", timeout=5000)
    assert "垃圾落地" in page.inner_text("#cases-list") and page.is_hidden("#cases-empty")
    page.locator("#cases-list li .case-handled").scroll_into_view_if_needed()
    assert uncovered(page, "#cases-list li .case-handled")
    shoot(page, "tablet-cases")
    page.click("#cases-list li .case-handled")
    page.wait_for_selector("#cases-list li", state="detached", timeout=5000)
    assert page.is_visible("#cases-empty")
