"""fractafrag auth (seed 004): register, login, refresh rotation, logout, and their errors."""

import pytest
from django.db import connection

from accounts.models import CreditTransaction, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def register(client, **overrides):
    body = {"username": "artist42", "email": "artist@example.com", "password": "securePassword123"}
    body.update(overrides)
    return client.post("/api/v1/auth/register", body, format="json")


def test_register_returns_access_token_and_sets_httponly_refresh_cookie(api_client, settings):
    resp = register(api_client)
    assert resp.status_code == 201
    body = resp.json()
    assert body["token_type"] == "bearer" and body["access_token"]
    assert body["user"]["username"] == "artist42"
    cookie = resp.cookies[settings.REFRESH_COOKIE_NAME]
    assert cookie["httponly"] and int(cookie["max-age"]) == 30 * 24 * 3600
    user = User.objects.get(username="artist42")
    assert user.check_password("securePassword123")
    assert user.credit_balance == settings.SIGNUP_CREDITS
    assert CreditTransaction.objects.filter(user=user, kind="grant").count() == 1


def test_register_conflicts_are_409(api_client):
    assert register(api_client).status_code == 201
    dup_name = register(api_client, email="other@example.com")
    assert dup_name.status_code == 409 and "detail" in dup_name.json()
    dup_email = register(api_client, username="someoneelse", email="ARTIST@example.com")
    assert dup_email.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "a", "email": "x@example.com", "password": "securePassword123"},
        {"username": "valid_name", "email": "not-an-email", "password": "securePassword123"},
        {"username": "valid_name", "email": "x@example.com", "password": "short"},
        {"username": ["list"], "email": "x@example.com", "password": "securePassword123"},
        {"username": "valid_name", "email": "x@example.com", "password": "password123"},  # too common
    ],
)
def test_register_bad_input_is_400_with_detail(api_client, body):
    resp = api_client.post("/api/v1/auth/register", body, format="json")
    assert resp.status_code == 400
    assert isinstance(resp.json()["detail"], str)


def test_malformed_json_is_400(api_client):
    resp = api_client.generic("POST", "/api/v1/auth/register", "{not json", content_type="application/json")
    assert resp.status_code == 400 and "detail" in resp.json()
    resp = api_client.generic("POST", "/api/v1/auth/login", "[1,2]", content_type="application/json")
    assert resp.status_code == 400 and "detail" in resp.json()


def test_oversize_body_is_413_in_shape(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    resp = api_client.generic(
        "POST", "/api/v1/auth/login", '{"username": "' + "x" * 5000 + '"}', content_type="application/json"
    )
    assert resp.status_code == 413 and "detail" in resp.json()


def test_turnstile_verified_when_secret_set(api_client, settings, monkeypatch):
    settings.TURNSTILE_SECRET = "s3cret"
    calls = []

    class FakeResp:
        ok = True

        def __init__(self, success):
            self._success = success

        def json(self):
            return {"success": self._success}

    def fake_post(url, data, timeout):
        calls.append(data)
        return FakeResp(data["response"] == "good-token")

    monkeypatch.setattr("accounts.services.requests.post", fake_post)
    assert register(api_client).status_code == 400  # no token
    assert register(api_client, turnstile_token="bad").status_code == 400
    assert register(api_client, turnstile_token="good-token").status_code == 201
    assert calls[-1]["secret"] == "s3cret"


def test_login_by_username_or_email(api_client, user):
    for login in (user.username, user.email, user.email.upper()):
        resp = api_client.post("/api/v1/auth/login", {"username": login, "password": PASSWORD}, format="json")
        assert resp.status_code == 200, login
        assert resp.json()["user"]["id"] == user.id


def test_login_wrong_password_or_unknown_user_is_401(api_client, user):
    resp = api_client.post(
        "/api/v1/auth/login", {"username": user.username, "password": "nope-nope"}, format="json"
    )
    assert resp.status_code == 401 and resp.json()["detail"]
    resp = api_client.post(
        "/api/v1/auth/login", {"username": "ghost", "password": "whatever1"}, format="json"
    )
    assert resp.status_code == 401


def test_refresh_rotates_and_old_token_is_refused(api_client, user, settings):
    resp = api_client.post(
        "/api/v1/auth/login", {"username": user.username, "password": PASSWORD}, format="json"
    )
    first = resp.cookies[settings.REFRESH_COOKIE_NAME].value
    resp = api_client.post("/api/v1/auth/refresh")
    assert resp.status_code == 200 and resp.json()["access_token"]
    second = resp.cookies[settings.REFRESH_COOKIE_NAME].value
    assert second != first
    # the old one is blocklisted
    api_client.cookies[settings.REFRESH_COOKIE_NAME] = first
    resp = api_client.post("/api/v1/auth/refresh")
    assert resp.status_code == 401 and "detail" in resp.json()
    # the new one works
    api_client.cookies[settings.REFRESH_COOKIE_NAME] = second
    assert api_client.post("/api/v1/auth/refresh").status_code == 200


def test_refresh_without_cookie_is_401(api_client):
    assert api_client.post("/api/v1/auth/refresh").status_code == 401


def test_logout_blocklists_refresh(api_client, user, settings):
    api_client.post("/api/v1/auth/login", {"username": user.username, "password": PASSWORD}, format="json")
    token = api_client.cookies[settings.REFRESH_COOKIE_NAME].value
    assert api_client.post("/api/v1/auth/logout").status_code == 200
    api_client.cookies[settings.REFRESH_COOKIE_NAME] = token
    assert api_client.post("/api/v1/auth/refresh").status_code == 401


def test_access_token_authenticates_and_garbage_is_401(api_client, auth_client):
    assert auth_client.get("/api/v1/me").status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
    resp = api_client.get("/api/v1/me")
    assert resp.status_code == 401 and "detail" in resp.json()
    assert APIClientNoAuth().get("/api/v1/me").status_code == 401


def APIClientNoAuth():
    from rest_framework.test import APIClient

    return APIClient()


def test_access_token_lifetime_is_15_minutes(settings):
    assert settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds() == 15 * 60


def test_passwords_are_hashed(user):
    with connection.cursor() as cur:
        cur.execute("SELECT password FROM accounts_user WHERE id = %s", [user.id])
        stored = cur.fetchone()[0]
    assert PASSWORD not in stored and stored.startswith(("pbkdf2_", "argon2", "bcrypt", "scrypt"))
