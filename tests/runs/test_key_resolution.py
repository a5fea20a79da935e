"""FractalQ's key resolution keeps objects per process, but never answers with stale state."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from config.errors import NotFound
from pipelines import services
from pipelines.models import SessionKey

pytestmark = pytest.mark.django_db

GRAPH = {
    "nodes": [{"id": "t", "type": "INPUT__TEXT", "params": {"name": "text"}}, {"id": "out", "type": "OUTPUT__"}],
    "edges": [{"from": {"node": "t", "port": "text"}, "to": {"node": "out", "port": "echo"}}],
}


@pytest.fixture
def published(make_user):
    owner = make_user(credits_amount=10)
    pipeline = services.create_pipeline(owner, "Echo", graph=GRAPH)
    return pipeline, services.publish(pipeline).session_key


def test_a_second_call_reads_one_row_and_gets_its_own_copies(published):
    pipeline, raw = published
    key, version = services.resolve_key(raw)
    with CaptureQueriesContext(connection) as queries:
        again, version_again = services.resolve_key(raw)
    assert len(queries) == 1
    assert again.pk == key.pk and version_again.pk == version.pk
    again.pipeline.presets["x"] = {"t": {}}
    version_again.graph["nodes"].clear()
    third, version_third = services.resolve_key(raw)
    assert third.pipeline.presets == {} and version_third.graph["nodes"]


def test_what_changed_is_seen_at_once(published):
    pipeline, raw = published
    services.resolve_key(raw)
    # a new version
    services.publish(pipeline)
    assert services.resolve_key(raw)[1].number == 2
    # spending caps
    services.set_spending_caps(pipeline, {"credits_per_day": 5})
    assert services.resolve_key(raw)[0].daily_credit_cap == 5
    # presets
    pipeline.refresh_from_db()
    pipeline.presets = {"fast": {"t": {}}}
    pipeline.save()
    assert services.resolve_key(raw)[0].pipeline.presets == {"fast": {"t": {}}}
    # the owner disabled
    User.objects.filter(pk=pipeline.owner_id).update(is_active=False)
    with pytest.raises(NotFound):
        services.resolve_key(raw)
    User.objects.filter(pk=pipeline.owner_id).update(is_active=True)
    assert services.resolve_key(raw)[0].pipeline.owner.is_active
    # the key revoked (rotated)
    services.issue_session_key(pipeline)
    with pytest.raises(NotFound):
        services.resolve_key(raw)
    assert SessionKey.objects.filter(pipeline=pipeline, revoked_at__isnull=True).count() == 1
