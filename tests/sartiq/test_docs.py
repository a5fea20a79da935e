"""Sartiq's operations in the OpenAPI document: at the seed's paths, with request and response schemas in
OpenAPI 3.0 terms (the document's own dialect), FastAPI's error bodies, the seed's query parameters."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("/api/v1/tasks/", "get"): "TaskList",
    ("/api/v1/tasks/", "post"): "TaskResponse",
    ("/api/v1/tasks/{task_id}", "get"): "TaskResponse",
    ("/api/v1/tasks/{task_id}", "put"): "TaskResponse",
    ("/api/v1/tasks/{task_id}", "delete"): "TaskResponse",
    ("/api/v1/tasks/{task_id}/cleanup", "post"): "TaskResponse",
    ("/api/v1/tasks/{task_id}/cancel", "post"): "TaskResponse",
    ("/api/v1/tasks/generation", "get"): "GenerationTaskList",
    ("/api/v1/tasks/generation/{task_id}", "get"): "GenerationTaskPublic",
    ("/api/v1/tasks/generation/{task_id}", "put"): "GenerationTaskPublic",
    ("/api/v1/tasks/generation/{task_id}/cancel", "post"): "GenerationTaskPublic",
}


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        return APIClient().get("/api/schema?format=json").json()


def test_every_task_operation_is_documented_once_with_its_shapes(schema):
    paths = [p for p in schema["paths"] if p.startswith("/api/v1/tasks")]
    assert sorted(paths) == sorted({p for p, _ in OPERATIONS})
    for (path, method), response in OPERATIONS.items():
        op = schema["paths"][path][method]
        assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{response}"
        }
        assert op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/HTTPError")
        assert {"bearer": []} in op["security"]
    create = schema["paths"]["/api/v1/tasks/"]["post"]
    assert list(create["requestBody"]["content"]) == ["application/json"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/TaskData")
    assert create["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/HTTPValidationError"
    )
    assert "501" in create["responses"]


def test_the_task_bodies_are_in_openapi_30_terms(schema):
    components = schema["components"]["schemas"]
    assert len(components["TaskData"]["anyOf"]) == 11 and len(components["TaskResponse"]["anyOf"]) == 11
    text = json.dumps({k: v for k, v in components.items() if "Task" in k})
    assert '"type": "null"' not in text and '"const"' not in text
    adjuster = components["CreateImageAdjusterTask"]
    assert set(adjuster["required"]) == {"origin_instance", "input_image", "mode"}
    mode = adjuster["properties"]["mode"]
    mode = components[mode["allOf"][0]["$ref"].rsplit("/", 1)[1]] if "allOf" in mode else mode
    assert mode["enum"] == ["auto", "crop", "pad", "scale"]
    assert adjuster["properties"]["tolerance"]["default"] == 0.0
    assert components["GenerationTaskPublic"]["properties"]["fal_app_id"]["nullable"] is True
    assert {"fal_app_id", "fal_request_id", "id", "status"} <= set(
        components["GenerationTaskPublic"]["required"]
    )
    assert components["TaskStatus"]["enum"] == ["PENDING", "EXECUTING", "COMPLETED", "FAILED", "CANCELLED"]


def test_list_query_parameters_are_the_seeds(schema):
    params = {p["name"]: p for p in schema["paths"]["/api/v1/tasks/"]["get"]["parameters"]}
    assert set(params) == {
        "limit",
        "skip",
        "status",
        "task_type",
        "origin_instance",
        "origin_zone",
        "origin_tenant_id",
    }
    assert params["limit"]["schema"]["default"] == 100 and params["skip"]["schema"]["default"] == 0
    generation = {p["name"] for p in schema["paths"]["/api/v1/tasks/generation"]["get"]["parameters"]}
    assert "task_type" not in generation and "workflow_id" in generation
