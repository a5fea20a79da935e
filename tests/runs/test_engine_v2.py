"""Engine v2: parallel branches, GPU serialization, cancel inside a node, retries and fallback, the node-output
cache, resume, frozen prices and the one billing rule."""

import threading
import time

import pytest
from PIL import Image

from accounts.models import User
from pipelines import services as pipeline_services
from pipelines.graph import validate_graph
from pipelines.nodes.base import ImageValue, NodeError, NodeType, Port, register
from runs import cache, services
from runs.engine import execute_run
from runs.models import NodeOutput, NodeRun, Run, RunEvent
from tests.background import execute_in_background

CALLS: dict[str, int] = {}
ACTIVE = {"now": 0, "max": 0}
LOCK = threading.Lock()


def count(name):
    with LOCK:
        CALLS[name] = CALLS.get(name, 0) + 1
        return CALLS[name]


@register
class SleepText(NodeType):
    """Sleeps (the GIL is free meanwhile), then appends its tag: a CPU node that takes time."""

    type = "TEST2__SLEEP"
    family = "test"
    inputs = (Port("text", "text"),)
    outputs = (Port("text", "text"),)
    credit_cost = 2
    params_schema = {
        "type": "object",
        "properties": {"seconds": {"type": "number", "default": 1.0}, "tag": {"type": "string", "default": "x"}},
    }

    def run(self, ctx, inputs, params):
        count(self.type)
        with LOCK:
            ACTIVE["now"] += 1
            ACTIVE["max"] = max(ACTIVE["max"], ACTIVE["now"])
        try:
            time.sleep(params["seconds"])
        finally:
            with LOCK:
                ACTIVE["now"] -= 1
        return {"text": inputs["text"] + params["tag"]}


@register
class SleepGpu(SleepText):
    type = "TEST2__SLEEP_GPU"
    resource_class = "gpu"


@register
class Join(NodeType):
    type = "TEST2__JOIN"
    family = "test"
    inputs = (Port("a", "text"), Port("b", "text"))
    outputs = (Port("text", "text"),)
    credit_cost = 1

    def run(self, ctx, inputs, params):
        count(self.type)
        return {"text": inputs["a"] + "|" + inputs["b"]}


@register
class Steps(NodeType):
    """A long node that reports progress at each of its steps (as the upscaler does per tile)."""

    type = "TEST2__STEPS"
    family = "test"
    inputs = (Port("text", "text"),)
    outputs = (Port("text", "text"),)
    credit_cost = 5
    params_schema = {"type": "object", "properties": {"steps": {"type": "integer", "default": 200}}}

    def run(self, ctx, inputs, params):
        count(self.type)
        for step in range(params["steps"]):
            time.sleep(0.02)
            ctx.report_progress((step + 1) / params["steps"])
        return {"text": inputs["text"] + "!"}


@register
class Broken(NodeType):
    """Fails on the server side (retryable) ``fail_times`` times, or with an input error."""

    type = "TEST2__BROKEN"
    family = "test"
    inputs = (Port("text", "text"),)
    outputs = (Port("text", "text"),)
    credit_cost = 3
    max_retries = 1
    retry_backoff_seconds = 0.05
    provider_param = "provider"
    params_schema = {
        "type": "object",
        "properties": {
            "provider": {"type": "string", "default": "alpha"},
            "fail_times": {"type": "integer", "default": 100},
            "input_error": {"type": "boolean", "default": False},
        },
    }

    def run(self, ctx, inputs, params):
        n = count(f"{self.type}:{params['provider']}")
        if params["input_error"]:
            raise NodeError("that text is not acceptable", code="INVALID_INPUT")
        if n <= params["fail_times"]:
            raise NodeError(f"{params['provider']} is down", code="PROVIDER_DOWN", retryable=True)
        return {"text": f"{inputs['text']}@{params['provider']}"}


@register
class Backup(NodeType):
    type = "TEST2__BACKUP"
    family = "test"
    inputs = (Port("text", "text"),)
    outputs = (Port("text", "text"),)
    credit_cost = 1

    def run(self, ctx, inputs, params):
        count(self.type)
        return {"text": inputs["text"] + "@backup"}


@register
class Paint(NodeType):
    """Makes an image from text (deterministic), to cache image outputs."""

    type = "TEST2__PAINT"
    family = "test"
    inputs = (Port("text", "text"),)
    outputs = (Port("image", "image"),)
    credit_cost = 4
    params_schema = {"type": "object", "properties": {"size": {"type": "integer", "default": 64}}}

    def run(self, ctx, inputs, params):
        count(self.type)
        shade = sum(inputs["text"].encode()) % 256
        return {"image": ImageValue(Image.new("RGB", (params["size"],) * 2, (shade, 10, 200)))}


@register
class Measure(NodeType):
    type = "TEST2__MEASURE"
    family = "test"
    inputs = (Port("image", "image"),)
    outputs = (Port("text", "text"),)
    credit_cost = 2

    def run(self, ctx, inputs, params):
        count(self.type)
        image = inputs["image"].image
        return {"text": f"{image.width}x{image.height}:{image.getpixel((0, 0))}"}


@register
class Random(SleepText):
    type = "TEST2__RANDOM"
    cacheable = False


@pytest.fixture(autouse=True)
def reset():
    CALLS.clear()
    ACTIVE.update(now=0, max=0)


def node(nid, type_, **extra):
    return {"id": nid, "type": type_, "params": extra.pop("params", {}), **extra}


def edge(a, ap, b, bp):
    return {"from": {"node": a, "port": ap}, "to": {"node": b, "port": bp}}


def graph(nodes, edges, last, port="text"):
    nodes = [node("t", "INPUT__TEXT", params={"name": "text"}), *nodes, node("out", "OUTPUT__")]
    return {"nodes": nodes, "edges": [*edges, edge(last, port, "out", "result")]}


def line(*nodes):
    """t -> nodes... -> out, each node's text into the next."""
    edges, prev = [], "t"
    for n in nodes:
        edges.append(edge(prev, "text", n["id"], list(n.get("_in", ["text"]))[0]))
        prev = n["id"]
    return graph(list(nodes), edges, prev)


def diamond(type_, **params):
    return graph(
        [node("a", type_, params={**params, "tag": "A"}), node("b", type_, params={**params, "tag": "B"}),
         node("j", "TEST2__JOIN")],
        [edge("t", "text", "a", "text"), edge("t", "text", "b", "text"), edge("a", "text", "j", "a"),
         edge("b", "text", "j", "b")],
        "j",
    )


def publish(user, g):
    pipeline = pipeline_services.create_pipeline(user, f"P{time.monotonic_ns()}", graph=g)
    return pipeline, pipeline_services.publish(pipeline).version


def submit(user, g=None, text="hi", pv=None):
    pipeline, version = pv or publish(user, g)
    return services.submit_run(
        pipeline=pipeline, version=version, billed_to=user, surface="studio", inputs={"text": text}, enqueue=False
    ).run


def balance(user):
    return User.objects.get(pk=user.pk).credit_balance


def statuses(run):
    return dict(NodeRun.objects.filter(run=run).values_list("node_id", "status"))


# -- parallel branches -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_two_independent_one_second_nodes_finish_in_about_one_second(make_user):
    user = make_user(credits_amount=100)
    run = submit(user, diamond("TEST2__SLEEP", seconds=1.0))
    assert execute_run(run.pk) == "completed"
    run.refresh_from_db()
    wall = (run.finished_at - run.started_at).total_seconds()
    assert run.outputs["result"]["value"] == "hiA|hiB"
    assert ACTIVE["max"] == 2
    assert wall < 1.6, f"two 1 s branches took {wall:.2f} s"
    assert run.credits_used == 5 and balance(user) == 95


@pytest.mark.django_db
def test_gpu_nodes_run_one_at_a_time(make_user):
    user = make_user(credits_amount=100)
    run = submit(user, diamond("TEST2__SLEEP_GPU", seconds=0.3))
    assert execute_run(run.pk) == "completed"
    assert ACTIVE["max"] == 1


@pytest.mark.django_db
def test_a_failed_branch_stops_the_other_and_charges_nothing(make_user):
    user = make_user(credits_amount=100)
    g = graph(
        [node("a", "TEST2__STEPS", params={"steps": 300}), node("b", "TEST2__BROKEN", params={"fail_times": 9}),
         node("j", "TEST2__JOIN")],
        [edge("t", "text", "a", "text"), edge("t", "text", "b", "text"), edge("a", "text", "j", "a"),
         edge("b", "text", "j", "b")],
        "j",
    )
    run = submit(user, g)
    started = time.monotonic()
    assert execute_run(run.pk) == "failed"
    assert time.monotonic() - started < 4  # the 6 s branch was stopped, not waited for
    assert statuses(run) == {"t": "completed", "a": "skipped", "b": "failed", "j": "skipped", "out": "skipped"}
    assert balance(user) == 100


# -- cancel and progress inside a long node ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_long_node_at_its_next_step_and_refunds_it(make_user):
    user = make_user(credits_amount=100)
    run = submit(user, line(node("s", "TEST2__STEPS", params={"steps": 500})))  # 10 s of steps
    assert balance(user) == 95
    worker, result = execute_in_background(run.pk)
    deadline = time.monotonic() + 10
    while NodeRun.objects.get(run=run, node_id="s").progress < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert RunEvent.objects.filter(run=run, type="node.progress").exists()  # progress shows inside the node
    asked = time.monotonic()
    services.cancel_run(Run.objects.get(pk=run.pk))
    worker.join(10)
    stopped_after = time.monotonic() - asked
    run.refresh_from_db()
    assert result["status"] == "cancelled" and run.status == "cancelled"
    assert stopped_after < 2, f"the node stopped {stopped_after:.1f} s after the cancel"
    assert statuses(run)["s"] == "cancelled"
    assert run.credits_used == 0 and balance(user) == 100  # the node did not finish: not charged


# -- retries and fallback ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_retries_then_falls_back_to_another_node_type(make_user):
    user = make_user(credits_amount=100)
    g = line(node("b", "TEST2__BROKEN", retry={"max_retries": 2, "backoff_seconds": 0.01},
                  fallback={"type": "TEST2__BACKUP"}))
    assert validate_graph(g) == []
    run = submit(user, g)
    assert execute_run(run.pk) == "completed"
    run.refresh_from_db()
    assert run.outputs["result"]["value"] == "hi@backup"
    nr = NodeRun.objects.get(run=run, node_id="b")
    assert nr.fallback_used and nr.attempts == 4
    log = [(a["attempt"], a["node_type"], a["provider"], a["outcome"], a["fallback"]) for a in nr.attempt_log]
    assert log == [
        (1, "TEST2__BROKEN", "alpha", "failed", False),
        (2, "TEST2__BROKEN", "alpha", "failed", False),
        (3, "TEST2__BROKEN", "alpha", "failed", False),
        (4, "TEST2__BACKUP", None, "completed", True),
    ]
    assert nr.attempt_log[0]["error"]["code"] == "PROVIDER_DOWN" and nr.attempt_log[0]["duration_ms"] >= 0
    assert RunEvent.objects.filter(run=run, type="node.retrying").count() == 2
    assert RunEvent.objects.filter(run=run, type="node.fallback").count() == 1


@pytest.mark.django_db
def test_fallback_to_another_provider_of_the_same_node(make_user):
    user = make_user(credits_amount=100)
    g = line(node("b", "TEST2__BROKEN", params={"provider": "alpha"},
                  fallback={"params": {"provider": "beta", "fail_times": 0}}))
    run = submit(user, g)
    assert execute_run(run.pk) == "completed"
    run.refresh_from_db()
    assert run.outputs["result"]["value"] == "hi@beta"
    providers = [a["provider"] for a in NodeRun.objects.get(run=run, node_id="b").attempt_log]
    assert providers == ["alpha", "alpha", "beta"]  # its type's one retry, then the fallback


@pytest.mark.django_db
def test_an_input_error_is_neither_retried_nor_falls_back(make_user):
    user = make_user(credits_amount=100)
    g = line(node("b", "TEST2__BROKEN", params={"input_error": True}, fallback={"type": "TEST2__BACKUP"}))
    run = submit(user, g)
    assert execute_run(run.pk) == "failed"
    run.refresh_from_db()
    assert run.error["code"] == "INVALID_INPUT" and run.error["status"] == 422
    assert CALLS == {"TEST2__BROKEN:alpha": 1}


def test_graph_validation_checks_retry_and_fallback():
    def codes(**extra):
        return {(e.node, e.code) for e in validate_graph(line(node("b", "TEST2__BROKEN", **extra)))}

    assert codes(retry={"max_retries": 9}) == {("b", "INVALID_RETRY")}
    assert codes(retry={"backoff_seconds": -1}) == {("b", "INVALID_RETRY")}
    assert codes(retry={"tries": 1}) == {("b", "INVALID_RETRY")}
    assert codes(fallback={"type": "NOPE"}) == {("b", "INVALID_FALLBACK")}
    assert codes(fallback={"type": "TEST2__PAINT"}) == {("b", "INVALID_FALLBACK")}  # gives an image, not text
    assert codes(fallback={}) == {("b", "INVALID_FALLBACK")}  # the same node with the same params
    assert codes(fallback={"params": {"provider": 5}}) == {("b", "INVALID_FALLBACK")}
    assert codes(fallback={"type": "OUTPUT__"}) == {("b", "INVALID_FALLBACK")}
    assert codes(retry={"max_retries": 2, "backoff_seconds": 0.5}, fallback={"type": "TEST2__BACKUP"}) == set()


# -- the node-output cache ---------------------------------------------------------------------------


def painted():
    return graph(
        [node("p", "TEST2__PAINT"), node("m", "TEST2__MEASURE")],
        [edge("t", "text", "p", "text"), edge("p", "image", "m", "image")],
        "m",
    )


@pytest.mark.django_db
def test_the_same_inputs_reuse_every_unchanged_node_and_are_not_billed_twice(make_user):
    user = make_user(credits_amount=100)
    pv = publish(user, painted())
    first = submit(user, pv=pv)
    assert execute_run(first.pk) == "completed" and balance(user) == 94
    second = submit(user, pv=pv)
    assert execute_run(second.pk) == "completed"
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.outputs == first.outputs
    assert CALLS == {"TEST2__PAINT": 1, "TEST2__MEASURE": 1}
    cached = dict(NodeRun.objects.filter(run=second).values_list("node_id", "cached"))
    assert cached == {"t": False, "p": True, "m": True, "out": False}
    assert second.credits_used == 0 and balance(user) == 94
    event = RunEvent.objects.get(run=second, type="node.completed", node_id="p")
    assert event.data["cached"] is True
    # other inputs: everything runs again
    third = submit(user, pv=pv, text="other")
    assert execute_run(third.pk) == "completed"
    assert CALLS == {"TEST2__PAINT": 2, "TEST2__MEASURE": 2}


@pytest.mark.django_db
def test_changing_one_param_recomputes_that_node_and_what_follows_only(make_user):
    user = make_user(credits_amount=100)
    g = graph(
        [node("a", "TEST2__SLEEP", params={"seconds": 0, "tag": "A"}), node("p", "TEST2__PAINT"),
         node("m", "TEST2__MEASURE")],
        [edge("t", "text", "a", "text"), edge("a", "text", "p", "text"), edge("p", "image", "m", "image")],
        "m",
    )
    assert execute_run(submit(user, g).pk) == "completed"
    g["nodes"][2]["params"] = {"size": 32}
    run = submit(user, g)
    assert execute_run(run.pk) == "completed"
    assert CALLS == {"TEST2__SLEEP": 1, "TEST2__PAINT": 2, "TEST2__MEASURE": 2}
    cached = dict(NodeRun.objects.filter(run=run).values_list("node_id", "cached"))
    assert cached == {"t": False, "a": True, "p": False, "m": False, "out": False}


@pytest.mark.django_db
def test_a_node_that_is_not_deterministic_is_never_taken_from_the_cache(make_user):
    user = make_user(credits_amount=100)
    pv = publish(user, line(node("r", "TEST2__RANDOM", params={"seconds": 0})))
    for _ in range(2):
        assert execute_run(submit(user, pv=pv).pk) == "completed"
    assert CALLS == {"TEST2__RANDOM": 2}


@pytest.mark.django_db
def test_the_cache_is_per_account(make_user):
    alice, bob = make_user(credits_amount=100), make_user(credits_amount=100)
    for user in (alice, bob):
        assert execute_run(submit(user, painted()).pk) == "completed"
    assert CALLS == {"TEST2__PAINT": 2, "TEST2__MEASURE": 2}


@pytest.mark.django_db
def test_the_store_is_bounded_least_recently_used_first(make_user, settings):
    user = make_user(credits_amount=1000)
    pv = publish(user, graph([node("p", "TEST2__PAINT")], [edge("t", "text", "p", "text")], "p", "image"))
    keys = []
    for text in ("a", "b", "c"):
        assert execute_run(submit(user, pv=pv, text=text).pk) == "completed"
        keys.append(NodeRun.objects.filter(node_id="p").order_by("-pk").first().output_ref)
    assert NodeOutput.objects.count() == 3
    cache.load(keys[0], user.pk)  # a is used again: b is now the least recently used
    sizes = dict(NodeOutput.objects.values_list("key", "size"))
    assert cache.evict(sum(sizes.values()) - 1) >= 1
    left = set(NodeOutput.objects.values_list("key", flat=True))
    assert keys[1] not in left and keys[0] in left and keys[2] in left


def test_outputs_survive_serialization():
    image = Image.new("RGBA", (5, 3), (1, 2, 3, 4))
    cmyk = Image.new("CMYK", (2, 2), (1, 2, 3, 4))
    values = {"i": ImageValue(image, "WEBP", {"scale": 2}, "art_x"), "c": ImageValue(cmyk), "t": "x", "n": 1.5,
              "j": {"boxes": [1, 2]}}
    back = cache.deserialize(cache.serialize(values))
    assert back["i"].image.tobytes() == image.tobytes() and back["i"].image.mode == "RGBA"
    assert (back["i"].format, back["i"].metadata, back["i"].source) == ("WEBP", {"scale": 2}, "art_x")
    assert back["c"].image.mode == "CMYK" and back["c"].image.tobytes() == cmyk.tobytes()
    assert (back["t"], back["n"], back["j"]) == ("x", 1.5, {"boxes": [1, 2]})
    assert cache.serialize({"x": object()}) is None


# -- resume ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_resume_reuses_finished_nodes_and_reserves_only_what_runs_again(make_user):
    user = make_user(credits_amount=100)
    g = graph(
        [node("p", "TEST2__PAINT"), node("m", "TEST2__MEASURE"), node("b", "TEST2__BROKEN", params={"fail_times": 2})],
        [edge("t", "text", "p", "text"), edge("p", "image", "m", "image"), edge("m", "text", "b", "text")],
        "b",
    )
    run = submit(user, g)  # 4 + 2 + 3
    assert execute_run(run.pk) == "failed" and balance(user) == 100  # a failed run is charged nothing
    assert statuses(run)["b"] == "failed"
    run = services.resume_run(Run.objects.get(pk=run.pk))
    # p and m are reused but were never paid for (the run failed): reserved with b, which runs again
    assert run.status == "queued" and run.resumes == 1 and run.credits_reserved == 9 and balance(user) == 91
    assert RunEvent.objects.get(run=run, type="run.resumed").data["reused"] == ["p", "m"]
    assert execute_run(run.pk) == "completed"
    run.refresh_from_db()
    assert run.outputs["result"]["value"].endswith("@alpha")
    assert CALLS["TEST2__PAINT"] == 1 and CALLS["TEST2__MEASURE"] == 1  # not recomputed
    reused = dict(NodeRun.objects.filter(run=run).values_list("node_id", "reused"))
    assert reused == {"t": False, "p": True, "m": True, "b": False, "out": False}
    assert run.credits_used == 9 and balance(user) == 91


@pytest.mark.django_db(transaction=True)
def test_resume_of_a_cancelled_run_does_not_charge_twice(make_user):
    user = make_user(credits_amount=100)
    g = graph(
        [node("p", "TEST2__PAINT"), node("m", "TEST2__MEASURE"), node("s", "TEST2__STEPS", params={"steps": 400})],
        [edge("t", "text", "p", "text"), edge("p", "image", "m", "image"), edge("m", "text", "s", "text")],
        "s",
    )
    run = submit(user, g)  # 4 + 2 + 5
    worker, _ = execute_in_background(run.pk)
    deadline = time.monotonic() + 10
    while statuses(run)["s"] != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    services.cancel_run(Run.objects.get(pk=run.pk))
    worker.join(10)
    run.refresh_from_db()
    assert run.status == "cancelled" and run.credits_used == 6 and balance(user) == 94  # p and m delivered
    run = services.resume_run(run)
    assert run.credits_reserved == 5 and balance(user) == 89  # only s runs again
    CALLS.clear()
    Steps.params_schema = Steps.params_schema  # the same node, now allowed to finish
    assert execute_run(run.pk) == "completed"
    run.refresh_from_db()
    assert CALLS == {"TEST2__STEPS": 1}
    assert run.credits_used == 11 and balance(user) == 89


@pytest.mark.django_db
def test_only_failed_or_cancelled_runs_resume(make_user, client):
    user = make_user(credits_amount=100)
    run = submit(user, line(node("a", "TEST2__SLEEP", params={"seconds": 0})))
    assert execute_run(run.pk) == "completed"
    client.force_login(user)
    answer = client.post(f"/api/v1/studio/runs/{run.pk}/resume")
    assert answer.status_code == 409 and "can be resumed" in answer.json()["detail"]
    other = make_user()
    client.force_login(other)
    assert client.post(f"/api/v1/studio/runs/{run.pk}/resume").status_code == 404


@pytest.mark.django_db
def test_studio_resume_endpoint(make_user, client, settings):
    settings.RUNS_EAGER = True
    user = make_user(credits_amount=100)
    g = line(node("p", "TEST2__SLEEP", params={"seconds": 0}), node("b", "TEST2__BROKEN", params={"fail_times": 2}))
    run = submit(user, g)
    assert execute_run(run.pk) == "failed"
    client.force_login(user)
    detail = client.get(f"/api/v1/studio/runs/{run.pk}").json()
    assert detail["resumable"] is True
    assert [a["outcome"] for a in next(n for n in detail["nodes"] if n["node_id"] == "b")["attempt_log"]] == [
        "failed", "failed"]
    answer = client.post(f"/api/v1/studio/runs/{run.pk}/resume")
    assert answer.status_code == 202
    detail = client.get(f"/api/v1/studio/runs/{run.pk}").json()  # eager: it ran at once
    assert detail["status"] == "completed" and detail["resumes"] == 1
    nodes = {n["node_id"]: n for n in detail["nodes"]}
    assert nodes["p"]["reused"] is True and nodes["b"]["status"] == "completed"


# -- prices frozen in the version ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_run_is_charged_the_prices_frozen_in_its_version(make_user, monkeypatch):
    user = make_user(credits_amount=100)
    pv = publish(user, line(node("a", "TEST2__SLEEP", params={"seconds": 0})))
    assert pv[1].node_prices == {"t": 0, "a": 2, "out": 0} and pv[1].credit_cost == 2
    monkeypatch.setattr(SleepText, "credit_cost", 7)  # the price changes after publishing
    run = submit(user, pv=pv)
    assert run.credits_reserved == 2
    assert execute_run(run.pk) == "completed"
    run.refresh_from_db()
    assert run.credits_used == 2 and balance(user) == 98
