"""AI generation (M5) and payments (M4) answer 501 as the seed says; generation credits are real."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

STUBS = [
    ("post", "/api/v1/generate"),
    ("get", "/api/v1/generate/status/job-123"),
    ("post", "/api/v1/payments/checkout"),
    ("post", "/api/v1/payments/webhook"),
    ("get", "/api/v1/payments/portal"),
    ("post", "/api/v1/payments/credits"),
    ("post", "/api/v1/payments/connect/onboard"),
]


@pytest.mark.parametrize("method, path", STUBS)
def test_stubs_answer_501_with_detail(method, path, api_client, pro_client):
    for client in (api_client, pro_client):
        resp = getattr(client, method)(path, {"prompt": "x"} if method == "post" else None, format="json")
        assert resp.status_code == 501, path
        assert "not implemented" in resp.json()["detail"].lower()


def test_credits_are_the_callers_real_balance(pro_client, auth_client, api_client):
    resp = pro_client.get("/api/v1/generate/credits")
    assert resp.status_code == 200
    assert resp.json() == {"credits_remaining": 500, "tier": "pro"}
    assert (
        auth_client.get("/api/v1/generate/credits").json()["credits_remaining"]
        == auth_client.user.credit_balance
    )
    assert api_client.get("/api/v1/generate/credits").status_code == 401
