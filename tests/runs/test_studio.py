"""The studio API: node types, pipeline CRUD, validation errors naming node and port, publish, versions."""

import pytest
from rest_framework.test import APIClient

from pipelines.models import Pipeline, SessionKey
from tests.runs.conftest import resize_graph

pytestmark = pytest.mark.django_db


def test_node_types_registry_has_full_schemas(auth_client):
    resp = auth_client.get("/api/v1/studio/node-types")
    assert resp.status_code == 200
    types = {t["type"]: t for t in resp.json()["node_types"]}
    for name in (
        "INPUT__IMAGE",
        "INPUT__TEXT",
        "OUTPUT__",
        "IMAGE__RESIZE",
        "IMAGE__CROP",
        "IMAGE__ROTATE",
        "IMAGE__GRAYSCALE",
        "IMAGE__CONVERT",
    ):
        assert name in types
    resize = types["IMAGE__RESIZE"]
    assert resize["params_schema"]["properties"]["width"]["default"] == 512
    assert resize["inputs"][0] == {
        "name": "image",
        "type": "image",
        "description": "Image to process",
        "required": True,
    }
    assert resize["resource_class"] in ("cpu", "gpu") and resize["credit_cost"] == 1
    assert types["OUTPUT__"]["dynamic_inputs"] is True


def test_crud_and_owner_only(auth_client, make_user):
    resp = auth_client.post("/api/v1/studio/pipelines", {"name": "My Flow"}, format="json")
    assert resp.status_code == 201
    pid = resp.json()["id"]
    assert resp.json()["slug"] == "my-flow"
    second = auth_client.post("/api/v1/studio/pipelines", {"name": "My Flow"}, format="json").json()
    assert second["slug"] == "my-flow-2"
    resp = auth_client.patch(
        f"/api/v1/studio/pipelines/{pid}", {"name": "Renamed", "graph": resize_graph()}, format="json"
    )
    assert resp.status_code == 200 and resp.json()["name"] == "Renamed"
    listing = auth_client.get("/api/v1/studio/pipelines").json()
    assert {p["id"] for p in listing} == {pid, second["id"]}
    dup = auth_client.post(f"/api/v1/studio/pipelines/{pid}/duplicate")
    assert dup.status_code == 201 and dup.json()["graph"] == resize_graph()
    # someone else sees nothing
    other = APIClient()
    from tests.conftest import login

    other.credentials(HTTP_AUTHORIZATION=f"Bearer {login(other, make_user())}")
    assert other.get(f"/api/v1/studio/pipelines/{pid}").status_code == 404
    assert other.patch(f"/api/v1/studio/pipelines/{pid}", {"name": "x"}, format="json").status_code == 404
    assert other.delete(f"/api/v1/studio/pipelines/{pid}").status_code == 404
    assert other.get("/api/v1/studio/pipelines").json() == []
    assert auth_client.delete(f"/api/v1/studio/pipelines/{pid}").status_code == 204
    assert not Pipeline.objects.filter(pk=pid).exists()


def test_bad_pipeline_input_is_400(auth_client):
    assert auth_client.post("/api/v1/studio/pipelines", {}, format="json").status_code == 400
    assert (
        auth_client.post("/api/v1/studio/pipelines", {"name": "x", "graph": [1]}, format="json").status_code
        == 400
    )
    assert auth_client.post("/api/v1/studio/pipelines", [1, 2], format="json").status_code == 400
    assert auth_client.get("/api/v1/studio/pipelines/999999").status_code == 404
    assert APIClient().get("/api/v1/studio/pipelines").status_code == 401


def errors_of(client, pid, graph):
    client.patch(f"/api/v1/studio/pipelines/{pid}", {"graph": graph}, format="json")
    body = client.post(f"/api/v1/studio/pipelines/{pid}/validate").json()
    return {(e["node"], e["port"], e["code"]) for e in body["errors"]}


def test_validation_names_node_and_port(auth_client):
    pid = auth_client.post("/api/v1/studio/pipelines", {"name": "v"}, format="json").json()["id"]
    good = resize_graph()
    assert errors_of(auth_client, pid, good) == set()

    g = resize_graph()
    g["nodes"][1]["type"] = "IMAGE__NOPE"
    assert ("resize", None, "UNKNOWN_NODE_TYPE") in errors_of(auth_client, pid, g)

    g = resize_graph()
    g["nodes"][1]["params"]["width"] = "wide"
    assert ("resize", "width", "INVALID_PARAM") in errors_of(auth_client, pid, g)

    g = resize_graph()
    g["edges"][0]["to"]["port"] = "picture"
    errs = errors_of(auth_client, pid, g)
    assert ("resize", "picture", "UNKNOWN_PORT") in errs and ("resize", "image", "MISSING_CONNECTION") in errs

    g = resize_graph()
    g["nodes"].append({"id": "txt", "type": "INPUT__TEXT", "params": {"name": "prompt"}})
    g["edges"][1] = {
        "id": "bad",
        "from": {"node": "txt", "port": "text"},
        "to": {"node": "gray", "port": "image"},
    }
    assert ("gray", "image", "INCOMPATIBLE_PORTS") in errors_of(auth_client, pid, g)

    g = resize_graph()
    g["edges"].append(
        {"id": "loop", "from": {"node": "gray", "port": "image"}, "to": {"node": "resize", "port": "image"}}
    )
    errs = errors_of(auth_client, pid, g)
    assert (None, None, "CYCLE") in errs or ("resize", "image", "DUPLICATE_INPUT") in errs

    g = resize_graph()
    g["nodes"] = [n for n in g["nodes"] if n["id"] != "out"]
    g["edges"] = g["edges"][:2]
    assert (None, None, "MISSING_OUTPUT") in errors_of(auth_client, pid, g)

    g = resize_graph()
    g["nodes"].append({"id": "in2", "type": "INPUT__IMAGE", "params": {"name": "image_url"}})
    g["nodes"].append({"id": "gray2", "type": "IMAGE__GRAYSCALE", "params": {}})
    g["edges"].append(
        {"id": "x1", "from": {"node": "in2", "port": "image"}, "to": {"node": "gray2", "port": "image"}}
    )
    g["edges"].append(
        {"id": "x2", "from": {"node": "gray2", "port": "image"}, "to": {"node": "out", "port": "b"}}
    )
    assert ("in2", "name", "DUPLICATE_INPUT_NAME") in errors_of(auth_client, pid, g)


def test_cycle_detected(auth_client):
    pid = auth_client.post("/api/v1/studio/pipelines", {"name": "c"}, format="json").json()["id"]
    g = {
        "nodes": [
            {"id": "a", "type": "IMAGE__GRAYSCALE"},
            {"id": "b", "type": "IMAGE__GRAYSCALE"},
            {"id": "out", "type": "OUTPUT__"},
        ],
        "edges": [
            {"from": {"node": "a", "port": "image"}, "to": {"node": "b", "port": "image"}},
            {"from": {"node": "b", "port": "image"}, "to": {"node": "a", "port": "image"}},
            {"from": {"node": "b", "port": "image"}, "to": {"node": "out", "port": "r"}},
        ],
    }
    assert (None, None, "CYCLE") in errors_of(auth_client, pid, g)


def test_publish_versions_rotate_and_restore(pro_client):
    pid = pro_client.post(
        "/api/v1/studio/pipelines", {"name": "P", "graph": resize_graph(8, 8)}, format="json"
    ).json()["id"]
    first = pro_client.post(f"/api/v1/studio/pipelines/{pid}/publish")
    assert first.status_code == 201
    body = first.json()
    assert body["version"]["number"] == 1 and body["session_key"].startswith("fq_")
    assert body["execute_url"].endswith(f"/api/node/api/{body['session_key']}/execute")
    assert body["version"]["input_schema"]["image_url"]["required"] is True
    # the raw key is not stored
    assert not SessionKey.objects.filter(key_hash=body["session_key"]).exists()
    second = pro_client.post(f"/api/v1/studio/pipelines/{pid}/publish").json()
    assert second["version"]["number"] == 2 and "session_key" not in second
    # edit the draft, then restore v1
    g = resize_graph(99, 99)
    pro_client.patch(f"/api/v1/studio/pipelines/{pid}", {"graph": g}, format="json")
    versions = pro_client.get(f"/api/v1/studio/pipelines/{pid}/versions").json()
    assert [v["number"] for v in versions] == [2, 1]
    v1 = pro_client.get(f"/api/v1/studio/pipelines/{pid}/versions/1").json()
    assert v1["graph"] == resize_graph(8, 8)
    restored = pro_client.post(f"/api/v1/studio/pipelines/{pid}/versions/1/restore").json()
    assert restored["graph"] == resize_graph(8, 8)
    assert pro_client.post(f"/api/v1/studio/pipelines/{pid}/versions/7/restore").status_code == 404
    rotated = pro_client.post(f"/api/v1/studio/pipelines/{pid}/rotate-key").json()
    assert rotated["session_key"] != body["session_key"]
    assert APIClient().get(f"/api/node/api/{body['session_key']}/docs").status_code == 404
    assert APIClient().get(f"/api/node/api/{rotated['session_key']}/docs").status_code == 200


def test_publish_invalid_graph_is_422_with_errors(pro_client):
    g = resize_graph()
    g["nodes"][1]["params"]["width"] = -4
    pid = pro_client.post("/api/v1/studio/pipelines", {"name": "bad", "graph": g}, format="json").json()["id"]
    resp = pro_client.post(f"/api/v1/studio/pipelines/{pid}/publish")
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["node"] == "resize" and resp.json()["errors"][0]["port"] == "width"


def test_run_from_studio_with_upload_and_draft(eager, pro_client):
    from tests.runs.conftest import png_bytes
    import io

    pid = pro_client.post(
        "/api/v1/studio/pipelines", {"name": "S", "graph": resize_graph(10, 10)}, format="json"
    ).json()["id"]
    upload = pro_client.post("/api/v1/studio/uploads", {"file": io.BytesIO(png_bytes())}, format="multipart")
    assert upload.status_code == 201
    art = upload.json()["artifact_id"]
    bad = pro_client.post("/api/v1/studio/uploads", {"file": io.BytesIO(b"not an image")}, format="multipart")
    assert bad.status_code == 400
    assert (
        pro_client.post(
            f"/api/v1/studio/pipelines/{pid}/runs", {"inputs": {"image_url": art}}, format="json"
        ).status_code
        == 400
    )  # not published
    resp = pro_client.post(
        f"/api/v1/studio/pipelines/{pid}/runs", {"inputs": {"image_url": art}, "draft": True}, format="json"
    )
    assert resp.status_code == 202
    run = pro_client.get(f"/api/v1/studio/runs/{resp.json()['id']}").json()
    assert run["status"] == "completed"
    assert [n["status"] for n in run["nodes"]] == ["completed"] * 4
    assert run["outputs"]["result_url"]["width"] == 10
    # every intermediate image of a canvas run can be looked at
    resize = next(n for n in run["nodes"] if n["node_id"] == "resize")
    assert resize["outputs"]["image"]["width"] == 10 and resize["outputs"]["image"]["url"].startswith("http")
    history = pro_client.get(f"/api/v1/studio/pipelines/{pid}/runs").json()
    assert history[0]["id"] == run["id"] and history[0]["credits_used"] == 2
    listing = pro_client.get("/api/v1/studio/pipelines").json()
    assert listing[0]["last_run"]["status"] == "completed"
