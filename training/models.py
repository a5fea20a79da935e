"""A LoRA training task (seed 002's TrainingTask): a low-rank adapter of one of our upscaling networks, trained
on a user's images by a django-q2 job (:mod:`training.jobs`).

The seed trains FLUX LoRAs; we train what we run and serve: the adapter is a ``.safetensors`` LoRA file in the
user's LoRA folder (``models/loras/users/{id}/trained/…``), loadable by name by the upscale node. The seed's
recipe fields are kept as given; the ones a FLUX trainer has and an upscaler does not (sample_prompts,
bypass_guidance_embedding, the captioning strategy) are stored and shown but act on nothing here.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

SEED_BASE_MODEL = "black-forest-labs/FLUX.1-dev"  # the seed's default, which we read as "our default base"
DEFAULT_BASE_MODEL = "realesr-animevideov3"


class TrainingStatus(models.TextChoices):
    PENDING = "PENDING"
    PREPROCESSING = "PREPROCESSING"
    TRAINING = "TRAINING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ACTIVE = (TrainingStatus.PENDING, TrainingStatus.PREPROCESSING, TrainingStatus.TRAINING)
ENDED = (TrainingStatus.COMPLETED, TrainingStatus.FAILED, TrainingStatus.CANCELLED)


class TrainingTask(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="training_tasks")
    # what
    training_type = models.CharField(max_length=16, default="LORA")
    entity_type = models.CharField(max_length=16, default="PRODUCT")
    entity_id = models.UUIDField(null=True, blank=True)
    trigger_word = models.CharField(max_length=200)
    # state
    status = models.CharField(max_length=16, choices=TrainingStatus.choices, default=TrainingStatus.PENDING)
    progress = models.FloatField(default=0.0)  # percent
    current_step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=1000)
    eta_seconds = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    logs = models.TextField(blank=True, default="")
    error_message = models.TextField(null=True, blank=True)
    # recipe
    training_folder = models.CharField(max_length=300, blank=True, default="")
    rank = models.PositiveSmallIntegerField(default=16)
    save_every = models.PositiveIntegerField(default=2000)
    max_step_saves_to_keep = models.PositiveSmallIntegerField(default=4)
    batch_size = models.PositiveSmallIntegerField(default=1)
    steps = models.PositiveIntegerField(default=1000)
    learning_rate = models.FloatField(default=0.0001)
    gradient_accumulation = models.PositiveSmallIntegerField(default=1)
    optimizer = models.CharField(max_length=40, default="adamw8bit")
    bypass_guidance_embedding = models.BooleanField(default=False)
    base_model_path = models.CharField(max_length=300, default=SEED_BASE_MODEL)
    base_model = models.CharField(max_length=64, default=DEFAULT_BASE_MODEL)  # the network actually adapted
    local_model_path = models.CharField(max_length=300, null=True, blank=True)  # the adapter, as a LoRA name
    sample_every = models.PositiveIntegerField(default=250)
    sample_steps = models.PositiveIntegerField(default=25)
    sample_prompts = models.JSONField(default=list, blank=True)
    webhook_url = models.CharField(max_length=2000, blank=True, default="")
    # job ids (the django-q2 task names)
    celery_training_task_id = models.CharField(max_length=100, null=True, blank=True)
    celery_preprocessing_task_id = models.CharField(max_length=100, null=True, blank=True)
    celery_chain_task_id = models.CharField(max_length=100, null=True, blank=True)
    # preprocessing
    preprocessing_stage = models.CharField(max_length=40, null=True, blank=True)
    processed_files_count = models.PositiveIntegerField(null=True, blank=True)
    total_files_count = models.PositiveIntegerField(null=True, blank=True)
    preprocessing_started_at = models.DateTimeField(null=True, blank=True)
    preprocessing_completed_at = models.DateTimeField(null=True, blank=True)
    source_images = models.JSONField(default=list, blank=True)  # as given
    stored_images = models.JSONField(default=list, blank=True)  # the artifacts they were stored as
    processed_dataset_path = models.CharField(max_length=300, null=True, blank=True)
    preprocessing_transforms = models.JSONField(null=True, blank=True)
    preprocessing_captioning_strategy = models.CharField(max_length=40, default="trigger_only")
    preprocessing_captioning_prompt = models.TextField(null=True, blank=True)
    # queue
    priority = models.IntegerField(default=1)
    priority_changed_at = models.DateTimeField(null=True, blank=True)
    # origin
    origin_instance = models.CharField(max_length=100, default="unknown")
    origin_zone = models.CharField(max_length=50, null=True, blank=True)
    origin_version = models.CharField(max_length=50, null=True, blank=True)
    origin_tenant_id = models.CharField(max_length=100, null=True, blank=True)
    # the job's own bookkeeping
    cancel_requested = models.BooleanField(default=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)  # job slices started (a slice resumes the last)
    recoveries = models.PositiveSmallIntegerField(default=0)  # times the sweep queued it again after a dead worker
    checkpoints = models.JSONField(default=list, blank=True)  # [{"step", "path"}], oldest first
    samples = models.JSONField(default=list, blank=True)  # [{"step", "path"}]
    losses = models.JSONField(default=list, blank=True)  # [[step, loss]], thinned
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"]), models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"{self.trigger_word} {self.id} ({self.status})"
