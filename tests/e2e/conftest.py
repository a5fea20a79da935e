"""Browser tests: Debian's Chromium driven by Playwright against a live daphne (HTTP + WebSocket) and a
django-q2 worker, both started in subprocesses on the test database.

Skipped when /usr/bin/chromium or the playwright package is missing. Never runs ``playwright install``:
Playwright launches the system browser.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
BUNDLE = ROOT / "static" / "canvas" / "app.js"
SOURCES = ROOT / "pipelines" / "canvas"
SCREENSHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]

try:
    import playwright.sync_api  # noqa: F401

    HAVE_PLAYWRIGHT = True
except ImportError:  # pragma: no cover - the dev extra installs it
    HAVE_PLAYWRIGHT = False


def pytest_collection_modifyitems(config, items):
    reason = None
    if not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} not installed (apt-get install chromium)"
    elif not HAVE_PLAYWRIGHT:
        reason = "the playwright package is not installed"
    if reason is None:
        return
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.skip(reason=reason))


def _bundle_is_stale() -> bool:
    if not BUNDLE.exists():
        return True
    built = BUNDLE.stat().st_mtime
    return any(p.stat().st_mtime > built for p in SOURCES.rglob("*") if p.is_file())


def _ensure_bundle() -> None:
    """Build the page bundle when it is missing or older than its sources (needs npm ci first)."""
    if not _bundle_is_stale():
        return
    vite = ROOT / "node_modules" / ".bin" / "vite"
    if not vite.exists() or shutil.which("node") is None:
        if BUNDLE.exists():
            return  # stale but usable; nothing to rebuild it with
        pytest.skip("the page bundle is not built and npm packages are missing (npm ci && npm run build)")
    proc = subprocess.run([str(vite), "build", "--logLevel", "error"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Ask the process to stop, then make sure nothing of its process group is left."""
    try:
        os.killpg(proc.pid, signal.SIGCONT)  # a paused worker cannot act on the signal
        proc.send_signal(sig)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc.poll() is None:
        proc.wait(timeout=5)


@dataclass
class LiveServer:
    url: str
    worker: subprocess.Popen
    logs: Path

    def pause_worker(self) -> None:
        """Freeze the worker (and its child processes) so new runs stay queued."""
        os.killpg(self.worker.pid, signal.SIGSTOP)

    def resume_worker(self) -> None:
        os.killpg(self.worker.pid, signal.SIGCONT)


@pytest.fixture(scope="package")
def live(django_db_setup, django_db_blocker, tmp_path_factory):
    """daphne + qcluster on the test database, for the tests of this package."""
    from django.db import connection

    _ensure_bundle()
    work = tmp_path_factory.mktemp("e2e")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.e2e.settings",
        "E2E_DATABASE_NAME": str(connection.settings_dict["NAME"]),
        "MEDIA_ROOT": str(work / "media"),
        "Q_WORKERS": "1",
        # one queue: the single worker below (paused and resumed by pause_worker) also takes GPU-node runs
        "Q_GPU_CLUSTER": "",
        "PYTHONUNBUFFERED": "1",
        "RUNS_EAGER": "false",
    }
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    logs = work / "server.log"
    log = open(logs, "w")
    daphne = subprocess.Popen([sys.executable, "-m", "daphne", "--verbosity", "0", "-b", "127.0.0.1",
                               "-p", str(port), "config.asgi:application"], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    worker = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if daphne.poll() is not None:
                raise RuntimeError(f"daphne exited:\n{logs.read_text()[-3000:]}")
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"daphne did not start:\n{logs.read_text()[-3000:]}")
            time.sleep(0.2)
        yield LiveServer(url=url, worker=worker, logs=logs)
    finally:
        _stop(worker, signal.SIGINT)  # django-q2 shuts its cluster down cleanly on SIGINT
        _stop(daphne)
        log.close()


@pytest.fixture(scope="package")
def browser(live):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the ORM work pytest-django does
    # around each test (flushing the tables) is still synchronous, so Django's guard is lifted meanwhile.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield b
            b.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live, transactional_db, request):
    """A fresh browser context (no cookies) at 1280×800; page errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live.url)
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        shot(pg, f"FAILED-{request.node.name}")
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def shot(pg, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=False)
    return path
