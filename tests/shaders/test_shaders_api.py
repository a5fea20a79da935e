"""Shader endpoints of seed 004: create, read, update (versions), restore, fork, delete, list/search, mine."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import Tier
from shaders import services
from shaders.models import EngagementEvent, Shader, ShaderStatus, ShaderVersion, Vote
from tests.shaders.conftest import GOOD_CODE, OTHER_CODE, client_for

pytestmark = pytest.mark.django_db


def create(client, **overrides):
    body = {
        "title": "Neon Pulse",
        "glsl_code": GOOD_CODE,
        "description": "A pulsing neon effect",
        "tags": ["Neon", "pulse", "glow"],
        "shader_type": "2d",
        "status": "published",
    }
    body.update(overrides)
    return client.post("/api/v1/shaders", body, format="json")


# --- create ---------------------------------------------------------------------------------------


def test_create_returns_the_shader_with_its_first_version(
    pro_client, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kw: queued.append((func, args)))
    with django_capture_on_commit_callbacks(execute=True):
        resp = create(pro_client)
    assert resp.status_code == 201, resp.content
    body = resp.json()
    uuid.UUID(body["id"])
    assert body["title"] == "Neon Pulse" and body["glsl_code"] == GOOD_CODE
    assert body["tags"] == ["neon", "pulse", "glow"]
    assert body["status"] == "published" and body["current_version"] == 1
    assert body["author_username"] == pro_client.user.username
    assert body["render_status"] == "pending" and body["warnings"] == []
    assert queued == [("shaders.tasks.render_shader", (body["id"],))]  # publishing enqueues the render
    assert ShaderVersion.objects.filter(shader_id=body["id"], number=1).exists()


def test_a_draft_is_not_rendered(pro_client, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **kw: queued.append(a))
    with django_capture_on_commit_callbacks(execute=True):
        resp = create(pro_client, status="draft")
    assert resp.status_code == 201 and resp.json()["render_status"] == "none"
    assert queued == []


def test_create_requires_authentication(api_client):
    resp = create(api_client)
    assert resp.status_code == 401 and "detail" in resp.json()


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"glsl_code": None}, "glsl_code"),
        ({"tags": "neon,glow"}, "tags"),
        ({"tags": [1, {"a": 2}]}, "tags"),
        ({"shader_type": "4d"}, "shader_type"),
        ({"status": True}, "status"),
        ({"status": "deleted"}, "status"),
        ({"tags": [f"t{i}" for i in range(30)]}, "tags"),
    ],
)
def test_create_rejects_bad_fields_with_400(pro_client, overrides, fragment):
    resp = create(pro_client, **overrides)
    assert resp.status_code == 400, resp.content
    assert fragment in resp.json()["detail"]


def test_malformed_json_and_non_objects_are_400(pro_client):
    resp = pro_client.post("/api/v1/shaders", data='{"title": "x",', content_type="application/json")
    assert resp.status_code == 400 and "detail" in resp.json()
    resp = pro_client.post("/api/v1/shaders", data='["a", "b"]', content_type="application/json")
    assert resp.status_code == 400 and resp.json()["detail"] == "Expected a JSON object"


# --- read -----------------------------------------------------------------------------------------


def test_detail_includes_source_and_counts_views(make_shader, api_client):
    shader = make_shader()
    first = api_client.get(f"/api/v1/shaders/{shader.pk}")
    second = api_client.get(f"/api/v1/shaders/{shader.pk}")
    assert first.status_code == 200
    assert first.json()["glsl_code"] == GOOD_CODE
    assert second.json()["view_count"] == first.json()["view_count"] + 1 == 2
    assert Shader.objects.get(pk=shader.pk).view_count == 2


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", str(uuid.uuid4())])
def test_unknown_or_malformed_ids_are_404_with_detail(api_client, bad_id):
    for path in (
        f"/api/v1/shaders/{bad_id}",
        f"/api/v1/shaders/{bad_id}/versions",
        f"/api/v1/shaders/{bad_id}/versions/1",
        f"/api/v1/feed/similar/{bad_id}",
    ):
        resp = api_client.get(path)
        assert resp.status_code == 404, path
        assert resp.json() == {"detail": "Shader not found"}


def test_non_numeric_version_is_404_json(make_shader, api_client):
    shader = make_shader()
    resp = api_client.get(f"/api/v1/shaders/{shader.pk}/versions/latest")
    assert resp.status_code == 404 and "detail" in resp.json()


# --- privacy: drafts belong to their owner --------------------------------------------------------


def test_nobody_else_sees_edits_or_deletes_a_draft(make_shader, pro_user, other_client, api_client):
    draft = make_shader(owner=pro_user, status="draft", title="Secret draft")
    owner = client_for(pro_user)
    assert owner.get(f"/api/v1/shaders/{draft.pk}").status_code == 200
    for client in (other_client, api_client):
        assert client.get(f"/api/v1/shaders/{draft.pk}").status_code == 404
        assert client.get(f"/api/v1/shaders/{draft.pk}/versions").status_code == 404
        assert client.get(f"/api/v1/shaders/{draft.pk}/versions/1").status_code == 404
        assert all(s["id"] != str(draft.pk) for s in client.get("/api/v1/shaders").json())
        assert all(s["id"] != str(draft.pk) for s in client.get("/api/v1/feed/new").json())
    assert (
        other_client.put(f"/api/v1/shaders/{draft.pk}", {"title": "Mine now"}, format="json").status_code
        == 404
    )
    assert other_client.delete(f"/api/v1/shaders/{draft.pk}").status_code == 404
    assert other_client.post(f"/api/v1/shaders/{draft.pk}/fork").status_code == 404
    assert (
        other_client.post(f"/api/v1/shaders/{draft.pk}/vote", {"value": 1}, format="json").status_code == 404
    )
    assert other_client.post(f"/api/v1/shaders/{draft.pk}/versions/1/restore").status_code == 404
    assert all(s["id"] != str(draft.pk) for s in other_client.get("/api/v1/shaders/mine").json())
    draft.refresh_from_db()
    assert draft.title == "Secret draft"


def test_others_cannot_edit_or_delete_a_published_shader(make_shader, other_client, api_client):
    shader = make_shader()
    resp = other_client.put(f"/api/v1/shaders/{shader.pk}", {"title": "Hijacked"}, format="json")
    assert resp.status_code == 403 and resp.json()["detail"] == "Not the owner of this shader"
    assert other_client.delete(f"/api/v1/shaders/{shader.pk}").status_code == 403
    assert other_client.post(f"/api/v1/shaders/{shader.pk}/versions/1/restore").status_code == 403
    assert api_client.put(f"/api/v1/shaders/{shader.pk}", {"title": "x"}, format="json").status_code == 401
    assert api_client.delete(f"/api/v1/shaders/{shader.pk}").status_code == 401
    assert Shader.objects.get(pk=shader.pk).title == "A shader"


# --- update and versions --------------------------------------------------------------------------


def test_update_versions_code_and_metadata_changes_only(pro_client):
    shader_id = create(pro_client, status="draft").json()["id"]
    url = f"/api/v1/shaders/{shader_id}"
    resp = pro_client.put(
        url,
        {"glsl_code": OTHER_CODE, "title": "Neon Pulse v2", "change_note": "added color cycling"},
        format="json",
    )
    assert resp.status_code == 200 and resp.json()["current_version"] == 2
    assert pro_client.put(url, {"glsl_code": OTHER_CODE}, format="json").json()["current_version"] == 2
    assert pro_client.put(url, {"status": "published"}, format="json").json()["current_version"] == 2
    assert pro_client.put(url, {"tags": ["Glow"]}, format="json").json()["current_version"] == 3
    versions = pro_client.get(f"{url}/versions").json()
    assert [v["version_number"] for v in versions] == [3, 2, 1]
    assert versions[1]["change_note"] == "added color cycling"
    v1 = pro_client.get(f"{url}/versions/1").json()
    assert v1["glsl_code"] == GOOD_CODE and v1["metadata"]["title"] == "Neon Pulse"
    assert v1["metadata"]["tags"] == ["neon", "pulse", "glow"]
    assert pro_client.get(f"{url}/versions/9").json() == {"detail": "Version not found"}


def test_update_with_invalid_glsl_is_422_and_changes_nothing(pro_client):
    shader_id = create(pro_client).json()["id"]
    resp = pro_client.put(
        f"/api/v1/shaders/{shader_id}",
        {"glsl_code": "void mainImage(out vec4 c, in vec2 f) {\n  c = vec4(1.0) +;\n}\n"},
        format="json",
    )
    assert resp.status_code == 422 and resp.json()["errors"][0]["line"] == 2
    assert pro_client.get(f"/api/v1/shaders/{shader_id}").json()["current_version"] == 1


def test_update_rejects_wrong_types(pro_client):
    shader_id = create(pro_client).json()["id"]
    for body in ({"tags": "x"}, {"status": "gone"}, {"title": ["a"]}, {"shader_type": 3}):
        resp = pro_client.put(f"/api/v1/shaders/{shader_id}", body, format="json")
        assert resp.status_code == 400, body


def test_republishing_an_edit_rerenders(pro_client, django_capture_on_commit_callbacks, monkeypatch):
    shader_id = create(pro_client).json()["id"]
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kw: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        pro_client.put(f"/api/v1/shaders/{shader_id}", {"title": "Only a title"}, format="json")
    assert queued == []
    with django_capture_on_commit_callbacks(execute=True):
        body = pro_client.put(f"/api/v1/shaders/{shader_id}", {"glsl_code": OTHER_CODE}, format="json").json()
    assert queued == [(shader_id,)] and body["render_status"] == "pending"


def test_restore_creates_a_new_version_with_the_old_content(pro_client):
    shader_id = create(pro_client).json()["id"]
    url = f"/api/v1/shaders/{shader_id}"
    pro_client.put(url, {"glsl_code": OTHER_CODE, "title": "Changed"}, format="json")
    resp = pro_client.post(f"{url}/versions/1/restore")
    assert resp.status_code == 200
    body = resp.json()
    assert body["current_version"] == 3 and body["glsl_code"] == GOOD_CODE and body["title"] == "Neon Pulse"
    versions = pro_client.get(f"{url}/versions").json()
    assert versions[0]["change_note"] == "Restored from version 1"
    assert pro_client.get(f"{url}/versions/2").json()["glsl_code"] == OTHER_CODE  # history kept
    assert pro_client.post(f"{url}/versions/7/restore").status_code == 404


def test_fork_makes_a_linked_draft_copy(make_shader, other_client):
    original = make_shader(tags=("fractal", "zoom"))
    resp = other_client.post(f"/api/v1/shaders/{original.pk}/fork")
    assert resp.status_code == 201
    fork = resp.json()
    assert fork["id"] != str(original.pk)
    assert fork["forked_from"] == str(original.pk) and fork["status"] == "draft"
    assert fork["author_id"] == other_client.user.pk and fork["glsl_code"] == original.glsl_code
    assert fork["tags"] == ["fractal", "zoom"] and fork["current_version"] == 1
    versions = other_client.get(f"/api/v1/shaders/{fork['id']}/versions").json()
    assert versions[0]["change_note"].startswith(f"Forked from {original.pk}")
    # the fork survives the original's deletion
    original.delete()
    assert Shader.objects.get(pk=fork["id"]).forked_from_id is None


def test_fork_requires_authentication(make_shader, api_client):
    assert api_client.post(f"/api/v1/shaders/{make_shader().pk}/fork").status_code == 401


def test_delete_cascades_to_versions_votes_and_events(make_shader, pro_user, other_client):
    shader = make_shader(owner=pro_user)
    other_client.post(f"/api/v1/shaders/{shader.pk}/vote", {"value": 1}, format="json")
    other_client.get(f"/api/v1/shaders/{shader.pk}")
    other_client.post("/api/v1/feed/dwell", {"shader_id": str(shader.pk), "dwell_secs": 4}, format="json")
    assert (
        Vote.objects.filter(shader=shader).exists() and EngagementEvent.objects.filter(shader=shader).exists()
    )
    resp = client_for(pro_user).delete(f"/api/v1/shaders/{shader.pk}")
    assert resp.status_code == 204
    assert not Shader.objects.filter(pk=shader.pk).exists()
    assert not ShaderVersion.objects.filter(shader_id=shader.pk).exists()
    assert not Vote.objects.filter(shader_id=shader.pk).exists()
    assert not EngagementEvent.objects.filter(shader_id=shader.pk).exists()
    assert client_for(pro_user).delete(f"/api/v1/shaders/{shader.pk}").status_code == 404


# --- publishing quota -----------------------------------------------------------------------------


def test_free_tier_may_publish_five_shaders_a_month(auth_client):
    for n in range(services.FREE_PUBLISHES_PER_MONTH):
        assert create(auth_client, title=f"S{n}").status_code == 201
    resp = create(auth_client, title="Sixth")
    assert resp.status_code == 429
    assert "5 published shaders per month" in resp.json()["detail"]
    assert int(resp["Retry-After"]) > 0
    # drafts are unlimited, but publishing one later counts too
    draft = create(auth_client, title="Draft", status="draft")
    assert draft.status_code == 201
    assert (
        auth_client.put(
            f"/api/v1/shaders/{draft.json()['id']}", {"status": "published"}, format="json"
        ).status_code
        == 429
    )
    # editing an already published shader is not a new publication
    first = auth_client.get("/api/v1/shaders/mine?status=published").json()[0]
    assert (
        auth_client.put(
            f"/api/v1/shaders/{first['id']}", {"glsl_code": OTHER_CODE}, format="json"
        ).status_code
        == 200
    )


def test_pro_tier_has_no_publishing_quota(pro_client):
    for n in range(services.FREE_PUBLISHES_PER_MONTH + 1):
        assert create(pro_client, title=f"S{n}").status_code == 201


# --- list and search ------------------------------------------------------------------------------


@pytest.fixture
def catalogue(make_shader, make_user):
    owner = make_user(tier=Tier.PRO)
    return {
        "aurora": make_shader(owner=owner, title="Aurora Borealis", tags=("sky", "glow"), shader_type="2d"),
        "tunnel": make_shader(owner=owner, title="Neon Tunnel", tags=("neon", "3d"), shader_type="3d"),
        "beat": make_shader(
            owner=owner, title="Beat Bars", tags=("audio",), shader_type="audio-reactive", is_system=True
        ),
        "draft": make_shader(owner=owner, title="Aurora draft", status="draft"),
    }


def titles(resp):
    assert resp.status_code == 200, resp.content
    return [s["title"] for s in resp.json()]


def test_list_shows_published_shaders_only(api_client, catalogue):
    assert sorted(titles(api_client.get("/api/v1/shaders"))) == [
        "Aurora Borealis",
        "Beat Bars",
        "Neon Tunnel",
    ]


def test_list_filters(api_client, catalogue):
    assert titles(api_client.get("/api/v1/shaders?q=aurora")) == ["Aurora Borealis"]
    assert titles(api_client.get("/api/v1/shaders?q=tunel")) in (["Neon Tunnel"], [])  # trigram on PostgreSQL
    assert sorted(titles(api_client.get("/api/v1/shaders?tags=glow,neon"))) == [
        "Aurora Borealis",
        "Neon Tunnel",
    ]
    assert titles(api_client.get("/api/v1/shaders?shader_type=3d")) == ["Neon Tunnel"]
    assert titles(api_client.get("/api/v1/shaders?system=true")) == ["Beat Bars"]
    assert sorted(titles(api_client.get("/api/v1/shaders?system=false"))) == [
        "Aurora Borealis",
        "Neon Tunnel",
    ]


def test_list_sort_and_pagination(api_client, catalogue):
    newest = titles(api_client.get("/api/v1/shaders?sort=new"))
    assert newest == ["Beat Bars", "Neon Tunnel", "Aurora Borealis"]
    assert titles(api_client.get("/api/v1/shaders?sort=new&limit=1&offset=1")) == ["Neon Tunnel"]
    assert titles(api_client.get("/api/v1/shaders?sort=new&offset=5")) == []
    assert len(titles(api_client.get("/api/v1/shaders?sort=top"))) == 3


@pytest.mark.parametrize(
    "query",
    ["limit=abc", "limit=0", "limit=1000", "offset=-1", "sort=random", "shader_type=4d", "system=maybe"],
)
def test_list_rejects_bad_parameters(api_client, query):
    resp = api_client.get(f"/api/v1/shaders?{query}")
    assert resp.status_code == 400 and "detail" in resp.json()


def test_trigram_search_tolerates_typos_on_postgresql(api_client, catalogue):
    if not services.trigram_available():
        pytest.skip("pg_trgm is PostgreSQL-only; SQLite uses icontains")
    assert titles(api_client.get("/api/v1/shaders?q=Aurora Boralis"))[0] == "Aurora Borealis"


def test_mine_lists_every_status_and_filters(make_shader, pro_user, api_client):
    for status in ("draft", "published", "archived"):
        make_shader(owner=pro_user, status=status, title=status)
    client = client_for(pro_user)
    assert sorted(titles(client.get("/api/v1/shaders/mine"))) == ["archived", "draft", "published"]
    assert titles(client.get("/api/v1/shaders/mine?status=draft")) == ["draft"]
    assert client.get("/api/v1/shaders/mine?status=gone").status_code == 400
    assert api_client.get("/api/v1/shaders/mine").status_code == 401


def test_archived_shaders_leave_lists_but_stay_with_the_owner(make_shader, pro_user, api_client):
    shader = make_shader(owner=pro_user, title="To archive")
    client = client_for(pro_user)
    assert (
        client.put(f"/api/v1/shaders/{shader.pk}", {"status": "archived"}, format="json").status_code == 200
    )
    assert "To archive" not in titles(api_client.get("/api/v1/shaders"))
    assert api_client.get(f"/api/v1/shaders/{shader.pk}").status_code == 404
    assert client.get(f"/api/v1/shaders/{shader.pk}").json()["status"] == ShaderStatus.ARCHIVED
