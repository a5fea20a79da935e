"""Groups and notes in the draft: titled frames and text boxes the canvas saves next to the nodes. They are
layout: a well-formed one is stored as sent, a malformed one is refused with 400, and publishing, the version
diff and a run read the nodes and edges only."""

from __future__ import annotations

import pytest

from pipelines.layout import layout_errors
from tests.runs.conftest import eager, resize_graph  # noqa: F401  (fixture)
from tests.test_studio_schema import check, data_uri, openapi  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

GROUP = {
    "id": "group1",
    "title": "Make thumbnails",
    "position": {"x": -40, "y": -60},
    "width": 520,
    "height": 240,
}
NOTE = {"id": "note1", "text": "Shop images", "position": {"x": 0, "y": 300}, "width": 220, "height": 120}


def create(c, graph: dict) -> int:
    resp = c.post("/api/v1/studio/pipelines", {"name": "Framed", "graph": graph}, format="json")
    assert resp.status_code == 201, resp.content
    return resp.json()["id"]


def annotated(**extra) -> dict:
    return {**resize_graph(), "groups": [GROUP], "notes": [NOTE], **extra}


def test_a_draft_keeps_its_groups_and_notes(openapi, pro_client):  # noqa: F811
    c = pro_client
    pid = create(c, annotated())
    resp = c.get(f"/api/v1/studio/pipelines/{pid}")
    check(openapi, "GET", f"/api/v1/studio/pipelines/{pid}", resp)
    graph = resp.json()["graph"]
    assert graph["groups"] == [GROUP]
    assert graph["notes"] == [NOTE]

    moved = {**GROUP, "title": "Thumbnails", "position": {"x": 10, "y": 10}}
    resp = c.patch(f"/api/v1/studio/pipelines/{pid}", {"graph": annotated(groups=[moved])}, format="json")
    assert resp.status_code == 200, resp.content
    assert c.get(f"/api/v1/studio/pipelines/{pid}").json()["graph"]["groups"] == [moved]


def test_groups_never_reach_validation_publish_or_a_run(openapi, eager, pro_client):  # noqa: F811
    c = pro_client
    pid = create(c, resize_graph())
    assert c.post(f"/api/v1/studio/pipelines/{pid}/publish", {}, format="json").status_code == 201
    c.patch(f"/api/v1/studio/pipelines/{pid}", {"graph": annotated()}, format="json")

    assert c.post(f"/api/v1/studio/pipelines/{pid}/validate", {}, format="json").json() == {
        "valid": True,
        "errors": [],
    }
    resp = c.post(f"/api/v1/studio/pipelines/{pid}/publish", {}, format="json")
    assert resp.status_code == 201, resp.content
    diff = c.get(f"/api/v1/studio/pipelines/{pid}/versions/1/diff/2").json()
    assert diff["identical"] is True, "a frame around the nodes changes no behaviour"
    run = c.post(
        f"/api/v1/studio/pipelines/{pid}/runs", {"inputs": {"image_url": data_uri()}}, format="json"
    ).json()
    assert c.get(f"/api/v1/studio/runs/{run['id']}").json()["status"] == "completed"


@pytest.mark.parametrize(
    "groups",
    [
        "not a list",
        [42],
        [{"title": "no id", "position": {"x": 0, "y": 0}}],
        [{**GROUP, "id": ""}],
        [{**GROUP, "title": 7}],
        [{**GROUP, "title": "x" * 201}],
        [{**GROUP, "position": None}],
        [{**GROUP, "position": {"x": "0", "y": 0}}],
        [{**GROUP, "position": {"x": True, "y": 0}}],
        [{**GROUP, "width": -5}],
        [{**GROUP, "height": "tall"}],
        [{**GROUP, "id": "resize"}],  # a node's id
        [GROUP, GROUP],
        [GROUP] * 201,
    ],
)
def test_a_malformed_group_is_refused_with_400(pro_client, groups):
    c = pro_client
    pid = create(c, resize_graph())
    graph = {**resize_graph(), "groups": groups}
    resp = c.patch(f"/api/v1/studio/pipelines/{pid}", {"graph": graph}, format="json")
    assert resp.status_code == 400, resp.content
    assert "graph" in resp.json()["errors"]
    assert "groups" not in c.get(f"/api/v1/studio/pipelines/{pid}").json()["graph"], "nothing was saved"


def test_a_malformed_note_is_refused_and_a_drafts_old_notes_still_pass():
    assert layout_errors({"nodes": [], "notes": [{**NOTE, "text": None}]}) == [
        "notes[0] 'text' must be a string of at most 5000 characters"
    ]
    # Notes as the canvas has always saved them, and a group without a size (the canvas gives it one).
    assert layout_errors({"nodes": [{"id": ["odd"]}], "groups": [GROUP]}) == [], "a bad node is validate's"
    old = {"id": "note2", "position": {"x": 1.5, "y": 2}}
    assert layout_errors({"nodes": [], "notes": [NOTE, old]}) == []
    assert layout_errors({"nodes": [], "groups": [{"id": "g", "position": {"x": 0, "y": 0}}]}) == []
