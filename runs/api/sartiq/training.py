"""Sartiq's training routes (seed: /api/v1/training/…) on the ``training`` app.

The seed trains FLUX LoRAs; here a training task fine-tunes a LoRA adapter of one of our upscaling networks on the
caller's images (``base_model_path``: ``realesr-animevideov3`` by default, the seed's FLUX default read as ours,
or an x4plus network). The result is a LoRA file of the caller's, named in ``local_model_path``
(``trained/…safetensors``), which the upscale node loads by that name. Beyond the seed's create fields a client
may set the recipe's ``batch_size``, ``gradient_accumulation``, ``save_every``, ``max_step_saves_to_keep`` and
``sample_every``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import CanvasflowError, NotFound
from pipelines.nodes.base import NodeError
from runs.api.sartiq import schema as S
from runs.api.sartiq.graphs import RequestInvalid, invalid
from runs.api.sartiq.views import SartiqView
from runs.webhooks import check_webhook_url
from training import jobs
from training.models import DEFAULT_BASE_MODEL, SEED_BASE_MODEL, TrainingTask

BASE_MODELS = ("realesr-animevideov3", "RealESRGAN_x4plus", "RealESRGAN_x4plus_anime_6B")
MAX_IMAGES = 200


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", use_enum_values=True)


def or_default(value: Any, default: Any) -> Any:
    return default if value is None else value


class TrainingTaskCreate(Model):
    training_type: Literal["LORA", "FULL"] | None = Field(default="LORA", description="LORA (FULL: not here)")
    entity_type: Literal["SUBJECT", "PRODUCT", "STYLE"] | None = Field(default="PRODUCT")
    entity_id: uuid.UUID | None = None
    trigger_word: str = Field(min_length=1, max_length=200, description="Names the adapter's file")
    rank: int | None = Field(default=16, ge=1, le=128, description="The adapter's rank")
    steps: int | None = Field(default=1000, ge=1, le=100_000)
    learning_rate: float | None = Field(default=0.0001, gt=0, le=1.0)
    sample_prompts: list[str] | None = Field(default_factory=list, description="Kept; an upscaler takes none")
    source_images: list[str] | None = Field(
        default_factory=list, description="Training images: http(s) URLs, data URLs, base64 or your art_ ids"
    )
    base_model_path: str | None = Field(
        default=SEED_BASE_MODEL,
        description=f"The network adapted: one of {', '.join(BASE_MODELS)} (the seed's FLUX default: "
        f"{DEFAULT_BASE_MODEL})",
    )
    bypass_guidance_embedding: bool | None = False
    webhook_url: str | None = Field(default=None, max_length=2000)
    origin_instance: str | None = Field(default="unknown", max_length=100)
    origin_zone: str | None = Field(default=None, max_length=50)
    origin_version: str | None = Field(default=None, max_length=50)
    origin_tenant_id: str | None = Field(default=None, max_length=100)
    preprocessing_transforms: list[dict[str, Any]] | None = None
    preprocessing_captioning_strategy: Literal["trigger_only", "custom", "none"] | None = "trigger_only"
    preprocessing_captioning_prompt: str | None = Field(default=None, max_length=2000)
    # the recipe beyond the seed's create fields
    batch_size: int | None = Field(default=1, ge=1, le=16)
    gradient_accumulation: int | None = Field(default=1, ge=1, le=64)
    save_every: int | None = Field(default=2000, ge=1, le=100_000)
    max_step_saves_to_keep: int | None = Field(default=4, ge=1, le=50)
    sample_every: int | None = Field(default=250, ge=1, le=100_000)

    @field_validator("trigger_word")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the trigger word is blank")
        return value


class TrainingTaskPublic(Model):
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    origin_instance: str = "unknown"
    origin_zone: str | None = None
    origin_version: str | None = None
    origin_tenant_id: str | None = None
    training_type: str = "LORA"
    entity_type: str = "PRODUCT"
    entity_id: uuid.UUID | None = None
    trigger_word: str
    status: str = "PENDING"
    progress: float = 0.0
    current_step: int = 0
    total_steps: int = 1000
    eta_seconds: int | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    logs: str = ""
    error_message: str | None = None
    training_folder: str = ""
    rank: int = 16
    save_every: int = 2000
    max_step_saves_to_keep: int = 4
    batch_size: int = 1
    steps: int = 1000
    learning_rate: float = 0.0001
    gradient_accumulation: int = 1
    optimizer: str = "adamw8bit"
    bypass_guidance_embedding: bool = False
    base_model_path: str = SEED_BASE_MODEL
    local_model_path: str | None = None
    sample_every: int = 250
    sample_steps: int = 25
    sample_prompts: list[str] = Field(default_factory=list)
    webhook_url: str = ""
    celery_training_task_id: str | None = None
    celery_preprocessing_task_id: str | None = None
    celery_chain_task_id: str | None = None
    preprocessing_stage: str | None = None
    processed_files_count: int | None = None
    total_files_count: int | None = None
    preprocessing_started_at: datetime | None = None
    preprocessing_completed_at: datetime | None = None
    source_images: list[str] = Field(default_factory=list)
    processed_dataset_path: str | None = None
    preprocessing_transforms: list[dict[str, Any]] | None = None
    preprocessing_captioning_strategy: str = "trigger_only"
    preprocessing_captioning_prompt: str | None = None
    priority: int = 1
    priority_changed_at: datetime | None = None


class TrainingList(RootModel[list[TrainingTaskPublic]]):
    pass


class ListQuery(Model):
    limit: int = Field(default=10, ge=1, le=1000)
    skip: int = Field(default=0, ge=0)


def public(task: TrainingTask) -> dict[str, Any]:
    data = {name: getattr(task, name) for name in TrainingTaskPublic.model_fields if hasattr(task, name)}
    # an image given inline is shown by where it was stored, never echoed whole
    data["source_images"] = [
        ref if ref.startswith(("http://", "https://", "art_")) else stored
        for ref, stored in zip(task.source_images, task.stored_images or task.source_images, strict=False)
    ]
    return TrainingTaskPublic.model_validate(data).model_dump(mode="json")


def create(user: Any, body: TrainingTaskCreate) -> TrainingTask:
    fields = body.model_dump()
    if fields["training_type"] == "FULL":
        raise CanvasflowError("Only LORA training is available on this server: a full fine-tune of the base "
                              "network is not offered", code="NOT_IMPLEMENTED", status=501)
    base = or_default(fields["base_model_path"], SEED_BASE_MODEL)
    base = DEFAULT_BASE_MODEL if base == SEED_BASE_MODEL else base
    if base not in BASE_MODELS:
        raise invalid(["body", "base_model_path"], f"Input should be one of {', '.join(BASE_MODELS)}", "enum")
    images = fields["source_images"] or []
    if not images:
        raise invalid(["body", "source_images"], "List should have at least 1 item after validation, not 0",
                      "too_short")
    if len(images) > MAX_IMAGES:
        raise invalid(["body", "source_images"], f"List should have at most {MAX_IMAGES} items", "too_long")
    if fields["webhook_url"]:
        try:
            check_webhook_url(fields["webhook_url"])
        except NodeError as exc:
            raise invalid(["body", "webhook_url"], f"Value error, {exc.message}") from None
    try:
        stored = jobs.store_sources(user, images)
    except jobs.ImagesInvalid as exc:
        raise invalid(["body", "source_images", exc.index], exc.message) from None
    defaults = TrainingTaskCreate.model_fields
    values = {name: or_default(fields[name], defaults[name].get_default(call_default_factory=True))
              for name in ("training_type", "entity_type", "rank", "steps", "learning_rate", "sample_prompts",
                           "bypass_guidance_embedding", "origin_instance", "preprocessing_captioning_strategy",
                           "batch_size", "gradient_accumulation", "save_every", "max_step_saves_to_keep",
                           "sample_every")}
    with transaction.atomic():
        task = TrainingTask.objects.create(
            owner=user,
            trigger_word=fields["trigger_word"],
            entity_id=fields["entity_id"],
            base_model_path=or_default(fields["base_model_path"], SEED_BASE_MODEL),
            base_model=base,
            optimizer="adam",  # what training.loop optimises the adapter with
            total_steps=values["steps"],
            webhook_url=fields["webhook_url"] or "",
            origin_zone=fields["origin_zone"],
            origin_version=fields["origin_version"],
            origin_tenant_id=fields["origin_tenant_id"],
            source_images=[ref if len(ref) <= 2000 else ref[:64] + "…" for ref in images],
            stored_images=stored,
            preprocessing_transforms=fields["preprocessing_transforms"],
            preprocessing_captioning_prompt=fields["preprocessing_captioning_prompt"],
            **values,
        )
        jobs.enqueue(task)
    task.refresh_from_db()
    return task


def get_task(user: Any, task_id: str) -> TrainingTask:
    try:
        pk = uuid.UUID(str(task_id))
    except ValueError:
        raise NotFound("Training task not found") from None
    task = TrainingTask.objects.filter(owner=user, pk=pk).first()
    if task is None:
        raise NotFound("Training task not found")
    return task


TASK_ID = OpenApiParameter("task_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The training task")
INVALID = OpenApiResponse(S.HTTPValidationError, description="Validation Error")


class TrainingListView(SartiqView):
    openapi_error_statuses = {"GET": (401, 403, 429), "POST": (401, 403, 429)}

    @extend_schema(
        operation_id="sartiq_training_create",
        tags=["sartiq"],
        summary="Create Training Task",
        description="Create and start a LoRA training task: a low-rank adapter of one of our upscaling networks "
        "(base_model_path) fine-tuned on your source_images (each checked and stored first: unreadable or under "
        "the training patch (64 px) is a 422 naming it). A worker preprocesses them (Real-ESRGAN-style degradation into training "
        "pairs), trains `steps` steps, keeps checkpoints, and stores the adapter as your LoRA file "
        "`local_model_path` (trained/…), which IMAGE__UPSCALE loads by name. Events go to webhook_url.",
        request=TrainingTaskCreate,
        responses={200: TrainingTaskPublic, 422: INVALID,
                   501: OpenApiResponse(S.HTTPError, description="FULL training")},
    )
    def post(self, request: Request) -> Response:
        task = create(request.user, self.validated_body(request, TrainingTaskCreate))
        return Response(public(task))

    @extend_schema(
        operation_id="sartiq_training_list",
        tags=["sartiq"],
        summary="List Training Tasks",
        description="Your training tasks, newest first.",
        parameters=[
            OpenApiParameter("limit", OpenApiTypes.INT, OpenApiParameter.QUERY, required=False, default=10),
            OpenApiParameter("skip", OpenApiTypes.INT, OpenApiParameter.QUERY, required=False, default=0),
        ],
        responses={200: TrainingList, 422: INVALID},
    )
    def get(self, request: Request) -> Response:
        q = self.validated_query(request, ListQuery)
        qs = TrainingTask.objects.filter(owner=request.user).order_by("-created_at", "-pk")
        return Response([public(t) for t in qs[q.skip : q.skip + q.limit]])


class TrainingDetailView(SartiqView):
    @extend_schema(operation_id="sartiq_training_get", tags=["sartiq"], summary="Get Training Status",
                   description="A training task: status, progress, current step, ETA, logs and the adapter's name "
                   "once done.", parameters=[TASK_ID], responses={200: TrainingTaskPublic})
    def get(self, request: Request, task_id: str) -> Response:
        return Response(public(get_task(request.user, task_id)))


class TrainingCancelView(SartiqView):
    openapi_error_statuses = (401, 403, 404, 429)

    @extend_schema(operation_id="sartiq_training_cancel", tags=["sartiq"], summary="Cancel Training",
                   description="Cancel a training task: a PENDING one at once, a running one between two steps "
                   "(its last checkpoint is kept). A finished task is answered as it is.",
                   parameters=[TASK_ID], request=None, responses={200: TrainingTaskPublic})
    def post(self, request: Request, task_id: str) -> Response:
        task = jobs.cancel(get_task(request.user, task_id))
        task.refresh_from_db()
        return Response(public(task))


__all__ = ["RequestInvalid"]
