"""fractafrag account endpoints: /me, /users, API keys (shown once, hashed, revocable), BYOK keys."""

import hashlib
import re

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts import services
from accounts.models import ApiKey, ProviderKey
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_me_get_and_update(auth_client, make_user):
    other = make_user()
    me = auth_client.get("/api/v1/me").json()
    assert me["username"] == auth_client.user.username and "password" not in me
    resp = auth_client.put("/api/v1/me", {"username": "renamed_artist"}, format="json")
    assert resp.status_code == 200 and resp.json()["username"] == "renamed_artist"
    assert auth_client.put("/api/v1/me", {"username": other.username}, format="json").status_code == 409
    taken = {"email": other.email, "current_password": PASSWORD}
    assert auth_client.put("/api/v1/me", taken, format="json").status_code == 409
    # without the current password nobody learns whether the email is taken
    assert auth_client.put("/api/v1/me", {"email": other.email}, format="json").status_code == 403
    assert auth_client.put("/api/v1/me", {"email": "nope"}, format="json").status_code == 400


def test_register_answers_the_balance_me_shows(api_client, settings):
    settings.SIGNUP_CREDITS = 100
    body = {"username": "newcomer", "email": "newcomer@example.com", "password": "a-good-password-1"}
    resp = api_client.post("/api/v1/auth/register", body, format="json")
    assert resp.status_code == 201 and resp.json()["user"]["credit_balance"] == 100
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {resp.json()['access_token']}")
    assert me.get("/api/v1/me").json()["credit_balance"] == 100


def test_key_list_has_the_seeds_rate_limit_field(pro_client):
    created = pro_client.post("/api/v1/me/api-keys", {"name": "k"}, format="json").json()
    assert created["rate_limit_per_hour"] == created["rate_limit"] > 0
    listed = pro_client.get("/api/v1/me/api-keys").json()[0]
    assert listed["rate_limit"] == created["rate_limit"]


def test_timestamps_are_utc_z_whole_seconds(pro_client):
    created = pro_client.post("/api/v1/me/api-keys", {"name": "k"}, format="json").json()["created_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created), created


def test_public_profile(api_client, user):
    resp = api_client.get(f"/api/v1/users/{user.username}")
    assert resp.status_code == 200
    body = resp.json()
    assert body["username"] == user.username and "email" not in body and "credit_balance" not in body
    missing = api_client.get("/api/v1/users/nobody-here")
    assert missing.status_code == 404 and missing.json() == {"detail": "User not found"}


def test_api_key_creation_requires_pro(auth_client):
    resp = auth_client.post("/api/v1/me/api-keys", {"name": "agent"}, format="json")
    assert resp.status_code == 403 and "detail" in resp.json()


def test_api_key_shown_once_and_only_hash_stored(pro_client):
    resp = pro_client.post("/api/v1/me/api-keys", {"name": "My Claude Agent"}, format="json")
    assert resp.status_code == 201
    body = resp.json()
    raw = body["key"]
    assert raw.startswith("ff_key_") and body["prefix"] and raw.startswith(body["prefix"])
    assert set(body) >= {"id", "key", "prefix", "name", "trust_tier", "rate_limit_per_hour"}
    listing = pro_client.get("/api/v1/me/api-keys").json()
    assert [k["id"] for k in listing] == [body["id"]]
    assert "key" not in listing[0] and "key_hash" not in listing[0]
    with connection.cursor() as cur:
        cur.execute("SELECT * FROM accounts_apikey")
        rows = cur.fetchall()
    flat = " ".join(str(v) for row in rows for v in row)
    assert raw not in flat
    assert hashlib.sha256(raw.encode()).hexdigest() in flat


def test_queue_key_kind_has_fiz_prefix(pro_client):
    resp = pro_client.post("/api/v1/me/api-keys", {"name": "queue", "kind": "queue"}, format="json")
    assert resp.status_code == 201 and resp.json()["key"].startswith("fiz_")


def test_api_key_authenticates_and_revoked_key_is_refused(pro_client):
    raw = pro_client.post("/api/v1/me/api-keys", {"name": "k"}, format="json").json()["key"]
    key_id = ApiKey.objects.get().id
    for header in (f"Bearer {raw}", f"Key {raw}"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        assert client.get("/api/v1/shaders/mine").status_code == 200, header
    assert pro_client.delete(f"/api/v1/me/api-keys/{key_id}").status_code == 204
    assert ApiKey.objects.get().revoked_at is not None  # soft delete
    assert pro_client.get("/api/v1/me/api-keys").json() == []
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    resp = client.get("/api/v1/shaders/mine")
    assert resp.status_code == 401 and "detail" in resp.json()
    assert pro_client.delete(f"/api/v1/me/api-keys/{key_id}").status_code == 404


def test_cannot_revoke_someone_elses_key(pro_client, make_user):
    other = make_user(tier="pro")
    from accounts.keys import create_api_key

    key = create_api_key(other, "theirs").api_key
    assert pro_client.delete(f"/api/v1/me/api-keys/{key.id}").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_byok_never_returned_and_encrypted_at_rest(pro_client, auth_client):
    secret = "sk-ant-api03-very-secret-value"
    resp = pro_client.put("/api/v1/me/ai-keys", {"provider": "anthropic", "key": secret}, format="json")
    assert resp.status_code == 200 and secret not in resp.content.decode()
    listing = pro_client.get("/api/v1/me/ai-keys")
    assert listing.status_code == 200 and [k["provider"] for k in listing.json()] == ["anthropic"]
    assert secret not in listing.content.decode()
    with connection.cursor() as cur:
        cur.execute("SELECT encrypted_key FROM accounts_providerkey")
        raw_value = bytes(cur.fetchone()[0])
    assert secret.encode() not in raw_value
    assert services.read_provider_key(pro_client.user, "anthropic") == secret
    # free tier refused
    assert (
        auth_client.put(
            "/api/v1/me/ai-keys", {"provider": "openai", "key": secret}, format="json"
        ).status_code
        == 403
    )
    # only storing is Pro-only (seed): a free account lists what it has (nothing)
    listed = auth_client.get("/api/v1/me/ai-keys")
    assert listed.status_code == 200 and listed.json() == []
    # bad input
    assert (
        pro_client.put(
            "/api/v1/me/ai-keys", {"provider": "Bad Name!", "key": secret}, format="json"
        ).status_code
        == 400
    )
    assert ProviderKey.objects.count() == 1
