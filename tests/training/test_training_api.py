"""Sartiq training routes (seed 002 T1–T4) on the training app: create (images checked and stored), the job
(preprocessing, training slices, checkpoints, samples, the adapter as a LoRA file), cancel, recovery, events."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from accounts.models import Tier
from runs.models import WebhookDelivery
from tests.runs.conftest import ImageServer
from tests.sartiq.conftest import client_for, data_url
from training import jobs
from training.models import TrainingStatus, TrainingTask

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TRAINING_PATCH_SIZE = 32
    settings.RUNS_EAGER = True
    settings.FETCH_ALLOW_LOOPBACK = True


@pytest.fixture
def trainer(make_user):
    return client_for(make_user(tier=Tier.PRO, credits_amount=100))


def texture(seed: int, size: int = 48) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    base = (np.sin(x / (2 + seed % 3)) * 60 + np.cos(y / 3) * 50 + 128)[..., None].repeat(3, axis=2)
    pixels = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def body(**overrides) -> dict:
    payload = {
        "trigger_word": "my stripes",
        "source_images": [data_url(texture(i)) for i in range(3)],
        "steps": 6,
        "rank": 4,
        "learning_rate": 0.001,
        "save_every": 2,
        "max_step_saves_to_keep": 2,
        "sample_every": 3,
        "origin_instance": "tests",
    }
    payload.update(overrides)
    return payload


def create(client, **overrides):
    resp = client.post("/api/v1/training/", body(**overrides), format="json")
    assert resp.status_code == 200, resp.content
    return resp.json()


def test_a_training_task_trains_and_leaves_a_loadable_adapter(trainer):
    task = create(trainer)
    assert task["status"] == "COMPLETED", task["logs"] + str(task["error_message"])
    assert task["current_step"] == 6 and task["total_steps"] == 6 and task["progress"] == 100.0
    assert task["local_model_path"].startswith("trained/my_stripes_") and task["completed_at"]
    assert task["processed_files_count"] == 3 and task["total_files_count"] == 3
    assert task["preprocessing_stage"] == "done" and task["preprocessing_completed_at"]
    assert task["base_model_path"] == "black-forest-labs/FLUX.1-dev" and "step 6/6" in task["logs"]
    row = TrainingTask.objects.get(pk=task["id"])
    assert row.base_model == "realesr-animevideov3"
    assert [c["step"] for c in row.checkpoints] == [4, 6]  # every 2 steps, the newest 2 kept
    assert not default_storage.exists(f"{jobs.checkpoint_dir(row)}step_000002.safetensors")
    assert [s["step"] for s in row.samples] == [3, 6]
    assert all(default_storage.exists(s["path"]) for s in row.samples)
    from pipelines import loras
    from pipelines.ml import lora

    adapter = loras.read(row.owner_id, task["local_model_path"])
    metadata, _state = lora.from_bytes(adapter)
    assert metadata["base_model"] == "realesr-animevideov3" and int(metadata["rank"]) == 4
    # the seed's shape: every field present
    assert {"celery_training_task_id", "webhook_url", "sample_prompts", "priority", "eta_seconds"} <= set(task)
    assert task["webhook_url"] == "" and task["priority"] == 1


def test_the_upscale_node_loads_the_trained_adapter_by_name(trainer):
    task = create(trainer)
    run_body = {
        "nodes": [
            {"id": "in", "type": "INPUT__IMAGE", "params": {"name": "image"}, "position": {"x": 0, "y": 0}},
            {"id": "up", "type": "IMAGE__UPSCALE", "position": {"x": 200, "y": 0},
             "params": {"model": "realesr-animevideov3", "scale": 2, "lora": task["local_model_path"]}},
            {"id": "out", "type": "OUTPUT__", "params": {}, "position": {"x": 400, "y": 0}},
        ],
        "edges": [
            {"id": "a", "from": {"node": "in", "port": "image"}, "to": {"node": "up", "port": "image"}},
            {"id": "b", "from": {"node": "up", "port": "image"}, "to": {"node": "out", "port": "image"}},
        ],
    }
    from pipelines.graph import ensure_valid

    ensure_valid(run_body)  # the node takes the adapter's name


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"source_images": []}, ["body", "source_images"]),
        ({"steps": 0}, ["body", "steps"]),
        ({"rank": 0}, ["body", "rank"]),
        ({"rank": 129}, ["body", "rank"]),
        ({"learning_rate": 0}, ["body", "learning_rate"]),
        ({"learning_rate": -1}, ["body", "learning_rate"]),
        ({"trigger_word": " "}, ["body", "trigger_word"]),
        ({"base_model_path": "stabilityai/sdxl"}, ["body", "base_model_path"]),
        ({"source_images": ["data:image/png;base64,bm90IGFuIGltYWdl"]}, ["body", "source_images", 0]),
        ({"source_images": [data_url(texture(1)), data_url(texture(2, size=16))]}, ["body", "source_images", 1]),
        ({"webhook_url": "http://10.0.0.1/x"}, ["body", "webhook_url"]),
    ],
)
def test_bad_input_is_422_naming_the_field(trainer, overrides, loc):
    resp = trainer.post("/api/v1/training/", body(**overrides), format="json")
    assert resp.status_code == 422, resp.content
    assert resp.json()["detail"][0]["loc"] == loc
    assert not TrainingTask.objects.exists()


def test_missing_trigger_word_and_full_training(trainer):
    payload = body()
    del payload["trigger_word"]
    resp = trainer.post("/api/v1/training/", payload, format="json")
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "trigger_word"]
    resp = trainer.post("/api/v1/training/", body(training_type="FULL"), format="json")
    assert resp.status_code == 501 and set(resp.json()) == {"detail"}


def test_nulls_take_the_defaults(trainer, settings):
    settings.RUNS_EAGER = False  # stays PENDING: only the record is looked at
    task = create(trainer, rank=None, steps=None, learning_rate=None, origin_instance=None, sample_every=None)
    assert task["rank"] == 16 and task["steps"] == 1000 and task["learning_rate"] == 0.0001
    assert task["origin_instance"] == "unknown" and task["sample_every"] == 250 and task["status"] == "PENDING"
    assert all(not ref.startswith("data:") for ref in task["source_images"])  # stored, not echoed


def test_list_get_and_privacy(trainer, make_user, settings):
    settings.RUNS_EAGER = False
    ids = [create(trainer, trigger_word=f"w{i}")["id"] for i in range(3)]
    listed = trainer.get("/api/v1/training/").json()
    assert [t["id"] for t in listed] == ids[::-1]
    assert [t["id"] for t in trainer.get("/api/v1/training/", {"limit": 1, "skip": 1}).json()] == [ids[1]]
    assert trainer.get("/api/v1/training/", {"limit": 0}).status_code == 422
    assert trainer.get(f"/api/v1/training/{ids[0]}").json()["trigger_word"] == "w0"
    other = client_for(make_user(tier=Tier.PRO))
    assert other.get("/api/v1/training/").json() == []
    assert other.get(f"/api/v1/training/{ids[0]}").status_code == 404
    assert other.post(f"/api/v1/training/{ids[0]}/cancel").status_code == 404
    assert trainer.get("/api/v1/training/not-a-uuid").status_code == 404


def test_cancel_a_pending_task_at_once(trainer, settings):
    settings.RUNS_EAGER = False
    task = create(trainer)
    body_ = trainer.post(f"/api/v1/training/{task['id']}/cancel").json()
    assert body_["status"] == "CANCELLED" and body_["completed_at"]
    assert jobs.run_training(task["id"]) == "CANCELLED"  # its queued job does nothing


def test_cancel_mid_training_keeps_the_last_checkpoint(trainer, settings, monkeypatch):
    settings.RUNS_EAGER = False
    task = create(trainer, steps=40, save_every=5)
    row = TrainingTask.objects.get(pk=task["id"])
    from training import loop

    real_train = loop.train

    def train(config, dataset, **kwargs):
        step_cb = kwargs["on_step"]

        def on_step(step, loss, sps):
            step_cb(step, loss, sps)
            if step == 12:
                TrainingTask.objects.filter(pk=row.pk).update(cancel_requested=True)

        kwargs["on_step"] = on_step
        return real_train(config, dataset, **kwargs)

    monkeypatch.setattr(loop, "train", train)
    monkeypatch.setattr(jobs, "SAVE_EVERY_SECONDS", 0.0)  # read the cancel flag at every step
    assert jobs.run_training(task["id"]) == "CANCELLED"
    row.refresh_from_db()
    assert 12 <= row.current_step < 40 and row.checkpoints
    assert row.checkpoints[-1]["step"] == row.current_step and default_storage.exists(row.checkpoints[-1]["path"])
    assert row.local_model_path is None


def test_a_long_training_runs_in_slices_that_resume(trainer, settings, monkeypatch):
    settings.RUNS_EAGER = True
    settings.TRAINING_SLICE_SECONDS = 0.0  # every slice stops after its first step; the next resumes
    task = create(trainer, steps=4, save_every=100)
    assert task["status"] == "COMPLETED", task["logs"]
    row = TrainingTask.objects.get(pk=task["id"])
    assert row.attempts >= 3 and "the next resumes there" in row.logs


def test_a_dead_worker_is_recovered_from_its_checkpoint_then_failed(trainer, settings):
    settings.RUNS_EAGER = False
    task = create(trainer)
    old = timezone.now() - timezone.timedelta(seconds=settings.TRAINING_STALE_SECONDS + 5)
    TrainingTask.objects.filter(pk=task["id"]).update(status=TrainingStatus.TRAINING, heartbeat_at=old)
    assert jobs.recover_stale() == {"requeued": 1, "failed": 0}
    settings.TRAINING_MAX_RECOVERIES = 1
    TrainingTask.objects.filter(pk=task["id"]).update(heartbeat_at=old)
    assert jobs.recover_stale() == {"requeued": 0, "failed": 1}
    row = TrainingTask.objects.get(pk=task["id"])
    assert row.status == "FAILED" and "worker stopped" in row.error_message


def test_events_reach_the_webhook(trainer):
    receiver = ImageServer()
    try:
        task = create(trainer, webhook_url=receiver.url("/train"))
        assert task["status"] == "COMPLETED"
        events = [json.loads(raw) for _, _, raw in receiver.posts]
        kinds = [(e["event_type"], e["status"]) for e in events]
        assert kinds[0] == ("PREPROCESSING_STATUS", "PREPROCESSING")
        assert ("PREPROCESSING_STATUS", "TRAINING") in kinds and kinds[-1] == ("TRAINING_STATUS", "COMPLETED")
        last = events[-1]
        assert last["task_id"] == task["id"] and last["current_step"] == 6 and last["local_model_path"]
        assert receiver.posts[-1][1]["User-Agent"] == "Sartiq-Webhook/1.0"
        assert receiver.posts[-1][1]["X-Sartiq-Task-ID"] == task["id"]
        assert WebhookDelivery.objects.filter(run=None, status="delivered").count() == len(events)
    finally:
        receiver.close()


def test_a_refine_task_upscales_with_the_trained_adapter(trainer):
    task = create(trainer)
    refine = {
        "task_type": "REFINE", "origin_instance": "t", "base_image_url": data_url(texture(5, size=40)),
        "upscale_enabled": True, "upscale_factor": 4, "upscale_steps": 1, "upscale_denoise": 0.1,
        "face_detail_enabled": False, "face_detail_steps": 1, "face_detail_denoise": 0.1,
        "config": {"upscale_model": "realesr-animevideov3", "upscale_lora": task["local_model_path"],
                   "upscale_lora_weight": 1.0},
    }
    resp = trainer.post("/api/v1/tasks/", refine, format="json")
    assert resp.status_code == 200, resp.content
    done = resp.json()
    assert done["status"] == "COMPLETED", done
    plain = trainer.post("/api/v1/tasks/", {**refine, "config": {"upscale_model": "realesr-animevideov3"}},
                         format="json").json()
    with default_storage.open(done["result_image_path"]) as a, default_storage.open(plain["result_image_path"]) as b:
        with_lora, without = np.asarray(Image.open(a)).astype(int), np.asarray(Image.open(b)).astype(int)
    assert with_lora.shape == without.shape and np.abs(with_lora - without).mean() > 0  # the adapter acts
    bad = trainer.post("/api/v1/tasks/", {**refine, "config": {"upscale_lora": "../x.safetensors"}}, format="json")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "config", "upscale_lora"]


def test_a_lora_file_replaced_under_its_name_is_not_answered_from_the_cache(trainer):
    from pipelines import loras

    first = create(trainer, trigger_word="same", steps=2, save_every=1)
    second = create(trainer, trigger_word="other", steps=4, save_every=1, learning_rate=0.01)
    owner = TrainingTask.objects.get(pk=first["id"]).owner_id
    name = first["local_model_path"]
    refine = {
        "task_type": "REFINE", "origin_instance": "t", "base_image_url": data_url(texture(9, size=40)),
        "upscale_enabled": True, "upscale_factor": 4, "upscale_steps": 1, "upscale_denoise": 0.1,
        "face_detail_enabled": False, "face_detail_steps": 1, "face_detail_denoise": 0.1,
        "config": {"upscale_model": "realesr-animevideov3", "upscale_lora": name},
    }
    before = trainer.post("/api/v1/tasks/", refine, format="json").json()
    path = loras.user_folder(owner) + name
    default_storage.delete(path)
    default_storage.save(path, io.BytesIO(loras.read(owner, second["local_model_path"])))
    after = trainer.post("/api/v1/tasks/", refine, format="json").json()
    assert before["status"] == after["status"] == "COMPLETED"
    from runs.api.sartiq.models import SartiqTask

    nodes = [SartiqTask.objects.get(pk=t["id"]).run.node_runs.get(node_id="task") for t in (before, after)]
    assert not nodes[1].cached  # another file: computed again, not the first file's output
    assert nodes[0].outputs["image"]["metadata"]["lora_sha256"] != nodes[1].outputs["image"]["metadata"]["lora_sha256"]
