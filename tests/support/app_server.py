"""Serve Quoted the way production does — a gunicorn master with uvicorn workers — in a subprocess.

Used by the tests that need a real server process (chaos under load, two app
instances side by side) and by ``bench/``. The caller supplies the
environment (DATABASE_URL, REDIS_URL, vendor URLs…); this module only adds
the port, a throw-away storage folder and JSON logs, starts
``gunicorn -c gunicorn.conf.py <app>``, and waits until every worker has run
its lifespan start-up (the ``app.started`` log event) and ``/health/live``
answers.

    with AppServer({"DATABASE_URL": url, "REDIS_URL": redis}, workers=2) as server:
        httpx.get(server.url("/health/live"))

The master runs in its own process group, so ``stop()`` (and interpreter exit)
kill it and all of its workers at once.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

ROOT = Path(__file__).resolve().parents[2]


class AppServerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AppServer:
    """One gunicorn master serving ``app`` on 127.0.0.1:<port>."""

    def __init__(self, env: dict[str, str], *, workers: int = 1, app: str = "backend.main:app",
                 port: int | None = None, boot_timeout: float = 60.0, log_dir: Path | None = None,
                 started_event: str | None = "app.started") -> None:
        self.workers = workers
        self.started_event = started_event  # None for apps that log no start-up event (bench's bare apps)
        self.app = app
        self.port = port or free_port()
        self.boot_timeout = boot_timeout
        self.root = Path(tempfile.mkdtemp(prefix="quoted-app-", dir=log_dir))
        self.log_path = self.root / "server.log"
        self.base_url = f"http://127.0.0.1:{self.port}"
        # A clean slate: nothing from the caller's own settings leaks in unless passed in `env`.
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("GUNICORN_", "FORWARDED_ALLOW_IPS"))
                and k not in {"DATABASE_URL", "REDIS_URL", "WEB_CONCURRENCY", "PORT"}}
        self.env = {
            **base,
            "ENVIRONMENT": "test",
            "JWT_SECRET": "app-server-test-secret-" + "x" * 40,
            "STORAGE_PATH": str(self.root / "files"),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **env,
            "WEB_CONCURRENCY": str(workers),
            "PORT": str(self.port),
        }
        self.process: subprocess.Popen[bytes] | None = None
        atexit.register(self.stop)

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> AppServer:
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--chdir", str(ROOT), self.app],
                cwd=ROOT, env=self.env, stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one
            )
        self._wait_until_ready()
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- inspection ----------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.base_url + path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def events(self, name: str | None = None) -> list[dict[str, object]]:
        """The JSON log lines (optionally only those whose ``event`` is ``name``)."""
        found: list[dict[str, object]] = []
        for line in self.log().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and (name is None or record.get("event") == name):
                found.append(record)
        return found

    def worker_pids(self) -> list[int]:
        if self.process is None:
            return []
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.boot_timeout
        with httpx.Client(base_url=self.base_url, timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    log = self.log()[-4000:]
                    self.process = None
                    raise AppServerError(f"gunicorn exited while starting:\n{log}")
                try:
                    live = client.get("/health/live").status_code == 200
                except httpx.TransportError:
                    live = False
                if live and (self.started_event is None
                             or len(self.events(self.started_event)) >= self.workers):
                    return
                time.sleep(0.1)
        log = self.log()[-4000:]
        self.stop()
        raise AppServerError(f"gunicorn did not become ready within {self.boot_timeout}s:\n{log}")
