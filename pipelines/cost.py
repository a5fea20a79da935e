"""What a run of a graph will cost in time, from the sizes of its input images.

Each node type declares the largest input it takes and an estimate of its running time from the input's
pixels (:class:`pipelines.nodes.base.NodeType`). Here image sizes are carried along the edges (an upscale
multiplies them, a resize sets them) and the nodes' estimates are added up, so that a run that cannot finish
within ``RUN_TIME_BUDGET_SECONDS`` is refused before it takes a worker (``runs.limits``) and the limit can be
shown with the pipeline (FractalQ ``/docs``, the studio).

Sizes that are not known (an image URL before it is fetched) count as zero pixels: the estimate is then a
lower bound, which is what a refusal needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from pipelines.graph import topological_order
from pipelines.nodes.base import get_node_type

# Where the time estimate is linear in the input pixels, two points give it exactly.
_PROBE_PIXELS = 1_000_000


@dataclass
class Oversize:
    node: str
    pixels: int
    max_pixels: int


@dataclass
class Estimate:
    seconds: float = 0.0
    # input pixels of each node (the largest of its image inputs), None where not known
    pixels: dict[str, int | None] = field(default_factory=dict)
    oversize: list[Oversize] = field(default_factory=list)


def cost_scale() -> float:
    """NODE_COST_SCALE: the node estimates are measured on a CPU worker; faster workers scale them down."""
    return float(settings.NODE_COST_SCALE)


def _image_input_name(node_type: Any, params: dict[str, Any]) -> str | None:
    exposed = node_type.exposes_input or {}
    return params.get("name") if exposed.get("format") == "uri" else None


def estimate(
    graph: dict,
    input_pixels: dict[str, int],
    *,
    known: dict[tuple[str, str], int] | None = None,
    skip: set[str] | frozenset[str] = frozenset(),
) -> Estimate:
    """Estimate a run of ``graph`` whose image inputs have ``input_pixels`` (by input name).

    ``known``: actual pixels of outputs already produced, by (node, port); ``skip``: nodes already run, which
    count for sizes but not for time (the engine re-estimates what is left of a run this way)."""
    sizes: dict[tuple[str, str], int | None] = dict(known or {})
    nodes = {n["id"]: n for n in graph["nodes"]}
    incoming: dict[str, list[tuple[str, str]]] = {}
    for edge in graph.get("edges", []):
        incoming.setdefault(edge["to"]["node"], []).append((edge["from"]["node"], edge["from"]["port"]))
    result = Estimate()
    scale = cost_scale()
    for node_id in topological_order(graph):
        node = nodes[node_id]
        node_type = get_node_type(node["type"])
        if node_type is None:
            continue
        params = node_type.resolved_params(node.get("params"))
        name = _image_input_name(node_type, params)
        if name is not None:
            pixels = input_pixels.get(name)
        else:
            upstream = [sizes.get(src) for src in incoming.get(node_id, [])]
            pixels = max((p for p in upstream if p is not None), default=None)
        result.pixels[node_id] = pixels
        if node_id not in skip:
            limit = node_type.max_pixels(params)
            if pixels is not None and limit is not None and pixels > limit:
                result.oversize.append(Oversize(node_id, pixels, limit))
            result.seconds += node_type.estimate_seconds(pixels or 0, params) * scale
        for port in node_type.outputs:
            if port.type == "image" and (node_id, port.name) not in sizes:
                sizes[(node_id, port.name)] = (
                    node_type.output_pixels(pixels, params) if pixels is not None else None
                )
    return result


def input_limits(graph: dict) -> dict[str, Any]:
    """The largest image a run of ``graph`` takes (pixels), the time budget, and the estimate behind it.

    ``max_input_pixels`` is the tightest of two limits: the nodes' own (carried back through the sizes the
    graph produces) and the size whose estimated running time fills the budget. None when neither applies
    (a graph without image inputs or costly nodes)."""
    budget = float(settings.RUN_TIME_BUDGET_SECONDS)
    names = {
        name
        for node in graph["nodes"]
        if (node_type := get_node_type(node["type"])) is not None
        and (name := _image_input_name(node_type, node_type.resolved_params(node.get("params"))))
    }
    empty = estimate(graph, {})
    probe = estimate(graph, {name: _PROBE_PIXELS for name in names})
    per_megapixel = (probe.seconds - empty.seconds) * 1_000_000 / _PROBE_PIXELS
    limits: list[int] = []
    if names and per_megapixel > 0:
        limits.append(max(0, int((budget - empty.seconds) / per_megapixel * 1_000_000)))
    limits.extend(_node_limits(graph, names, probe))
    if names:
        limits.append(int(settings.MAX_INPUT_PIXELS))  # what any image input decodes
    return {
        "max_input_pixels": min(limits) if limits else None,
        "time_budget_seconds": budget,
        "estimated_seconds": round(empty.seconds, 1),
        "estimated_seconds_per_megapixel": round(per_megapixel, 1),
    }


def _node_limits(graph: dict, names: set[str], small: Estimate) -> list[int]:
    """For each node with a pixel limit, the input size (pixels) at which it is reached. Sizes along a graph
    either follow the input in proportion (upscale, crop of a larger image) or not at all (a fixed resize);
    two probes tell which: ``small`` (inputs of _PROBE_PIXELS, already estimated) and four times that."""
    if not names:
        return []
    large = estimate(graph, {name: 4 * _PROBE_PIXELS for name in names})
    limits = []
    for node in graph["nodes"]:
        node_type = get_node_type(node["type"])
        at_small, at_large = small.pixels.get(node["id"]), large.pixels.get(node["id"])
        if node_type is None or not at_small or not at_large:
            continue
        limit = node_type.max_pixels(node_type.resolved_params(node.get("params")))
        if limit is None:
            continue
        if at_large > at_small:
            limits.append(int(limit * _PROBE_PIXELS / at_small))
        elif at_small > limit:
            limits.append(0)  # a fixed size over the node's limit: no input fits
    return limits
