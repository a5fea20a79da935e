"""Property-based fuzzing of every documented operation (schemathesis over /api/schema): no 5xx, and every
response conforms to the documentation (status code, content type, body schema).

Bounded: a few generated requests per operation, derandomized so a failure reproduces; the seeds' own 501
stubs (payments, AI generation) are the only 5xx allowed. Requests carry a real user's JWT so the
authenticated code paths are reached, not just the 401 answers."""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts import services
from accounts.models import Tier
from config.wsgi import application

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

schema = schemathesis.openapi.from_wsgi("/api/schema", application)

# The seed documents these as "501 — coming in M4/M5". Sartiq's task and workflow creates answer a documented
# 501 for the task types and providers this server cannot execute (runs/api/sartiq/graphs.py), its training
# create for FULL training (only LoRA adapters are trained here).
NOT_IMPLEMENTED_STUBS = (
    "/api/v1/generate",
    "/api/v1/payments/",
    "/api/v1/desires/{desire_id}/tip",
    "/api/v1/tasks/",
    "/api/v1/workflows/",
    "/api/v1/training/",
)
# /mcp is an ASGI app beside Django (tests/shaders/test_mcp.py drives it): the WSGI app has no route to it.
schema = schema.exclude(path="/mcp")


@pytest.fixture
def wsgi_keeps_test_connection():
    """The WSGI handler closes the database connection after each request; the test's transaction lives on
    it (Django's own test client disconnects the same receiver)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(make_user, settings, wsgi_keeps_test_connection):
    settings.RUNS_EAGER = False  # nothing generated here may run a pipeline inside the request
    user = make_user(tier=Tier.PRO, credits_amount=50)
    return {"Authorization": f"Bearer {services.issue_tokens(user)[0]}"}


@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case, bearer):
    """No 5xx, and every answer is documented: its status code, its content type and its body's schema."""
    response = case.call(headers=bearer)
    if response.status_code == 501 and case.path.startswith(NOT_IMPLEMENTED_STUBS):
        return
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
