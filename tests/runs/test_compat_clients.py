"""fal's and Replicate's official clients, unchanged, against our queue (runs.api.fal_compat,
runs.api.replicate_compat) on a live server of the test process.

fal-client builds ``https://{FAL_QUEUE_RUN_HOST}/…`` for a submit, so its server here speaks TLS with a
certificate made for the test (trusted through ``SSL_CERT_FILE``, as any custom CA is); only its queue base
URL is pointed at us. Replicate's client takes ``REPLICATE_BASE_URL``. Both authenticate with a ``fiz_``
key."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time

import fal_client
import pytest
import replicate
from django.db import connections
from PIL import Image

from accounts import keys
from accounts.models import ApiKeyKind, Tier, User
from pipelines import services as pipeline_services
from runs.models import Run, RunStatus, Surface
from tests import live
from tests.runs.conftest import png_bytes, resize_graph, text_graph

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def caller(make_user):
    user = make_user(tier=Tier.PRO, credits_amount=200, username="maker")
    return user, keys.create_api_key(user, "client", ApiKeyKind.QUEUE).raw


@pytest.fixture
def thumbs(caller):
    pipeline = pipeline_services.create_pipeline(caller[0], "Thumbs", graph=resize_graph())
    pipeline_services.publish(pipeline)
    return "maker/thumbs"


@pytest.fixture
def echo(caller):
    pipeline = pipeline_services.create_pipeline(caller[0], "Echo", graph=text_graph())
    pipeline_services.publish(pipeline)
    return "maker/echo"


@pytest.fixture
def loopback(settings):
    settings.FETCH_ALLOW_LOOPBACK = True  # the pipelines read images from the test's own image server
    settings.WEBHOOK_RETRY_DELAYS = (0.01, 0.02, 0.04)
    return settings


@pytest.fixture
def fal(tmp_path, monkeypatch, caller, loopback):
    """fal-client's SyncClient with our key, its queue host set to our TLS server's /fal."""
    with live.serve(tls_dir=tmp_path / "tls") as url:
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "tls" / "cert.pem"))
        monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", f"{url}/fal/")
        yield fal_client.SyncClient(key=caller[1], default_timeout=30)


@pytest.fixture
def rep(tmp_path, caller, loopback, monkeypatch):
    """Replicate's client with our key and REPLICATE_BASE_URL; behind TLS too, since the client turns only
    https:// outputs into files it can read."""
    with live.serve(tls_dir=tmp_path / "tls") as url:
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "tls" / "cert.pem"))
        monkeypatch.setenv("REPLICATE_BASE_URL", f"{url}/replicate")
        client = replicate.Client(api_token=caller[1])
        client.poll_interval = 0.1
        yield client


@contextlib.contextmanager
def worker(delay: float = 0.4):
    """Stands in for a queue worker: runs each queued run ``delay`` seconds after it appears."""
    from runs.engine import execute_run

    stop = threading.Event()

    def loop() -> None:
        try:
            while not stop.is_set():
                queued = list(Run.objects.filter(status=RunStatus.QUEUED).values_list("pk", flat=True))
                for run_id in queued:
                    time.sleep(delay)
                    execute_run(run_id)
                time.sleep(0.05)
        finally:
            connections.close_all()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


# --- fal-client -------------------------------------------------------------------------------------


def test_fal_submit_status_result_with_and_without_logs(fal, thumbs, image_server, settings):
    settings.RUNS_EAGER = True
    handle = fal.submit(thumbs, {"image_url": image_server.add_image("/a.png")})
    assert handle.request_id.startswith("run_")
    quiet = fal.status(thumbs, handle.request_id)
    assert isinstance(quiet, fal_client.Completed) and quiet.logs is None and quiet.error is None
    assert quiet.metrics["credits_used"] == 2 and quiet.metrics["inference_time"] >= 0
    loud = handle.status(with_logs=True)
    assert [line["message"].split()[0] for line in loud.logs] == [
        "in",
        "in",
        "resize",
        "resize",
        "gray",
        "gray",
        "out",
        "out",
    ]
    assert {line["level"] for line in loud.logs} == {"INFO"}
    result = fal.result(thumbs, handle.request_id)
    image = result["result_url"]
    assert image["width"] == 32 and image["height"] == 32 and image["content_type"] == "image/png"
    assert image["url"].startswith("https://127.0.0.1:") and "/media/" in image["url"]
    run = Run.objects.get(pk=handle.request_id)
    assert run.surface == Surface.FAL and run.inputs["image_url"].endswith("/a.png")


def test_fal_subscribe_sees_the_queue_then_progress_then_the_result(fal, echo, settings):
    settings.RUNS_EAGER = False
    updates, enqueued = [], []
    with worker():
        result = fal.subscribe(
            echo,
            {"command": "hello from fal-client"},
            with_logs=True,
            interval=0.05,
            on_enqueue=enqueued.append,
            on_queue_update=updates.append,
        )
    assert result == {"echo": "hello from fal-client"}
    assert enqueued and enqueued[0].startswith("run_")
    kinds = [type(u).__name__ for u in updates]
    assert kinds[0] == "Queued" and kinds[-1] == "Completed", kinds
    assert isinstance(updates[0].position, int)
    assert updates[-1].logs and updates[-1].error is None


def test_fal_data_uri_input_and_webhook(fal, thumbs, image_server, settings):
    settings.RUNS_EAGER = True
    data_uri = fal_client.encode(png_bytes((40, 30)), "image/png")
    handle = fal.submit(thumbs, {"image_url": data_uri}, webhook_url=image_server.url("/fal-hook"))
    path, headers, body = image_server.posts[0]
    payload = json.loads(body)
    assert path == "/fal-hook" and headers["X-Fal-Webhook-Request-Id"] == handle.request_id
    assert payload["status"] == "OK" and payload["request_id"] == handle.request_id
    assert payload["payload"]["result_url"]["width"] == 32


def test_fal_cancel_a_queued_request_and_errors(fal, thumbs, echo, caller, image_server, settings):
    settings.RUNS_EAGER = False
    user, _ = caller
    before = User.objects.get(pk=user.pk).credit_balance
    handle = fal.submit(thumbs, {"image_url": image_server.add_image("/q.png")})
    queued = fal.status(thumbs, handle.request_id)
    assert isinstance(queued, fal_client.Queued) and queued.position == 0
    fal.cancel(thumbs, handle.request_id)
    done = fal.status(thumbs, handle.request_id)
    assert isinstance(done, fal_client.Completed) and done.error == "Request was cancelled"
    assert done.error_type == "request_cancelled"
    assert User.objects.get(pk=user.pk).credit_balance == before  # a queued request is refunded in full
    with pytest.raises(fal_client.FalClientHTTPError) as again:
        fal.cancel(thumbs, handle.request_id)
    assert again.value.status_code == 400

    # a request that fails is COMPLETED with its error; its result raises with that error
    settings.RUNS_EAGER = True
    failed = fal.submit(thumbs, {"image_url": image_server.url("/missing.png")})
    status = fal.status(thumbs, failed.request_id)
    assert isinstance(status, fal_client.Completed) and status.error and status.error_type
    with pytest.raises(fal_client.FalClientHTTPError) as err:
        fal.result(thumbs, failed.request_id)
    assert err.value.status_code == 422 and err.value.message == status.error

    # bad input, unknown pipeline, wrong key: fal's {"detail"} with a 4xx, never a 5xx
    with pytest.raises(fal_client.FalClientHTTPError) as missing:
        fal.submit(thumbs, {})
    assert missing.value.status_code == 400 and missing.value.error_type == "MISSING_INPUT"
    assert "image_url" in missing.value.message
    with pytest.raises(fal_client.FalClientHTTPError) as unknown:
        fal.submit("maker/nothing-here", {"command": "x"})
    assert unknown.value.status_code == 404
    with pytest.raises(fal_client.FalClientHTTPError) as bad_hook:
        fal.submit(echo, {"command": "x"}, webhook_url="ftp://example.com/hook")
    assert bad_hook.value.status_code == 400 and "fal_webhook" in bad_hook.value.message
    stranger = fal_client.SyncClient(key="fiz_not-a-key", default_timeout=30)
    with pytest.raises(fal_client.FalClientHTTPError) as denied:
        stranger.submit(echo, {"command": "x"})
    assert denied.value.status_code == 401


def test_fal_pending_result_is_a_400(fal, echo, settings):
    settings.RUNS_EAGER = False
    handle = fal.submit(echo, {"command": "later"})
    response = handle.client.get(handle.response_url)
    assert response.status_code == 400 and response.json()["detail"] == "Request is still in progress"


# --- replicate ---------------------------------------------------------------------------------------


def test_replicate_run_text_and_image(rep, echo, thumbs, image_server, settings):
    settings.RUNS_EAGER = True
    assert rep.run(echo, input={"command": "hello from replicate"}) == "hello from replicate"
    output = rep.run(thumbs, input={"image_url": image_server.add_image("/r.png")})
    assert isinstance(output, replicate.helpers.FileOutput)
    assert output.url.startswith("https://127.0.0.1:") and "/media/" in output.url
    image = Image.open(io.BytesIO(output.read()))
    assert image.size == (32, 32)


def test_replicate_predictions_create_wait_get_and_versions(rep, echo, settings):
    settings.RUNS_EAGER = False
    model = rep.models.get(echo)
    version = model.latest_version
    assert model.owner == "maker" and version.openapi_schema["components"]["schemas"]["Input"]["properties"]
    prediction = rep.predictions.create(model=echo, input={"command": "queued"})
    assert prediction.status == "starting" and prediction.urls["get"].endswith(prediction.id)
    with worker():
        prediction.wait()
    assert prediction.status == "succeeded" and prediction.output == "queued"
    assert prediction.metrics["predict_time"] >= 0 and "t (INPUT__TEXT) started" in prediction.logs
    again = rep.predictions.get(prediction.id)
    assert again.output == "queued" and again.version == version.id
    # a version id, or owner/name:version, as replicate.run writes it
    settings.RUNS_EAGER = True
    by_version = rep.predictions.create(version=version.id, input={"command": "by version"})
    assert by_version.status == "succeeded" and by_version.output == "by version"
    assert rep.run(f"{echo}:{version.id}", input={"command": "pinned"}) == "pinned"
    listed = rep.predictions.list()
    assert {p.id for p in listed.results} >= {prediction.id, by_version.id}


def test_replicate_cancel_failure_webhook_and_errors(rep, thumbs, echo, image_server, settings):
    settings.RUNS_EAGER = False
    prediction = rep.predictions.create(model=thumbs, input={"image_url": image_server.add_image("/c.png")})
    prediction.cancel()
    assert prediction.status == "canceled"
    assert rep.predictions.get(prediction.id).status == "canceled"

    settings.RUNS_EAGER = True
    with pytest.raises(replicate.exceptions.ModelError) as failed:
        rep.run(thumbs, input={"image_url": image_server.url("/missing.png")})
    assert failed.value.prediction.status == "failed" and failed.value.prediction.error

    hooked = rep.predictions.create(
        model=echo,
        input={"command": "hooked"},
        webhook=image_server.url("/rep-hook"),
        webhook_events_filter=["completed"],
    )
    path, headers, body = image_server.posts[-1]
    payload = json.loads(body)
    assert path == "/rep-hook" and headers["Webhook-Id"] == hooked.id
    assert payload["status"] == "succeeded" and payload["output"] == "hooked"

    with pytest.raises(replicate.exceptions.ReplicateError) as missing:
        rep.predictions.create(model=thumbs, input={})
    assert missing.value.status == 400 and "image_url" in missing.value.detail
    with pytest.raises(replicate.exceptions.ReplicateError) as bad_hook:
        rep.predictions.create(model=echo, input={"command": "x"}, webhook="ftp://example.com/hook")
    assert bad_hook.value.status == 400 and "webhook" in bad_hook.value.detail
    with pytest.raises(replicate.exceptions.ReplicateError) as unknown:
        rep.models.get("maker/nothing-here")
    assert unknown.value.status == 404
    with pytest.raises(replicate.exceptions.ReplicateError) as denied:
        replicate.Client(api_token="fiz_not-a-key").predictions.get(prediction.id)
    assert denied.value.status == 401


def test_replicate_and_fal_see_only_their_callers_requests(rep, echo, make_user, settings, monkeypatch):
    settings.RUNS_EAGER = True
    mine = rep.predictions.create(model=echo, input={"command": "mine"})
    other = make_user(tier=Tier.PRO, credits_amount=50)
    other_key = keys.create_api_key(other, "other", ApiKeyKind.QUEUE).raw
    stranger = replicate.Client(api_token=other_key)
    with pytest.raises(replicate.exceptions.ReplicateError) as hidden:
        stranger.predictions.get(mine.id)
    assert hidden.value.status == 404
    with pytest.raises(replicate.exceptions.ReplicateError) as private:
        stranger.run(echo, input={"command": "not yours"})
    assert private.value.status == 404  # a private pipeline is not a model others can see
