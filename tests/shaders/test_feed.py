"""Feed and engagement: trending, new, similar, the personalised feed, votes, dwell and replays."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import Tier
from shaders import engagement, feed
from shaders.models import EngagementEvent, EventKind, Shader, Vote
from tests.shaders.conftest import client_for

pytestmark = pytest.mark.django_db


class Fixed(random.Random):
    """A 'random' source that always answers the same, to look at the deterministic part of the ranking."""

    def __init__(self, value: float = 0.5):
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def age(shader: Shader, **delta) -> Shader:
    """Pretend ``shader`` was published ``delta`` ago (and re-derive its trending key)."""
    when = timezone.now() - timedelta(**delta)
    Shader.objects.filter(pk=shader.pk).update(published_at=when, created_at=when)
    with transaction.atomic():
        return engagement.recalculate_score(shader.pk)


def votes(shader: Shader, users: list, value: int = 1) -> Shader:
    for user in users:
        engagement.cast_vote(user, shader.pk, value)
    shader.refresh_from_db()
    return shader


@pytest.fixture
def voters(make_user):
    return [make_user() for _ in range(6)]


# --- scores ---------------------------------------------------------------------------------------


def test_wilson_lower_bound_properties():
    assert feed.wilson_lower_bound(0, 0) == 0.0
    assert (
        0
        < feed.wilson_lower_bound(1, 0)
        < feed.wilson_lower_bound(10, 0)
        < feed.wilson_lower_bound(100, 0)
        < 1
    )
    assert feed.wilson_lower_bound(10, 10) < feed.wilson_lower_bound(10, 1)
    # more evidence for the same ratio ranks higher
    assert feed.wilson_lower_bound(8, 2) < feed.wilson_lower_bound(80, 20)


def test_trending_order_is_the_decayed_score_order_at_any_time():
    now = timezone.now()
    fresh, old = (0.3, now - timedelta(hours=2)), (0.6, now - timedelta(days=3))
    keys = [feed.hot_score(w, t) for w, t in (fresh, old)]
    for later in (now, now + timedelta(days=1), now + timedelta(days=30)):
        decayed = [
            (w + feed.BASE) * pow(2.718281828, -(later - t).total_seconds() / feed.TAU)
            for w, t in (fresh, old)
        ]
        assert (keys[0] > keys[1]) == (decayed[0] > decayed[1])


def test_a_higher_voted_fresh_shader_outranks_an_older_one(make_shader, voters, api_client):
    old = age(votes(make_shader(title="Old"), voters[:2]), days=4)
    fresh = votes(make_shader(title="Fresh"), voters[:4])
    unvoted = make_shader(title="Unvoted")
    order = [s["title"] for s in api_client.get("/api/v1/feed/trending").json()]
    assert order.index("Fresh") < order.index("Old")
    assert order.index("Fresh") < order.index("Unvoted")
    assert fresh.hot_score > old.hot_score and unvoted.score == 0
    # time decay: the same votes a week ago rank below a fresh shader with fewer
    assert age(votes(make_shader(title="Week old"), voters), days=7).hot_score < fresh.hot_score


def test_new_feed_is_newest_first_and_paginates(make_shader, api_client):
    a, b, c = (make_shader(title=t) for t in "ABC")
    age(a, hours=3)
    assert [s["title"] for s in api_client.get("/api/v1/feed/new").json()] == ["C", "B", "A"]
    assert [s["title"] for s in api_client.get("/api/v1/feed/new?limit=1&offset=1").json()] == ["B"]
    assert api_client.get("/api/v1/feed/new?limit=x").status_code == 400


def test_similar_ranks_by_tag_overlap(make_shader, api_client):
    source = make_shader(title="Source", tags=("fractal", "zoom", "color"))
    make_shader(title="Twin", tags=("fractal", "zoom", "color"))
    make_shader(title="Cousin", tags=("fractal", "ocean"))
    make_shader(title="Stranger", tags=("ocean",))
    make_shader(title="Hidden twin", tags=("fractal", "zoom", "color"), status="draft")
    resp = api_client.get(f"/api/v1/feed/similar/{source.pk}")
    assert [s["title"] for s in resp.json()] == ["Twin", "Cousin"]


# --- personalised feed ----------------------------------------------------------------------------


def test_anonymous_feed_blends_score_and_recency(make_shader, voters, api_client):
    good = votes(make_shader(title="Good"), voters)
    make_shader(title="Plain")
    age(make_shader(title="Old plain"), days=10)
    ranked = feed.personalized(None, rng=Fixed())
    assert [r.shader.title for r in ranked] == ["Good", "Plain", "Old plain"]
    assert good.pk == ranked[0].shader.pk
    resp = api_client.get("/api/v1/feed")
    assert resp.status_code == 200 and len(resp.json()) == 3


def test_randomness_is_bounded_to_ten_percent(make_shader, voters):
    clear_winner = votes(make_shader(title="Winner"), voters)
    age(make_shader(title="Loser"), days=20)
    twin_a, twin_b = make_shader(title="Twin A"), make_shader(title="Twin B")
    ranked = feed.personalized(None, rng=Fixed(0.0))
    spread = {r.shader.title: r.value for r in ranked}
    assert spread["Winner"] - spread["Loser"] > feed.RANDOMNESS  # a gap chance can never close
    orders = set()
    for seed in range(40):
        ranked = [r.shader.title for r in feed.personalized(None, rng=random.Random(seed))]
        assert ranked[0] == clear_winner.title and ranked[-1] == "Loser"
        orders.add(ranked.index("Twin A") < ranked.index("Twin B"))
    assert orders == {True, False}  # but close shaders do trade places
    values = [r.value for r in feed.personalized(None, rng=Fixed(0.999))]
    base = [r.value for r in feed.personalized(None, rng=Fixed(0.0))]
    assert max(v - b for v, b in zip(sorted(values), sorted(base), strict=True)) <= feed.RANDOMNESS + 1e-9
    assert twin_a and twin_b


def test_signed_in_feed_learns_tag_affinity_from_votes_and_dwell(make_shader, make_user):
    author = make_user(tier=Tier.PRO)
    viewer = make_user()
    liked = make_shader(owner=author, title="Liked fractal", tags=("fractal",))
    watched = make_shader(owner=author, title="Watched ocean", tags=("ocean",))
    fractal = make_shader(owner=author, title="Other fractal", tags=("fractal",))
    neon = make_shader(owner=author, title="Other neon", tags=("neon",))
    ocean = make_shader(owner=author, title="Other ocean", tags=("ocean",))
    engagement.cast_vote(viewer, liked.pk, 1)
    EngagementEvent.objects.create(shader=watched, user=viewer, kind=EventKind.DWELL, dwell_secs=12)
    Shader.objects.filter(pk=liked.pk).update(score=0, hot_score=neon.hot_score)  # remove the vote's own lift
    affinity = feed.tag_affinity(viewer.pk, timezone.now())
    assert affinity["fractal"] == 1.0 and 0 < affinity["ocean"] < 1.0
    ranked = [r.shader.title for r in feed.personalized(viewer.pk, rng=Fixed())]
    # seen shaders (voted, dwelt) are excluded; the rest follow the viewer's taste
    assert ranked == [fractal.title, ocean.title, neon.title]


def test_feed_excludes_what_the_viewer_saw_in_the_last_30_days(make_shader, user, api_client):
    seen, old_seen, fresh = (
        make_shader(title="Seen"),
        make_shader(title="Seen long ago"),
        make_shader(title="Fresh"),
    )
    client = client_for(user)
    client.get(f"/api/v1/shaders/{seen.pk}")  # a detail view is remembered
    EngagementEvent.objects.create(shader=old_seen, user=user, kind=EventKind.VIEW)
    EngagementEvent.objects.filter(shader=old_seen).update(created_at=timezone.now() - timedelta(days=31))
    assert sorted(s["title"] for s in client.get("/api/v1/feed").json()) == ["Fresh", "Seen long ago"]
    # anonymous sessions are recognised by their session id
    api_client.post(
        "/api/v1/feed/dwell",
        {"shader_id": str(fresh.pk), "dwell_secs": 3, "session_id": "tab-1"},
        format="json",
    )
    assert "Fresh" not in [s["title"] for s in api_client.get("/api/v1/feed?session_id=tab-1").json()]
    assert "Fresh" in [s["title"] for s in api_client.get("/api/v1/feed?session_id=tab-2").json()]


def test_feed_paging_is_stable_for_one_viewer(make_shader, user):
    for n in range(6):
        make_shader(title=f"S{n}")
    client = client_for(user)
    whole = [s["id"] for s in client.get("/api/v1/feed?limit=6").json()]
    pages = [s["id"] for off in (0, 3) for s in client.get(f"/api/v1/feed?limit=3&offset={off}").json()]
    assert pages == whole


# --- votes ----------------------------------------------------------------------------------------


def test_vote_cast_change_duplicate_and_remove(make_shader, auth_client, api_client):
    shader = make_shader()
    url = f"/api/v1/shaders/{shader.pk}/vote"
    up = auth_client.post(url, {"value": 1}, format="json")
    assert up.status_code == 200
    assert up.json()["upvotes"] == 1 and up.json()["value"] == 1 and up.json()["score"] > 0
    dup = auth_client.post(url, {"value": 1}, format="json")
    assert dup.status_code == 409 and dup.json()["detail"] == "Already voted with this value"
    down = auth_client.post(url, {"value": -1}, format="json").json()
    assert (down["upvotes"], down["downvotes"], down["score"]) == (0, 1, 0.0)
    removed = auth_client.delete(url)
    assert removed.status_code == 200 and removed.json()["downvotes"] == 0 and removed.json()["value"] is None
    assert auth_client.delete(url).json() == {"detail": "Vote not found"}
    assert not Vote.objects.filter(shader=shader).exists()
    assert api_client.post(url, {"value": 1}, format="json").status_code == 401


@pytest.mark.parametrize(
    "body", [{"value": 0}, {"value": 2}, {"value": "up"}, {"value": True}, {}, {"value": None}]
)
def test_vote_rejects_anything_but_plus_or_minus_one(make_shader, auth_client, body):
    resp = auth_client.post(f"/api/v1/shaders/{make_shader().pk}/vote", body, format="json")
    assert resp.status_code == 400 and "value" in resp.json()["detail"]


def test_vote_recalculates_the_score(make_shader, voters):
    shader = make_shader()
    for user in voters[:5]:
        engagement.cast_vote(user, shader.pk, 1)
    engagement.cast_vote(voters[5], shader.pk, -1)
    shader.refresh_from_db()
    assert (shader.upvotes, shader.downvotes) == (5, 1)
    assert shader.score == pytest.approx(feed.wilson_lower_bound(5, 1))
    assert shader.hot_score == pytest.approx(feed.hot_score(shader.score, shader.published_at))


def test_vote_on_unknown_shader_is_404(auth_client):
    resp = auth_client.post(f"/api/v1/shaders/{uuid.uuid4()}/vote", {"value": 1}, format="json")
    assert resp.status_code == 404


# --- dwell and replay -----------------------------------------------------------------------------


def test_dwell_is_recorded_for_anyone(make_shader, api_client, auth_client):
    shader = make_shader()
    resp = api_client.post(
        "/api/v1/feed/dwell",
        {"shader_id": str(shader.pk), "dwell_secs": 15.5, "session_id": "anonymous-session-id"},
        format="json",
    )
    assert resp.status_code == 204
    assert (
        auth_client.post(
            "/api/v1/feed/dwell", {"shader_id": str(shader.pk), "dwell_secs": 2}, format="json"
        ).status_code
        == 204
    )
    events = EngagementEvent.objects.filter(shader=shader, kind=EventKind.DWELL).order_by("created_at")
    assert [(e.dwell_secs, e.session_id, e.user_id) for e in events] == [
        (15.5, "anonymous-session-id", None),
        (2.0, "", auth_client.user.pk),
    ]


@pytest.mark.parametrize(
    "body, status",
    [
        ({"dwell_secs": 3}, 400),
        ({"shader_id": "nope", "dwell_secs": 3}, 400),
        ({"shader_id": "SHADER", "dwell_secs": -1}, 400),
        ({"shader_id": "SHADER", "dwell_secs": "long"}, 400),
        ({"shader_id": str(uuid.uuid4()), "dwell_secs": 3}, 404),
    ],
)
def test_dwell_rejects_bad_input(make_shader, api_client, body, status):
    shader = make_shader()
    body = {k: (str(shader.pk) if v == "SHADER" else v) for k, v in body.items()}
    resp = api_client.post("/api/v1/feed/dwell", body, format="json")
    assert resp.status_code == status and "detail" in resp.json()


def test_replay_is_recorded_with_or_without_a_body(make_shader, api_client):
    shader = make_shader()
    assert api_client.post(f"/api/v1/shaders/{shader.pk}/replay").status_code == 204
    assert (
        api_client.post(
            f"/api/v1/shaders/{shader.pk}/replay", {"session_id": "s1"}, format="json"
        ).status_code
        == 204
    )
    assert EngagementEvent.objects.filter(shader=shader, kind=EventKind.REPLAY).count() == 2
    assert api_client.post(f"/api/v1/shaders/{uuid.uuid4()}/replay").status_code == 404
    assert (
        api_client.post(
            f"/api/v1/shaders/{shader.pk}/replay", {"session_id": ["x"]}, format="json"
        ).status_code
        == 400
    )


def test_your_own_shaders_stay_out_of_your_feed(make_shader, pro_user):
    make_shader(owner=pro_user, title="Mine")
    make_shader(title="Theirs")
    titles = [s["title"] for s in client_for(pro_user).get("/api/v1/feed").json()]
    assert titles == ["Theirs"]
