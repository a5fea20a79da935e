"""The pages in a real browser (Debian's Chromium through Playwright, WebGL2 on SwiftShader): the live
preview draws, and the editor shows glslangValidator's errors next to the line they name.

Skipped where /usr/bin/chromium or the playwright package is missing; never downloads a browser.
"""

from __future__ import annotations

import os

import pytest
from django.test import Client

from accounts.models import Tier
from shaders import services
from shaders.models import Shader
from tests.shaders.conftest import GOOD_CODE

CHROMIUM = "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} not installed"),
]

BROKEN = """void mainImage(out vec4 fragColor, in vec2 fragCoord) {
    vec2 uv = fragCoord / iResolution.xy;
    fragColor = vec4(uv, nothingHere, 1.0);
}
"""


@pytest.fixture
def page(live_url, make_user, monkeypatch):
    # Playwright's sync API keeps an event loop running in this thread; the test's own ORM calls are
    # still plain synchronous code, so tell Django's async guard so.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    user = make_user(tier=Tier.PRO)
    client = Client()
    client.force_login(user)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader", "--use-angle=swiftshader"],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies(
            [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_url}]
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.user, page.base, page.errors = user, live_url, errors
        yield page
        browser.close()


def test_shader_page_draws_the_live_preview(page):
    shader = services.create_shader(page.user, title="Live", glsl_code=GOOD_CODE, status="published").shader
    page.goto(f"{page.base}/shaders/{shader.pk}/")
    page.wait_for_selector("#ff-versions li")
    page.wait_for_timeout(300)
    pixels = page.evaluate("""() => {
        const canvas = document.getElementById('ff-canvas');
        const gl = canvas.getContext('webgl2');
        const data = new Uint8Array(4);
        gl.readPixels(canvas.width >> 1, canvas.height >> 1, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, data);
        return Array.from(data);
    }""")
    assert sum(pixels[:3]) > 30 and pixels[3] == 255  # GOOD_CODE's palette, not a black canvas
    assert page.is_hidden("#ff-gl-error") and page.is_visible("#ff-edit")
    assert page.errors == []


def saving(page):
    """The editor's POST /api/v1/shaders, awaited (use as ``with saving(page) as saved:``)."""
    return page.expect_response(lambda r: r.url.endswith("/api/v1/shaders") and r.request.method == "POST")


def test_editor_shows_validation_errors_inline_then_saves(page):
    page.goto(f"{page.base}/shaders/new/")
    page.wait_for_selector("#ff-gutter")
    page.fill("input[name=title]", "From the browser")
    page.fill("#ff-source", BROKEN)
    # wait for the save's answer itself: the live WebGL preview lists its own errors in the same panel
    with saving(page) as saved:
        page.click("button[type=submit]")
    assert saved.value.status == 422, saved.value.text()
    page.wait_for_selector("#ff-diagnostics li")
    assert "line 3" in page.inner_text("#ff-diagnostics") and "nothingHere" in page.inner_text(
        "#ff-diagnostics"
    )
    assert "✖ 3" in page.inner_text("#ff-gutter")
    assert not Shader.objects.exists()
    page.fill("#ff-source", GOOD_CODE)
    with saving(page) as saved:
        page.click("button[type=submit]")
    assert saved.value.status == 201, (saved.value.text(), page.input_value("#ff-source")[:200])
    page.wait_for_url("**/edit/")
    shader = Shader.objects.get()
    assert shader.title == "From the browser" and shader.owner == page.user and shader.status == "draft"
    assert page.errors == []


def test_token_sign_in_of_the_site_login_page_works_too(live_url, make_user, monkeypatch):
    """/login/ keeps an access token in the tab (sessionStorage) instead of a Django session."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from rest_framework.test import APIClient

    from tests.conftest import login

    user = make_user(tier=Tier.PRO)
    token = login(APIClient(), user)
    draft = services.create_shader(user, title="Token draft", glsl_code=GOOD_CODE, status="draft").shader
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(f"{live_url}/shaders/new/")  # no token yet: sent to the login page
        page.wait_for_url("**/login/?next=/shaders/new/")
        # sign in the way /login/ leaves the tab (on our own page: the login page's script owns the key there)
        page.goto(f"{live_url}/shaders/", wait_until="networkidle")
        page.evaluate("token => sessionStorage.setItem('canvasflow.access', token)", token)
        page.goto(f"{live_url}/shaders/{draft.pk}/")  # the owner's draft, visible through the token
        page.wait_for_selector("#ff-versions li")
        assert page.inner_text("#ff-title") == "Token draft" and page.is_visible("#ff-edit")
        page.goto(f"{live_url}/shaders/{draft.pk}/edit/")
        page.wait_for_function("document.querySelector('input[name=title]').value === 'Token draft'")
        page.fill("input[name=title]", "Renamed by token")
        page.click("button[type=submit]")
        page.wait_for_function("document.getElementById('ff-message').textContent.startsWith('Saved')")
        browser.close()
    draft.refresh_from_db()
    assert draft.title == "Renamed by token" and draft.current_version == 2
