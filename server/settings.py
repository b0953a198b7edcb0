"""Every environment read of the server happens here, once, at start."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEVELOPMENT_ENVS = {"development", "test"}


class SettingsError(RuntimeError):
    """The server cannot start with the environment it was given."""


def _int(env: dict, name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _percent(env: dict, name: str, default: int) -> int:
    value = _int(env, name, default, 1)
    if value > 100:
        raise SettingsError(f"{name} is a percentage from 1 to 100, got {value}")
    return value


def _bool(env: dict, name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def is_postgres_url(value) -> bool:
    return isinstance(value, str) and value.startswith(POSTGRES_SCHEMES)


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def parse_database(raw: str | None) -> Path | str:
    """SORTWATCH_DATABASE: a plain path or sqlite:///PATH selects the SQLite
    store (a Path); postgresql://USER@HOST:PORT/DB or postgresql:///DB (the
    local socket) selects the PostgreSQL store (the URL, as given)."""
    if raw is None or raw == "":
        return PROJECT_ROOT / "instance" / "sortwatch.db"
    if raw.startswith(POSTGRES_SCHEMES):
        from psycopg.conninfo import conninfo_to_dict
        try:
            conninfo_to_dict(raw)
        except Exception as exc:
            raise SettingsError(f"SORTWATCH_DATABASE is not a usable PostgreSQL URL: "
                                f"{str(exc).splitlines()[0]}") from None
        return raw
    if raw.startswith("sqlite:"):
        if not raw.startswith("sqlite:///") or raw == "sqlite:///":
            raise SettingsError("SORTWATCH_DATABASE: a SQLite URL is sqlite:///PATH "
                                f"(sqlite:////abs/path for an absolute path), got {raw!r}")
        return Path(raw[len("sqlite:///"):])
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", raw):
        raise SettingsError("SORTWATCH_DATABASE must be a file path, sqlite:///PATH or "
                            f"postgresql://USER@HOST:PORT/DB, got {raw.split('://')[0]}://…")
    return Path(raw)


def parse_database_read(raw: str | None, database: Path | str) -> str | None:
    """SORTWATCH_DATABASE_READ: an optional PostgreSQL URL (a streaming
    replica of SORTWATCH_DATABASE) that dashboards, stats, rankings and
    exports read from."""
    if not raw:
        return None
    if not raw.startswith(POSTGRES_SCHEMES):
        raise SettingsError("SORTWATCH_DATABASE_READ must be a postgresql://USER@HOST:PORT/DB URL "
                            f"(a replica of SORTWATCH_DATABASE), got {raw.split('://')[0]}…")
    if not is_postgres_url(database):
        raise SettingsError("SORTWATCH_DATABASE_READ is a PostgreSQL replica: it needs "
                            "SORTWATCH_DATABASE to be PostgreSQL too")
    from psycopg.conninfo import conninfo_to_dict
    try:
        conninfo_to_dict(raw)
    except Exception as exc:
        raise SettingsError(f"SORTWATCH_DATABASE_READ is not a usable PostgreSQL URL: "
                            f"{str(exc).splitlines()[0]}") from None
    return raw


@dataclass(frozen=True)
class Settings:
    env: str
    database: Path | str    # a SQLite file, or a PostgreSQL URL (is_postgres_url)
    secret_key: str
    event_retention_days: int = 400
    max_future_seconds: int = 300
    session_hours: int = 12
    cookie_secure: bool = True
    heartbeat_interval: int = 60
    # Login throttle: this many failures per username, and per client address,
    # within the window answer 429 until the oldest of them leaves the window.
    login_max_failures: int = 10
    login_window_seconds: int = 300
    # Password checks (scrypt, ~0.1 s of CPU each) one server process makes per
    # second at most; a login over the budget answers 429 without hashing, so
    # a flood from many addresses cannot take the CPU from ingest (0: no limit).
    login_checks_per_second: int = 2
    # Proxies in front whose X-Forwarded-For is believed (0: use the peer address).
    trusted_proxies: int = 0
    # The residents' quiz: questions per sheet, the least time a person needs
    # per question, and the least time between two quizzes of one station.
    quiz_questions: int = 5
    quiz_seconds_per_question: float = 2
    quiz_interval_seconds: int = 30
    # PostgreSQL store: the longest a read statement may run (statement_timeout)
    # and the connections each server process keeps at most.
    read_timeout_seconds: int = 30
    database_pool_size: int = 10
    # A replica that dashboards, stats, rankings and exports read from (None: the primary).
    database_read: str | None = None
    # The corrected accuracy needs at least this many audits of a model version.
    min_audits: int = 30
    # Door-to-door guidance (入户指导): a household "needs a visit" when its
    # accuracy in the month is under this percentage over at least this many
    # of its own (unassisted, judged) disposals.
    visit_accuracy_percent: int = 80
    visit_min_disposals: int = 5
    # Cases (工单): a station silent this long gets an offline case; an
    # unresolved case is 滞留 after the first age and 超级滞留 after the
    # second; a camera case opens when a station's volunteer has corrected at
    # least this many of the day's disposals, and at least this share of them.
    case_offline_minutes: int = 30
    case_overdue_minutes: int = 30
    case_long_overdue_minutes: int = 120
    case_corrections: int = 5
    case_correction_share: float = 0.2
    # Webhook deliveries are retried with growing delays for this long.
    webhook_retry_hours: int = 48
    # The folder of signed models and rule sets (server/artifacts); None: instance/registry.
    registry: Path | None = None
    # Learning samples (crops, embeddings) are kept this long; prune-events
    # then deletes the unlabelled ones and the images of the labelled ones.
    sample_retention_days: int = 180
    targets: dict = field(default_factory=lambda: {
        "awareness": 0.98, "participation": 0.95, "accuracy": 0.90,
        # 整改率 of the cases (工单) opened in the period: a sortwatch choice, not the plan's.
        "station_management": 0.95})

    @classmethod
    def from_env(cls, env: dict | None = None, require_secret: bool = True) -> Settings:
        """Read SORTWATCH_* variables; fail loudly on anything unusable.

        require_secret=False (operator commands that sign nothing): a missing
        SORTWATCH_SECRET_KEY in production leaves secret_key empty instead."""
        env = dict(os.environ if env is None else env)
        mode = env.get("SORTWATCH_ENV", "production")
        if mode not in DEVELOPMENT_ENVS | {"production"}:
            raise SettingsError(
                f"SORTWATCH_ENV must be production, development or test, got {mode!r}")
        secret = env.get("SORTWATCH_SECRET_KEY", "")
        if not secret and mode not in DEVELOPMENT_ENVS:
            if require_secret:
                raise SettingsError(
                    "SORTWATCH_SECRET_KEY is not set. Set it to a long random string, "
                    "for example: export SORTWATCH_SECRET_KEY=$(python -c "
                    "'import secrets; print(secrets.token_hex(32))')")
        elif not secret:
            # Development only: a fresh random secret per process start, never a
            # fixed fallback (sessions simply do not survive a restart).
            import secrets
            secret = secrets.token_hex(32)
        database = parse_database(env.get("SORTWATCH_DATABASE"))
        return cls(
            env=mode,
            database=database,
            secret_key=secret,
            event_retention_days=_int(env, "SORTWATCH_EVENT_RETENTION_DAYS", 400, 1),
            max_future_seconds=_int(env, "SORTWATCH_MAX_FUTURE_SECONDS", 300, 0),
            session_hours=_int(env, "SORTWATCH_SESSION_HOURS", 12, 1),
            cookie_secure=_bool(env, "SORTWATCH_COOKIE_SECURE", mode == "production"),
            heartbeat_interval=_int(env, "SORTWATCH_HEARTBEAT_INTERVAL", 60, 1),
            login_max_failures=_int(env, "SORTWATCH_LOGIN_MAX_FAILURES", 10, 1),
            login_window_seconds=_int(env, "SORTWATCH_LOGIN_WINDOW_SECONDS", 300, 1),
            login_checks_per_second=_int(env, "SORTWATCH_LOGIN_CHECKS_PER_SECOND", 2, 0),
            trusted_proxies=_int(env, "SORTWATCH_TRUSTED_PROXIES", 0, 0),
            quiz_questions=_int(env, "SORTWATCH_QUIZ_QUESTIONS", 5, 1),
            quiz_seconds_per_question=_int(env, "SORTWATCH_QUIZ_SECONDS_PER_QUESTION", 2, 0),
            quiz_interval_seconds=_int(env, "SORTWATCH_QUIZ_INTERVAL_SECONDS", 30, 0),
            read_timeout_seconds=_int(env, "SORTWATCH_READ_TIMEOUT_SECONDS", 30, 1),
            database_pool_size=_int(env, "SORTWATCH_DATABASE_POOL_SIZE", 10, 1),
            database_read=parse_database_read(env.get("SORTWATCH_DATABASE_READ"), database),
            min_audits=_int(env, "SORTWATCH_MIN_AUDITS", 30, 1),
            visit_accuracy_percent=_percent(env, "SORTWATCH_VISIT_ACCURACY_PERCENT", 80),
            visit_min_disposals=_int(env, "SORTWATCH_VISIT_MIN_DISPOSALS", 5, 1),
            case_offline_minutes=_int(env, "SORTWATCH_CASE_OFFLINE_MINUTES", 30, 1),
            case_overdue_minutes=_int(env, "SORTWATCH_CASE_OVERDUE_MINUTES", 30, 1),
            case_long_overdue_minutes=_int(env, "SORTWATCH_CASE_LONG_OVERDUE_MINUTES", 120, 1),
            case_corrections=_int(env, "SORTWATCH_CASE_CORRECTIONS", 5, 1),
            case_correction_share=_int(env, "SORTWATCH_CASE_CORRECTION_PERCENT", 20, 0) / 100,
            webhook_retry_hours=_int(env, "SORTWATCH_WEBHOOK_RETRY_HOURS", 48, 24),
            registry=Path(env.get("SORTWATCH_REGISTRY") or PROJECT_ROOT / "instance" / "registry"),
            sample_retention_days=_int(env, "SORTWATCH_SAMPLE_RETENTION_DAYS", 180, 1),
        )

    @property
    def registry_dir(self) -> Path:
        return self.registry or PROJECT_ROOT / "instance" / "registry"
