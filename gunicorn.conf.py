"""gunicorn settings, read from the environment.

    SORTWATCH_BIND      default 127.0.0.1:8000 (0.0.0.0:8000 in the container)
    SORTWATCH_WORKERS   default 2 (one per core of a small server)
    SORTWATCH_THREADS   default 1700 threads per worker (gthread); see below
    SORTWATCH_TIMEOUT   default 30 seconds
    SORTWATCH_KEEPALIVE default 5 seconds
    SORTWATCH_NICE      default 0: the workers' niceness (0-19); the people's
                        pool of a two-pool host runs at 10 (README, "Floods")
"""
import os
import secrets

# Development and tests may run without a secret; then every worker must
# still share one, or a login made in one worker is unknown to the others.
if (os.environ.get("SORTWATCH_ENV") in ("development", "test")
        and not os.environ.get("SORTWATCH_SECRET_KEY")):
    os.environ["SORTWATCH_SECRET_KEY"] = secrets.token_hex(32)

bind = os.environ.get("SORTWATCH_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("SORTWATCH_WORKERS", "2"))
# Live streams: every volunteer tablet holds one server-sent-event request
# open (server/web/station.py) and so one thread of a gthread worker. A
# thread parked on a stream costs little memory and no CPU: it waits on an
# event that the process's one watcher thread sets when its station has a new
# event (one database query per process every 0.5 s, whatever the number of
# streams), waking every 0.5 s only to see whether its tablet hung up. So
# workers get many threads; each worker lets streams take at most three
# quarters of them (post_worker_init below), leaving the rest for ingest and
# pages, which therefore never queue behind the tablets. Two workers take
# 2 x 1275 = 2,550 tablets. That is about what one 2-core host holds with
# prompts within 1 s (scripts/bench_streams_hosts.py: p95 0.52 s with 2,579
# streams open, 4.7 s with 2,835), and leaves 2,000 tablets room for the
# kernel's uneven sharing of connections between the workers (one took 1,214
# of 2,000). Beyond a worker's slots a stream gets 503
# and the tablet retries. worker_connections (gunicorn's default 1000) must
# be above a worker's threads, or gunicorn stops accepting before the slots are
# full. gthread's timeout watches the worker's main loop, not requests, so a
# stream open for minutes does not get its worker killed; the streams
# themselves end after 10 minutes and the tablets reconnect with
# Last-Event-ID, which also spreads them again after a restart.
# (scripts/bench_streams_hosts.py measures it; README, "The PostgreSQL store".)
threads = int(os.environ.get("SORTWATCH_THREADS", "1700"))
worker_class = "gthread"
worker_connections = threads + 200
_STREAM_SHARE = 0.75
timeout = int(os.environ.get("SORTWATCH_TIMEOUT", "30"))
graceful_timeout = timeout
keepalive = int(os.environ.get("SORTWATCH_KEEPALIVE", "5"))
# "-" logs requests to stdout; set SORTWATCH_ACCESS_LOG=off to silence them.
_access = os.environ.get("SORTWATCH_ACCESS_LOG", "-")
accesslog = None if _access in ("", "off") else _access
errorlog = "-"
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# The longest request line gunicorn reads (its maximum; the default is 4094):
# a longer one gets gunicorn's own 414 page, which is HTML. Behind
# deploy/nginx/sortwatch.conf, nginx refuses lines over 8 KiB first, with the
# API's JSON error. Slow clients: see the same file; gthread gives a thread to
# each connection while it sends its request, so the proxy's header timeout
# is what stops clients that trickle their headers.
limit_request_line = 8190


try:
    _NICE = int(os.environ.get("SORTWATCH_NICE", "0"))
except ValueError:
    _NICE = -1
if not 0 <= _NICE <= 19:
    raise SystemExit("sortwatch cannot start: SORTWATCH_NICE must be a whole number from 0 to 19, "
                     f"not {os.environ.get('SORTWATCH_NICE')!r}")


def post_fork(server, worker):
    # A pool that yields the CPU to the devices' pool on the same host: its
    # workers only get what ingest leaves (README, "Floods").
    if _NICE:
        os.nice(_NICE)


def post_worker_init(worker):
    # The cap on open streams in this worker (server/web/station.py).
    worker.wsgi.config["WEB_STREAM_SLOTS"] = max(1, int(worker.cfg.threads * _STREAM_SHARE))


def on_starting(server):
    # Migrate once in the master, before workers start serving.
    from server import store
    from server.settings import Settings, SettingsError
    try:
        store.migrate(Settings.from_env().database)
    except (SettingsError, store.StoreError) as exc:
        raise SystemExit(f"sortwatch cannot start: {exc}") from None   # one line, no traceback
