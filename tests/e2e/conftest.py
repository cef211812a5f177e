"""Browser tests: the real app under uvicorn, driven by Playwright in Chromium.

One server per session: a fresh SQLite database migrated with ``alembic upgrade
head``, 5-second access tokens (so the refresh path runs all the time, and the
concurrent-refresh test does not have to wait long), rate limits off. The
browser is the system Chromium at ``CHROMIUM_PATH`` (default Debian's
``/usr/bin/chromium``); Playwright never downloads one.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ACCESS_TOKEN_SECONDS = 5
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}
XSS_NAMES = ("<img src=x onerror=window.__xss=1>", "<script>window.__xss=1</script>")

# Runs in every page before its own scripts: report CSP violations and any
# attempt to set window.__xss through the console, which survives navigations.
MONITOR_SCRIPT = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP-VIOLATION ' + e.violatedDirective + ' ' + e.blockedURI);
});
Object.defineProperty(window, '__xss', {
  configurable: false,
  set() { console.error('XSS-EXECUTED'); },
  get() { return undefined; },
});
"""

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base_url: str
    log_path: Path

    def url(self, path: str = "/") -> str:
        return f"{self.base_url}{path}"

    def openapi_paths(self) -> set[str]:
        return set(httpx.get(self.url("/openapi.json"), timeout=10).json()["paths"])

    def has(self, path: str) -> bool:
        return path in self.openapi_paths()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not Path(CHROMIUM_PATH).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM_PATH}: apt-get install -y chromium, or set CHROMIUM_PATH")
    work = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": f"sqlite:///{work / 'quoted.db'}",
        "ACCESS_TOKEN_SECONDS": str(ACCESS_TOKEN_SECONDS),
        "RATE_LIMIT_ENABLED": "false",
        "STORAGE_BACKEND": "local",
        "STORAGE_PATH": str(work / "files"),
        "PUBLIC_BASE_URL": base,
        "REDIS_URL": "",
        "LOG_FORMAT": "json",
        "OUTBOX_POLL_SECONDS": "0.5",
    }
    for key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "STRIPE_SECRET_KEY", "RESEND_API_KEY", "SLACK_WEBHOOK_URL"):
        env.pop(key, None)
    migrate = subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    log_path = work / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "backend.main:app", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the app did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield Server(base, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Monitor:
    """Console errors, CSP violations and XSS attempts seen in a browser context."""

    csp: list[str] = field(default_factory=list)
    xss: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self, page: object) -> None:
        page.on("console", self._console)  # type: ignore[attr-defined]
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))  # type: ignore[attr-defined]

    def _console(self, msg: object) -> None:
        text = msg.text  # type: ignore[attr-defined]
        if "CSP-VIOLATION" in text or "Content Security Policy" in text:
            self.csp.append(text)
        elif "XSS-EXECUTED" in text:
            self.xss.append(text)
        elif msg.type == "error" and "Failed to load resource" not in text:  # type: ignore[attr-defined]
            self.errors.append(text)

    def assert_clean(self) -> None:
        assert not self.xss, f"a script ran from user data: {self.xss}"
        assert not self.csp, f"CSP violations: {self.csp}"
        assert not self.errors, f"errors in the page: {self.errors}"


@pytest.fixture
def make_context(browser: object, server: Server) -> Iterator[object]:
    """make_context(viewport) → (context, page, monitor); contexts are closed afterwards."""
    contexts = []

    def factory(viewport: dict[str, int] | None = None):
        context = browser.new_context(  # type: ignore[attr-defined]
            base_url=server.base_url, viewport=viewport or DESKTOP, locale="en-US", timezone_id="UTC")
        context.add_init_script(MONITOR_SCRIPT)
        context.set_default_timeout(10_000)
        monitor = Monitor()
        context.on("page", monitor.attach)
        page = context.new_page()
        contexts.append(context)
        return context, page, monitor

    factory.contexts = contexts  # type: ignore[attr-defined]  # for the failure screenshots
    yield factory
    for context in contexts:
        context.close()


def unique_email(prefix: str = "pro") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def shot(page: object, name: str) -> Path:
    """Save a screenshot under tests/e2e/artifacts/ (and docs/screenshots/ with E2E_UPDATE_SCREENSHOTS=1)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.evaluate("() => document.querySelectorAll('.toast').forEach((t) => t.remove())")  # type: ignore[attr-defined]
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    if os.environ.get("E2E_UPDATE_SCREENSHOTS") == "1":  # refresh the committed set on purpose only
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / path.name)
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # noqa: ARG001
    """On a failed browser test, keep a screenshot of every open page for the report."""
    report = yield
    if report.when == "call" and report.failed and "make_context" in getattr(item, "funcargs", {}):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        factory = item.funcargs["make_context"]
        for i, context in enumerate(getattr(factory, "contexts", [])):
            for j, page in enumerate(context.pages):
                try:
                    page.screenshot(path=str(ARTIFACTS / f"FAILED-{item.name}-{i}-{j}.png"), full_page=True)
                except Exception:  # noqa: BLE001 - a closed page has nothing to show
                    pass
    return report
