"""The engine: order, retries, blocking gates, cancellation refunds, stale-run recovery."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from pipelines import services as pipeline_services
from pipelines.nodes.base import NodeError, NodeType, PipelineBlocked, Port, register
from runs import recovery, services
from runs.engine import execute_run
from runs.models import NodeRun, Run, RunEvent
from tests.background import execute_in_background

GATE_EVENT = threading.Event()
FLAKY_CALLS = {"n": 0}


@register
class FlakyText(NodeType):
    type = "TEST__FLAKY"
    family = "test"
    inputs = (Port("text", "text"),)
    outputs = (Port("text", "text"),)
    credit_cost = 3
    max_retries = 2
    params_schema = {"type": "object", "properties": {"fail_times": {"type": "integer", "default": 1}}}

    def run(self, ctx, inputs, params):
        FLAKY_CALLS["n"] += 1
        if FLAKY_CALLS["n"] <= params["fail_times"]:
            raise NodeError("temporary glitch", code="TEMPORARY", retryable=True)
        return {"text": inputs["text"].upper()}


@register
class Gate(NodeType):
    type = "TEST__GATE"
    family = "test"
    inputs = (Port("text", "text"),)
    outputs = (Port("text", "text"), Port("score", "number"))
    credit_cost = 2
    params_schema = {"type": "object", "properties": {"threshold": {"type": "number", "default": 0.5}}}

    def run(self, ctx, inputs, params):
        score = 0.9 if "bad" in inputs["text"] else 0.1
        if score > params["threshold"]:
            raise PipelineBlocked("content blocked", code="NSFW_BLOCKED", outputs={"score": score})
        return {"text": inputs["text"], "score": score}


@register
class Wait(NodeType):
    type = "TEST__WAIT"
    family = "test"
    inputs = (Port("text", "text"),)
    outputs = (Port("text", "text"),)
    credit_cost = 4

    def run(self, ctx, inputs, params):
        GATE_EVENT.wait(10)
        return {"text": inputs["text"]}


def chain(*types):
    nodes = [{"id": "t", "type": "INPUT__TEXT", "params": {"name": "text"}}]
    edges = []
    prev = "t"
    for i, node_type in enumerate(types):
        nid = f"n{i}"
        nodes.append({"id": nid, "type": node_type, "params": {}})
        edges.append({"from": {"node": prev, "port": "text"}, "to": {"node": nid, "port": "text"}})
        prev = nid
    nodes.append({"id": "out", "type": "OUTPUT__", "params": {}})
    edges.append({"from": {"node": prev, "port": "text"}, "to": {"node": "out", "port": "result"}})
    return {"nodes": nodes, "edges": edges}


def submit(user, graph, text="hello"):
    pipeline = pipeline_services.create_pipeline(user, "E", graph=graph)
    version = pipeline_services.publish(pipeline).version
    return services.submit_run(
        pipeline=pipeline,
        version=version,
        billed_to=user,
        surface="studio",
        inputs={"text": text},
        enqueue=False,
    ).run


def balance(user):
    return User.objects.get(pk=user.pk).credit_balance


@pytest.mark.django_db
def test_retries_then_succeeds_and_settles(make_user):
    FLAKY_CALLS["n"] = 0
    user = make_user(credits_amount=100)
    run = submit(user, chain("TEST__FLAKY"))
    assert balance(user) == 97
    assert execute_run(run.pk) == "completed"
    run.refresh_from_db()
    assert run.outputs == {"result": {"type": "text", "value": "HELLO"}}
    assert NodeRun.objects.get(run=run, node_id="n0").attempts == 2
    assert RunEvent.objects.filter(run=run, type="node.retrying").count() == 1
    assert balance(user) == 97 and run.credits_used == 3
    assert execute_run(run.pk) is None  # a second delivery of the task does nothing


@pytest.mark.django_db
def test_retries_exhausted_fails_and_refunds(make_user):
    FLAKY_CALLS["n"] = 0
    user = make_user(credits_amount=100)
    graph = chain("TEST__FLAKY")
    graph["nodes"][1]["params"] = {"fail_times": 5}
    run = submit(user, graph)
    assert execute_run(run.pk) == "failed"
    run.refresh_from_db()
    assert run.error["code"] == "TEMPORARY" and run.error["node"] == "n0"
    assert NodeRun.objects.get(run=run, node_id="n0").attempts == 3
    assert NodeRun.objects.get(run=run, node_id="out").status == "skipped"
    assert balance(user) == 100


@pytest.mark.django_db
def test_gate_blocks_downstream_and_refunds_unrun_nodes(make_user):
    FLAKY_CALLS["n"] = 1
    user = make_user(credits_amount=100)
    run = submit(user, chain("TEST__GATE", "TEST__FLAKY"), text="bad stuff")
    assert balance(user) == 95
    assert execute_run(run.pk) == "blocked"
    run.refresh_from_db()
    assert run.error["code"] == "NSFW_BLOCKED" and run.error["status"] == 422
    statuses = dict(NodeRun.objects.filter(run=run).values_list("node_id", "status"))
    assert statuses == {"t": "completed", "n0": "blocked", "n1": "skipped", "out": "skipped"}
    assert run.credits_used == 2 and balance(user) == 98  # the gate ran; the flaky node did not


@pytest.mark.django_db(transaction=True)
def test_cancel_running_refunds_only_unrun_nodes(make_user):
    GATE_EVENT.clear()
    user = make_user(credits_amount=100)
    run = submit(user, chain("TEST__WAIT", "TEST__FLAKY"))  # 4 + 3 credits
    assert balance(user) == 93
    worker, result = execute_in_background(run.pk)
    deadline = time.time() + 10
    while NodeRun.objects.get(run=run, node_id="n0").status != "running" and time.time() < deadline:
        time.sleep(0.02)
    cancel = services.cancel_run(Run.objects.get(pk=run.pk))
    assert cancel.previous_status == "running" and cancel.credits_refunded == 3
    assert balance(user) == 96
    GATE_EVENT.set()
    worker.join(10)
    run.refresh_from_db()
    assert result["status"] == "cancelled" and run.status == "cancelled"
    statuses = dict(NodeRun.objects.filter(run=run).values_list("node_id", "status"))
    assert statuses["n0"] == "completed" and statuses["n1"] == "cancelled"
    assert balance(user) == 96 and run.credits_used == 4


@pytest.mark.django_db
def test_stale_running_run_is_requeued_then_failed(make_user, settings):
    settings.RUNS_EAGER = False
    settings.MAX_RUN_ATTEMPTS = 2
    user = make_user(credits_amount=100)
    run = submit(user, chain("TEST__FLAKY"))
    old = timezone.now() - timedelta(seconds=settings.STALE_RUN_SECONDS + 5)
    Run.objects.filter(pk=run.pk).update(status="running", heartbeat_at=old, attempts=1)
    assert recovery.recover_stale_runs() == {"requeued": 1, "failed": 0}
    run.refresh_from_db()
    assert run.status == "queued"
    Run.objects.filter(pk=run.pk).update(status="running", heartbeat_at=old, attempts=2)
    assert recovery.recover_stale_runs() == {"requeued": 0, "failed": 1}
    run.refresh_from_db()
    assert run.status == "failed" and run.error["code"] == "WORKER_LOST"
    assert balance(user) == 100
    # fresh heartbeats are left alone
    run2 = submit(user, chain("TEST__FLAKY"))
    Run.objects.filter(pk=run2.pk).update(status="running", heartbeat_at=timezone.now(), attempts=1)
    assert recovery.recover_stale_runs() == {"requeued": 0, "failed": 0}


@pytest.mark.django_db
def test_events_are_complete_and_ordered(make_user):
    FLAKY_CALLS["n"] = 1
    user = make_user(credits_amount=100)
    run = submit(user, chain("TEST__FLAKY"))
    execute_run(run.pk)
    types = list(RunEvent.objects.filter(run=run).values_list("type", "node_id"))
    assert types == [
        ("run.queued", ""),
        ("run.started", ""),
        ("node.started", "t"),
        ("node.completed", "t"),
        ("node.started", "n0"),
        ("node.completed", "n0"),
        ("node.started", "out"),
        ("node.completed", "out"),
        ("run.completed", ""),
    ]
