"""The studio API answers what its OpenAPI document says, operation by operation (the docs cannot drift).

Each call is a real one through the test client; its body is validated with jsonschema against the 2xx
schema drf-spectacular publishes for that operation."""

from __future__ import annotations

import base64
import copy
import io
import re

import pytest
from jsonschema import Draft202012Validator
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import Tier
from tests.conftest import login
from tests.runs.conftest import eager, resize_graph  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def _closed(node):
    """Every object with documented properties closed: a field a view adds to an answer without documenting
    it fails the test too. (Error bodies stay open: each error may add facts of its own, e.g. max_pixels.)"""
    if isinstance(node, dict):
        node = {k: _closed(v) for k, v in node.items()}
        if isinstance(node.get("properties"), dict) and "additionalProperties" not in node:
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_closed(v) for v in node]
    return node


def _nullable(node):
    """OpenAPI 3.0's ``nullable`` as JSON Schema's type union."""
    if isinstance(node, dict):
        node = {k: _nullable(v) for k, v in node.items()}
        if node.pop("nullable", False):
            if "type" in node:
                node["type"] = [node["type"], "null"]
            elif "$ref" in node or "allOf" in node or "oneOf" in node:
                node = {"oneOf": [{k: v for k, v in node.items()}, {"type": "null"}]}
        return node
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


@pytest.fixture(scope="module")
def openapi(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        document = _nullable(APIClient().get("/api/schema?format=json").json())
    return {**document, "closed_components": _closed(document["components"])}


def check(openapi, method: str, path: str, resp) -> None:
    """``resp`` conforms to the documented schema of ``method path`` for its status code."""
    template = next(
        t for t in openapi["paths"] if re.fullmatch(re.sub(r"\{[^}]+\}", r"[^/]+", t), path.split("?")[0])
    )
    responses = openapi["paths"][template][method.lower()]["responses"]
    documented = responses.get(str(resp.status_code))
    assert documented is not None, f"{method} {template} answered an undocumented {resp.status_code}"
    schema = documented.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        assert not resp.content, f"{method} {template} {resp.status_code} has a body the docs don't describe"
        return
    components = openapi["closed_components"] if resp.status_code < 400 else openapi["components"]
    root = {**copy.deepcopy(schema), "components": components}
    errors = sorted(Draft202012Validator(root).iter_errors(resp.json()), key=str)
    assert not errors, f"{method} {template}: {errors[0].message} at {list(errors[0].absolute_path)}"


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(buf, "PNG")
    return buf.getvalue()


def data_uri() -> str:
    return "data:image/png;base64," + base64.b64encode(png()).decode()


def test_every_studio_answer_matches_its_schema(openapi, eager, pro_client):  # noqa: F811
    c = pro_client

    def call(method, path, body=None, fmt="json", status=None):
        resp = getattr(c, method.lower())(path, body, format=fmt)
        assert resp.status_code < 300, (method, path, resp.status_code, resp.content[:300])
        if status:
            assert resp.status_code == status
        check(openapi, method, path, resp)
        return resp.json() if resp.content else None

    call("GET", "/api/v1/studio/node-types")
    created = call(
        "POST", "/api/v1/studio/pipelines", {"name": "Schema check", "graph": resize_graph()}, status=201
    )
    pid = created["id"]
    call("GET", "/api/v1/studio/pipelines")
    call("GET", f"/api/v1/studio/pipelines/{pid}")
    call("PATCH", f"/api/v1/studio/pipelines/{pid}", {"description": "checked"})
    call("PUT", f"/api/v1/studio/pipelines/{pid}", {"name": "Schema check"})
    call("POST", f"/api/v1/studio/pipelines/{pid}/validate", {})
    call(
        "POST",
        f"/api/v1/studio/pipelines/{pid}/validate",
        {"graph": {"nodes": [{"id": "x", "type": "NOPE"}], "edges": []}},
    )
    call(
        "POST",
        f"/api/v1/studio/pipelines/{pid}/publish",
        {"spending_cap": {"credits_per_day": 50}},
        status=201,
    )
    call("POST", f"/api/v1/studio/pipelines/{pid}/publish", {}, status=201)  # no new key the second time
    call("POST", f"/api/v1/studio/pipelines/{pid}/rotate-key")
    call("GET", f"/api/v1/studio/pipelines/{pid}/session-key")
    call("PATCH", f"/api/v1/studio/pipelines/{pid}/session-key", {"spending_cap": {"credits_per_month": 500}})
    call("GET", f"/api/v1/studio/pipelines/{pid}/versions")
    call("GET", f"/api/v1/studio/pipelines/{pid}/versions/1")
    call("POST", f"/api/v1/studio/pipelines/{pid}/versions/1/restore")
    upload = call("POST", "/api/v1/studio/uploads", {"file": io.BytesIO(png())}, fmt="multipart", status=201)
    run = call(
        "POST",
        f"/api/v1/studio/pipelines/{pid}/runs",
        {"inputs": {"image_url": upload["artifact_id"]}},
        status=202,
    )
    call("GET", f"/api/v1/studio/runs/{run['id']}")
    call("GET", f"/api/v1/studio/pipelines/{pid}/runs")
    call("GET", f"/api/v1/studio/pipelines/{pid}/usage")
    call(
        "POST",
        f"/api/v1/studio/pipelines/{pid}/runs",
        {"inputs": {"image_url": data_uri()}, "draft": True},
        status=202,
    )
    copy_ = call("POST", f"/api/v1/studio/pipelines/{pid}/duplicate", status=201)
    call("DELETE", f"/api/v1/studio/pipelines/{copy_['id']}", status=204)


def test_a_cancelled_run_answers_its_schema(openapi, pro_client, settings):
    settings.RUNS_EAGER = False
    c = pro_client
    pid = c.post(
        "/api/v1/studio/pipelines", {"name": "Queued", "graph": resize_graph()}, format="json"
    ).json()["id"]
    c.post(f"/api/v1/studio/pipelines/{pid}/publish", {}, format="json")
    run = c.post(
        f"/api/v1/studio/pipelines/{pid}/runs", {"inputs": {"image_url": data_uri()}}, format="json"
    ).json()
    resp = c.post(f"/api/v1/studio/runs/{run['id']}/cancel")
    assert resp.status_code == 200
    check(openapi, "POST", f"/api/v1/studio/runs/{run['id']}/cancel", resp)
    again = c.post(
        f"/api/v1/studio/runs/{run['id']}/cancel"
    )  # it has ended: 400, with the status it ended in
    assert again.status_code == 400 and again.json()["current_status"] == "cancelled"
    check(openapi, "POST", f"/api/v1/studio/runs/{run['id']}/cancel", again)


def test_studio_errors_are_documented(openapi, pro_client, make_user, queue_key):
    """Each error a studio operation answers is in its documented responses, in the documented shape."""
    c = pro_client

    def refused(method, path, expected, body=None, client=c, fmt="json"):
        resp = getattr(client, method.lower())(path, body, format=fmt)
        assert resp.status_code == expected, (method, path, resp.status_code, resp.content[:300])
        check(openapi, method, path, resp)
        return resp.json()

    refused("GET", "/api/v1/studio/node-types", 401, client=APIClient())
    with_key = APIClient()
    with_key.credentials(HTTP_AUTHORIZATION=f"Key {queue_key}")
    refused("GET", "/api/v1/studio/pipelines", 403, client=with_key)  # no key scope reaches the studio
    refused("POST", "/api/v1/studio/pipelines", 400, {"name": ""})
    empty = c.post("/api/v1/studio/pipelines", {"name": "Empty"}, format="json").json()["id"]
    refused("GET", f"/api/v1/studio/pipelines/{empty + 1000}", 404)
    refused("PATCH", f"/api/v1/studio/pipelines/{empty}", 400, {"graph": "not a graph"})
    refused("POST", f"/api/v1/studio/pipelines/{empty}/rotate-key", 400)  # never published
    body = refused("POST", f"/api/v1/studio/pipelines/{empty}/publish", 422, {})
    assert body["errors"], "an invalid graph names its problems"
    refused(
        "POST", f"/api/v1/studio/pipelines/{empty}/publish", 400, {"spending_cap": {"credits_per_day": -1}}
    )
    refused("GET", f"/api/v1/studio/pipelines/{empty}/versions/1", 404)
    refused("POST", f"/api/v1/studio/pipelines/{empty}/versions/1/restore", 404)
    refused("GET", f"/api/v1/studio/pipelines/{empty}/session-key", 404)
    refused("POST", f"/api/v1/studio/pipelines/{empty}/runs", 400, {"inputs": {}})  # not published
    refused("POST", f"/api/v1/studio/pipelines/{empty}/runs", 422, {"draft": True})  # the draft is invalid
    refused("GET", "/api/v1/studio/runs/run_missing", 404)
    refused("POST", "/api/v1/studio/uploads", 400, {}, fmt="multipart")

    pid = c.post("/api/v1/studio/pipelines", {"name": "Paid", "graph": resize_graph()}, format="json").json()[
        "id"
    ]
    c.post(f"/api/v1/studio/pipelines/{pid}/publish", {}, format="json")
    broke = make_user(tier=Tier.PRO)  # no credits
    poor = APIClient()
    poor.credentials(HTTP_AUTHORIZATION=f"Bearer {login(poor, broke)}")
    own = poor.post("/api/v1/studio/pipelines", {"name": "Mine", "graph": resize_graph()}, format="json")
    mine = own.json()["id"]
    poor.post(f"/api/v1/studio/pipelines/{mine}/publish", {}, format="json")
    refused(
        "POST",
        f"/api/v1/studio/pipelines/{mine}/runs",
        402,
        {"inputs": {"image_url": data_uri()}},
        client=poor,
    )
