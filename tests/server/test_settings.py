import pytest

from server import create_app
from server.settings import Settings, SettingsError


def test_missing_secret_fails_in_production(tmp_path):
    with pytest.raises(SettingsError, match="SORTWATCH_SECRET_KEY"):
        Settings.from_env({"SORTWATCH_DATABASE": str(tmp_path / "x.db")})


def test_development_gets_a_random_secret_not_a_fixed_one(tmp_path):
    a = Settings.from_env({"SORTWATCH_ENV": "development"})
    b = Settings.from_env({"SORTWATCH_ENV": "development"})
    assert a.secret_key != b.secret_key and len(a.secret_key) >= 32


def test_environment_is_read(tmp_path):
    s = Settings.from_env({"SORTWATCH_SECRET_KEY": "k", "SORTWATCH_DATABASE": str(tmp_path / "d.db"),
                           "SORTWATCH_EVENT_RETENTION_DAYS": "30", "SORTWATCH_COOKIE_SECURE": "no"})
    assert s.database == tmp_path / "d.db" and s.event_retention_days == 30
    assert s.cookie_secure is False and s.env == "production"


@pytest.mark.parametrize("env, message", [
    ({"SORTWATCH_ENV": "staging"}, "SORTWATCH_ENV"),
    ({"SORTWATCH_ENV": "test", "SORTWATCH_SESSION_HOURS": "twelve"}, "integer"),
    ({"SORTWATCH_ENV": "test", "SORTWATCH_EVENT_RETENTION_DAYS": "0"}, "at least 1"),
    ({"SORTWATCH_ENV": "test", "SORTWATCH_COOKIE_SECURE": "maybe"}, "true or false")])
def test_bad_values_fail_clearly(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_create_app_reads_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SORTWATCH_ENV", "production")
    monkeypatch.delenv("SORTWATCH_SECRET_KEY", raising=False)
    monkeypatch.setenv("SORTWATCH_DATABASE", str(tmp_path / "e.db"))
    with pytest.raises(SettingsError):
        create_app()
    monkeypatch.setenv("SORTWATCH_SECRET_KEY", "s" * 40)
    app = create_app()
    assert app.config["SETTINGS"].database == tmp_path / "e.db"
    assert (tmp_path / "e.db").exists()


def test_hardening_settings_are_read():
    s = Settings.from_env({"SORTWATCH_ENV": "test", "SORTWATCH_LOGIN_MAX_FAILURES": "3",
                           "SORTWATCH_LOGIN_WINDOW_SECONDS": "60", "SORTWATCH_TRUSTED_PROXIES": "1",
                           "SORTWATCH_QUIZ_QUESTIONS": "8", "SORTWATCH_QUIZ_SECONDS_PER_QUESTION": "0",
                           "SORTWATCH_QUIZ_INTERVAL_SECONDS": "10"})
    assert (s.login_max_failures, s.login_window_seconds, s.trusted_proxies) == (3, 60, 1)
    assert (s.quiz_questions, s.quiz_seconds_per_question, s.quiz_interval_seconds) == (8, 0, 10)


@pytest.mark.parametrize("name", ["SORTWATCH_LOGIN_MAX_FAILURES", "SORTWATCH_QUIZ_QUESTIONS"])
def test_hardening_settings_cannot_be_switched_off_by_zero(name):
    with pytest.raises(SettingsError, match="at least 1"):
        Settings.from_env({"SORTWATCH_ENV": "test", name: "0"})


def _flask(tmp_path, *args, **extra_env):
    """The real `flask` command in a clean environment: no SORTWATCH_SECRET_KEY."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "SORTWATCH_DATABASE": str(tmp_path / "cli.db"), **extra_env}
    flask = Path(sys.executable).with_name("flask")
    return subprocess.run([str(flask), "--app", "server", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def test_help_and_operator_commands_work_without_the_web_secret(tmp_path):
    result = _flask(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and result.stderr == ""
    for command in ("add-station", "add-device", "add-user", "import-regions", "backup", "migrate"):
        assert command in result.stdout
    result = _flask(tmp_path, "migrate")
    assert result.returncode == 0, result.stderr
    assert "migrations applied" in result.stdout and (tmp_path / "cli.db").exists()


def test_serving_without_the_secret_says_so_in_one_line(tmp_path):
    result = _flask(tmp_path, "run", "--port", "1")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "SORTWATCH_SECRET_KEY is not set" in errors[0]


def test_an_unusable_setting_is_one_line_for_the_operator(tmp_path):
    result = _flask(tmp_path, "migrate", SORTWATCH_ENV="staging")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "Error: SORTWATCH_ENV must be production, development or test" in result.stderr
