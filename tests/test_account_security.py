"""Issue: a leaked API key must not take over an account; a password change ends every earlier session;
an account can be closed. Each test reproduces what an attacker (or a careless client) tried."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Sum
from rest_framework.test import APIClient

from accounts import keys
from accounts.models import ApiKeyKind, CreditTransaction, Tier
from accounts.scopes import DEFAULT_SCOPES
from pipelines import services as pipeline_services
from runs.models import Run
from runs.services import submit_run
from tests.conftest import PASSWORD, login
from tests.runs.conftest import eager, published_text, text_graph  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

User = get_user_model()


def key_client(raw: str, scheme: str = "Key") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {raw}")
    return client


# --- 1. API keys carry scopes; account changes need an interactive session -----------------------------


@pytest.mark.parametrize("kind", [ApiKeyKind.QUEUE, ApiKeyKind.FRACTAFRAG])
@pytest.mark.parametrize("scheme", ["Key", "Bearer"])
def test_no_api_key_can_change_the_account(pro_user, kind, scheme):
    raw = keys.create_api_key(pro_user, "leaked", kind).raw
    client = key_client(raw, scheme)
    attempts = [
        ("put", "/api/v1/me", {"email": "attacker@example.com", "password": "attacker-pass-123"}),
        ("put", "/api/v1/me", {"username": "pwned"}),
        ("delete", "/api/v1/me", {"password": PASSWORD}),
        ("post", "/api/v1/me/api-keys", {"name": "another", "kind": "queue"}),
        ("get", "/api/v1/me/api-keys", None),
        ("put", "/api/v1/me/ai-keys", {"provider": "openai", "key": "sk-attacker-0000"}),
        ("get", "/api/v1/me/ai-keys", None),
        ("delete", "/api/v1/me/ai-keys?provider=openai", None),
        ("get", "/api/v1/studio/pipelines", None),
    ]
    for method, url, body in attempts:
        resp = getattr(client, method)(url, body, format="json")
        assert resp.status_code == 403, (method, url, resp.content)
        assert "sign in" in resp.json()["detail"]
    pro_user.refresh_from_db()
    assert pro_user.email.endswith("@example.com") and pro_user.check_password(PASSWORD)
    assert pro_user.username != "pwned"
    assert pro_user.api_keys.count() == 1 and not pro_user.provider_keys.exists()


def test_keys_get_the_scopes_of_their_kind_and_can_be_narrowed(pro_client):
    body = pro_client.post("/api/v1/me/api-keys", {"name": "q", "kind": "queue"}, format="json").json()
    assert sorted(body["scopes"]) == sorted(DEFAULT_SCOPES["queue"])
    narrowed = pro_client.post(
        "/api/v1/me/api-keys", {"name": "reader", "kind": "queue", "scopes": ["runs:read"]}, format="json"
    )
    assert narrowed.status_code == 201 and narrowed.json()["scopes"] == ["runs:read"]
    bad = pro_client.post("/api/v1/me/api-keys", {"name": "x", "scopes": ["account:write"]}, format="json")
    assert bad.status_code == 400
    # the reader key reads but cannot submit
    reader = key_client(narrowed.json()["key"])
    assert reader.get("/api/v1/jobs/job_nope").status_code == 404  # authorised to read, nothing there
    resp = reader.post("/api/v1/jobs", {"pipeline": "x", "input": {}}, format="json")
    assert resp.status_code == 403 and "pipelines:run" in resp.json()["error"]["message"]


def test_a_queue_key_cannot_write_shaders_and_a_shader_key_cannot_queue(pro_user, published_text):  # noqa: F811
    fiz = key_client(keys.create_api_key(pro_user, "q", ApiKeyKind.QUEUE).raw)
    resp = fiz.post("/api/v1/shaders", {"title": "t", "glsl_code": "void mainImage(){}"}, format="json")
    assert resp.status_code == 403 and "shaders:write" in resp.json()["detail"]
    ff = key_client(keys.create_api_key(pro_user, "s", ApiKeyKind.FRACTAFRAG).raw)
    pipeline, _ = published_text
    resp = ff.post(
        f"/workflows/{pro_user.username}/{pipeline.slug}", {"inputs": {"command": "x"}}, format="json"
    )
    assert resp.status_code == 403 and "pipelines:run" in resp.json()["error"]
    # and each does what it was made for
    assert ff.get("/api/v1/shaders/mine").status_code == 200
    ok = fiz.post(
        f"/workflows/{pro_user.username}/{pipeline.slug}", {"inputs": {"command": "x"}}, format="json"
    )
    assert ok.status_code in (200, 202), ok.content


def test_email_and_password_changes_need_the_current_password(auth_client):
    user = auth_client.user
    for body in ({"email": "new@example.com"}, {"password": "a-new-password-42"}):
        resp = auth_client.put("/api/v1/me", body, format="json")
        assert resp.status_code == 403 and "current password" in resp.json()["detail"]
        wrong = auth_client.put("/api/v1/me", {**body, "current_password": "guess-guess"}, format="json")
        assert wrong.status_code == 403
    ok = auth_client.put(
        "/api/v1/me", {"email": "new@example.com", "current_password": PASSWORD}, format="json"
    )
    assert ok.status_code == 200 and ok.json()["email"] == "new@example.com"
    # a username change alone needs no password
    assert auth_client.put("/api/v1/me", {"username": "still_me"}, format="json").status_code == 200
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


# --- 2. A password change (or disabling the user) revokes every session --------------------------------


def test_password_change_revokes_every_refresh_and_access_token(user):
    other_device = APIClient()
    old_access = login(other_device, user)
    old_refresh = other_device.cookies["refresh_token"].value

    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {login(me, user)}")
    resp = me.put(
        "/api/v1/me", {"password": "brand-new-secret-77", "current_password": PASSWORD}, format="json"
    )
    assert resp.status_code == 200
    fresh = resp.json()["access_token"]  # the device that changed it stays signed in

    stale = APIClient()
    stale.credentials(HTTP_AUTHORIZATION=f"Bearer {old_access}")
    assert stale.get("/api/v1/me").status_code == 401
    refresh = APIClient().post("/api/v1/auth/refresh", {"refresh_token": old_refresh}, format="json")
    assert refresh.status_code == 401
    now = APIClient()
    now.credentials(HTTP_AUTHORIZATION=f"Bearer {fresh}")
    assert now.get("/api/v1/me").status_code == 200
    assert (
        APIClient()
        .post(
            "/api/v1/auth/login",
            {"username": user.username, "password": "brand-new-secret-77"},
            format="json",
        )
        .status_code
        == 200
    )


def test_disabling_a_user_revokes_its_tokens(user):
    client = APIClient()
    access = login(client, user)
    refresh = client.cookies["refresh_token"].value
    user.is_active = False
    user.save()
    user.is_active = True  # an admin re-enables it: the old refresh token must still be dead
    user.save()
    assert (
        APIClient().post("/api/v1/auth/refresh", {"refresh_token": refresh}, format="json").status_code == 401
    )
    still = APIClient()
    still.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert still.get("/api/v1/me").status_code == 200  # access tokens live out their 15 minutes at most


def test_browser_session_ends_when_the_password_changes(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    assert client.get("/api/v1/me").status_code == 200
    user.set_password("changed-elsewhere-99")
    user.save()
    assert client.get("/api/v1/me").status_code in (401, 403)


# --- 6. Closing an account ----------------------------------------------------------------------------


def _ledger_consistent(user_ids) -> None:
    for user in User.objects.filter(pk__in=user_ids):
        total = CreditTransaction.objects.filter(user=user).aggregate(s=Sum("amount"))["s"] or 0
        assert total == user.credit_balance, user


def test_owner_deletes_the_account_with_the_password(make_user, settings):
    settings.RUNS_EAGER = False
    owner = make_user(tier=Tier.PRO, credits_amount=100)
    consumer = make_user(tier=Tier.PRO, credits_amount=100)
    pipeline = pipeline_services.create_pipeline(owner, "Echo", graph=text_graph())
    session_key = pipeline_services.publish(pipeline).session_key
    pipeline.is_public = True
    pipeline.save()
    raw_key = keys.create_api_key(owner, "k", ApiKeyKind.QUEUE).raw
    email, username = owner.email, owner.username
    own_run = submit_run(
        pipeline=pipeline,
        version=pipeline.latest_version,
        billed_to=owner,
        surface="fizzly",
        inputs={"command": "a"},
        enqueue=False,
    ).run
    their_run = submit_run(
        pipeline=pipeline,
        version=pipeline.latest_version,
        billed_to=consumer,
        surface="fizzly",
        inputs={"command": "b"},
        enqueue=False,
    ).run
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(client, owner)}")
    assert client.delete("/api/v1/me", {"password": "wrong-password"}, format="json").status_code == 403
    assert client.delete("/api/v1/me", {}, format="json").status_code == 400
    resp = client.delete("/api/v1/me", {"password": PASSWORD}, format="json")
    assert resp.status_code == 204

    owner.refresh_from_db()
    assert not owner.is_active and owner.username.startswith("deleted-") and owner.email.endswith(".invalid")
    assert not owner.has_usable_password()
    assert client.get("/api/v1/me").status_code == 401
    assert key_client(raw_key).get("/api/v1/jobs/job_x").status_code == 401
    assert (
        APIClient()
        .post(f"/api/node/api/{session_key}/execute", {"inputs": {"command": "x"}}, format="json")
        .status_code
        == 404
    )
    assert not Run.objects.filter(pk=own_run.pk).exists()
    their_run.refresh_from_db()  # the consumer's record stays, cancelled and refunded
    assert their_run.status == "cancelled"
    consumer.refresh_from_db()
    assert consumer.credit_balance == 100
    _ledger_consistent([owner.pk, consumer.pk])
    # the email and username are free again
    assert (
        APIClient()
        .post(
            "/api/v1/auth/register",
            {"username": username, "email": email, "password": "another-good-pass-1"},
            format="json",
        )
        .status_code
        == 201
    )


def test_admin_can_delete_a_user_despite_the_ledger(admin_client, make_user):
    victim = make_user(credits_amount=25)
    assert CreditTransaction.objects.filter(user=victim).exists()
    page = admin_client.get(f"/admin/accounts/user/{victim.pk}/delete/")
    assert page.status_code == 200 and b"have permission to delete" not in page.content
    resp = admin_client.post(f"/admin/accounts/user/{victim.pk}/delete/", {"post": "yes"})
    assert resp.status_code == 302
    victim.refresh_from_db()
    assert not victim.is_active and victim.username == f"deleted-{victim.pk}"
    _ledger_consistent([victim.pk])
