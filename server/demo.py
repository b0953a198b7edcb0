"""`flask --app server load-demo`: a small demo city to look at.

Xicheng District (西城区) with its streets' names and statistical division
codes; the communities under them and their household counts are generated.
Running it again adds nothing twice and keeps the data already there."""
from __future__ import annotations

import json
import random
from pathlib import Path

import click
from flask import current_app

from contract.limits import CATEGORIES

from . import store as store_pkg
from .auth import hash_password, hash_token, new_device_token
from .settings import PROJECT_ROOT
from .timeutil import now_utc

DISTRICT = ("110102", "西城区")
STREETS = [
    ("110102001", "西长安街街道"), ("110102003", "新街口街道"), ("110102007", "月坛街道"),
    ("110102009", "展览路街道"), ("110102010", "德胜街道"), ("110102011", "金融街街道"),
    ("110102012", "什刹海街道"), ("110102013", "大栅栏街道"), ("110102014", "天桥街道"),
    ("110102015", "椿树街道"), ("110102016", "陶然亭街道"), ("110102017", "广安门内街道"),
    ("110102018", "牛街街道"), ("110102019", "白纸坊街道"), ("110102020", "广安门外街道"),
]
COMMUNITY_NAMES = ["三里河", "白云观", "真武庙", "南礼士路", "北营房", "西便门", "复兴门",
                   "二龙路", "丰盛", "太平桥", "砖塔", "福绥境", "官园", "百万庄", "车公庄"]
DEMO_PASSWORD = "sortwatch-demo"


def demo_regions(communities_per_street: int = 4, seed: int = 20201) -> list[dict]:
    """Every community name once: the real Xicheng names of COMMUNITY_NAMES
    where the old layout put them first, clearly generated ones ("示例社区 07")
    for the rest."""
    rng = random.Random(seed)
    rows, used, generated = [], set(), 0
    for street_code, street in STREETS:
        for i in range(1, communities_per_street + 1):
            name = COMMUNITY_NAMES[(int(street_code[-3:]) + i) % len(COMMUNITY_NAMES)]
            if name in used:
                generated += 1
                name = f"示例社区 {generated:02d}"
            else:
                used.add(name)
                name = f"{name}社区"
            rows.append({"district_code": DISTRICT[0], "district": DISTRICT[1],
                         "street_code": street_code, "street": street,
                         "community_code": f"{street_code}{i:03d}",
                         "community": name, "households": rng.randrange(800, 3200)})
    return rows


def ensure_demo(s, token_file: Path) -> dict:
    """Create what is missing of the demo; returns what a visitor needs."""
    now = now_utc().isoformat()
    s.import_regions(demo_regions())
    first = f"{STREETS[0][0]}001"
    stations = [(f"st-xc-{n:04d}", f"{STREETS[0][0]}{c:03d}", f"{n}号桶站")
                for n, c in ((1, 1), (2, 1), (3, 2))]
    for sid, community, name in stations:
        if s.station(sid) is None:
            s.add_station({"id": sid, "community_code": community, "name": name,
                           "bins": list(CATEGORIES),
                           "household_reader": True,
                           "staffed_windows": [["07:00", "09:00"], ["18:00", "21:00"]],
                           "created_at": now})
    tokens = json.loads(token_file.read_text()) if token_file.exists() else {}
    for sid, _, _ in stations:
        device = f"dev-{sid[3:]}"
        if device not in tokens:
            token = new_device_token()
            s.add_device(device, sid, hash_token(token), now)
            tokens[device] = {"station_id": sid, "token": token}
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(json.dumps(tokens, indent=2))
    token_file.chmod(0o600)
    users = [("city", "city", ""), ("xicheng", "district", DISTRICT[0]),
             ("xichangan", "street", STREETS[0][0]), ("sanlihe", "community", first),
             ("volunteer1", "volunteer", stations[0][0])]
    for username, role, scope in users:
        if s.user(username) is None:
            s.add_user({"username": username, "password_hash": hash_password(DEMO_PASSWORD),
                        "role": role, "scope": scope, "created_at": now})
    return {"users": users, "tokens": tokens}


@click.command("load-demo")
def load_demo():
    """Load (or complete) the demo district, stations, devices and users.

    Example: flask --app server load-demo
    """
    settings = current_app.config["SETTINGS"]
    # Beside the SQLite file; with a PostgreSQL store, in the project's instance/.
    folder = settings.database.parent if isinstance(settings.database, Path) else PROJECT_ROOT / "instance"
    folder.mkdir(parents=True, exist_ok=True)
    token_file = folder / "demo-devices.json"
    s = store_pkg.connect(settings.database)
    try:
        info = ensure_demo(s, token_file)
        counts = s.count_regions()
    finally:
        s.close()
    click.echo(f"demo loaded: {counts['districts']} district, {counts['streets']} streets, "
               f"{counts['communities']} communities; device tokens in {token_file}")
    for username, role, scope in info["users"]:
        click.echo(f"  login {username:<11} password {DEMO_PASSWORD}  ({role} {scope})".rstrip())
