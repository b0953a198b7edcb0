"""Operator commands, run through Flask's CLI runner on a real database."""
from __future__ import annotations

from server import store as store_pkg
from server.auth import hash_token

from .support import REGIONS_CSV, write_regions


def open_store(app):
    return store_pkg.connect(app.config["SETTINGS"].database)


def test_import_then_reimport_updates_and_adds_without_losing(app, runner, tmp_path):
    first = runner.invoke(args=["import-regions", str(write_regions(tmp_path))])
    assert first.exit_code == 0, first.output
    assert "communities added: 4" in first.output
    changed = REGIONS_CSV.replace("三里河社区,1000", "三里河社区,1100") + \
        "110102,西城区,110102003,新街口街道,110102003002,西四北社区,640\n"
    # The second file omits a community: it must survive.
    changed = "\n".join(line for line in changed.splitlines() if "建外社区" not in line) + "\n"
    second = runner.invoke(args=["import-regions", str(write_regions(tmp_path, changed, "b.csv"))])
    assert second.exit_code == 0, second.output
    assert "communities added: 1" in second.output and "communities updated: 1" in second.output
    s = open_store(app)
    assert s.region("110102001001")["households"] == 1100
    assert s.region("110105001001")["households"] == 1200
    assert s.count_regions() == {"districts": 2, "streets": 3, "communities": 5}
    s.close()


def test_malformed_file_is_refused_whole_with_line_numbers(app, runner, tmp_path):
    bad = REGIONS_CSV + ("110102,西城区,110102001,西长安街街道,11010200100X,坏社区,10\n"
                         "110102,西城区,110103001,错街道,110103001001,错社区,10\n"
                         "110102,西城区,110102001,西长安街街道,110102001009,好社区,-4\n")
    result = runner.invoke(args=["import-regions", str(write_regions(tmp_path, bad))])
    assert result.exit_code != 0
    assert "line 6: community_code must have 12 digits" in result.output
    assert "line 7: street_code 110103001 does not start with its parent's code 110102" in result.output
    assert "line 8: households must be a whole number" in result.output
    assert "nothing was imported" in result.output
    s = open_store(app)
    assert s.count_regions() == {"districts": 0, "streets": 0, "communities": 0}
    s.close()


def test_refusals_for_header_duplicates_and_encoding(runner, tmp_path):
    cases = {
        "a.csv": ("code,name\n1,2\n", "line 1: the header must be"),
        "b.csv": (REGIONS_CSV + REGIONS_CSV.splitlines()[1] + "\n", "already appears on line 2"),
        "c.csv": (REGIONS_CSV.replace("建外街道", "别的街道", 1) +
                  "110105,朝阳区,110105001,建外街道,110105001002,x社区,1\n", "is named"),
        "d.csv": (REGIONS_CSV.splitlines()[0] + "\n", "no rows"),
    }
    for name, (text, message) in cases.items():
        result = runner.invoke(args=["import-regions", str(write_regions(tmp_path, text, name))])
        assert result.exit_code != 0 and message in result.output, (name, result.output)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(REGIONS_CSV.encode("gb18030"))
    result = runner.invoke(args=["import-regions", str(latin)])
    assert result.exit_code != 0 and "not UTF-8" in result.output


def test_bom_is_accepted(app, runner, tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + REGIONS_CSV.encode())
    assert runner.invoke(args=["import-regions", str(path)]).exit_code == 0


def test_stations_devices_and_tokens(app, runner, tmp_path):
    runner.invoke(args=["import-regions", str(write_regions(tmp_path))])
    ok = runner.invoke(args=["add-station", "st-1", "--community", "110102001001",
                             "--name", "3号楼", "--bins", "kitchen,other"])
    assert ok.exit_code == 0, ok.output
    for args, message in (
            (["add-station", "st-1", "--community", "110102001001"], "already exists"),
            (["add-station", "st-2", "--community", "999999999999"], "unknown community"),
            (["add-station", "st-2", "--community", "110102001001", "--bins", "green"], "--bins"),
            (["add-station", "st-2", "--community", "110102001001", "--staffed", "9-7"], "window"),
            (["add-device", "d-1", "--station", "nowhere"], "unknown station"),
            (["revoke-device", "nobody"], "unknown device")):
        result = runner.invoke(args=args)
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    added = runner.invoke(args=["add-device", "d-1", "--station", "st-1"])
    assert added.exit_code == 0
    token = added.output.strip().splitlines()[-1]
    assert len(token) >= 40
    s = open_store(app)
    device = s.device_by_token_hash(hash_token(token))
    assert device["id"] == "d-1" and token not in str(dict(device))
    s.close()
    assert runner.invoke(args=["add-device", "d-1", "--station", "st-1"]).exit_code != 0
    assert runner.invoke(args=["revoke-device", "d-1"]).exit_code == 0
    again = runner.invoke(args=["revoke-device", "d-1"])
    assert again.exit_code != 0 and "already revoked" in again.output


def test_users_and_login(app, client, runner, tmp_path):
    runner.invoke(args=["import-regions", str(write_regions(tmp_path))])
    ok = runner.invoke(args=["add-user", "wang", "--role", "street", "--scope", "110102001"],
                       input="a-long-password\n")
    assert ok.exit_code == 0, ok.output
    for args, password, message in (
            (["add-user", "li", "--role", "street", "--scope", "110102"], "a-long-password", "9-digit"),
            (["add-user", "li", "--role", "community", "--scope", "110102001999"], "a-long-password", "unknown"),
            (["add-user", "li", "--role", "volunteer", "--scope", "st-x"], "a-long-password", "unknown station"),
            (["add-user", "li", "--role", "city"], "short", "at least 8"),
            (["add-user", "wang", "--role", "city"], "a-long-password", "already exists")):
        result = runner.invoke(args=args, input=password + "\n")
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    bad = client.post("/api/v1/login", json={"username": "wang", "password": "nope"})
    assert bad.status_code == 401
    good = client.post("/api/v1/login", json={"username": "wang", "password": "a-long-password"})
    assert good.status_code == 200 and good.get_json()["role"] == "street"
    cookie = good.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/api/v1/me").get_json()["username"] == "wang"
    client.post("/api/v1/logout")
    assert client.get("/api/v1/me").status_code == 401


def test_every_command_is_documented(app):
    import pathlib
    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for name, command in app.cli.commands.items():
        if name in ("run", "shell", "routes"):
            continue
        assert command.help and "Example:" in command.help, name
        assert name in readme, f"command {name} is not in README.md"


def test_backup_while_serving_then_restore_gives_the_same_numbers(app, client, city, runner, tmp_path):
    from server import create_app

    from .support import disposal, login, make_settings, post_events
    post_events(client, city, [disposal(ts="2026-11-10T08:00:00+08:00") for _ in range(7)])
    copy = tmp_path / "backup.db"
    result = runner.invoke(args=["backup", str(copy)])
    assert result.exit_code == 0 and "integrity check ok" in result.output, result.output
    assert runner.invoke(args=["backup", str(copy)]).exit_code != 0      # never overwrites
    restored = create_app({"SETTINGS": make_settings(copy), "TESTING": True}).test_client()
    for c in (client, restored):
        login(c, "city")
    query = {"level": "city", "month": "2026-11"}
    assert restored.get("/api/v1/stats", query_string=query).get_json()["disposals"] == 7
    a, b = (c.get("/api/v1/stats", query_string=query).get_json() for c in (client, restored))
    for body in (a, b):
        body["online_share"].pop("possible_seconds")   # grows with the clock
    assert a == b


def test_migrate_command_is_idempotent(runner):
    first = runner.invoke(args=["migrate"])
    second = runner.invoke(args=["migrate"])
    assert first.exit_code == 0 and first.output == second.output
    from server.store.migrations import migrations
    assert f"latest {migrations._migrations[-1].name}" in first.output


def test_prune_keeps_the_rates_and_refuses_the_pruned_days(app, client, city, runner):
    from datetime import datetime, timedelta

    from .support import BEIJING, disposal, login, make_settings, post_events
    old_day = datetime.now(BEIJING) - timedelta(days=200)
    post_events(client, city, [disposal(ts=old_day.isoformat(), verdict="correct", bin="hazardous"),
                               disposal(verdict="wrong")])
    login(client, "city")
    month = old_day.strftime("%Y-%m")
    before = client.get("/api/v1/stats", query_string={"level": "city", "month": month}).get_json()
    app.config["SETTINGS"] = make_settings(app.config["SETTINGS"].database, event_retention_days=100)
    result = runner.invoke(args=["prune-events"])
    assert result.exit_code == 0 and "deleted 1 raw events" in result.output, result.output
    after = client.get("/api/v1/stats", query_string={"level": "city", "month": month}).get_json()
    assert after["accuracy"] == before["accuracy"] and after["disposals"] == 1
    resend = post_events(client, city, [disposal(ts=old_day.isoformat())]).get_json()
    assert resend["accepted"] == 0 and "older" in resend["rejected"][0]["errors"][0]["message"]


def test_creating_many_apps_does_not_stack_the_commands(tmp_path):
    """Each app registers the operator commands afresh; building another app
    must not wrap the shared command objects again (the suite builds hundreds
    of apps, and the nested wrappers once overflowed the stack)."""
    import inspect

    from server import create_app

    from .support import make_settings

    def depth(app):
        callback, n = app.cli.commands["import-regions"].callback, 0
        while hasattr(callback, "__wrapped__"):
            callback, n = callback.__wrapped__, n + 1
        return n

    apps = [create_app({"SETTINGS": make_settings(tmp_path / "c.db"), "TESTING": True}) for _ in range(3)]
    assert depth(apps[0]) == depth(apps[2]) == 1
    assert inspect.unwrap(apps[0].cli.commands["import-regions"].callback) is \
        inspect.unwrap(apps[2].cli.commands["import-regions"].callback)
    result = apps[2].test_cli_runner().invoke(args=["import-regions", str(write_regions(tmp_path))])
    assert result.exit_code == 0, result.output


def test_two_stations_of_one_community_cannot_share_a_name(app, runner, tmp_path):
    assert runner.invoke(args=["import-regions", str(write_regions(tmp_path))]).exit_code == 0
    first = runner.invoke(args=["add-station", "st-1", "--community", "110102001001", "--name", "1号桶站"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(args=["add-station", "st-2", "--community", "110102001001", "--name", "1号桶站"])
    assert again.exit_code != 0
    assert "community 110102001001 already has a station named 1号桶站 (st-1)" in again.output
    s = open_store(app)
    assert s.station("st-2") is None
    s.close()
    # the same name in another community is fine
    other = runner.invoke(args=["add-station", "st-3", "--community", "110102001002", "--name", "1号桶站"])
    assert other.exit_code == 0, other.output


def test_an_operator_changes_a_password_or_removes_a_user_and_their_sessions_end(app, city):
    """`set-password` and `remove-user`, the operator's side of revocable sessions."""
    from .support import login
    me = "/api/v1/me"
    client, other = app.test_client(), app.test_client()
    login(client, "sanlihe")
    login(other, "xicheng")
    short = city.runner.invoke(args=["set-password", "sanlihe"], input="short\n")
    assert short.exit_code != 0 and "at least 8 characters" in short.output
    assert client.get(me).status_code == 200, "a refused change changes nothing"
    result = city.runner.invoke(args=["set-password", "sanlihe"], input="a-new-password-1\n")
    assert result.exit_code == 0, result.output
    assert "1 session ended" in result.output
    assert client.get(me).status_code == 401 and other.get(me).status_code == 200
    login(client, "sanlihe", "a-new-password-1")
    assert city.runner.invoke(args=["set-password", "nobody"], input="a-new-password-1\n").exit_code != 0
    removed = city.runner.invoke(args=["remove-user", "sanlihe"])
    assert removed.exit_code == 0, removed.output
    assert client.get(me).status_code == 401
    assert client.post("/api/v1/login", json={"username": "sanlihe",
                                              "password": "a-new-password-1"}).status_code == 401
    missing = city.runner.invoke(args=["remove-user", "sanlihe"])
    assert missing.exit_code != 0 and "no user sanlihe" in missing.output
