"""Shared fixtures: users, clients, tokens. Real database, real HTTP through Django's test client."""

from __future__ import annotations

import itertools

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts import credits, keys
from accounts.models import ApiKeyKind, Tier, User

_seq = itertools.count(1)
PASSWORD = "correct-horse-battery-9"


@pytest.fixture(autouse=True)
def _clear_cache(settings):
    settings.REFRESH_COOKIE_SECURE = False
    cache.clear()
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter("rl:*"):
            client.delete(key)
    yield


@pytest.fixture
def make_user(db):
    def factory(tier: str = Tier.FREE, credits_amount: int = 0, fluxara_beta: bool = True, **kwargs) -> User:
        """``fluxara_beta``: approved for Fluxara's closed beta (runs.beta), as every account made before the
        gate was; pass False for an account an admin has not approved yet."""
        n = next(_seq)
        user = User.objects.create_user(
            kwargs.pop("username", f"user{n}"),
            kwargs.pop("email", f"user{n}@example.com"),
            PASSWORD,
            tier=tier,
            **kwargs,
        )
        if credits_amount:
            credits.grant(user, credits_amount, note="test")
            user.refresh_from_db()
        if fluxara_beta:
            from runs.beta import approve

            approve(user)
        return user

    return factory


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def pro_user(make_user):
    return make_user(tier=Tier.PRO, credits_amount=500)


@pytest.fixture
def api_client():
    return APIClient()


def login(client: APIClient, user: User) -> str:
    resp = client.post("/api/v1/auth/login", {"username": user.username, "password": PASSWORD}, format="json")
    assert resp.status_code == 200, resp.content
    return resp.json()["access_token"]


@pytest.fixture
def auth_client(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(client, user)}")
    client.user = user
    return client


@pytest.fixture
def pro_client(pro_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(client, pro_user)}")
    client.user = pro_user
    return client


@pytest.fixture
def queue_key(pro_user):
    """A fiz_ key of a Pro user (raw string)."""
    return keys.create_api_key(pro_user, "queue", ApiKeyKind.QUEUE).raw
