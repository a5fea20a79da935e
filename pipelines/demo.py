"""Demo content for `manage.py seed_demo`: published pipelines owned by the demo user."""

from __future__ import annotations

from typing import Any

from pipelines import services
from pipelines.models import Pipeline
from pipelines.nodes.base import get_node_type


def _node(node_id: str, type_: str, x: int, params: dict | None = None) -> dict:
    return {"id": node_id, "type": type_, "params": params or {}, "position": {"x": x, "y": 80}}


def _edge(src: str, src_port: str, dst: str, dst_port: str) -> dict:
    return {
        "id": f"{src}-{dst}-{dst_port}",
        "from": {"node": src, "port": src_port},
        "to": {"node": dst, "port": dst_port},
    }


def demo_graphs() -> list[tuple[str, str, dict, dict]]:
    graphs = [
        (
            "Thumbnail",
            "Resize any image to a 512 px thumbnail (WebP).",
            {
                "nodes": [
                    _node("input", "INPUT__IMAGE", 0),
                    _node("resize", "IMAGE__RESIZE", 260),
                    _node("webp", "IMAGE__CONVERT", 520),
                    _node("output", "OUTPUT__", 780),
                ],
                "edges": [
                    _edge("input", "image", "resize", "image"),
                    _edge("resize", "image", "webp", "image"),
                    _edge("webp", "image", "output", "result_url"),
                ],
            },
            {"small": {"resize": {"width": 256, "height": 256}}},
        )
    ]
    if get_node_type("IMAGE__UPSCALE") is not None:
        graphs.append(
            (
                "Upscale 4x",
                "Real-ESRGAN 4x upscale, as in the FractalQ quick start.",
                {
                    "nodes": [
                        _node("input", "INPUT__IMAGE", 0),
                        _node("upscale", "IMAGE__UPSCALE", 300),
                        _node("output", "OUTPUT__", 600),
                    ],
                    "edges": [
                        _edge("input", "image", "upscale", "image"),
                        _edge("upscale", "image", "output", "result_url"),
                        _edge("upscale", "metadata", "output", "metadata"),
                    ],
                },
                {"anime": {"upscale": {"model": "realesr-animevideov3"}}},
            )
        )
    return graphs


def seed(user: Any, stdout: Any) -> None:
    for name, description, graph, presets in demo_graphs():
        if Pipeline.objects.filter(owner=user, name=name).exists():
            continue
        pipeline = services.create_pipeline(user, name, description, graph, presets)
        pipeline.is_public = True
        pipeline.save(update_fields=["is_public"])
        result = services.publish(pipeline)
        stdout.write(
            f"Demo pipeline '{name}' published: POST /api/node/api/{result.session_key}/execute "
            f"(key shown once)"
        )
