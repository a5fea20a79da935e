"""Canvas v2's studio API: the diff between two published versions, rollback (an earlier graph published
again, the session key unchanged) and the queue (your runs across pipelines, with their place in the queue).
Owner only: another user gets 404; bad input is a 4xx in the documented shape."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from pipelines.versions import diff_graphs
from tests.conftest import login
from tests.runs.conftest import resize_graph
from tests.test_studio_schema import check, data_uri, openapi  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {login(c, user)}")
    return c


def create(c, name: str, graph: dict) -> int:
    resp = c.post("/api/v1/studio/pipelines", {"name": name, "graph": graph}, format="json")
    assert resp.status_code == 201, resp.content
    return resp.json()["id"]


def publish(c, pid: int, graph: dict) -> int:
    assert c.patch(f"/api/v1/studio/pipelines/{pid}", {"graph": graph}, format="json").status_code == 200
    resp = c.post(f"/api/v1/studio/pipelines/{pid}/publish", {}, format="json")
    assert resp.status_code == 201, resp.content
    return resp.json()["version"]["number"]


@pytest.fixture
def two_versions(pro_client):
    """A pipeline published twice: v2 resizes to 64 wide instead of 32 and adds a grayscale node."""
    c = pro_client
    pid = create(c, "Versions", resize_graph())
    publish(c, pid, resize_graph())
    v2 = resize_graph(width=64)
    v2["nodes"].append(
        {"id": "gray2", "type": "IMAGE__GRAYSCALE", "params": {}, "position": {"x": 0, "y": 300}}
    )
    v2["edges"] += [
        {"id": "e4", "from": {"node": "resize", "port": "image"}, "to": {"node": "gray2", "port": "image"}},
        {"id": "e5", "from": {"node": "gray2", "port": "image"}, "to": {"node": "out", "port": "second"}},
    ]
    v2["nodes"][0]["position"] = {"x": 999, "y": 999}  # layout only: not a change
    publish(c, pid, v2)
    return c, pid


def test_diff_names_nodes_params_and_edges():
    old = {"nodes": [{"id": "a", "type": "X", "params": {"w": 1, "gone": True}}, {"id": "b", "type": "Y"}],
           "edges": [{"from": {"node": "a", "port": "o"}, "to": {"node": "b", "port": "i"}}]}
    new = {"nodes": [{"id": "a", "type": "X", "params": {"w": 2, "new": "x"}}, {"id": "c", "type": "Z"}],
           "edges": []}
    diff = diff_graphs(old, new)
    assert diff["nodes"]["added"] == [{"id": "c", "type": "Z"}]
    assert diff["nodes"]["removed"] == [{"id": "b", "type": "Y"}]
    assert diff["nodes"]["changed"] == [{"id": "a", "type": "X", "params": [
        {"param": "gone", "change": "removed", "from": True},
        {"param": "new", "change": "added", "to": "x"},
        {"param": "w", "change": "changed", "from": 1, "to": 2},
    ]}]
    assert diff["edges"] == {"added": [], "removed": [{"from": {"node": "a", "port": "o"},
                                                       "to": {"node": "b", "port": "i"}}]}


def test_version_diff_api(openapi, two_versions):  # noqa: F811
    c, pid = two_versions
    path = f"/api/v1/studio/pipelines/{pid}/versions/1/diff/2"
    resp = c.get(path)
    assert resp.status_code == 200, resp.content
    check(openapi, "GET", path, resp)
    body = resp.json()
    assert body["from"] == 1 and body["to"] == 2 and body["identical"] is False
    assert body["nodes"]["added"] == [{"id": "gray2", "type": "IMAGE__GRAYSCALE"}]
    assert body["nodes"]["removed"] == [] and body["edges"]["removed"] == []
    assert body["edges"]["added"] == [
        {"from": {"node": "gray2", "port": "image"}, "to": {"node": "out", "port": "second"}},
        {"from": {"node": "resize", "port": "image"}, "to": {"node": "gray2", "port": "image"}},
    ]
    assert body["nodes"]["changed"] == [
        {
            "id": "resize",
            "type": "IMAGE__RESIZE",
            "params": [{"param": "width", "change": "changed", "from": 32, "to": 64}],
        }
    ]
    back = c.get(f"/api/v1/studio/pipelines/{pid}/versions/2/diff/1").json()
    assert back["nodes"]["removed"] == [{"id": "gray2", "type": "IMAGE__GRAYSCALE"}]
    same = c.get(f"/api/v1/studio/pipelines/{pid}/versions/2/diff/2").json()
    assert same["identical"] is True


def test_rollback_publishes_the_old_graph_under_the_same_key(openapi, two_versions, settings):  # noqa: F811
    c, pid = two_versions
    detail = c.get(f"/api/v1/studio/pipelines/{pid}").json()
    prefix, draft = detail["session_key_prefix"], detail["graph"]
    path = f"/api/v1/studio/pipelines/{pid}/versions/1/rollback"
    resp = c.post(path)
    assert resp.status_code == 201, resp.content
    check(openapi, "POST", path, resp)
    body = resp.json()
    assert body["version"]["number"] == 3 and body["rolled_back_to"] == 1
    assert body["session_key_prefix"] == prefix
    after = c.get(f"/api/v1/studio/pipelines/{pid}").json()
    assert after["published_version"] == 3
    assert after["session_key_prefix"] == prefix, "the session key is unchanged"
    assert after["graph"] == draft, "the draft is left as it is"
    v3 = c.get(f"/api/v1/studio/pipelines/{pid}/versions/3").json()
    v1 = c.get(f"/api/v1/studio/pipelines/{pid}/versions/1").json()
    assert v3["graph"] == v1["graph"] and v3["input_schema"] == v1["input_schema"]
    assert c.get(f"/api/v1/studio/pipelines/{pid}/versions/1/diff/3").json()["identical"] is True


def test_rollback_keeps_the_raw_key_working(pro_client, settings):
    """A caller holding the session key gets v1's behaviour after the rollback, with the same key."""
    settings.RUNS_EAGER = True
    c = pro_client
    pid = create(c, "Key", resize_graph(8, 8))
    c.patch(f"/api/v1/studio/pipelines/{pid}", {"graph": resize_graph(8, 8)}, format="json")
    raw = c.post(f"/api/v1/studio/pipelines/{pid}/publish", {}, format="json").json()["session_key"]
    publish(c, pid, resize_graph(16, 16))
    assert c.post(f"/api/v1/studio/pipelines/{pid}/versions/1/rollback").status_code == 201
    resp = APIClient().post(f"/api/node/api/{raw}/execute", {"inputs": {"image_url": data_uri()}},
                             format="json")
    assert resp.status_code == 200, resp.content
    from runs.models import Run

    run = Run.objects.filter(pipeline_id=pid).latest("created_at")
    assert run.version.number == 3 and run.outputs["result_url"]["width"] == 8, run.outputs


def test_versions_refuse_bad_input_and_other_users(openapi, two_versions, make_user):  # noqa: F811
    c, pid = two_versions
    for method, path, expected in [
        ("GET", f"/api/v1/studio/pipelines/{pid}/versions/1/diff/9", 404),
        ("GET", f"/api/v1/studio/pipelines/{pid}/versions/9/diff/1", 404),
        ("POST", f"/api/v1/studio/pipelines/{pid}/versions/9/rollback", 404),
        ("GET", f"/api/v1/studio/pipelines/{pid + 1000}/versions/1/diff/2", 404),
    ]:
        resp = getattr(c, method.lower())(path)
        assert resp.status_code == expected, (path, resp.content)
        check(openapi, method, path, resp)
    other = client_for(make_user())
    for method, path in [
        ("GET", f"/api/v1/studio/pipelines/{pid}/versions/1/diff/2"),
        ("POST", f"/api/v1/studio/pipelines/{pid}/versions/1/rollback"),
    ]:
        resp = getattr(other, method.lower())(path)
        assert resp.status_code == 404, resp.content
        check(openapi, method, path, resp)
    assert APIClient().get(f"/api/v1/studio/pipelines/{pid}/versions/1/diff/2").status_code == 401
    assert c.get(f"/api/v1/studio/pipelines/{pid}/versions").json()[0]["number"] == 2, "nothing published"


def test_rollback_of_a_graph_that_no_longer_validates_is_422(pro_client):
    from pipelines.models import PublishedVersion

    c = pro_client
    pid = create(c, "Old", resize_graph())
    publish(c, pid, resize_graph())
    PublishedVersion.objects.filter(pipeline_id=pid, number=1).update(
        graph={"nodes": [{"id": "x", "type": "WITHDRAWN__NODE"}], "edges": []}
    )
    resp = c.post(f"/api/v1/studio/pipelines/{pid}/versions/1/rollback")
    assert resp.status_code == 422 and resp.json()["errors"]


def test_queue_lists_my_runs_across_pipelines(openapi, pro_client, make_user, settings):  # noqa: F811
    settings.RUNS_EAGER = False  # nothing runs: every run stays queued
    c = pro_client
    pids = [create(c, f"P{i}", resize_graph()) for i in range(2)]
    other = make_user(credits_amount=100)
    oc = client_for(other)
    theirs = create(oc, "Theirs", resize_graph())
    their_run = oc.post(f"/api/v1/studio/pipelines/{theirs}/runs",
                        {"inputs": {"image_url": data_uri()}, "draft": True}, format="json").json()
    mine = [
        c.post(f"/api/v1/studio/pipelines/{pid}/runs", {"inputs": {"image_url": data_uri()}, "draft": True},
               format="json").json()
        for pid in pids
    ]
    resp = c.get("/api/v1/studio/runs")
    assert resp.status_code == 200, resp.content
    check(openapi, "GET", "/api/v1/studio/runs", resp)
    body = resp.json()
    assert [r["id"] for r in body] == [mine[1]["id"], mine[0]["id"]], "mine only, newest first"
    assert [r["pipeline"]["id"] for r in body] == [pids[1], pids[0]]
    # the other user's run waits ahead of both of mine
    assert [r["queue_position"] for r in body] == [2, 1]
    assert all(r["status"] == "queued" and r["progress"] == 0 for r in body)

    c.post(f"/api/v1/studio/runs/{mine[0]['id']}/cancel")
    active = c.get("/api/v1/studio/runs?status=active").json()
    assert [r["id"] for r in active] == [mine[1]["id"]] and active[0]["queue_position"] == 1
    finished = c.get("/api/v1/studio/runs?status=finished").json()
    assert [(r["id"], r["status"], r["queue_position"]) for r in finished] == [
        (mine[0]["id"], "cancelled", None)
    ]
    assert [r["id"] for r in c.get("/api/v1/studio/runs?limit=1").json()] == [mine[1]["id"]]
    assert [r["id"] for r in oc.get("/api/v1/studio/runs").json()] == [their_run["id"]]
    # another user's run stays theirs: 404 on its detail, cancel and resume
    for method, path in [("GET", f"/api/v1/studio/runs/{their_run['id']}"),
                         ("POST", f"/api/v1/studio/runs/{their_run['id']}/cancel"),
                         ("POST", f"/api/v1/studio/runs/{their_run['id']}/resume")]:
        assert getattr(c, method.lower())(path).status_code == 404


def test_queue_refuses_bad_filters(openapi, pro_client):  # noqa: F811
    for query in ("status=everything", "limit=0", "limit=abc", "limit=201"):
        path = f"/api/v1/studio/runs?{query}"
        resp = pro_client.get(path)
        assert resp.status_code == 400, (query, resp.content)
        check(openapi, "GET", path, resp)
    assert APIClient().get("/api/v1/studio/runs").status_code == 401
