"""Fixtures for the Sartiq Compute surface: signed-in clients with credits, images, eager runs."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image, ImageDraw
from rest_framework.test import APIClient

from accounts.models import Tier
from tests.conftest import login


def png(size=(120, 60), color=(200, 210, 220), subject=True) -> bytes:
    image = Image.new("RGB", size, color)
    if subject:
        w, h = size
        ImageDraw.Draw(image).rectangle((w // 3, h // 4, 2 * w // 3, h - 1), fill=(30, 40, 50))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(client, user)}")
    client.user = user
    return client


@pytest.fixture
def eager(settings):
    settings.RUNS_EAGER = True
    settings.FETCH_ALLOW_LOOPBACK = True
    return settings


@pytest.fixture
def sartiq(make_user, eager):
    """A signed-in client of a user with credits."""
    return client_for(make_user(tier=Tier.PRO, credits_amount=200))


@pytest.fixture
def other(make_user, eager):
    return client_for(make_user(tier=Tier.PRO, credits_amount=200))


def adjuster(**overrides) -> dict:
    body = {
        "task_type": "IMAGE_ADJUSTER",
        "origin_instance": "tests",
        "input_image": data_url(png()),
        "mode": "crop",
        "aspect_ratio": 1.0,
    }
    body.update(overrides)
    return body


def background_fix(**overrides) -> dict:
    body = {
        "task_type": "BACKGROUND_FIX",
        "origin_instance": "tests",
        "base_image": data_url(png()),
        "palette_image": data_url(png((20, 20), (240, 200, 180), subject=False)),
    }
    body.update(overrides)
    return body
