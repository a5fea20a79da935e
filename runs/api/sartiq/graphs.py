"""What each Sartiq task type runs on our engine: a small fixed graph made from the task's fields.

A task's graph is its image inputs (one ``INPUT__IMAGE`` per image field, named after the field), a chain of
node steps, and ``OUTPUT__`` (``result_image``). The first step's node is ``task``: its attempts give the
task's ``retry_count`` and ``fallback_used``; its fallback (the engine's) is the same step on the task's
fallback provider.

Executed here: IMAGE_ADJUSTER (``IMAGE__ADJUST``, Pillow), BACKGROUND_FIX (``IMAGE__BACKGROUND_FIX``,
numpy/scipy) and REFINE with upscaling (``IMAGE__UPSCALE``, our Real-ESRGAN engine, then ``IMAGE__SCALE`` or
``IMAGE__ADJUST`` for the rest of the factor or the target size), DETAIL_ENHANCER (a Real-ESRGAN pass at the
same size), BACKGROUND_REMOVAL (MediaPipe's person segmentation, one chain per image of the batch) and
FACE_ENHANCER (BlazeFace and Real-ESRGAN on each face). On fal (``FAL__RUN``: fal-client with the
user's stored fal key): GENERATION, EDITING and VIDEO_GENERATION (no model of ours does them) and
EXPERIMENTAL_FAL, and DETAIL_ENHANCER, FACE_ENHANCER and REFINE when the task names fal; fal's whole answer
is kept as the ``provider_result`` output (its request id, its file URLs). LLM_INTERACTION on OpenAI or Anthropic
(``TEXT__LLM``). A provider without an adapter, and a field that needs what this server lacks (a face model
for REFINE's face details, image inputs to an LLM) is refused with 501 before anything is stored: never a fake
result. IMAGE_ADJUSTER's margins find the subject on a plain backdrop (``pipelines.nodes.backdrop``).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from config.errors import CanvasflowError
from pipelines import loras
from pipelines.nodes.base import get_node_type

TASK_NODE = "task"
KEPT = "out:"  # an image port naming an output instead: the input is kept (stored) but no step reads it
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
    # Input values that are not a body field of the same name (an item of a list field), by input name.
    values: dict[str, Any] = field(default_factory=dict)
    # More outputs of the first step: output name -> its port (a provider's whole answer).
    also: dict[str, str] = field(default_factory=dict)

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
            if port.startswith(KEPT):  # stored with the run, read by no step
                target = ("out", port.removeprefix(KEPT))
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
        for name, port in self.also.items():
            edges.append({**_edge(TASK_NODE, ("out", name), port), "id": f"{TASK_NODE}-out-{name}"})
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
    model = upscale_model(fields)
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


AI_PROVIDERS = ("openai", "anthropic")


def upscale_model(fields: dict[str, Any]) -> dict[str, Any]:
    """``config.upscale_model`` as IMAGE__UPSCALE's ``model`` (422 for a network it does not have), and
    ``config.upscale_lora`` / ``config.upscale_lora_weight`` as its ``lora`` / ``lora_weight``: an adapter a
    training task made (its ``local_model_path``), applied to the network it was trained for."""
    config = fields.get("config") or {}
    params: dict[str, Any] = {}
    model = config.get("upscale_model")
    node_type = get_node_type("IMAGE__UPSCALE")
    properties = node_type.params_schema["properties"] if node_type else {}
    if model is not None:
        allowed = properties["model"]["enum"] if "model" in properties else []
        if model not in allowed:
            raise invalid(["body", "config", "upscale_model"], f"Input should be one of {allowed}", "enum")
        params["model"] = model
    name = config.get("upscale_lora")
    if name is not None:
        if "lora" not in properties:
            raise refused("LoRA adapters for the upscaler are not available on this server")
        params["lora"] = lora_name(str(name), ["config", "upscale_lora"])
        weight = config.get("upscale_lora_weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 2:
            raise invalid(["body", "config", "upscale_lora_weight"], "Input should be a number from 0 to 2")
        params["lora_weight"] = float(weight)
    return params


def detail_enhancer(fields: dict[str, Any]) -> Plan:
    """Detail enhancement here: a Real-ESRGAN pass at 2x, brought back to the base image's size (Lanczos),
    which restores fine detail and removes compression noise at the same size. The reference image is kept with
    the task but not used here: no model of ours transfers detail from a reference (name a fal app in
    ``provider_config.fal_app_id`` for that)."""
    return Plan(
        {"base_image": "image", "reference_image": f"{KEPT}reference_image"},
        [("IMAGE__UPSCALE", {**upscale_model(fields), "scale": 2}), ("IMAGE__SCALE", {"factor": 0.5})],
    )


def ai_core_params(config: Any, loc: str) -> dict[str, Any]:
    """TEXT__LLM params from an AiCoreProviderConfig (``ai_provider``, ``model``, ``temperature``,
    ``max_tokens``); OpenAI and Anthropic have adapters here."""
    config = config if isinstance(config, dict) else {}
    provider = config.get("ai_provider", "openai")
    if provider not in AI_PROVIDERS:
        raise refused(
            f"The ai_provider {provider!r} is not available on this server ({' and '.join(AI_PROVIDERS)} are)"
        )
    params = {k: config[k] for k in ("model", "temperature", "max_tokens") if config.get(k) is not None}
    for name, kind in (("model", str), ("temperature", (int, float)), ("max_tokens", int)):
        if name in params and (not isinstance(params[name], kind) or isinstance(params[name], bool)):
            raise invalid(
                ["body", loc, name], f"Input should be a valid {'string' if kind is str else 'number'}"
            )
    # both named, so that a fallback on another provider inherits neither from the primary
    params["provider"] = provider
    params.setdefault("model", settings.SARTIQ_DEFAULT_MODELS[provider])
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


# -- fal ------------------------------------------------------------------------------------------------

FAL_PROVIDERS = ("fal_standard", "fal_shootify_refiner", "fal_garment_fixer")
PROVIDER_RESULT = "provider_result"  # the output holding fal's whole answer (its request id, its file URLs)
LORA_SLOTS = ("subject", "product", "style", "product2")
REFERENCE_PORTS = ("reference", "reference2", "reference3")


def fal_app(fields: dict[str, Any], config: Any, task_type: str, loc: str, variant: str = "") -> str:
    """The fal app of a task: ``fal_app_id`` of the body, else of the provider config, else this server's
    default for the type (``SARTIQ_FAL_APPS``); 422 when there is none."""
    config = config if isinstance(config, dict) else {}
    app = fields.get("fal_app_id") if loc == "provider_config" else None
    app = app or config.get("fal_app_id")
    defaults = settings.SARTIQ_FAL_APPS
    app = app or defaults.get(f"{task_type}:{variant}") or defaults.get(task_type)
    if not app:
        raise invalid(["body", loc, "fal_app_id"], f"Field required: {task_type} on fal needs a fal app", "missing")
    node_type = get_node_type("FAL__RUN")
    pattern = node_type.params_schema["properties"]["app_id"]["pattern"] if node_type else ".*"
    if not isinstance(app, str) or not re.fullmatch(pattern, app):
        raise invalid(["body", loc, "fal_app_id"], "Input should be a fal app id such as fal-ai/flux/dev")
    return app


def fal_step(fields: dict[str, Any], config: Any, task_type: str, loc: str, **params: Any) -> dict[str, Any]:
    variant = params.pop("variant", "")
    config = config if isinstance(config, dict) else {}
    arguments = {k: v for k, v in params.pop("arguments", {}).items() if v is not None}
    extra = config.get("additional_static_params")
    if isinstance(extra, dict):
        arguments.update(extra)
    return {"app_id": fal_app(fields, config, task_type, loc, variant), "arguments": arguments, **params}


def first_given(fields: dict[str, Any], *names: str) -> str | None:
    return next((name for name in names if fields.get(name) is not None), None)


def fal_generation(fields: dict[str, Any], config: Any, loc: str) -> Plan:
    reference = first_given(fields, "reference_image_data", "reference_image_url")
    loras = []
    for slot in LORA_SLOTS:
        name = fields.get(f"{slot}_model_path")
        if name:
            weight = fields.get(f"{slot}_lora_weight")
            loras.append({"name": lora_name(name, f"{slot}_model_path"), "scale": 1.0 if weight is None else weight})
    size = {"width": fields["width"], "height": fields["height"]} if fields.get("width") and fields.get("height") else None
    strength = fields.get("reference_image_strength")
    params = fal_step(
        fields, config, "GENERATION", loc,
        variant="lora" if loras else "image" if reference else "",
        arguments={
            "image_size": size,
            "seed": fields.get("seed"),
            "strength": strength / 100 if reference and strength is not None else None,
        },
        inputs={"prompt": "prompt", **({"image": "image_url"} if reference else {})},
        loras=loras,
    )
    return Plan({reference: "image"} if reference else {}, [("FAL__RUN", params)], texts={"prompt": "prompt"})


def fal_editing(fields: dict[str, Any], config: Any, loc: str) -> Plan:
    base = first_given(fields, "base_image", "base_image_data", "base_image_url")
    references = list(fields.get("reference_images") or [])
    legacy = first_given(fields, "reference_image_data", "reference_image_url")
    if legacy:
        references.insert(0, fields[legacy])
    if len(references) > len(REFERENCE_PORTS):
        raise invalid(["body", "reference_images"], f"List should have at most {len(REFERENCE_PORTS)} items",
                      "too_long")
    images = {base: "image"} if base else {}
    values = {}
    for i, (value, port) in enumerate(zip(references, REFERENCE_PORTS)):
        images[f"reference_images_{i}"] = port
        values[f"reference_images_{i}"] = value
    params = fal_step(
        fields, config, "EDITING", loc,
        arguments={"image_size": {"width": fields["width"], "height": fields["height"]}, "seed": fields.get("seed")},
        inputs={"prompt": "prompt", **{port: "image_urls[]" for port in images.values()}},
    )
    return Plan(images, [("FAL__RUN", params)], texts={"prompt": "prompt"}, values=values)


def fal_video(fields: dict[str, Any], config: Any, loc: str) -> Plan:
    image = first_given(fields, "input_image_data", "input_image_url")
    params = fal_step(
        fields, config, "VIDEO_GENERATION", loc,
        variant="image" if image else "",
        arguments={
            "negative_prompt": fields.get("negative_prompt"),
            "cfg_scale": fields.get("cfg_scale"),
            "duration": str(fields["duration_seconds"]),
        },
        inputs={"prompt": "prompt", **({"image": "image_url"} if image else {})},
        output="video",
    )
    return Plan({image: "image"} if image else {}, [("FAL__RUN", params)], texts={"prompt": "prompt"},
                link="result", result=PROVIDER_RESULT)


def fal_experimental(fields: dict[str, Any], config: Any, loc: str) -> Plan:
    arguments = fields.get("fal_parameters") or {}
    if not isinstance(arguments, dict):
        raise invalid(["body", "fal_parameters"], "Input should be a valid dictionary", "dict_type")
    params = fal_step({"fal_app_id": fields["fal_app_id"]}, config, "EXPERIMENTAL_FAL", "provider_config",
                      arguments=arguments, inputs={}, output="json")
    return Plan({}, [("FAL__RUN", params)], link="result", result=PROVIDER_RESULT)


def fal_refine(fields: dict[str, Any], config: Any, loc: str) -> Plan:
    factor = fields.get("upscale_factor")
    params = fal_step(
        fields, config, "REFINE", loc,
        arguments={
            "upscale_factor": factor if fields.get("upscale_enabled") else 1,
            "prompt": fields.get("upscale_prompt"),
            "seed": fields.get("upscale_seed"),
            "num_inference_steps": fields.get("upscale_steps"),
            "creativity": fields.get("upscale_denoise"),
        },
        inputs={"image": "image_url"},
    )
    steps: list[tuple[str, dict[str, Any]]] = [("FAL__RUN", params)]
    if fields.get("target_width") is not None and fields.get("target_height") is not None:
        steps.append(("IMAGE__ADJUST", {"mode": "scale", "target_width": fields["target_width"],
                                        "target_height": fields["target_height"], "scaling_proportions": "fill"}))
    return Plan({"base_image_url": "image"}, steps)


def fal_face_enhancer(fields: dict[str, Any], config: Any, loc: str) -> Plan:
    params = fal_step(fields, config, "FACE_ENHANCER", loc, inputs={"image": "image_url"})
    return Plan({"input_image": "image"}, [("FAL__RUN", params)])


def fal_detail_enhancer(fields: dict[str, Any], config: Any, loc: str) -> Plan:
    params = fal_step(
        fields, config, "DETAIL_ENHANCER", loc,
        arguments={"detail_label": fields.get("detail_label")},
        inputs={"image": "image_url", "reference": "reference_image_url"},
    )
    return Plan({"base_image": "image", "reference_image": "reference"}, [("FAL__RUN", params)])


def lora_name(value: str, field_name: str | list[str]) -> str:
    """A LoRA named as upload answered it (``identities/x.safetensors``), or by the path upload gave."""
    name = value.strip()
    for prefix in ("/data/models/loras/", "models/loras/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    if not loras.NAME.match(name) or ".." in name or not name.lower().endswith(loras.EXTENSIONS):
        loc = [field_name] if isinstance(field_name, str) else field_name
        raise invalid(["body", *loc], "Input should be a LoRA as upload returned it, e.g. "
                      "identities/anna.safetensors")
    return name


# Types on fal: the plan from the task's fields, the provider config and where that config came from.
FAL_PLANS = {
    "GENERATION": fal_generation,
    "EDITING": fal_editing,
    "VIDEO_GENERATION": fal_video,
    "EXPERIMENTAL_FAL": fal_experimental,
    "REFINE": fal_refine,
    "FACE_ENHANCER": fal_face_enhancer,
    "DETAIL_ENHANCER": fal_detail_enhancer,
}
# Types that only a provider executes: with no provider named, fal.
PROVIDER_ONLY = ("GENERATION", "EDITING", "VIDEO_GENERATION", "EXPERIMENTAL_FAL")

# -- on the models our packages ship (pipelines.nodes.cutout, pipelines.nodes.faces) ----------------------

MAX_BATCH = 16
FACE_FIELDS = ("face_detected", "fallback_used", "attempts_used", "final_ssim_score")


@dataclass
class BatchPlan(Plan):
    """A task whose image field is a list (a batch): one chain of ``steps`` per image, the first image's on
    the task node (``task``, then ``task_1``, ...). Its images are the inputs ``{field}_{i}`` (their values in
    ``values``), its results the outputs ``{result}_{i}``."""

    def graph(self) -> dict[str, Any]:
        nodes: list[dict[str, Any]] = []
        edges: list[dict[str, Any]] = []
        for i, (name, port) in enumerate(self.images.items()):
            node = {"id": f"in_{name}", "type": "INPUT__IMAGE", "params": {"name": name}}
            nodes.append({**node, "position": {"x": 0, "y": i * 150}})
            chain = [TASK_NODE if i == 0 else f"{TASK_NODE}_{i}"]
            chain += [f"step{j}_{i}" for j in range(2, len(self.steps) + 1)]
            for x, (node_id, (node_type, params)) in enumerate(zip(chain, self.steps, strict=True)):
                position = {"x": 250 * (x + 1), "y": i * 150}
                nodes.append({"id": node_id, "type": node_type, "params": params, "position": position})
            edges.append(_edge(f"in_{name}", (chain[0], port)))
            for before, after in zip(chain, chain[1:]):
                edges.append(_edge(before, (after, self.link), self.link))
            edges.append(_edge(chain[-1], ("out", f"{self.result}_{i}"), self.link))
        position = {"x": 250 * (len(self.steps) + 1), "y": 0}
        nodes.append({"id": "out", "type": "OUTPUT__", "params": {}, "position": position})
        return {"nodes": nodes, "edges": edges}


def background_removal(fields: dict[str, Any]) -> Plan:
    """IMAGE__REMOVE_BACKGROUND (MediaPipe's person segmentation) on each image of the batch."""
    images = list(fields.get("input_image_paths") or [])
    if not images:
        message = "List should have at least 1 item after validation, not 0"
        raise invalid(["body", "input_image_paths"], message, "too_short")
    if len(images) > MAX_BATCH:
        message = f"List should have at most {MAX_BATCH} items after validation, not {len(images)}"
        raise invalid(["body", "input_image_paths"], message, "too_long")
    for i, value in enumerate(images):
        try:
            image_input("input_image_paths", value)
        except RequestInvalid as exc:
            raise invalid(["body", "input_image_paths", i], exc.details["errors"][0]["msg"]) from None
    names = [f"input_image_paths_{i}" for i in range(len(images))]
    return BatchPlan({name: "image" for name in names}, [("IMAGE__REMOVE_BACKGROUND", {})],
                     values=dict(zip(names, images)))


def face_enhancer(fields: dict[str, Any]) -> Plan:
    """IMAGE__FACE_ENHANCE (BlazeFace, Real-ESRGAN on each face, SSIM-checked); its ``face`` output gives the
    task's face_detected, fallback_used, attempts_used and final_ssim_score."""
    return Plan({"input_image": "image"}, [("IMAGE__FACE_ENHANCE", {})], also={"face": "face"})


def public_outputs(task_type: str, outputs: dict[str, Any], results: dict[str, str]) -> dict[str, Any]:
    """The public fields a completed task's own outputs give beyond ``result_image_path`` (``results``:
    artifact id -> storage path): BACKGROUND_REMOVAL's ``result_image_paths`` in the order of its inputs,
    FACE_ENHANCER's face fields."""
    if task_type == "BACKGROUND_REMOVAL":
        found = sorted(
            (int(name.rsplit("_", 1)[1]), value.get("artifact_id"))
            for name, value in outputs.items()
            if re.fullmatch(r"result_image_\d+", name) and isinstance(value, dict)
        )
        return {"result_image_paths": [results.get(artifact) for _, artifact in found]}
    if task_type == "FACE_ENHANCER":
        face = (outputs.get("face") or {}).get("value")
        return {k: face[k] for k in FACE_FIELDS if k in face} if isinstance(face, dict) else {}
    return {}


PLANS = {
    "DETAIL_ENHANCER": detail_enhancer,
    "IMAGE_ADJUSTER": image_adjuster,
    "BACKGROUND_FIX": background_fix,
    "REFINE": refine,
    "LLM_INTERACTION": llm_interaction,
    "BACKGROUND_REMOVAL": background_removal,
    "FACE_ENHANCER": face_enhancer,
}


def on_fal(task_type: str, provider: str | None, fields: dict[str, Any], config: Any) -> bool:
    if provider in FAL_PROVIDERS:
        return True
    if provider not in LOCAL_PROVIDERS or task_type not in FAL_PLANS:
        return False
    if task_type in PROVIDER_ONLY:
        return provider is None
    # a local type runs on fal when the task names a fal app and no provider
    return provider is None and bool(fields.get("fal_app_id") or (isinstance(config, dict) and config.get("fal_app_id")))


def provider_plan(task_type: str, fields: dict[str, Any], provider: str | None, config: Any, loc: str) -> Plan:
    """The plan of ``task_type`` on ``provider`` (None: the type's own default), or 501."""
    if task_type == "LLM_INTERACTION":
        if provider not in (None, "ai_core"):
            raise refused(f"Provider {provider} does not run LLM_INTERACTION (ai_core does)")
        return llm_interaction(fields)
    if on_fal(task_type, provider, fields, config):
        if task_type not in FAL_PLANS:
            raise refused(f"Task type {task_type} is not available on fal on this server yet")
        return FAL_PLANS[task_type](fields, config, loc)
    if provider not in LOCAL_PROVIDERS:
        raise refused(
            f"Provider {provider} is not available on this server: it has adapters for fal "
            f"({', '.join(FAL_PROVIDERS)}), ai_core (OpenAI, Anthropic) and local"
        )
    if task_type not in PLANS:
        raise refused(
            f"Task type {task_type} has no model on this server: name a provider (provider_type "
            f"{FAL_PROVIDERS[0]} with a fal_app_id)"
        )
    return PLANS[task_type](fields)


# Fields an executable type takes that need what this server does not have yet.
NEEDS = {
    "LLM_INTERACTION": {"input_images": "image inputs to a language model"},
}


def plan_for(task_type: str, fields: dict[str, Any]) -> Plan:
    """The task's plan; 501 when this server cannot execute it, 422 for fields its executor refuses."""
    missing = {need for name, need in NEEDS.get(task_type, {}).items() if fields.get(name) is not None}
    if task_type == "REFINE" and fields.get("face_detail_enabled"):
        missing.add("a face model (face_detail_enabled)")
    if missing:
        raise refused(f"This task needs {', '.join(sorted(missing))}, which this server does not have yet")
    plan = provider_plan(task_type, fields, fields.get("provider_type"), fields.get("provider_config"),
                         "provider_config")
    if fields.get("fallback_provider_type") is not None and task_type != "LLM_INTERACTION":
        plan.fallback = fallback_step(task_type, fields, plan)
    fal_first = bool(plan.steps) and plan.steps[0][0] == "FAL__RUN"
    if fal_first or (plan.fallback or {}).get("type") == "FAL__RUN":
        if plan.result != PROVIDER_RESULT:
            plan.also = {**plan.also, PROVIDER_RESULT: "result"}
    unavailable = sorted({t for t in plan.node_types() if get_node_type(t) is None})
    if unavailable:
        raise refused(
            f"Task type {task_type} is not available on this server ({', '.join(unavailable)} missing)"
        )
    return plan


def fallback_step(task_type: str, fields: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """The engine's fallback for the task node: the first step of the plan on the fallback provider (the
    primary's fields, the fallback provider's config). Both plans must be one step on the same inputs."""
    other = provider_plan(task_type, fields, fields.get("fallback_provider_type"),
                          fields.get("fallback_provider_config"), "fallback_provider_config")
    if len(plan.steps) != 1 or len(other.steps) != 1 or set(other.images.values()) - set(plan.images.values()):
        raise refused(f"A fallback provider for this {task_type} task is not available on this server: the "
                      "primary and the fallback must each be one step on the same images")
    node_type, params = other.steps[0]
    return {"params": params} if node_type == plan.steps[0][0] else {"type": node_type, "params": params}


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
