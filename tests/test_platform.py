"""Health, schema/docs pages, rate limiting headers and 429, admin pages."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.keys import create_api_key
from accounts.models import ApiKey, CreditTransaction, User

pytestmark = pytest.mark.django_db


def test_health(api_client):
    resp = api_client.get("/health")
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}


def test_schema_and_docs_served_without_cdn(api_client):
    assert api_client.get("/api/schema").status_code == 200
    for url in ("/api/docs", "/api/redoc"):
        resp = api_client.get(url)
        assert resp.status_code == 200
        assert b"cdn.jsdelivr" not in resp.content and b"unpkg.com" not in resp.content


def test_unknown_api_path_is_json_404(api_client):
    resp = api_client.get("/api/v1/no-such-thing")
    assert resp.status_code == 404 and resp.json() == {"detail": "Not found"}


def test_rate_limit_headers_and_429(pro_user):
    key = create_api_key(pro_user, "tiny", rate_limit_per_hour=3)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw}")
    remaining = []
    for _ in range(3):
        resp = client.get("/api/v1/shaders/mine")
        assert resp.status_code == 200
        assert resp["X-RateLimit-Limit"] == "3"
        assert int(resp["X-RateLimit-Reset"]) > 0
        remaining.append(int(resp["X-RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    resp = client.get("/api/v1/shaders/mine")
    assert resp.status_code == 429
    assert "detail" in resp.json()
    assert 0 < int(resp["Retry-After"]) <= 3600
    assert resp["X-RateLimit-Remaining"] == "0"
    # another key of the same user has its own window
    other = create_api_key(pro_user, "other")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {other.raw}")
    assert client.get("/api/v1/shaders/mine").status_code == 200


def test_sliding_window_frees_slots_as_time_passes(monkeypatch):
    from accounts import ratelimit

    now = [1000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    lim = ratelimit.limiter
    ident = "test:sliding"
    lim.reset(ident, 60)
    assert lim.hit(ident, 2, 60).allowed
    now[0] += 30
    assert lim.hit(ident, 2, 60).allowed
    denied = lim.hit(ident, 2, 60)
    assert not denied.allowed and denied.retry_after == 30
    now[0] += 31  # the first hit slid out of the window
    assert lim.hit(ident, 2, 60).allowed
    assert not lim.hit(ident, 2, 60).allowed


@pytest.fixture
def admin_client(client, make_user):
    admin = make_user(is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


def test_admin_pages_load(admin_client, pro_user):
    create_api_key(pro_user, "k")
    for model in ("user", "apikey", "providerkey", "credittransaction"):
        assert admin_client.get(reverse(f"admin:accounts_{model}_changelist")).status_code == 200, model
    assert admin_client.get(reverse("admin:accounts_credittransaction_add")).status_code == 200
    assert admin_client.get(reverse("admin:accounts_user_change", args=[pro_user.pk])).status_code == 200


def test_admin_revokes_keys_and_grants_credits(admin_client, pro_user):
    key = create_api_key(pro_user, "k").api_key
    resp = admin_client.post(
        reverse("admin:accounts_apikey_changelist"), {"action": "revoke", "_selected_action": [key.pk]}
    )
    assert resp.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    before = pro_user.credit_balance
    resp = admin_client.post(
        reverse("admin:accounts_credittransaction_add"),
        {"user": pro_user.pk, "amount": 25, "note": "goodwill"},
    )
    assert resp.status_code == 302, resp.content[:500]
    pro_user.refresh_from_db()
    assert pro_user.credit_balance == before + 25
    assert CreditTransaction.objects.filter(user=pro_user, kind="grant", amount=25).exists()
    assert ApiKey.objects.count() == 1 and User.objects.count() == 2
