"""Sartiq Compute's task bodies as pydantic models: the seed is a FastAPI service, so its request validation
(what is required, the types, the bounds, the 422 error list) and its response shapes are pydantic's. The same
models validate requests, shape responses (every field present, null where unknown, the seed's defaults) and
describe the operations in the OpenAPI document (drf-spectacular's pydantic extension).

Field lists follow ../shared/SARTIQ.md §2.1–2.3. A field the seed types as non-null without showing a default
is required on create; the defaults the seed states are kept (tolerance 0, light_threshold 220, …).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel, model_validator

from pipelines.nodes import framing
from runs.api.sartiq.enums import (
    AnatomyIssue,
    BackgroundFixStrategy,
    ErrorCategory,
    Framing,
    Gender,
    ProviderType,
    TaskStatus,
    TaskType,
    ViewAngle,
)

Percent = Field(default=None, ge=0.0, le=1.0)


class SartiqModel(BaseModel):
    model_config = ConfigDict(extra="ignore", use_enum_values=True)


# -- create ----------------------------------------------------------------------------------------------


class TaskCreateBase(SartiqModel):
    origin_instance: str = Field(
        max_length=200, description="Identifier for the instance that created this task"
    )
    origin_zone: str | None = Field(
        default=None, max_length=100, description="Environment/zone identifier (e.g., 'eu', 'us')"
    )
    origin_tenant_id: str | None = Field(
        default=None, max_length=200, description="Optional tenant/organization identifier"
    )
    origin_reference: str | None = Field(
        default=None,
        max_length=512,
        description="Optional field that can be used to map an id or a reference string from the origin "
        "(such as prediction id in the external backend)",
    )
    priority: int = Field(default=0, ge=-(2**31), le=2**31 - 1, description="Task priority (higher = more)")
    config: dict[str, Any] | None = Field(default=None, description="Flexible configuration storage")
    provider_type: ProviderType | None = Field(default=None, description="Provider type for task execution")
    provider_config: dict[str, Any] | None = Field(
        default=None, description="Provider-specific configuration"
    )
    queue_name: str | None = Field(
        default=None,
        max_length=100,
        description="Optional queue override. If not specified, determined by provider_type",
    )
    active_provider_capabilities: list[str] | None = Field(
        default=None, description="List of active capabilities for this task"
    )
    fallback_provider_type: ProviderType | None = Field(
        default=None,
        description="Fallback provider activated when primary exhausts all retries (non-ValueError only).",
    )
    fallback_provider_config: dict[str, Any] | None = Field(
        default=None,
        description="Provider-specific config for the fallback provider. Shape varies by provider type.",
    )
    fallback_provider_capabilities: list[str] | None = Field(
        default=None,
        description="Capabilities for the fallback provider. Replaces active_provider_capabilities on "
        "fallback activation.",
    )
    webhook_url: str | None = Field(default=None, description="Webhook URL")


class CreateGenerationTask(TaskCreateBase):
    task_type: Literal["GENERATION"] = "GENERATION"
    prompt: str = Field(description="Task prompt")
    width: int | None = Field(default=None, description="Image width")
    height: int | None = Field(default=None, description="Image height")
    seed: int | None = Field(default=None, description="Random seed for generation")
    reference_image_data: str | None = Field(
        default=None, description="Base64-encoded reference image data (data:image/jpeg;base64,... format)"
    )
    reference_image_url: str | None = Field(default=None, description="URL to reference image file")
    reference_image_strength: float | None = Field(
        default=None, ge=0, le=100, description="Influence of the reference image on generation (0-100)"
    )
    subject_model_path: str | None = None
    product_model_path: str | None = None
    style_model_path: str | None = None
    product2_model_path: str | None = None
    subject_lora_weight: float | None = None
    product_lora_weight: float | None = None
    style_lora_weight: float | None = None
    product2_lora_weight: float | None = None
    fal_app_id: str | None = Field(default=None, description="FAL app ID for task execution")


class CreateEditingTask(TaskCreateBase):
    task_type: Literal["EDITING"] = "EDITING"
    base_image: str = Field(description="Base image as base64, data URL (data:image/...), or remote URL")
    prompt: str = Field(description="Task prompt")
    width: int = Field(description="Image width")
    height: int = Field(description="Image height")
    seed: int | None = Field(default=None, description="Random seed for generation")
    reference_images: list[str] | None = Field(
        default=None, description="List of reference images (base64, data URLs, or remote URLs)"
    )
    workflow_id: str | None = Field(default=None, max_length=64, description="Workflow ID")
    fal_app_id: str | None = Field(default=None, description="FAL app ID for task execution")
    base_image_data: str | None = Field(default=None, description="DEPRECATED: Use base_image instead.")
    base_image_url: str | None = Field(default=None, description="DEPRECATED: Use base_image instead.")
    reference_image_data: str | None = Field(default=None, description="DEPRECATED: Use reference_images.")
    reference_image_url: str | None = Field(default=None, description="DEPRECATED: Use reference_images.")


class CreateRefineTask(TaskCreateBase):
    task_type: Literal["REFINE"] = "REFINE"
    base_image_url: str = Field(description="Base image URL")
    target_width: int | None = Field(
        default=None, ge=1, le=16384, description="Target output width in pixels"
    )
    target_height: int | None = Field(
        default=None, ge=1, le=16384, description="Target output height in pixels"
    )
    upscale_enabled: bool = Field(description="Whether to upscale the image")
    upscale_factor: float | None = Field(
        default=None,
        description="Upscale factor (float value). Integer values 2, 4, 8 use specific UPSCALE_*X "
        "capabilities. Non-integer values require UPSCALE_FLOAT capability. If not provided, OUTPUT_SIZE "
        "capability is required",
    )
    upscale_prompt: str | None = None
    upscale_seed: int | None = Field(default=None, description="Seed for the upscale")
    upscale_steps: int = Field(description="Number of inference steps")
    upscale_denoise: float = Field(description="Denoise strength")
    face_detail_enabled: bool = Field(description="Whether to enhance face details in the image")
    face_detail_prompt: str | None = None
    face_detail_seed: int | None = Field(default=None, description="Seed for the face detail enhancement")
    face_detail_steps: int = Field(description="Number of inference steps")
    face_detail_denoise: float = Field(description="Denoise strength")
    fal_app_id: str | None = Field(default=None, description="FAL app ID for task execution")


class CreateExperimentalFalTask(TaskCreateBase):
    task_type: Literal["EXPERIMENTAL_FAL"] = "EXPERIMENTAL_FAL"
    fal_app_id: str = Field(description="FAL app ID for task execution")
    fal_parameters: dict[str, Any] | None = Field(
        default=None, description="Arbitrary parameters to pass to the FAL app"
    )


class CreateVideoGenerationTask(TaskCreateBase):
    task_type: Literal["VIDEO_GENERATION"] = "VIDEO_GENERATION"
    prompt: str = Field(description="Text prompt describing the desired video content")
    cfg_scale: float = Field(ge=0.0, le=2.0, description="Classifier-free guidance scale (0.0-2.0)")
    duration_seconds: int = Field(ge=1, le=60, description="Video duration in seconds (1-60)")
    input_image_data: str | None = None
    input_image_url: str | None = None
    negative_prompt: str | None = None


class CreateLLMInteractionTask(TaskCreateBase):
    task_type: Literal["LLM_INTERACTION"] = "LLM_INTERACTION"
    prompt: str = Field(description="User prompt")
    system_prompt: str | None = Field(default=None, description="System prompt")
    input_images: list[str] | None = Field(default=None, description="List of image paths/URLs")


class CreateBackgroundRemovalTask(TaskCreateBase):
    task_type: Literal["BACKGROUND_REMOVAL"] = "BACKGROUND_REMOVAL"
    input_image_paths: list[str] = Field(
        description="List of image paths or URLs for batch background removal"
    )


class CreateDetailEnhancerTask(TaskCreateBase):
    task_type: Literal["DETAIL_ENHANCER"] = "DETAIL_ENHANCER"
    base_image: str = Field(description="Base image as base64, data URL (data:image/...), or remote URL")
    reference_image: str = Field(description="Reference image for detail transfer")
    detail_label: str | None = Field(default=None, description="Type of detail to enhance (e.g., tshirt)")


class CreateBackgroundFixTask(TaskCreateBase):
    task_type: Literal["BACKGROUND_FIX"] = "BACKGROUND_FIX"
    base_image: str = Field(description="Base image as base64, data URL (data:image/...) or remote URL")
    palette_image: str = Field(description="Palette/reference image for target background color")
    strategy: BackgroundFixStrategy | None = Field(default=None, description="Processing strategy")
    edge_blur_sigma: float | None = Field(
        default=20.0, ge=0, le=200, description="Gaussian blur sigma for soft edge transitions (default 20.0)"
    )
    light_threshold: int | None = Field(
        default=220, ge=0, le=255, description="Brightness above which full color shift applied (0-255)"
    )
    shadow_threshold: int | None = Field(
        default=150, ge=0, le=255, description="Brightness below which no color shift applied (0-255)"
    )
    mask_expansion_percentage: float | None = Field(
        default=0.005, ge=0, le=1, description="Percentage to expand person mask (0-1, default 0.005)"
    )

    @model_validator(mode="after")
    def thresholds_in_order(self) -> CreateBackgroundFixTask:
        light = 220 if self.light_threshold is None else self.light_threshold
        shadow = 150 if self.shadow_threshold is None else self.shadow_threshold
        if shadow > light:
            raise ValueError("shadow_threshold must not exceed light_threshold")
        return self


class CreateImageAdjusterTask(TaskCreateBase):
    task_type: Literal["IMAGE_ADJUSTER"] = "IMAGE_ADJUSTER"
    input_image: str = Field(description="Input image as base64, data URL (data:image/...) or remote URL")
    mode: Literal[framing.MODES] = Field(
        description="Resize mode: 'auto' pads when the aspect ratios differ by more than 5% and crops "
        "otherwise, 'crop' removes pixels, 'pad' adds padding, 'scale' resizes based on proportions"
    )
    target_width: int | None = Field(default=None, ge=1, le=16384, description="Target width in pixels")
    target_height: int | None = Field(default=None, ge=1, le=16384, description="Target height in pixels")
    aspect_ratio: float | None = Field(
        default=None, gt=0, le=100, description="Target aspect ratio (width/height)"
    )
    cropping_position: Literal[framing.POSITIONS] | None = Field(default=None, description="Position to crop from (only used when mode='crop'); center if null")
    resampling: Literal[framing.RESAMPLING] | None = Field(
        default=None, description="Resampling filter to use (lanczos if null)"
    )
    scaling_proportions: Literal[framing.PROPORTIONS] | None = Field(
        default=None,
        description="Scaling proportions mode. 'height' matches the target height exactly (may crop "
        "horizontally), 'width' the target width, 'fit' fits inside, 'fill' covers the target",
    )
    tolerance: float | None = Field(
        default=0.0, ge=0, le=1, description="Tolerance for checking if adjustment is needed (0-1)"
    )
    margin_top: float | None = Percent
    margin_bottom: float | None = Percent
    margin_left: float | None = Percent
    margin_right: float | None = Percent
    reference_image: str | None = Field(
        default=None, description="Optional reference image used to derive subject margins automatically"
    )

    @model_validator(mode="after")
    def target_given(self) -> CreateImageAdjusterTask:
        if (self.target_width is None) != (self.target_height is None):
            raise ValueError("target_width and target_height must be given together")
        if self.target_width is not None and self.aspect_ratio is not None:
            raise ValueError("give either aspect_ratio or target_width/target_height, not both")
        if self.target_width is None and self.aspect_ratio is None:
            raise ValueError("give aspect_ratio or target_width/target_height")
        if self.mode == "scale" and self.target_width is None:
            raise ValueError("mode 'scale' needs target_width and target_height")
        if (self.margin_top or 0) + (self.margin_bottom or 0) >= 1 or (self.margin_left or 0) + (
            self.margin_right or 0
        ) >= 1:
            raise ValueError("opposite margins must add up to less than 1")
        return self


class CreateFaceEnhancerTask(TaskCreateBase):
    task_type: Literal["FACE_ENHANCER"] = "FACE_ENHANCER"
    input_image: str = Field(description="Input image as base64, data URL (data:image/...), or remote URL")


CREATE_MODELS: dict[str, type[TaskCreateBase]] = {
    TaskType.GENERATION.value: CreateGenerationTask,
    TaskType.EDITING.value: CreateEditingTask,
    TaskType.REFINE.value: CreateRefineTask,
    TaskType.EXPERIMENTAL_FAL.value: CreateExperimentalFalTask,
    TaskType.VIDEO_GENERATION.value: CreateVideoGenerationTask,
    TaskType.LLM_INTERACTION.value: CreateLLMInteractionTask,
    TaskType.BACKGROUND_REMOVAL.value: CreateBackgroundRemovalTask,
    TaskType.DETAIL_ENHANCER.value: CreateDetailEnhancerTask,
    TaskType.BACKGROUND_FIX.value: CreateBackgroundFixTask,
    TaskType.IMAGE_ADJUSTER.value: CreateImageAdjusterTask,
    TaskType.FACE_ENHANCER.value: CreateFaceEnhancerTask,
}


# -- public ----------------------------------------------------------------------------------------------


class TaskPublicBase(SartiqModel):
    id: UUID
    priority: int = Field(description="Task priority")
    config: dict[str, Any] | None = None
    origin_instance: str = Field(description="Task origin instance")
    origin_zone: str | None = Field(default=None, description="Task origin zone")
    origin_tenant_id: str | None = Field(default=None, description="Task origin tenant ID")
    origin_reference: str | None = Field(
        default=None, description="Optional reference ID or string from the origin system"
    )
    created_at: datetime
    updated_at: datetime
    status: TaskStatus
    started_at: datetime | None = None
    completed_at: datetime | None = None
    executor_type: str | None = None
    executor_instance: str | None = None
    celery_task_id: str | None = Field(default=None, description="The django-q2 task that runs the task")
    service_task_id: str | None = None
    provider_type: ProviderType | None = None
    provider_config: Any = None
    active_provider_capabilities: list[str] | None = None
    fallback_provider_type: ProviderType | None = None
    fallback_provider_config: Any = None
    fallback_provider_capabilities: list[str] | None = None
    errors: list[str] | None = None
    error_category: ErrorCategory | None = None
    retry_count: int = 0
    progress: float = Field(default=0.0, ge=0, le=100, description="Progress in percent (0-100)")


class FalIds(SartiqModel):
    fal_app_id: str | None = Field(description="Get FAL app ID from provider config.")
    fal_request_id: str | None = Field(description="Get FAL request ID from provider config.")


class GenerationTaskPublic(TaskPublicBase, FalIds):
    task_type: Literal["GENERATION"] = "GENERATION"
    prompt: str | None = None
    width: int | None = None
    height: int | None = None
    seed: int | None = None
    workflow_id: str | None = None
    result_image_path: str | None = None
    reference_image_path: str | None = None
    reference_image_strength: float | None = None
    subject_model_path: str | None = None
    product_model_path: str | None = None
    style_model_path: str | None = None
    product2_model_path: str | None = None
    subject_lora_weight: float | None = None
    product_lora_weight: float | None = None
    style_lora_weight: float | None = None
    product2_lora_weight: float | None = None


class EditingTaskPublic(TaskPublicBase, FalIds):
    task_type: Literal["EDITING"] = "EDITING"
    base_image_path: str
    prompt: str
    width: int
    height: int
    seed: int | None = None
    reference_image_path: str | None = None
    reference_images: list[str] | None = None
    result_image_path: str | None = None
    workflow_id: str | None = None


class RefineTaskPublic(TaskPublicBase, FalIds):
    task_type: Literal["REFINE"] = "REFINE"
    result_image_path: str | None = None
    target_width: int | None = None
    target_height: int | None = None
    upscale_factor: float | None = None
    upscale_seed: int = Field(description="The seed given (0 when none: Real-ESRGAN is deterministic)")
    upscale_steps: int
    upscale_denoise: float
    face_detail_seed: int = Field(description="The seed given (0 when none)")
    face_detail_steps: int
    face_detail_denoise: float


class ExperimentalFalTaskPublic(TaskPublicBase):
    task_type: Literal["EXPERIMENTAL_FAL"] = "EXPERIMENTAL_FAL"
    fal_app_id: str
    fal_parameters: dict[str, Any] | None = None
    fal_request_id: str | None = None
    result_url: str | None = None


class VideoGenerationTaskPublic(TaskPublicBase):
    task_type: Literal["VIDEO_GENERATION"] = "VIDEO_GENERATION"
    prompt: str
    input_image_path: str | None = Field(
        default=None, description="Where the input image is stored (null: text to video, no input image)"
    )
    cfg_scale: float
    duration_seconds: int
    negative_prompt: str | None = None
    result_video_path: str | None = None


class LLMInteractionTaskPublic(TaskPublicBase):
    task_type: Literal["LLM_INTERACTION"] = "LLM_INTERACTION"
    prompt: str
    system_prompt: str | None = None
    input_images: list[str] | None = None
    result_text: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


class BackgroundRemovalTaskPublic(TaskPublicBase):
    task_type: Literal["BACKGROUND_REMOVAL"] = "BACKGROUND_REMOVAL"
    input_image_paths: list[str]
    result_image_paths: list[str] | None = None


class DetailEnhancerTaskPublic(TaskPublicBase):
    task_type: Literal["DETAIL_ENHANCER"] = "DETAIL_ENHANCER"
    base_image_path: str
    reference_image_path: str
    detail_label: str | None = None
    result_image_path: str | None = None
    fallback_used: bool = False


class BackgroundFixTaskPublic(TaskPublicBase):
    task_type: Literal["BACKGROUND_FIX"] = "BACKGROUND_FIX"
    base_image_path: str
    palette_image_path: str
    strategy: BackgroundFixStrategy
    edge_blur_sigma: float | None = None
    light_threshold: int | None = None
    shadow_threshold: int | None = None
    mask_expansion_percentage: float | None = None
    result_image_path: str | None = None


class ImageAdjusterTaskPublic(TaskPublicBase):
    task_type: Literal["IMAGE_ADJUSTER"] = "IMAGE_ADJUSTER"
    input_image_path: str
    mode: str
    target_width: int | None = None
    target_height: int | None = None
    aspect_ratio: float | None = None
    cropping_position: str | None = None
    resampling: str | None = None
    scaling_proportions: str | None = None
    tolerance: float | None = None
    margin_top: float | None = None
    margin_bottom: float | None = None
    margin_left: float | None = None
    margin_right: float | None = None
    reference_image_path: str | None = None
    result_image_path: str | None = None


class FaceEnhancerTaskPublic(TaskPublicBase):
    task_type: Literal["FACE_ENHANCER"] = "FACE_ENHANCER"
    input_image_path: str
    result_image_path: str | None = None
    face_detected: bool = False
    fallback_used: bool = False
    attempts_used: int = 0
    final_ssim_score: float | None = None
    final_lpips_score: float | None = None
    final_dists_score: float | None = None


PUBLIC_MODELS: dict[str, type[TaskPublicBase]] = {
    TaskType.GENERATION.value: GenerationTaskPublic,
    TaskType.EDITING.value: EditingTaskPublic,
    TaskType.REFINE.value: RefineTaskPublic,
    TaskType.EXPERIMENTAL_FAL.value: ExperimentalFalTaskPublic,
    TaskType.VIDEO_GENERATION.value: VideoGenerationTaskPublic,
    TaskType.LLM_INTERACTION.value: LLMInteractionTaskPublic,
    TaskType.BACKGROUND_REMOVAL.value: BackgroundRemovalTaskPublic,
    TaskType.DETAIL_ENHANCER.value: DetailEnhancerTaskPublic,
    TaskType.BACKGROUND_FIX.value: BackgroundFixTaskPublic,
    TaskType.IMAGE_ADJUSTER.value: ImageAdjusterTaskPublic,
    TaskType.FACE_ENHANCER.value: FaceEnhancerTaskPublic,
}


# -- update ----------------------------------------------------------------------------------------------


class TaskPublicUpdate(SartiqModel):
    """What a client may change on any task (PUT /api/v1/tasks/{task_id}). ``status``: only CANCELLED (the
    engine cancels the task) or PENDING for a FAILED or CANCELLED task (the engine resumes it)."""

    config: dict[str, Any] | None = None
    errors: list[str] | None = None
    executor_instance: str | None = Field(default=None, max_length=200)
    executor_type: str | None = Field(default=None, max_length=100)
    priority: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)
    status: TaskStatus | None = None


class ExperimentalFalTaskPublicUpdate(TaskPublicUpdate):
    fal_app_id: str | None = None
    fal_parameters: dict[str, Any] | None = None


def _update_model(name: str, base: type[TaskPublicUpdate] = TaskPublicUpdate) -> type[TaskPublicUpdate]:
    return type(name, (base,), {"__module__": __name__, "__doc__": base.__doc__})


UPDATE_MODELS: dict[str, type[TaskPublicUpdate]] = {
    TaskType.GENERATION.value: _update_model("GenerationTaskPublicUpdate"),
    TaskType.EDITING.value: _update_model("EditingTaskPublicUpdate"),
    TaskType.REFINE.value: _update_model("RefineTaskPublicUpdate"),
    TaskType.EXPERIMENTAL_FAL.value: ExperimentalFalTaskPublicUpdate,
    TaskType.VIDEO_GENERATION.value: _update_model("VideoGenerationTaskPublicUpdate"),
    TaskType.LLM_INTERACTION.value: _update_model("LLMInteractionTaskPublicUpdate"),
    TaskType.BACKGROUND_REMOVAL.value: _update_model("BackgroundRemovalTaskPublicUpdate"),
    TaskType.DETAIL_ENHANCER.value: _update_model("DetailEnhancerTaskPublicUpdate"),
    TaskType.BACKGROUND_FIX.value: _update_model("BackgroundFixTaskPublicUpdate"),
    TaskType.IMAGE_ADJUSTER.value: _update_model("ImageAdjusterTaskPublicUpdate"),
    TaskType.FACE_ENHANCER.value: _update_model("FaceEnhancerTaskPublicUpdate"),
}


class GenerationTaskUpdate(TaskPublicUpdate):
    """PUT /api/v1/tasks/generation/{task_id}. The fields the engine keeps (timestamps, progress, retry
    counts, result paths, the queue's ids, ``task_type``) are accepted by the schema, as the seed's, but a
    request that sets one of them is a 409: the engine is the one source of a task's state."""

    created_at: datetime | None = None
    updated_at: datetime | None = None
    task_type: TaskType | None = None
    origin_instance: str | None = Field(default=None, max_length=200)
    origin_zone: str | None = Field(default=None, max_length=100)
    origin_tenant_id: str | None = Field(default=None, max_length=200)
    origin_reference: str | None = Field(default=None, max_length=512)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    celery_task_id: str | None = None
    service_task_id: str | None = None
    retry_count: int | None = None
    progress: float | None = Field(default=None, ge=0, le=100)
    is_resumed: bool | None = None
    provider_type: ProviderType | None = None
    active_provider_capabilities: list[str] | None = None
    queue_name: str | None = Field(default=None, max_length=100)
    fallback_provider_type: ProviderType | None = None
    fallback_provider_config: dict[str, Any] | None = None
    fallback_provider_capabilities: list[str] | None = None
    resume_attempt_count: int | None = None
    last_resume_attempt: datetime | None = None
    error_category: ErrorCategory | None = None
    service_requests: list[dict[str, Any]] | None = None
    fal_app_id: str | None = None
    fal_request_id: str | None = None
    subject_model_path: str | None = None
    product_model_path: str | None = None
    style_model_path: str | None = None
    product2_model_path: str | None = None
    subject_lora_weight: float | None = None
    product_lora_weight: float | None = None
    style_lora_weight: float | None = None
    product2_lora_weight: float | None = None
    reference_image_path: str | None = None
    reference_image_strength: float | None = Field(default=None, ge=0, le=100)
    result_image_path: str | None = None


# Set by the engine only (GenerationTaskUpdate may name them; changing one is refused).
ENGINE_FIELDS = (
    "created_at",
    "updated_at",
    "task_type",
    "started_at",
    "completed_at",
    "celery_task_id",
    "service_task_id",
    "retry_count",
    "progress",
    "is_resumed",
    "resume_attempt_count",
    "last_resume_attempt",
    "error_category",
    "service_requests",
    "result_image_path",
    "reference_image_path",
)


# -- the unions the operations take and give (OpenAPI only) ------------------------------------------------


class TaskData(
    RootModel[
        CreateGenerationTask
        | CreateEditingTask
        | CreateRefineTask
        | CreateExperimentalFalTask
        | CreateVideoGenerationTask
        | CreateLLMInteractionTask
        | CreateBackgroundRemovalTask
        | CreateDetailEnhancerTask
        | CreateBackgroundFixTask
        | CreateImageAdjusterTask
        | CreateFaceEnhancerTask
    ]
):
    """Task Data: one of the 11 Create*Task bodies, chosen by its ``task_type``."""


class TaskResponse(
    RootModel[
        GenerationTaskPublic
        | EditingTaskPublic
        | RefineTaskPublic
        | ExperimentalFalTaskPublic
        | VideoGenerationTaskPublic
        | LLMInteractionTaskPublic
        | BackgroundRemovalTaskPublic
        | DetailEnhancerTaskPublic
        | BackgroundFixTaskPublic
        | ImageAdjusterTaskPublic
        | FaceEnhancerTaskPublic
    ]
):
    """One of the 11 *TaskPublic shapes, by the task's ``task_type``."""


class TaskList(RootModel[list[TaskResponse]]):
    """Tasks, newest first."""


class GenerationTaskList(RootModel[list[GenerationTaskPublic]]):
    """Generation tasks, newest first."""


class UpdateData(RootModel[ExperimentalFalTaskPublicUpdate | TaskPublicUpdate]):
    """Update Data: the fields of the task's *TaskPublicUpdate (the same six for every type, plus fal_app_id
    and fal_parameters for EXPERIMENTAL_FAL)."""


# -- errors and queries ----------------------------------------------------------------------------------


class ValidationError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class HTTPValidationError(BaseModel):
    detail: list[ValidationError]


class HTTPError(BaseModel):
    detail: str


class TaskListQuery(SartiqModel):
    limit: int = Field(default=100, ge=0, le=2**31 - 1, description="Maximum number of tasks to return")
    skip: int = Field(default=0, ge=0, le=2**31 - 1, description="Number of tasks to skip")
    status: TaskStatus | None = Field(default=None, description="Filter by task status")
    task_type: TaskType | None = Field(default=None, description="Filter by task type")
    origin_instance: str | None = Field(default=None, description="Filter by origin instance")
    origin_zone: str | None = Field(default=None, description="Filter by origin zone")
    origin_tenant_id: str | None = Field(default=None, description="Filter by origin tenant ID")
    workflow_id: str | None = Field(default=None, description="Filter by workflow ID")


# -- evaluation (runs/api/sartiq/evaluation.py) ---------------------------------------------------------


class EvaluationQuery(SartiqModel):
    provider: Literal["local"] | None = Field(
        default=None,
        description="The evaluator: `local`, this server's own detector (the default and the only one)",
    )


class EvaluationRequest(SartiqModel):
    """Schema for evaluation API requests."""

    image_data: str | None = Field(
        default=None, description="Base64-encoded image data (data:image/jpeg;base64,... format)"
    )
    image_url: str | None = Field(
        default=None, description="URL to image file (a public http(s) URL, or one of your uploads' art_ id)"
    )
    expected_framing: Framing = Field(description="Expected framing type for the image")
    expected_view_angle: ViewAngle = Field(description="Expected view angle for the image")
    expected_gender: Gender | None = Field(default="FEMALE", description="Expected gender for the image")
    custom_instructions: str | None = Field(
        default=None, description="Custom instructions for the evaluation (not used by this server's detector)"
    )
    include_descriptions: bool = Field(
        default=False,
        description="Include garment and subject descriptions (this server has no captioning model: they "
        "stay null)",
    )

    @model_validator(mode="after")
    def one_image(self) -> EvaluationRequest:
        if not self.image_data and not self.image_url:
            raise ValueError("Provide image_data or image_url")
        if self.image_data and self.image_url:
            raise ValueError("Provide image_data or image_url, not both")
        return self


class EvaluationResponse(SartiqModel):
    """Schema for evaluation API responses."""

    success: bool = Field(description="Whether the evaluation was successful")
    detected_framing: Framing | None = Field(default=None, description="Detected framing type")
    detected_view_angle: ViewAngle | None = Field(default=None, description="Detected view angle")
    shot_type_confidence: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Confidence score for shot type detection"
    )
    matches_expected: bool | None = Field(
        default=None, description="Whether detected shot type matches expected"
    )
    human_detected: bool | None = Field(default=None, description="Whether humans were detected in the image")
    number_of_people: int | None = Field(default=None, description="Number of people detected")
    human_presence_confidence: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Confidence score for human detection"
    )
    anatomy_correct: bool | None = Field(default=None, description="Whether anatomy appears correct")
    anatomy_issues: list[AnatomyIssue] | None = Field(
        default=None, description="List of detected anatomy issues"
    )
    anatomy_confidence: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Confidence score for anatomy analysis"
    )
    detected_gender: Gender | None = Field(default=None, description="Detected gender")
    gender_confidence: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Confidence score for gender detection"
    )
    garment_description: str | None = Field(default=None, description="Description of garments in the image")
    subject_description: str | None = Field(default=None, description="Description of the subject")
    scene_description: str | None = Field(default=None, description="Description of the scene")
    collage_detected: bool | None = Field(
        default=None, description="Whether a collage or stitched image was detected"
    )
    error: str | None = Field(default=None, description="Error message if evaluation failed")
    evaluation_time_ms: float | None = Field(
        default=None, description="Time taken for evaluation in milliseconds"
    )
    confidence_summary: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Average confidence across all evaluations"
    )


class HealthStatus(SartiqModel):
    """Schema for evaluator health status."""

    is_healthy: bool = Field(description="Whether the evaluator is healthy")
    health_score: float = Field(ge=0.0, le=1.0, description="Health score (0.0-1.0)")
    total_evaluations: int = Field(description="Total number of evaluations performed")
    success_rate: float = Field(ge=0.0, le=1.0, description="Success rate (0.0-1.0)")
    average_response_time: float = Field(description="Average response time in seconds")
    circuit_breaker_state: str = Field(description="Circuit breaker state (closed, open or half_open)")


# -- monitoring (runs/api/sartiq/monitoring.py) ---------------------------------------------------------


def to_utc(value: datetime) -> datetime:
    """A query's datetime in UTC (a naive one is read as UTC): databases take offsets of at most ±15:59
    (PostgreSQL), while ISO 8601 and Python allow more; a date that leaves the calendar in UTC is refused."""
    try:
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("the datetime is out of range") from None


UtcDatetime = Annotated[datetime, AfterValidator(to_utc)]

class MonitoringTaskQuery(SartiqModel):
    page: int = Field(default=1, ge=1, le=2**31 - 1, description="Page number (1-indexed)")
    page_size: int = Field(default=50, ge=1, le=200, description="Items per page")
    sort_by: Literal["created_at", "started_at", "completed_at", "status", "task_type", "progress"] = Field(
        default="created_at", description="Sort field"
    )
    sort_order: Literal["asc", "desc"] = Field(default="desc", description="Sort order")
    status: TaskStatus | None = Field(default=None, description="Filter by status")
    task_type: TaskType | None = Field(default=None, description="Filter by task type")
    provider_type: ProviderType | None = Field(default=None, description="Filter by provider type")
    origin_instance: str | None = Field(default=None, description="Filter by origin instance")
    origin_zone: str | None = Field(default=None, description="Filter by origin zone")
    origin_tenant_id: str | None = Field(default=None, description="Filter by origin tenant ID")
    created_after: UtcDatetime | None = Field(
        default=None, description="Filter tasks created after this datetime"
    )
    created_before: UtcDatetime | None = Field(
        default=None, description="Filter tasks created before this datetime"
    )
    search: str | None = Field(default=None, description="Search by task ID prefix")


class MonitoringStatsQuery(SartiqModel):
    origin_instance: str | None = Field(default=None, description="Filter by origin instance")
    origin_zone: str | None = Field(default=None, description="Filter by origin zone")


class TaskListItem(SartiqModel):
    id: UUID
    task_type: TaskType
    provider_type: ProviderType | None = None
    status: TaskStatus
    progress: float
    origin_instance: str
    origin_zone: str | None = None
    origin_tenant_id: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: float | None = Field(default=None, description="Duration in milliseconds")
    has_error: bool


class TaskListResponse(SartiqModel):
    """Paginated task list response."""

    items: list[TaskListItem]
    total: int = Field(description="Total number of tasks matching filters")
    page: int = Field(description="Current page number (1-indexed)")
    page_size: int = Field(description="Number of items per page")
    pages: int = Field(description="Total number of pages")


class TaskDetailResponse(SartiqModel):
    """Detailed task view with full configuration."""

    id: UUID
    task_type: TaskType
    provider_type: ProviderType | None = None
    status: TaskStatus
    progress: float = 0.0
    origin_instance: str
    origin_zone: str | None = None
    origin_tenant_id: str | None = None
    origin_reference: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: float | None = Field(default=None, description="Duration in milliseconds")
    queue_name: str = Field(default="inference", description="Celery queue name (the django-q2 queue)")
    priority: int = Field(default=0, description="Task priority (higher = more priority)")
    celery_task_id: str | None = None
    service_task_id: str | None = None
    executor_type: str | None = None
    executor_instance: str | None = None
    config: dict[str, Any] | None = None
    webhook_url: str | None = Field(default=None, description="Webhook URL for notifications")
    errors: list[str] | None = None
    retry_count: int = 0
    is_resumed: bool = Field(default=False, description="Whether task was resumed")
    resume_attempt_count: int = Field(default=0, description="Number of resume attempts")
    last_resume_attempt: datetime | None = Field(default=None, description="Timestamp of last resume attempt")
    service_requests: list[dict[str, Any]] | None = Field(
        default=None, description="Log of external service requests made during task processing"
    )
    task_data: dict[str, Any] = Field(
        description="Task-type specific fields (prompt, width, height, result_image_path, etc.)"
    )


class MediaItem(SartiqModel):
    name: str = Field(description="Descriptive name (e.g., 'base_image', 'result_image')")
    path: str = Field(description="Relative path in storage")
    url: str = Field(description="Full URL for preview")
    media_type: str = Field(description="Type of media: 'image' or 'video'")


class TaskMediaResponse(SartiqModel):
    """Input and output media for a task."""

    task_id: UUID
    inputs: list[MediaItem] = Field(default_factory=list, description="Input media files")
    outputs: list[MediaItem] = Field(default_factory=list, description="Output media files")


class AggregateStats(SartiqModel):
    """Aggregate statistics for the monitoring dashboard."""

    total_tasks: int = Field(description="Total number of tasks")
    by_status: dict[str, int] = Field(
        default_factory=dict,
        description="Task count by status (PENDING, EXECUTING, COMPLETED, FAILED, CANCELLED)",
    )
    by_provider: dict[str, int] = Field(default_factory=dict, description="Task count by provider type")
    by_task_type: dict[str, int] = Field(default_factory=dict, description="Task count by task type")
    tasks_last_hour: int = Field(default=0, description="Tasks created in the last hour")
    tasks_last_24h: int = Field(default=0, description="Tasks created in the last 24 hours")


class QueueStats(SartiqModel):
    name: str = Field(description="Queue name")
    depth: int = Field(description="Number of pending tasks in queue")
    active_workers: int = Field(description="Number of workers consuming this queue")
    active_tasks: int = Field(description="Number of tasks currently being executed")
    reserved_tasks: int = Field(description="Number of tasks reserved by workers (prefetched)")
    avg_wait_time_ms: float | None = Field(
        default=None, description="Average time tasks wait in queue before execution (ms)"
    )
    tasks_completed_last_hour: int = Field(description="Number of tasks completed in the last hour")


class QueueStatsResponse(SartiqModel):
    """Response for queue statistics endpoint."""

    queues: list[QueueStats] = Field(default_factory=list, description="Statistics per queue")
    total_pending: int = Field(default=0, description="Total pending tasks across all queues")
    total_active: int = Field(default=0, description="Total active tasks across all queues")
    timestamp: datetime = Field(description="Timestamp when stats were collected")


class WorkerInfo(SartiqModel):
    name: str = Field(description="Worker name (the django-q2 cluster: queue.pid@host)")
    queues: list[str] = Field(description="Queues this worker consumes")
    concurrency: int = Field(description="Worker processes of the cluster")
    active_tasks: int = Field(description="Tasks currently being executed")
    utilization_pct: float = Field(description="active_tasks / concurrency x 100")
    has_capacity: bool = Field(description="Whether the worker can take another task")
    tasks_completed_total: int = Field(description="Tasks completed since the worker started")
    tasks_per_minute: float = Field(description="Tasks completed per minute (over the last hour at most)")
    memory_mb: float | None = Field(default=None, description="Memory (RSS) of the cluster's processes")


class WorkerStatsResponse(SartiqModel):
    """Response for worker statistics endpoint."""

    workers: list[WorkerInfo] = Field(default_factory=list, description="Statistics per worker")
    total_workers: int = Field(default=0, description="Total number of workers")
    total_capacity: int = Field(default=0, description="Total capacity (sum of all worker concurrency)")
    total_active: int = Field(default=0, description="Total active tasks across all workers")
    total_utilization_pct: float = Field(default=0.0, description="Overall utilization percentage")
    workers_at_capacity: int = Field(default=0, description="Number of workers at full capacity")
    timestamp: datetime = Field(description="Timestamp when stats were collected")


class WorkerHealthResponse(SartiqModel):
    """Quick health check response for worker availability."""

    healthy: bool = Field(description="Overall health status")
    total_workers: int = Field(default=0, description="Total number of workers")
    workers_with_capacity: int = Field(default=0, description="Number of workers with available capacity")
    queues_with_workers: list[str] = Field(
        default_factory=list, description="Queues that have at least one worker"
    )
    queues_without_workers: list[str] = Field(default_factory=list, description="Queues that have no workers")
    timestamp: datetime = Field(description="Timestamp when health was checked")
