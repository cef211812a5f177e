"""A private, throw-away PostgreSQL server for tests that stop or restart it.

The shared server on 127.0.0.1:5432 must never be stopped, so tests that need
an outage start their own: ``initdb`` into a temporary directory, ``pg_ctl``
on a free port bound to 127.0.0.1 only, with its unix socket in the same
temporary directory. ``initdb`` refuses to run as root, so as root every
server command runs as the ``postgres`` OS user (which then owns the
directory).

    with PgInstance() as pg:
        url = pg.url               # postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres
        pg.restart()               # fast mode by default
        pg.stop(); pg.start()
        pg.restart(settings={"max_connections": 5})   # extra server settings

Teardown always happens (``pg_ctl stop -m immediate`` and ``rm -rf``), also
when start-up failed half way, and at interpreter exit as a last resort.
"""

from __future__ import annotations

import asyncio
import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import asyncpg

OS_USER = "postgres"
_SEARCH_DIRS = ("/usr/local/bin", *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True), "/usr/bin")


class PgInstanceError(RuntimeError):
    pass


def find_binary(name: str) -> str | None:
    for directory in _SEARCH_DIRS:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unavailable_reason() -> str | None:
    """Why a private server cannot be started here, or None when it can."""
    for name in ("initdb", "pg_ctl"):
        if find_binary(name) is None:
            return f"{name} is not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            return f"running as root and there is no {OS_USER!r} OS user to run initdb as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is not available"
    return None


class PgInstance:
    """One private PostgreSQL server in a temporary directory."""

    def __init__(self, *, start_timeout: int = 30, settings: dict[str, str | int] | None = None) -> None:
        reason = unavailable_reason()
        if reason:
            raise PgInstanceError(f"cannot start a private PostgreSQL: {reason}")
        self.initdb = find_binary("initdb") or "initdb"
        self.pg_ctl = find_binary("pg_ctl") or "pg_ctl"
        self.start_timeout = start_timeout
        self.settings = dict(settings or {})  # extra server settings, e.g. {"max_connections": 10}
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="quoted-pg-"))
        self.data_dir = self.root / "data"
        self.socket_dir = self.root  # short path: unix socket paths are limited to ~107 bytes
        self.log_file = self.root / "server.log"
        self._as_root = os.geteuid() == 0
        self._closed = False
        self._initialised = False
        atexit.register(self.close)
        if self._as_root:
            entry = pwd.getpwnam(OS_USER)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        os.chmod(self.root, 0o700)

    # -- plumbing ------------------------------------------------------------------

    def _run(self, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self._as_root:
            command = ["runuser", "-u", OS_USER, "--", *command]
        env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PGTZ": "UTC"}
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env,
                                cwd=self.root)
        if check and result.returncode != 0:
            raise PgInstanceError(
                f"{' '.join(args[:2])} failed ({result.returncode}):\n{result.stdout[-2000:]}\n"
                f"{result.stderr[-2000:]}\n--- server log ---\n{self.log_tail()}"
            )
        return result

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"

    @property
    def _server_options(self) -> str:
        # 127.0.0.1 only. fsync=off is safe here (only an OS crash loses data);
        # synchronous_commit stays on: an immediate stop (a simulated crash)
        # must not lose transactions the app was told were committed.
        extra = "".join(f" -c {name}={value}" for name, value in self.settings.items())
        return f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off{extra}"

    # -- public API --------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def dsn(self) -> str:
        """A plain libpq/asyncpg DSN for the ``postgres`` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str) -> str:
        """``CREATE DATABASE name`` on this server (call it outside an event loop); its SQLAlchemy URL."""

        async def create() -> None:
            conn = await asyncpg.connect(self.dsn, timeout=5)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        return self.url_for(name)

    def start(self, settings: dict[str, str | int] | None = None) -> PgInstance:
        """Start (initdb first if needed); ``settings`` replaces the extra server settings."""
        if settings is not None:
            self.settings = dict(settings)
        if self._closed:
            raise PgInstanceError("this instance has been torn down")
        try:
            if not self._initialised:
                self._run(self.initdb, "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                          "--encoding=UTF8", "--no-sync", timeout=120)
                self._initialised = True
            self._run(self.pg_ctl, "-D", str(self.data_dir), "-l", str(self.log_file),
                      "-o", self._server_options, "-w", "-t", str(self.start_timeout), "start",
                      timeout=self.start_timeout + 15)
        except BaseException:
            self.close()
            raise
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``smart``, ``fast`` or ``immediate``) and wait until it is down."""
        self._run(self.pg_ctl, "-D", str(self.data_dir), "-m", mode, "-w", "-t", "30", "stop", timeout=45)

    def restart(self, mode: str = "fast", settings: dict[str, str | int] | None = None) -> None:
        self.stop(mode)
        self.start(settings)

    def is_running(self) -> bool:
        if not self._initialised or self._closed:
            return False
        return self._run(self.pg_ctl, "-D", str(self.data_dir), "status", check=False).returncode == 0

    def close(self) -> None:
        """Tear down: immediate stop (errors ignored) and remove every file. Idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        try:
            if self._initialised and (self.data_dir / "postmaster.pid").exists():
                self._run(self.pg_ctl, "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "20", "stop",
                          timeout=30, check=False)
        except Exception:  # noqa: BLE001 - teardown must go on to remove the files
            pass
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgInstance:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
