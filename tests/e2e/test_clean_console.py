"""A clean console on the main pages, signed out and signed in: no console error, no failed request (a 401 from
a refresh call, a missing favicon), and every request to this server (ReDoc's and Swagger UI's scripts and
fonts included). Also the canvas page's weight and its time to interactive, measured in the browser."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import expect

from tests.e2e.conftest import ROOT, shot
from tests.e2e.ui import new_pipeline, open_canvas, resize_graph, signup_via_api

ARTIFACTS = ROOT / "test-output"
SIGNED_OUT_PAGES = ["/", "/login/", "/signup/", "/api/docs", "/api/redoc", "/shaders/"]
SIGNED_IN_PAGES = ["/studio/", "/studio/queue/", "/account/", "/api/redoc"]


class Recorder:
    """Console errors, failed requests and the hosts of every request of one page."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.hosts: set[str] = set()
        self.paths: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"{page.url}: {m.text}"))
        page.on("request", self._request)
        page.on("requestfailed", self._failed)
        page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}"))

    def _failed(self, request) -> None:
        # A request still in flight when the test moves on to the next page is aborted by the browser (e.g.
        # ReDoc's blob: worker): not a failure a visitor would see.
        if request.failure != "net::ERR_ABORTED":
            self.failed.append(f"{request.url} {request.failure}")

    def _request(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss"):
            self.hosts.add(parts.netloc)
            self.paths.append(parts.path)


def visit(page, path: str) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")


def test_main_pages_have_a_clean_console_and_fetch_nothing_from_outside(page, live):
    own = urlsplit(live.url).netloc
    seen = Recorder(page)
    for path in SIGNED_OUT_PAGES:
        visit(page, path)
    expect(page.locator(".ff-header, .site-header").first).to_be_visible()
    visit(page, "/studio/")  # signed out: sent to the login page without a refresh call that answers 401
    expect(page).to_have_url(f"{live.url}/login/?next=%2Fstudio%2F")
    assert "/api/v1/auth/refresh" not in seen.paths, "a signed-out page asked for a token refresh"

    account = signup_via_api(page)
    pid = new_pipeline(page, account["token"], "Console", resize_graph())
    for path in [*SIGNED_IN_PAGES, f"/studio/{pid}/", f"/studio/{pid}/runs/"]:
        visit(page, path)
    expect(page.get_by_test_id("run-row").or_(page.get_by_text("No runs yet"))).to_be_visible()
    shot(page, "28-clean-console")
    # signed in, the first page asks for an access token with the refresh cookie, and gets one (no 401)
    assert seen.hosts == {own}, f"requests to other hosts: {seen.hosts - {own}}"
    assert not seen.errors, seen.errors
    assert not seen.failed, seen.failed


def test_canvas_page_weight_and_first_render(page, browser, live):
    account = signup_via_api(page)
    pid = new_pipeline(page, account["token"], "Weight", resize_graph())
    open_canvas(page, pid)  # warms the server (first request of the page's bundle from disk)
    # a new context: an empty HTTP cache, as a first visit; the refresh cookie carries the session over
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live.url,
                                  storage_state=page.context.storage_state())
    fresh = context.new_page()
    try:
        fresh.goto(f"/studio/{pid}/")
        expect(fresh.locator(".react-flow__node")).to_have_count(3)
        fresh.wait_for_function("performance.getEntriesByName('canvas-interactive').length > 0")
        fresh.wait_for_load_state("networkidle")
        figures = fresh.evaluate("""() => {
          const nav = performance.getEntriesByType('navigation')[0]
          const res = performance.getEntriesByType('resource')
          const sum = (list, key) => list.reduce((n, r) => n + (r[key] || 0), 0)
          const mark = performance.getEntriesByName('canvas-interactive')[0]
          return {
            requests: res.length + 1,
            transferred_bytes: nav.transferSize + sum(res, 'transferSize'),
            decoded_bytes: nav.decodedBodySize + sum(res, 'decodedBodySize'),
            script_bytes: sum(res.filter((r) => r.initiatorType === 'script' || r.name.endsWith('.js')), 'transferSize'),
            dom_content_loaded_ms: Math.round(nav.domContentLoadedEventEnd),
            load_ms: Math.round(nav.loadEventEnd),
            interactive_ms: Math.round(mark.startTime),
          }
        }""")
    finally:
        context.close()
    figures["machine"] = "2-core development machine, no GPU, Debian Chromium headless"
    out = Path(ARTIFACTS)
    out.mkdir(parents=True, exist_ok=True)
    (out / "canvas-page-weight.json").write_text(json.dumps(figures, indent=2))
    print("\ncanvas page:", json.dumps(figures))
    # The goal is under 1 s on the development machine; the bound here leaves room for a loaded CI host.
    assert figures["interactive_ms"] < 3000, figures
    assert figures["transferred_bytes"] < 1_500_000, figures
