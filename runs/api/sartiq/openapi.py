"""Sartiq's pydantic models in our OpenAPI 3.0 document.

pydantic writes JSON Schema 2020-12 (``{"type": "null"}`` in an ``anyOf``, ``const``, a numeric
``exclusiveMinimum``); our document is OpenAPI 3.0.3, whose schema dialect says ``nullable: true``, ``enum``
and a boolean ``exclusiveMinimum``. This extension (imported by the Sartiq views) rewrites each model's
schema, and the schemas it refers to, into that dialect, so client generators and schemathesis read them as
meant.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.pydantic import PydanticExtension
from drf_spectacular.plumbing import ResolvedComponent

NULL = {"type": "null"}


def to_openapi30(node: Any) -> Any:
    if isinstance(node, list):
        return [to_openapi30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: to_openapi30(value) for key, value in node.items()}
    for key in ("anyOf", "oneOf"):
        members = node.get(key)
        if isinstance(members, list) and NULL in members:
            rest = [m for m in members if m != NULL]
            del node[key]
            node["nullable"] = True
            if len(rest) == 1 and "$ref" in rest[0]:
                node["allOf"] = rest
            elif len(rest) == 1:
                node = {**rest[0], **node}
            else:
                node[key] = rest
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = node.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            node[inclusive], node[bound] = value, True
    return node


class SartiqPydanticExtension(PydanticExtension):
    target_class = "pydantic.BaseModel"
    match_subclasses = True
    priority = 1

    def map_serializer(self, auto_schema: Any, direction: str) -> Any:
        from pydantic.json_schema import model_json_schema

        schema = model_json_schema(
            self.target, ref_template="#/components/schemas/{model}", mode="serialization"
        )
        for name, sub_schema in schema.pop("$defs", {}).items():
            component = ResolvedComponent(
                name=name, type=ResolvedComponent.SCHEMA, object=name, schema=to_openapi30(sub_schema)
            )
            auto_schema.registry.register_on_missing(component)
        return to_openapi30(schema)
