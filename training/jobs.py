"""Training tasks on the queue: creation (the images checked and stored), the job, cancel and recovery.

The job runs on a django-q2 worker (the GPU cluster when there is one) in slices: a slice trains until
``TRAINING_SLICE_SECONDS`` have passed (well inside the worker's timeout), saves a checkpoint and queues the next
slice, which resumes from it. So a long training never meets the worker timeout, and a worker that dies
mid-slice costs at most one slice: the stale sweep (:func:`recover_stale`, every minute) queues the task again
from its last checkpoint, up to ``TRAINING_MAX_RECOVERIES`` times, then fails it. The optimizer's
moments are not checkpointed: a resumed slice starts Adam afresh from the adapter's weights.

Preprocessing (Real-ESRGAN's kind of degradation of the user's images into training pairs) is seeded, so a later
slice makes the same pairs again instead of storing them. Cancel is a flag read between steps: the task keeps its
last checkpoint. Events (TrainingStatusEvent, PreprocessingStatusEvent) go to ``webhook_url`` through the queue's
webhook delivery (retries, public HTTPS only).
"""

from __future__ import annotations

import io
import logging
import re
import time
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from pipelines import loras
from pipelines.nodes.base import ImageValue, NodeError
from runs import fetch, webhooks
from runs import tasks as queue
from runs.artifacts import store_image
from runs.models import Artifact, WebhookKind
from training import events
from training.models import ACTIVE, ENDED, TrainingStatus, TrainingTask

logger = logging.getLogger(__name__)
RUN_TRAINING = "training.jobs.run_training"
SAVE_EVERY_SECONDS = 1.0


class ImagesInvalid(ValueError):
    """An image of ``source_images`` cannot be used: ``index`` says which."""

    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index = index
        self.message = message


# -- create --------------------------------------------------------------------------------------------------


def load_source(owner: Any, ref: str) -> ImageValue:
    """A source image: an ``art_`` id of the owner's, a data URL, bare base64 or a public http(s) URL."""
    ref = ref.strip()
    if ref.startswith("art_"):
        artifact = Artifact.objects.filter(pk=ref, owner=owner).first()
        if artifact is None:
            raise ValueError(f"{ref} is not one of your files")
        with artifact.file.open("rb") as fh:
            return fetch.decode_image(fh.read(), source=ref)
    if ref.startswith("data:"):
        return fetch.decode_data_uri(ref)
    if ref.startswith(("http://", "https://")):
        return fetch.fetch_image(ref)
    if re.fullmatch(r"[A-Za-z0-9+/=\s]{16,}", ref):
        return fetch.decode_data_uri("data:image/png;base64," + re.sub(r"\s", "", ref))
    raise ValueError("an image is an http(s) URL, a data URL, base64 or one of your art_ uploads")


def store_sources(owner: Any, refs: list[str]) -> list[str]:
    """Check every source image (readable, at least a training patch a side) and store it: its artifact ids."""
    stored = []
    side = patch_size()
    for i, ref in enumerate(refs):
        try:
            value = load_source(owner, ref)
        except (NodeError, ValueError) as exc:
            raise ImagesInvalid(i, f"Image {i} cannot be read: {getattr(exc, 'message', str(exc))}") from None
        if min(value.width, value.height) < side:
            raise ImagesInvalid(
                i, f"Image {i} is {value.width}x{value.height}: at least {side} pixels a side are needed"
            )
        value.format = "PNG"
        stored.append(store_image(owner, value, output_key="training_source").pk)
    return stored


def enqueue(task: TrainingTask) -> None:
    """Queue the task's next slice (its first one too) once the transaction that made it commits."""
    name = f"training {task.pk}#{task.attempts + 1}"
    if not task.celery_chain_task_id:
        TrainingTask.objects.filter(pk=task.pk).update(celery_chain_task_id=f"training {task.pk}")
    queue.enqueue_call(RUN_TRAINING, str(task.pk), name=name, gpu=True)


# -- the job -------------------------------------------------------------------------------------------------


def run_training(task_id: str) -> str:
    """One slice of a training task (see the module's docstring); answers the task's status after it."""
    with transaction.atomic():
        task = TrainingTask.objects.select_for_update().filter(pk=task_id).first()
        if task is None or task.status in ENDED:
            return task.status if task else "missing"
        if task.cancel_requested:
            finish(task, TrainingStatus.CANCELLED)
            return task.status
        task.attempts += 1
        task.heartbeat_at = timezone.now()
        task.celery_training_task_id = f"training {task.pk}#{task.attempts}"
        task.save(update_fields=["attempts", "heartbeat_at", "celery_training_task_id", "updated_at"])
    try:
        return _slice(task)
    except Exception as exc:  # noqa: BLE001 - a failed job fails its task, never leaves it running
        logger.exception("training %s failed", task_id)
        task.refresh_from_db()
        message = getattr(exc, "message", None) or f"{exc.__class__.__name__}: {exc}"
        finish(task, TrainingStatus.FAILED, error=f"Training failed: {message}"[:2000])
        return task.status


def _slice(task: TrainingTask) -> str:
    from training import data, loop  # torch: imported by the worker only

    scale = base_scale(task.base_model)
    first = task.status == TrainingStatus.PENDING
    if first:
        task.status = TrainingStatus.PREPROCESSING
        task.preprocessing_started_at = timezone.now()
        task.preprocessing_stage = "loading"
        task.total_files_count, task.processed_files_count = len(task.stored_images), 0
        task.celery_preprocessing_task_id = task.celery_training_task_id
        task.save()
        send(task, events.preprocessing_event(task))
    images = [read_stored(task, ref) for ref in task.stored_images]

    def on_file(i: int, total: int) -> None:
        if first:
            task.processed_files_count, task.total_files_count = i, total
            task.preprocessing_stage = "degrading"
            task.heartbeat_at = timezone.now()
            task.save(update_fields=["processed_files_count", "total_files_count", "preprocessing_stage",
                                     "heartbeat_at", "updated_at"])

    dataset = data.prepare(images, scale=scale, patch=patch_size(), on_file=on_file)
    if first:
        task.preprocessing_stage = "done"
        task.preprocessing_completed_at = timezone.now()
        task.processed_files_count = len(images)
        task.processed_dataset_path = f"seeded pairs of {len(images)} images (made again by each slice)"
        task.status, task.started_at = TrainingStatus.TRAINING, timezone.now()
        task.logs += f"preprocessing: {len(images)} images -> training pairs at scale {scale}\n"
        task.save()
        send(task, events.preprocessing_event(task))
        send(task, events.training_event(task))
    config = loop.TrainConfig(
        base_model=task.base_model,
        rank=task.rank,
        steps=task.steps,
        learning_rate=task.learning_rate,
        batch_size=task.batch_size,
        gradient_accumulation=task.gradient_accumulation,
        save_every=task.save_every,
        max_step_saves_to_keep=task.max_step_saves_to_keep,
        sample_every=task.sample_every,
        patch_size=patch_size(),
    )
    deadline = time.monotonic() + float(settings.TRAINING_SLICE_SECONDS)
    last_save = [0.0]
    last_check = [0.0]
    cancelled = [False]

    stepped = [False]  # every slice makes one step at least, so slices always get somewhere

    def on_step(step: int, loss: float, seconds_per_step: float) -> None:
        stepped[0] = True
        task.current_step = step
        task.progress = round(100.0 * step / max(1, task.steps), 2)
        task.eta_seconds = int(max(0, task.steps - step) * seconds_per_step)
        if not task.losses or step - task.losses[-1][0] >= max(1, task.steps // 200) or step == task.steps:
            task.losses = [*task.losses, [step, round(float(loss), 6)]]
        now = time.monotonic()
        if now - last_save[0] >= SAVE_EVERY_SECONDS or step == task.steps:
            last_save[0] = now
            task.heartbeat_at = timezone.now()
            task.logs += f"step {step}/{task.steps} loss {loss:.5f} ({seconds_per_step:.3f} s/step)\n"
            task.save(update_fields=["current_step", "progress", "eta_seconds", "losses", "logs", "heartbeat_at",
                                     "updated_at"])

    def should_stop() -> bool:
        now = time.monotonic()
        if now - last_check[0] >= SAVE_EVERY_SECONDS:
            last_check[0] = now
            cancelled[0] = TrainingTask.objects.filter(pk=task.pk, cancel_requested=True).exists()
        return cancelled[0] or (stepped[0] and now >= deadline)

    def on_checkpoint(step: int, adapter: bytes) -> None:
        save_checkpoint(task, step, adapter)

    def on_sample(step: int, png: bytes) -> None:
        path = default_storage.save(f"training/{task.owner_id}/{task.pk}/samples/step_{step:06d}.png",
                                    ContentFile(png))
        task.samples = [*task.samples, {"step": step, "path": path}]
        task.save(update_fields=["samples", "updated_at"])

    resume = read_checkpoint(task)
    result = loop.train(config, dataset, on_step=on_step, should_stop=should_stop, on_checkpoint=on_checkpoint,
                        on_sample=on_sample, resume=resume, start_step=task.current_step)
    task.refresh_from_db()
    if result.steps_done > task.current_step:
        task.current_step = result.steps_done
    if cancelled[0] or task.cancel_requested:
        if not task.checkpoints or task.checkpoints[-1]["step"] != result.steps_done:
            save_checkpoint(task, result.steps_done, result.adapter)
        finish(task, TrainingStatus.CANCELLED)
        return task.status
    if result.stopped and result.steps_done < task.steps:  # the slice's time is up: the next one resumes
        if not task.checkpoints or task.checkpoints[-1]["step"] != result.steps_done:
            save_checkpoint(task, result.steps_done, result.adapter)
        task.logs += f"slice {task.attempts} ended at step {result.steps_done}; the next resumes there\n"
        task.heartbeat_at = timezone.now()
        task.save()
        send(task, events.training_event(task))
        enqueue(task)
        return task.status
    name = save_adapter(task, result.adapter)
    task.local_model_path = name
    task.progress, task.current_step = 100.0, task.steps
    finish(task, TrainingStatus.COMPLETED)
    return task.status


def base_scale(model: str) -> int:
    from pipelines.ml.upscale_models import MODELS

    return MODELS[model].net_scale


def patch_size() -> int:
    return int(settings.TRAINING_PATCH_SIZE)


def read_stored(task: TrainingTask, ref: str) -> Any:
    artifact = Artifact.objects.filter(pk=ref, owner_id=task.owner_id).first()
    if artifact is None:
        raise ValueError(f"the stored source image {ref} is gone")
    with artifact.file.open("rb") as fh:
        return fetch.decode_image(fh.read(), source=ref).image


def checkpoint_dir(task: TrainingTask) -> str:
    return f"{loras.user_folder(task.owner_id)}trained/checkpoints/{task.pk}/"


def save_checkpoint(task: TrainingTask, step: int, adapter: bytes) -> None:
    """Keep a checkpoint, and only the newest ``max_step_saves_to_keep`` of them."""
    path = default_storage.save(f"{checkpoint_dir(task)}step_{step:06d}.safetensors", ContentFile(adapter))
    kept = [*task.checkpoints, {"step": step, "path": path}]
    keep = max(1, task.max_step_saves_to_keep)
    for old in kept[:-keep]:
        default_storage.delete(old["path"])
    task.checkpoints = kept[-keep:]
    task.logs += f"checkpoint at step {step}\n"
    task.save(update_fields=["checkpoints", "logs", "updated_at"])
    send(task, events.training_event(task))


def read_checkpoint(task: TrainingTask) -> bytes | None:
    if not task.checkpoints:
        return None
    with default_storage.open(task.checkpoints[-1]["path"], "rb") as fh:
        return fh.read()


def save_adapter(task: TrainingTask, adapter: bytes) -> str:
    """The finished adapter as a LoRA file of the user's (``trained/<trigger>_<id>.safetensors``): its name."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", task.trigger_word).strip("_-")[:60] or "lora"
    name = f"trained/{stem}_{str(task.pk)[:8]}.safetensors"
    path = loras.user_folder(task.owner_id) + name
    if default_storage.exists(path):
        default_storage.delete(path)
    default_storage.save(path, io.BytesIO(adapter))
    task.training_folder = checkpoint_dir(task)
    return name


def finish(task: TrainingTask, status: str, error: str | None = None) -> None:
    task.status = status
    task.completed_at = timezone.now()
    task.eta_seconds = 0 if status == TrainingStatus.COMPLETED else None
    if error:
        task.error_message = error
        task.logs += error + "\n"
    task.save()
    send(task, events.training_event(task))


def send(task: TrainingTask, payload: dict[str, Any]) -> None:
    if task.webhook_url:
        webhooks.send(WebhookKind.SARTIQ, task.webhook_url, payload)


# -- cancel, recovery ----------------------------------------------------------------------------------------


def cancel(task: TrainingTask) -> TrainingTask:
    """A PENDING task is cancelled at once; a running one stops between steps (its job ends it CANCELLED)."""
    with transaction.atomic():
        task = TrainingTask.objects.select_for_update().get(pk=task.pk)
        if task.status in ENDED:
            return task
        task.cancel_requested = True
        task.save(update_fields=["cancel_requested", "updated_at"])
        if task.status == TrainingStatus.PENDING:
            finish(task, TrainingStatus.CANCELLED)
    return task


def recover_stale() -> dict[str, int]:
    """Tasks whose job stopped beating (a worker died): queued again from the last checkpoint, or failed after
    TRAINING_MAX_ATTEMPTS slices. Scheduled every minute."""
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.TRAINING_STALE_SECONDS)
    counts = {"requeued": 0, "failed": 0}
    stale = TrainingTask.objects.filter(
        status__in=[TrainingStatus.PREPROCESSING, TrainingStatus.TRAINING], heartbeat_at__lt=cutoff
    )
    for pk in stale.values_list("pk", flat=True):
        with transaction.atomic():
            task = TrainingTask.objects.select_for_update().filter(pk=pk, heartbeat_at__lt=cutoff).first()
            if task is None or task.status not in ACTIVE:
                continue
            if task.recoveries >= settings.TRAINING_MAX_RECOVERIES or task.cancel_requested:
                finish(task, TrainingStatus.CANCELLED if task.cancel_requested else TrainingStatus.FAILED,
                       error=None if task.cancel_requested else
                       f"The worker stopped {task.recoveries + 1} times; the last checkpoint is kept")
                counts["failed"] += 1
                continue
            if task.status == TrainingStatus.PREPROCESSING:
                task.status = TrainingStatus.PENDING  # preprocessing starts over
            task.heartbeat_at = timezone.now()
            task.logs += "the worker stopped; queued again from the last checkpoint\n"
            task.recoveries += 1
            task.save()
        enqueue(task)
        counts["requeued"] += 1
    if counts["requeued"] or counts["failed"]:
        logger.warning("stale training tasks recovered: %s", counts)
    return counts
