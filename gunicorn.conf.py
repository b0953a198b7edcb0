"""gunicorn settings, read from the environment.

    SORTWATCH_BIND      default 127.0.0.1:8000 (0.0.0.0:8000 in the container)
    SORTWATCH_WORKERS   default 2 (one per core of a small server)
    SORTWATCH_THREADS   default 4 threads per worker (gthread)
    SORTWATCH_TIMEOUT   default 30 seconds
    SORTWATCH_KEEPALIVE default 5 seconds
"""
import os

bind = os.environ.get("SORTWATCH_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("SORTWATCH_WORKERS", "2"))
threads = int(os.environ.get("SORTWATCH_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("SORTWATCH_TIMEOUT", "30"))
graceful_timeout = timeout
keepalive = int(os.environ.get("SORTWATCH_KEEPALIVE", "5"))
# "-" logs requests to stdout; set SORTWATCH_ACCESS_LOG=off to silence them.
_access = os.environ.get("SORTWATCH_ACCESS_LOG", "-")
accesslog = None if _access in ("", "off") else _access
errorlog = "-"
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def on_starting(server):
    # Migrate once in the master, before workers start serving.
    from server import store
    from server.settings import Settings
    store.migrate(Settings.from_env().database)
