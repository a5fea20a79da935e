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
