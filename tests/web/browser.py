"""A real server under gunicorn over a temporary SQLite file, and Debian's
Chromium driven by Playwright (executable_path; `playwright install` is never
used). scripts/install_browser.sh installs the browser."""
from __future__ import annotations

import contextlib
import json
import shutil
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "web"
WIDTHS = {"tablet": (1280, 800), "phone": (390, 844), "desktop": (1440, 900)}
PASSWORD = "password-123"  # every user of the small city (tests/server/support.py)


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return f"{CHROMIUM} is missing: run scripts/install_browser.sh"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -r requirements-dev.txt"
    return None


@contextlib.contextmanager
def served_city(folder: Path, workers: int, threads: int, extra_env: dict | None = None,
                seeded: bool = False):
    """The small city of the server tests in a fresh SQLite file under
    `folder`, served by a real gunicorn; yields (base URL, City). With
    `seeded`, a month of disposals is sent first (seed_month)."""
    from scripts import benchlib
    from server import create_app
    from tests.server.support import City, make_settings
    db = folder / "web.db"
    app = create_app({"SETTINGS": make_settings(db), "TESTING": True})
    city = City(app.test_cli_runner(), folder)
    with benchlib.gunicorn("server:create_app()", db, workers=workers, threads=threads,
                           extra_env=extra_env) as base:
        if seeded:
            seed_month(base, city)
        yield base, city


def log_in(page, base: str, username: str, query: str = "") -> None:
    """Log in through the login form, as a person would."""
    page.goto(base + "/login" + query)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def post_json(url: str, body: dict, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as r:
        return r.status, json.loads(r.read())


def shoot(page, name: str, full: bool = False) -> Path:
    """The screen as a person sees it (and the whole page, with full=True)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    path = ARTIFACTS / f"{name}-{width}x{height}{'-full' if full else ''}.png"
    page.screenshot(path=str(path), full_page=full)
    return path


def seed_month(base: str, city, seed: int = 6) -> dict:
    """A month of believable disposals up to yesterday (Beijing) at every
    station of the small city, sent through the device API as the edge would,
    plus a heartbeat and one wrong disposal of today with an evidence image."""
    import io
    import random
    import uuid
    from datetime import datetime, timedelta

    from PIL import Image, ImageDraw

    from contract.rules import load_rules
    from tests.server.support import BEIJING, disposal

    rules = load_rules("beijing-2020.1")  # what a station's model judges: its 12 items, under their tag
    rng = random.Random(seed)
    now = datetime.now(BEIJING)
    bins = {"st-a": list(rules.categories), "st-b": list(rules.categories),
            "st-c": ["recyclable", "other"]}
    skill = {"st-a": 0.88, "st-b": 0.7, "st-c": 0.95}
    sent = {}
    for station, station_bins in bins.items():
        events = []
        day = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        while day.date() < now.date():
            for _ in range(rng.randrange(6, 16)):
                ts = day.replace(hour=rng.choice([7, 7, 8, 8, 12, 18, 19, 20, 21]),
                                 minute=rng.randrange(60), second=rng.randrange(60))
                item = rng.choice(rules.items)
                good = [b for b in station_bins if rules.accepts(item, b)]
                bin_ = rng.choice(good) if good and rng.random() < skill[station] \
                    else rng.choice(station_bins)
                verdict = "correct" if rules.accepts(item, bin_) else "wrong"
                if rng.random() < 0.05:
                    verdict = "uncertain"
                events.append(disposal(station=station, ts=ts.isoformat(timespec="milliseconds"),
                                       item=item, category=rules.category(item), bin=bin_,
                                       verdict=verdict, confidence=round(rng.uniform(0.6, 0.99), 2),
                                       household=f"hh-{rng.randrange(60):03d}"))
            day += timedelta(days=1)
        for i in range(0, len(events), 500):
            status, body = post_json(base + "/api/v1/events",
                                     {"device_id": f"dev-{station}", "events": events[i:i + 500]},
                                     token=city.tokens[station])
            assert status == 200 and not body["rejected"], body
        sent[station] = len(events)
    status, _ = post_json(base + "/api/v1/heartbeat",
                          {"device_id": "dev-st-a", "ts": now.isoformat(timespec="seconds"),
                           "fps": 5.0, "dead_letters": 0, "pending_events": 0,
                           "model": "waste-effl0-int8@3fa2c1d0", "rules": rules.tag,
                           "camera": "ok"}, token=city.tokens["st-a"])
    assert status == 200
    wrong = disposal(station="st-a", event_id=str(uuid.uuid4()),
                     ts=(now - timedelta(minutes=5)).isoformat(timespec="milliseconds"),
                     item="glass", category="recyclable", bin="other", verdict="wrong")
    post_json(base + "/api/v1/events", {"device_id": "dev-st-a", "events": [wrong]},
              token=city.tokens["st-a"])
    image = Image.new("RGB", (320, 240), (90, 110, 120))
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 60, 140, 220), fill=(110, 110, 110))   # the grey bin
    draw.ellipse((80, 20, 120, 60), fill=(60, 180, 90))        # a green bottle
    jpeg = io.BytesIO()
    image.save(jpeg, "JPEG", quality=80)
    request = urllib.request.Request(base + f"/api/v1/events/{wrong['event_id']}/evidence",
                                     data=jpeg.getvalue(), method="PUT")
    request.add_header("Content-Type", "image/jpeg")
    request.add_header("Authorization", f"Bearer {city.tokens['st-a']}")
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status in (200, 201)
    return sent
