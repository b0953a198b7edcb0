"""The labeller's page in a real browser against the real server (issue 17,
point 2): the queue most uncertain first, one key or tap per label from the
rule set in Chinese, "not waste / not visible", skip, and the labelled ones
(a volunteer's correction among them) reviewed and changed."""
from __future__ import annotations

import base64
import json
import sqlite3
import urllib.request
import uuid
from datetime import datetime, timedelta

import cv2
import numpy as np
import pytest

from tests.server.support import BEIJING, disposal

from .browser import WIDTHS, log_in, missing_browser, post_json, served_city, shoot

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(missing_browser() is not None, reason=str(missing_browser()))]


def crop(colour) -> str:
    image = np.zeros((120, 120, 3), np.uint8)
    image[:] = (60, 60, 60)
    cv2.circle(image, (60, 60), 40, colour, -1)
    ok, data = cv2.imencode(".jpg", image)
    return base64.b64encode(data.tobytes()).decode()


def put_sample(base, token, event, colour):
    body = {"station_id": event["station_id"], "crop": crop(colour),
            "embedding": base64.b64encode(np.ones(1280, "<f4").tobytes()).decode(), "dims": 1280,
            "probs": [event["confidence"]] + [(1 - event["confidence"]) / 11] * 11,
            "confidence": event["confidence"], "rejection_score": 1.0}
    request = urllib.request.Request(base + f"/api/v1/events/{event['event_id']}/sample",
                                     data=json.dumps(body).encode(), method="PUT")
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 201


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("label")
    with served_city(folder, workers=1, threads=4) as (base, city):
        yield base, city, folder / "web.db"


def labels(db) -> dict[str, list[tuple]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT event_id, label, role, username FROM sample_labels ORDER BY id").fetchall()
    out: dict[str, list[tuple]] = {}
    for eid, label, role, username in rows:
        out.setdefault(eid, []).append((label, role, username))
    return out


def test_a_labeller_labels_skips_and_reviews_with_keys_and_taps(site, browser):
    base, city, db = site
    token = city.tokens["st-a"]
    ts = (datetime.now(BEIJING) - timedelta(minutes=10)).isoformat(timespec="milliseconds")
    unsure = [disposal(event_id=str(uuid.uuid4()), ts=ts, verdict="uncertain", item="plastic",
                       category="recyclable", bin="recyclable", confidence=c) for c in (0.45, 0.2, 0.3)]
    wrong = disposal(event_id=str(uuid.uuid4()), ts=ts, verdict="wrong", confidence=0.91)
    status, body = post_json(base + "/api/v1/events", {"device_id": "dev-st-a", "events": unsure + [wrong]},
                             token=token)
    assert status == 200 and body["accepted"] == 4, body
    for ev, colour in zip(unsure, [(30, 200, 30), (200, 30, 30), (30, 30, 200)], strict=True):
        put_sample(base, token, ev, colour)

    problems = []
    # The volunteer corrects the wrong one on the tablet's API; its sample then arrives labelled.
    vol_context = browser.new_context()
    vol = vol_context.new_page()
    try:
        log_in(vol, base, "vol")
        csrf = vol.eval_on_selector("input[name=csrf_token]", "e => e.value")
        status = vol.evaluate("""([url, csrf]) => fetch(url, {method: 'POST', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
            body: JSON.stringify({camera_wrong: true, item: 'glass'})}).then(r => r.status)""",
                              [f"/api/v1/events/{wrong['event_id']}/feedback", csrf])
        assert status == 200
    finally:
        vol_context.close()
    put_sample(base, token, wrong, (200, 200, 200))

    w, h = WIDTHS["desktop"]
    context = browser.new_context(viewport={"width": w, "height": h}, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.set_default_timeout(10_000)
    try:
        log_in(page, base, "lab")
        assert page.url.endswith("/label")                      # the labeller's landing page
        page.wait_for_selector("#label-current:not([hidden])")
        # Most uncertain first: confidence 0.2, then 0.3, then 0.45.
        assert "塑料" in page.inner_text("#label-model") and "20%" in page.inner_text("#label-model")
        buttons = page.eval_on_selector_all("#label-buttons button", "bs => bs.map(b => b.innerText)")
        # the newest rule set's 22 items (the model's 12 and ten it does not know yet), then not waste
        assert len(buttons) == 23 and any("电池" in b for b in buttons) and "不是垃圾" in buttons[-1]
        assert any("口罩" in b for b in buttons)
        # the crop loads after the page shows the sample: wait for it (a loaded image has its natural size)
        page.wait_for_function("() => { const i = document.getElementById('label-image'); "
                               "return i.complete && i.naturalWidth > 0; }")
        assert page.evaluate("document.getElementById('label-image').naturalWidth") == 120
        assert "待标注 3 个" in page.inner_text("#label-counts")
        shoot(page, "label-queue")
        first_label = page.get_attribute("#label-buttons button:first-child", "data-label")
        page.keyboard.press("1")                                 # key 1: the first item
        page.wait_for_selector("#label-model:has-text('30%')")
        assert labels(db)[unsure[1]["event_id"]] == [(first_label, "labeller", "lab")]
        page.keyboard.press(" ")                                 # skip the 0.3 one
        page.wait_for_selector("#label-model:has-text('45%')")
        page.click("#label-buttons button.not-waste")            # one tap
        page.wait_for_selector("#label-empty:not([hidden])")
        assert labels(db)[unsure[0]["event_id"]] == [("not_waste", "labeller", "lab")]
        assert unsure[2]["event_id"] not in labels(db)           # skipped: unlabelled

        # Review: the volunteer's label is there with who and role; change the first one.
        page.wait_for_selector(f"tr.labelled[data-id='{wrong['event_id']}']")
        row = page.inner_text(f"tr.labelled[data-id='{wrong['event_id']}']")
        assert "玻璃" in row and "vol" in row and "志愿者" in row
        page.click(f"tr.labelled[data-id='{unsure[1]['event_id']}'] button.change")
        assert "正在修改已有标注" in page.inner_text("#label-reviewing")
        page.click("#label-buttons button[data-label='glass']")
        page.wait_for_selector("#label-reviewing[hidden]", state="attached")
        page.wait_for_selector(f"tr.labelled[data-id='{unsure[1]['event_id']}']:has-text('玻璃')")
        assert labels(db)[unsure[1]["event_id"]] == [(first_label, "labeller", "lab"), ("glass", "labeller", "lab")]
        shoot(page, "label-review", full=True)
        # The skipped one stays out for this session, and comes back in a new one.
        page.reload()
        page.wait_for_selector("#label-empty:not([hidden])")
    finally:
        context.close()
    fresh = browser.new_context(viewport={"width": w, "height": h})
    page = fresh.new_page()
    try:
        log_in(page, base, "lab")
        page.wait_for_selector("#label-model:has-text('30%')")
    finally:
        fresh.close()
    assert not problems, problems
