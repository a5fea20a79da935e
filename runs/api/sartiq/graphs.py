"""What each Sartiq task type runs on our engine: a small fixed graph made from the task's fields.

A task's graph is its image inputs (one ``INPUT__IMAGE`` per image field, named after the field), a chain of
node steps, and ``OUTPUT__`` (``result_image``). The first step's node is ``task``: its attempts give the
task's ``retry_count`` and ``fallback_used``.

Executed here: IMAGE_ADJUSTER (``IMAGE__ADJUST``, Pillow), BACKGROUND_FIX (``IMAGE__BACKGROUND_FIX``,
numpy/scipy) and REFINE with upscaling (``IMAGE__UPSCALE``, our Real-ESRGAN engine, then ``IMAGE__SCALE`` or
``IMAGE__ADJUST`` for the rest of the factor or the target size), and LLM_INTERACTION on OpenAI
(``TEXT__LLM`` with the user's stored key; a fallback provider config becomes the task node's fallback).
Every other type, a provider other than these, and a field that needs what this server lacks (a face model,
fal, image inputs to an LLM) is refused with 501 before anything is stored: never a fake result.
IMAGE_ADJUSTER's margins find the subject on a plain backdrop (``pipelines.nodes.backdrop``); a margin needs
numpy/scipy on the worker.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from config.errors import CanvasflowError
from pipelines.nodes.base import get_node_type

TASK_NODE = "task"
LOCAL_PROVIDERS = (None, "local")
UPSCALE_SCALES = (2, 3, 4)
MAX_UPSCALE_FACTOR = 8.0


class RequestInvalid(CanvasflowError):
    """FastAPI's 422: ``errors`` is the list of ``{loc, msg, type}``."""

    status, code = 422, "VALIDATION_ERROR"

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__(errors[0]["msg"] if errors else "Validation error", details={"errors": errors})


def invalid(loc: Iterable[str | int], msg: str, type_: str = "value_error") -> RequestInvalid:
    return RequestInvalid([{"loc": list(loc), "msg": msg, "type": type_}])


@dataclass
class Plan:
    """The graph of one task: its image and text fields (body field -> the first step's input port), its
    steps (each one's ``link`` output feeds the next; the last one's is the task's ``result``), and the first
    step's ``fallback`` (the engine's: another node type or other params once it has given up)."""

    images: dict[str, str]
    steps: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    link: str = "image"
    result: str = "result_image"
    fallback: dict[str, Any] | None = None

    def node_types(self) -> list[str]:
        types = [node_type for node_type, _ in self.steps]
        return types + ([self.fallback["type"]] if self.fallback and "type" in self.fallback else [])

    def graph(self) -> dict[str, Any]:
        inputs = [(name, "INPUT__IMAGE", "image", port) for name, port in self.images.items()]
        inputs += [(name, "INPUT__TEXT", "text", port) for name, port in self.texts.items()]
        nodes: list[dict[str, Any]] = []
        edges: list[dict[str, Any]] = []
        for i, (name, input_type, out_port, port) in enumerate(inputs):
            params = {"name": name, **({"max_length": 100_000} if input_type == "INPUT__TEXT" else {})}
            nodes.append(
                {"id": f"in_{name}", "type": input_type, "params": params, "position": {"x": 0, "y": i * 150}}
            )
            target = (TASK_NODE, port) if self.steps else ("out", self.result)
            edges.append(_edge(f"in_{name}", target, out_port))
        ids = [TASK_NODE, *(f"step{i}" for i in range(2, len(self.steps) + 1))]
        for i, (node_id, (node_type, params)) in enumerate(zip(ids, self.steps, strict=True)):
            node = {
                "id": node_id,
                "type": node_type,
                "params": params,
                "position": {"x": 250 * (i + 1), "y": 0},
            }
            if node_id == TASK_NODE and self.fallback:
                node["fallback"] = self.fallback
            nodes.append(node)
        for before, after in zip(ids, ids[1:]):
            edges.append(_edge(before, (after, self.link), self.link))
        if self.steps:
            edges.append(_edge(ids[len(self.steps) - 1], ("out", self.result), self.link))
        nodes.append(
            {
                "id": "out",
                "type": "OUTPUT__",
                "params": {},
                "position": {"x": 250 * (len(self.steps) + 1), "y": 0},
            }
        )
        return {"nodes": nodes, "edges": edges}


def _edge(source: str, target: tuple[str, str], port: str = "image") -> dict[str, Any]:
    return {
        "id": f"{source}-{target[0]}",
        "from": {"node": source, "port": port},
        "to": {"node": target[0], "port": target[1]},
    }


def _given(fields: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    return {name: fields[name] for name in names if fields.get(name) is not None}


ADJUSTER_PARAMS = (
    "mode",
    "target_width",
    "target_height",
    "aspect_ratio",
    "cropping_position",
    "resampling",
    "scaling_proportions",
    "tolerance",
    "margin_top",
    "margin_bottom",
    "margin_left",
    "margin_right",
)
BACKGROUND_FIX_PARAMS = (
    "strategy",
    "edge_blur_sigma",
    "light_threshold",
    "shadow_threshold",
    "mask_expansion_percentage",
)


def image_adjuster(fields: dict[str, Any]) -> Plan:
    images = {"input_image": "image"}
    if fields.get("reference_image") is not None:
        images["reference_image"] = "reference"
    return Plan(images, [("IMAGE__ADJUST", _given(fields, ADJUSTER_PARAMS))])


def background_fix(fields: dict[str, Any]) -> Plan:
    return Plan(
        {"base_image": "image", "palette_image": "palette"},
        [("IMAGE__BACKGROUND_FIX", _given(fields, BACKGROUND_FIX_PARAMS))],
    )


def upscale_steps(factor: float, model: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Real-ESRGAN passes for ``factor``: 2, 3, 4 in one pass, 8 as 4 then 2; any other factor as the
    passes of the next of those above it, then a Lanczos resize down to the factor."""
    if factor in UPSCALE_SCALES:
        return [("IMAGE__UPSCALE", {**model, "scale": int(factor)})]
    if factor == MAX_UPSCALE_FACTOR:
        return [("IMAGE__UPSCALE", {**model, "scale": 4}), ("IMAGE__UPSCALE", {**model, "scale": 2})]
    above = next((s for s in (2, 3, 4, 8) if s >= factor))
    return [*upscale_steps(float(above), model), ("IMAGE__SCALE", {"factor": round(factor / above, 6)})]


def refine(fields: dict[str, Any]) -> Plan:
    factor, width, height = (
        fields.get("upscale_factor"),
        fields.get("target_width"),
        fields.get("target_height"),
    )
    if (width is None) != (height is None):
        raise invalid(["body"], "Value error, target_width and target_height must be given together")
    if factor is not None and not 1 < factor <= MAX_UPSCALE_FACTOR:
        raise invalid(
            ["body", "upscale_factor"], f"Input should be greater than 1 and at most {MAX_UPSCALE_FACTOR:g}"
        )
    if fields["upscale_enabled"] and factor is None and width is None:
        raise invalid(
            ["body"], "Value error, upscaling needs upscale_factor or target_width and target_height"
        )
    model = {}
    upscale_model = (fields.get("config") or {}).get("upscale_model")
    if upscale_model is not None:
        node_type = get_node_type("IMAGE__UPSCALE")
        allowed = node_type.params_schema["properties"]["model"]["enum"] if node_type else []
        if upscale_model not in allowed:
            raise invalid(["body", "config", "upscale_model"], f"Input should be one of {allowed}", "enum")
        model["model"] = upscale_model
    steps: list[tuple[str, dict[str, Any]]] = []
    if fields["upscale_enabled"]:
        steps = (
            upscale_steps(float(factor), model)
            if factor is not None
            else [("IMAGE__UPSCALE", {**model, "scale": 4})]
        )
    if width is not None:
        steps.append(
            (
                "IMAGE__ADJUST",
                {
                    "mode": "scale",
                    "target_width": width,
                    "target_height": height,
                    "scaling_proportions": "fill",
                },
            )
        )
    if not steps:
        steps.append(("IMAGE__SCALE", {"factor": 1.0}))  # nothing asked: the image as it is
    return Plan({"base_image_url": "image"}, steps)


def ai_core_params(config: Any, loc: str) -> dict[str, Any]:
    """TEXT__LLM params from an AiCoreProviderConfig (``ai_provider``, ``model``, ``temperature``,
    ``max_tokens``); only OpenAI has an adapter here."""
    config = config if isinstance(config, dict) else {}
    provider = config.get("ai_provider", "openai")
    if provider != "openai":
        raise refused(f"The ai_provider {provider!r} is not available on this server yet (openai is)")
    params = {k: config[k] for k in ("model", "temperature", "max_tokens") if config.get(k) is not None}
    for name, kind in (("model", str), ("temperature", (int, float)), ("max_tokens", int)):
        if name in params and (not isinstance(params[name], kind) or isinstance(params[name], bool)):
            raise invalid(
                ["body", loc, name], f"Input should be a valid {'string' if kind is str else 'number'}"
            )
    return params


def llm_interaction(fields: dict[str, Any]) -> Plan:
    if not fields["prompt"].strip():
        raise invalid(["body", "prompt"], "String should have at least 1 character", "string_too_short")
    params = ai_core_params(fields.get("provider_config"), "provider_config")
    if fields.get("system_prompt"):
        params["system"] = fields["system_prompt"]
    plan = Plan({}, [("TEXT__LLM", params)], texts={"prompt": "prompt"}, link="text", result="result_text")
    if fields.get("fallback_provider_type") is not None:
        fallback = ai_core_params(fields.get("fallback_provider_config"), "fallback_provider_config")
        plan.fallback = {"params": fallback}
    return plan


PLANS = {
    "IMAGE_ADJUSTER": image_adjuster,
    "BACKGROUND_FIX": background_fix,
    "REFINE": refine,
    "LLM_INTERACTION": llm_interaction,
}
# Providers each type can run on here (None: no provider named).
PROVIDERS = {"LLM_INTERACTION": (None, "ai_core")}

# Fields an executable type takes that need what this server does not have yet.
NEEDS = {
    "REFINE": {"fal_app_id": "the fal provider"},
    "LLM_INTERACTION": {"input_images": "image inputs to a language model"},
}


def plan_for(task_type: str, fields: dict[str, Any]) -> Plan:
    """The task's plan; 501 when this server cannot execute it, 422 for fields its executor refuses."""
    if task_type not in PLANS:
        raise refused(
            f"Task type {task_type} is not available on this server yet: it needs a provider adapter"
        )
    for name in ("provider_type", "fallback_provider_type"):
        if fields.get(name) not in PROVIDERS.get(task_type, LOCAL_PROVIDERS):
            raise refused(f"Provider {fields[name]} is not available on this server yet for {task_type}")
    if fields.get("webhook_url"):
        raise refused("Task webhooks are not available on this server yet: poll GET /api/v1/tasks/{task_id}")
    missing = {need for name, need in NEEDS.get(task_type, {}).items() if fields.get(name) is not None}
    if task_type == "REFINE" and fields.get("face_detail_enabled"):
        missing.add("a face model (face_detail_enabled)")
    if missing:
        raise refused(f"This task needs {', '.join(sorted(missing))}, which this server does not have yet")
    plan = PLANS[task_type](fields)
    unavailable = sorted({t for t in plan.node_types() if get_node_type(t) is None})
    if unavailable:
        raise refused(
            f"Task type {task_type} is not available on this server ({', '.join(unavailable)} missing)"
        )
    return plan


def refused(message: str) -> CanvasflowError:
    return CanvasflowError(message, code="NOT_IMPLEMENTED", status=501)


# -- images in a request ------------------------------------------------------------------------------

BASE64_RE = re.compile(r"^[A-Za-z0-9+/=\s]+$")


def image_input(name: str, value: str) -> str:
    """A run input for an image field: an http(s) URL, a data: URL or one of your ``art_`` uploads as they
    are; bare base64 as a data: URL. A server path is refused (this API reads no local files)."""
    value = value.strip()
    if value.startswith(("http://", "https://", "data:", "art_")):
        return value
    if value.startswith(("/", "./", "../", "~", "file:")) or "\\" in value:
        raise invalid(["body", name], "Local paths are not accepted: send a URL, a data URL or base64")
    if len(value) >= 8 and BASE64_RE.match(value):
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            pass
        else:
            return "data:image/png;base64," + re.sub(r"\s", "", value)
    raise invalid(["body", name], "Input should be an http(s) URL, a data URL (data:image/...) or base64")
