"""gunicorn settings for Quoted (INFRA-003): ``gunicorn -c gunicorn.conf.py backend.main:app``.

Everything comes from the same validated settings as the app (backend/config.py),
so gunicorn and the app can never disagree about the environment, and unsafe
production settings stop the master before any worker is forked.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

# gunicorn reads this file before it applies --chdir: make `backend`
# importable even when started from another directory.
_ROOT = str(Path(__file__).resolve().parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from backend.config import ConfigError, load_settings  # noqa: E402

try:
    _settings = load_settings()
except ConfigError as error:
    # One clear line and exit 1 (SystemExit is not caught by gunicorn's
    # config loader, which would otherwise print a traceback).
    raise SystemExit(f"quoted: refusing to start: {error}") from None

# -- workers -------------------------------------------------------------------

# The uvicorn worker lives in the `uvicorn-worker` package (`uvicorn.workers`
# is deprecated).
worker_class = "uvicorn_worker.UvicornWorker"

# WEB_CONCURRENCY (default 4) when PostgreSQL and Redis hold the shared state;
# one process on the embedded default: SQLite has one writer and the in-process
# cache and rate limits would otherwise be per worker.
workers = _settings.workers
_single_worker_reason = ""
if _settings.is_sqlite or not _settings.redis_url:
    _single_worker_reason = (
        "DATABASE_URL is SQLite" if _settings.is_sqlite else "REDIS_URL is empty"
    ) + "; the embedded default runs one worker process"
    if _settings.web_concurrency and _settings.web_concurrency > 1:
        _single_worker_reason += f" (WEB_CONCURRENCY={_settings.web_concurrency} ignored)"

# No pre-fork app import: each worker imports the app and builds its own
# engine and Redis clients in the lifespan (asyncpg connections and event
# loops must not be shared across fork).
preload_app = False

# -- network -------------------------------------------------------------------

# Railway sets PORT and routes to 0.0.0.0.
bind = [f"0.0.0.0:{_settings.port}"]

# Proxy headers (X-Forwarded-For/-Proto) are believed only from these peers
# (TRUSTED_PROXY_IPS); the client is the right-most untrusted address.
# gunicorn refuses, and uvicorn silently never matches, a range with host bits
# set ("10.0.0.1/8"), which our settings accept: normalise to "10.0.0.0/8".
forwarded_allow_ips = ",".join(
    str(ipaddress.ip_network(entry, strict=False)) if "/" in entry else entry
    for entry in _settings.trusted_proxy_ips
)

# Keep idle keep-alive connections open longer than the edge proxy does, so
# the proxy (not us) closes them and never reuses a socket we just dropped.
keepalive = 75

# -- lifecycle -------------------------------------------------------------------

# A worker whose event loop is blocked this long (no heartbeat) is restarted.
timeout = 60
# On SIGTERM workers stop accepting and finish in-flight requests for up to
# this long before they are killed. Railway's drainingSeconds (railway.json)
# must be at least this, or the container is SIGKILLed first.
graceful_timeout = 30
# Recycle workers now and then (slow leaks), staggered so they never all
# restart at once.
max_requests = 10000
max_requests_jitter = 1000

# -- logging -----------------------------------------------------------------------

# The app writes its own structured access line (backend/core/middleware.py).
accesslog = None
errorlog = "-"
loglevel = _settings.log_level.lower()
proc_name = "quoted"

# gunicorn >= 25 opens a control socket at a fixed per-user path by default;
# nothing here uses it, and two masters (tests, replicas sharing $HOME) would
# fight over the one path.
control_socket_disable = True


def post_worker_init(worker) -> None:  # type: ignore[no-untyped-def]
    """In each worker, after the app is built: take the start-up heap out of the collector's way."""
    from backend.core.gc_tuning import tune_for_serving
    from backend.core.logging import get_logger

    get_logger("quoted.app").info("gc.tuned", **tune_for_serving())


def on_starting(server) -> None:  # type: ignore[no-untyped-def]
    """Master start-up: say how many workers and why only one, if so."""
    if _single_worker_reason:
        server.log.warning("quoted: running 1 worker: %s", _single_worker_reason)
    server.log.info(
        "quoted: %d %s worker(s) on %s (environment=%s)",
        workers, worker_class, ",".join(bind), _settings.environment,
    )
