"""Bad input on every JSON surface: a clear 4xx in the surface's own shape, never a 500."""

import pytest
from rest_framework.test import APIClient

from accounts import keys
from accounts.models import ApiKeyKind
from tests.conftest import login

pytestmark = pytest.mark.django_db

JUNK = [
    ("json", "{not json"),
    ("json", "[]"),
    ("json", "null"),
    ("json", '"string"'),
    ("json", "12"),
    ("json", '{"inputs": null, "input": [], "pipeline": {}, "name": 5, "graph": "x", "options": 3}'),
    ("json", '{"inputs": {"image_url": {"nested": true}}, "async": 1, "_jobId": 42, "callbackUrl": []}'),
    ("json", '{"name": "' + "x" * 5000 + '"}'),
    ("text", "plain text body"),
    ("json", '{"a": "\\ud800"}'),
    # nested past the interpreter's recursion limit (was a RecursionError, 500) and past our depth limit
    ("json", "[" * 100_000 + "]" * 100_000),
    ("json", "{" + '"a": {' * 70 + "}" * 70 + "}"),
    ("json", '{"inputs": ' + '{"a": ' * 80 + "1" + "}" * 80 + "}"),
]


def shape_ok(path: str, body) -> bool:
    if path.startswith("/api/node/"):
        return body.get("success") is False and "code" in body and "error" in body
    if path.startswith("/workflows/"):
        return {"error", "code", "details"} <= set(body)
    if path in ("/api/v1/jobs", "/api/v1/status", "/api/v1/pipelines"):
        err = body.get("error")
        return isinstance(err, dict) and {"code", "message"} <= set(err) or err == "access_denied"
    return "detail" in body


@pytest.fixture
def targets(pro_user, published):
    pipeline, key = published
    fiz = keys.create_api_key(pro_user, "q", ApiKeyKind.QUEUE).raw
    ff = keys.create_api_key(pro_user, "s", ApiKeyKind.FRACTAFRAG).raw
    jwt = login(APIClient(), pro_user)  # account and studio routes take no API key
    return [
        ("POST", f"/api/node/api/{key}/execute", None),
        ("POST", f"/workflows/{pipeline.owner.username}/{pipeline.slug}", f"Key {fiz}"),
        ("POST", "/api/v1/jobs", f"Bearer {fiz}"),
        ("POST", "/api/v1/auth/register", None),
        ("POST", "/api/v1/auth/login", None),
        ("PUT", "/api/v1/me", f"Bearer {jwt}"),
        ("POST", "/api/v1/me/api-keys", f"Bearer {jwt}"),
        ("PUT", "/api/v1/me/ai-keys", f"Bearer {jwt}"),
        ("POST", "/api/v1/shaders", f"Bearer {ff}"),
        ("POST", "/api/v1/studio/pipelines", f"Bearer {jwt}"),
        ("PATCH", f"/api/v1/studio/pipelines/{pipeline.pk}", f"Bearer {jwt}"),
        ("POST", f"/api/v1/studio/pipelines/{pipeline.pk}/runs", f"Bearer {jwt}"),
        ("POST", f"/api/v1/studio/pipelines/{pipeline.pk}/validate", f"Bearer {jwt}"),
    ]


def test_junk_never_500(targets, eager):
    for method, path, auth in targets:
        for kind, raw in JUNK:
            client = APIClient()
            if auth:
                client.credentials(HTTP_AUTHORIZATION=auth)
            content_type = "application/json" if kind == "json" else "text/plain"
            resp = client.generic(method, path, raw, content_type=content_type)
            assert 400 <= resp.status_code < 500 or resp.status_code in (200, 201, 202), (
                method,
                path,
                raw,
                resp.status_code,
            )
            if resp.status_code >= 400:
                assert shape_ok(path, resp.json()), (path, raw, resp.content[:300])


def test_wrong_methods_are_405_in_shape(targets):
    for method, path, auth in targets:
        client = APIClient()
        if auth:
            client.credentials(HTTP_AUTHORIZATION=auth)
        resp = client.delete(path) if method != "DELETE" else client.put(path)
        if resp.status_code == 405:
            assert shape_ok(path, resp.json()), path
        else:
            assert resp.status_code < 500, path
