"""Fixtures of the shader community tests: shaders made through the services, another user's client."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import Tier
from shaders import services
from tests import live
from tests.conftest import login

GOOD_CODE = """void mainImage(out vec4 fragColor, in vec2 fragCoord) {
    vec2 uv = fragCoord / iResolution.xy;
    vec3 col = 0.5 + 0.5 * cos(iTime + uv.xyx + vec3(0.0, 2.0, 4.0));
    fragColor = vec4(col, 1.0);
}
"""

OTHER_CODE = """void mainImage(out vec4 fragColor, in vec2 fragCoord) {
    vec2 p = (2.0 * fragCoord - iResolution.xy) / iResolution.y;
    fragColor = vec4(vec3(smoothstep(0.5, 0.49, length(p))), 1.0);
}
"""

# Line 3 uses an undeclared identifier.
BAD_CODE = """void mainImage(out vec4 fragColor, in vec2 fragCoord) {
    vec2 uv = fragCoord / iResolution.xy;
    fragColor = vec4(uv, undefinedThing, 1.0);
}
"""


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # These tests make many users; the production hasher's cost buys nothing here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_shader(make_user):
    def factory(owner=None, status="published", title="A shader", tags=("neon",), code=GOOD_CODE, **kwargs):
        owner = owner or make_user(tier=Tier.PRO)
        return services.create_shader(
            owner, title=title, glsl_code=code, tags=list(tags), status=status, **kwargs
        ).shader

    return factory


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(client, user)}")
    client.user = user
    return client


@pytest.fixture
def other_client(make_user):
    return client_for(make_user())


@pytest.fixture(scope="package")
def live_url():
    """config.asgi.application (Django + the /mcp mount) served by uvicorn in a thread, on a free port
    (tests.live). Tests using it need ``django_db(transaction=True)``."""
    with live.serve() as url:
        yield url
