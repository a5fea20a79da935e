"""Cancelling a run whose Real-ESRGAN node is running stops the node within its tile and refunds it."""

from __future__ import annotations

import base64
import io
import time

import pytest
from PIL import Image

from accounts.models import User
from pipelines import services as pipeline_services
from runs import services
from runs.models import NodeRun, Run, RunEvent
from tests.background import execute_in_background

pytest.importorskip("torch")


def data_uri(size: tuple[int, int]) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, (120, 40, 200)).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_upscale_stops_mid_tile_and_is_not_charged(make_user, upscale_weights, settings):
    settings.UPSCALE_DEVICE = "cpu"
    user = make_user(credits_amount=100)
    graph = {
        "nodes": [
            {"id": "in", "type": "INPUT__IMAGE", "params": {"name": "image_url"}},
            {"id": "up", "type": "IMAGE__UPSCALE", "params": {"model": "RealESRGAN_x4plus"}},
            {"id": "out", "type": "OUTPUT__", "params": {}},
        ],
        "edges": [
            {"from": {"node": "in", "port": "image"}, "to": {"node": "up", "port": "image"}},
            {"from": {"node": "up", "port": "image"}, "to": {"node": "out", "port": "image"}},
        ],
    }
    pipeline = pipeline_services.create_pipeline(user, "Upscale", graph=graph)
    version = pipeline_services.publish(pipeline).version
    run = services.submit_run(
        pipeline=pipeline, version=version, billed_to=user, surface="studio",
        inputs={"image_url": data_uri((48, 48))}, enqueue=False,  # one tile: seconds of CPU
    ).run
    before = User.objects.get(pk=user.pk).credit_balance
    worker, result = execute_in_background(run.pk)
    deadline = time.monotonic() + 60
    while not RunEvent.objects.filter(run=run, type="node.progress", node_id="up").exists():
        assert time.monotonic() < deadline and worker.is_alive(), "the upscale node never reported progress"
        time.sleep(0.05)
    progress = RunEvent.objects.filter(run=run, type="node.progress", node_id="up").first().data["progress"]
    assert 0 <= progress < 100  # reported from inside the one tile
    asked = time.monotonic()
    services.cancel_run(Run.objects.get(pk=run.pk))
    worker.join(30)
    stopped_after = time.monotonic() - asked
    run.refresh_from_db()
    assert result["status"] == "cancelled" and run.status == "cancelled"
    assert stopped_after < 3, f"the upscale stopped {stopped_after:.1f} s after the cancel"
    assert NodeRun.objects.get(run=run, node_id="up").status == "cancelled"
    assert run.credits_used == 0
    assert User.objects.get(pk=user.pk).credit_balance == before + run.credits_reserved
