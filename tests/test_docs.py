"""The API documentation a newcomer reads: every operation described in product words (no internal
docstring), with its error shape and rate-limit headers; /mcp documented; Swagger UI and ReDoc served from
our own files; the small seed gaps that are not one surface's."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

INTERNAL_PHRASES = ("Adds the X-RateLimit", "Base of the fractafrag", "Base of the", "noqa", "subclasses")


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        resp = APIClient().get("/api/schema?format=json")
    assert resp.status_code == 200
    return resp.json()


def operations(schema):
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, op


def test_every_operation_has_a_description_and_none_leaks_a_docstring(schema):
    for path, method, op in operations(schema):
        text = op.get("description", "")
        assert text.strip(), f"{method.upper()} {path} has no description"
        assert not any(p in text for p in INTERNAL_PHRASES), f"{method.upper()} {path}: {text[:120]}"


def test_every_operation_documents_an_error_and_its_rate_limit_headers(schema):
    for path, method, op in operations(schema):
        if path == "/health":
            continue
        errors = [code for code in op["responses"] if code.startswith(("4", "5"))]
        assert errors, f"{method.upper()} {path} documents no error response"
        ok = next((r for code, r in op["responses"].items() if code.startswith("2")), None)
        if ok is not None and path.startswith(("/workflows/", "/api/node/", "/api/v1/jobs", "/api/v1/me")):
            assert "X-RateLimit-Limit" in ok.get("headers", {}), f"{method.upper()} {path}"


def test_no_paid_surface_answers_a_free_form_object(schema):
    """A client generator needs real shapes: no 2xx JSON body of FractalQ, Fluxara, Fizzly or the studio is
    an untyped object."""
    untyped = {"type": "object", "additionalProperties": {}}
    for path, method, op in operations(schema):
        if not path.startswith(
            (
                "/workflows/",
                "/api/node/",
                "/api/v1/jobs",
                "/api/v1/studio",
                "/api/v1/pipelines",
                "/api/v1/status",
            )
        ):
            continue
        for code, response in op["responses"].items():
            body = response.get("content", {}).get("application/json", {}).get("schema")
            assert body != untyped, f"{method.upper()} {path} {code} is a free-form object"


def test_mcp_is_documented(schema):
    op = schema["paths"]["/mcp"]["post"]
    assert "tools/call" in str(op["requestBody"]) and "ff_key_" in op["description"]


def test_swagger_ui_and_redoc_are_served_by_us(client):
    for page in ("/api/docs", "/api/redoc"):
        html = client.get(page).content.decode()
        external = [
            u for u in re.findall(r'(?:src|href)="([^"]+)"', html) if u.startswith(("http:", "https:", "//"))
        ]
        assert not external, (page, external)
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
            resp = client.get(asset)
            assert resp.status_code == 200, asset
            b"".join(resp.streaming_content) if hasattr(resp, "streaming_content") else resp.content


def test_daphne_sends_a_reason_phrase_for_every_status():
    import config.asgi  # noqa: F401  (registers the phrases)
    from twisted.web import http

    from http import HTTPStatus

    for status in (422, 429, 451):
        assert http.RESPONSES[status] == HTTPStatus(status).phrase.encode()


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/api/node/api/fq_nope/execute/extra", lambda b: b["success"] is False and b["code"] == "NOT_FOUND"),
        ("/api/node/anything", lambda b: b["success"] is False and b["code"] == "NOT_FOUND"),
        ("/workflows/a/b/c/d/e/f/g", lambda b: {"error", "code", "details"} <= set(b)),
        ("/api/v1/studio/nothing-here", lambda b: set(b) == {"detail"}),
        ("/api/v1/jobs/job_x/outputs/extra", lambda b: b["error"] == "access_denied" and "message" in b),
    ],
)
def test_unmatched_routes_answer_in_their_surfaces_shape(path, shape):
    resp = APIClient().get(path)
    assert resp.status_code in (401, 404), (path, resp.status_code)
    assert shape(resp.json()), (path, resp.json())


def test_fluxara_unmatched_route_signed_in_is_its_404(auth_client):
    resp = auth_client.get("/api/v1/jobs/job_x/outputs/extra")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    assert "X-RateLimit-Limit" in resp
