"""The seed's enums (../shared/SARTIQ.md §3). Values the seed never shows are our choices and say so."""

from __future__ import annotations

from enum import Enum


class TaskType(str, Enum):
    # The seed names GENERATION, REFINE and EDITING; the other eight follow its Create*Task schema names.
    GENERATION = "GENERATION"
    EDITING = "EDITING"
    REFINE = "REFINE"
    EXPERIMENTAL_FAL = "EXPERIMENTAL_FAL"
    VIDEO_GENERATION = "VIDEO_GENERATION"
    LLM_INTERACTION = "LLM_INTERACTION"
    BACKGROUND_REMOVAL = "BACKGROUND_REMOVAL"
    DETAIL_ENHANCER = "DETAIL_ENHANCER"
    BACKGROUND_FIX = "BACKGROUND_FIX"
    IMAGE_ADJUSTER = "IMAGE_ADJUSTER"
    FACE_ENHANCER = "FACE_ENHANCER"


class TaskStatus(str, Enum):
    PENDING = "PENDING"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class ProviderType(str, Enum):
    """One per provider config schema of the seed (the seed shows no value; lowercase is our choice)."""

    AI_CORE = "ai_core"
    FAL_GARMENT_FIXER = "fal_garment_fixer"
    FAL_SHOOTIFY_REFINER = "fal_shootify_refiner"
    FAL_STANDARD = "fal_standard"
    FASHN_STANDARD = "fashn_standard"
    FREEPIK_MAGNIFIC = "freepik_magnific"
    FREEPIK_MAGNIFIC_PRECISION = "freepik_magnific_precision"
    LOCAL = "local"
    NANO_BANANA_UPSCALER = "nano_banana_upscaler"
    SARTIQ_ULTIMATE_FACE_FIXER = "sartiq_ultimate_face_fixer"
    SARTIQ_ULTIMATE_GARMENT_FIXER = "sartiq_ultimate_garment_fixer"
    SARTIQ_ULTIMATE_REFINER = "sartiq_ultimate_refiner"
    VERTEX = "vertex"


class ErrorCategory(str, Enum):
    """Why a task failed (the seed shows no value): the request's input, our side, or a provider."""

    VALIDATION_ERROR = "VALIDATION_ERROR"
    PROCESSING_ERROR = "PROCESSING_ERROR"
    PROVIDER_ERROR = "PROVIDER_ERROR"
    TIMEOUT = "TIMEOUT"
    BLOCKED = "BLOCKED"


class BackgroundFixStrategy(str, Enum):
    """How BACKGROUND_FIX moves the backdrop to the palette colour (the seed shows no value).

    ``color_shift`` keeps the backdrop's light and shadow and moves its colour; ``replace`` paints the
    palette colour flat (shadows go)."""

    COLOR_SHIFT = "color_shift"
    REPLACE = "replace"


class EventType(str, Enum):
    """The kind of a webhook event (the seed names the event schemas, not their values)."""

    TASK_CREATED = "TASK_CREATED"
    TASK_STATUS = "TASK_STATUS"
    INFERENCE_STATUS = "INFERENCE_STATUS"
    TRAINING_STATUS = "TRAINING_STATUS"
    PREPROCESSING_STATUS = "PREPROCESSING_STATUS"


# -- evaluation (runs/api/sartiq/evaluation.py) ---------------------------------------------------------


class Framing(str, Enum):
    """How much of the body the frame holds, named by its lowest part in frame. The seed shows only
    ``full_body`` (its first member); the other three are ours."""

    FULL_BODY = "full_body"  # to the feet
    THREE_QUARTER = "three_quarter"  # to the hips or thighs
    HALF_BODY = "half_body"  # to the waist
    CLOSE_UP = "close_up"  # head, shoulders, chest


class ViewAngle(str, Enum):
    """Which side of the subject faces the camera. The seed shows only ``front`` (its first member)."""

    FRONT = "front"
    BACK = "back"
    SIDE = "side"


class Gender(str, Enum):
    """The seed shows ``FEMALE`` (EvaluationRequest's default); ``MALE`` is the other face class of the
    detector."""

    FEMALE = "FEMALE"
    MALE = "MALE"


class AnatomyIssue(str, Enum):
    """The seed lists no value. These are our guesses at its names; this server has no anatomy detector and
    never reports one (EvaluationResponse.anatomy_issues is always null)."""

    EXTRA_LIMBS = "extra_limbs"
    MISSING_LIMBS = "missing_limbs"
    MALFORMED_HANDS = "malformed_hands"
    DISTORTED_FACE = "distorted_face"
    UNNATURAL_POSE = "unnatural_pose"
