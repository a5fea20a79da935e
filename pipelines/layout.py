"""Layout items of a graph: notes and groups drawn on the canvas.

A graph may carry, next to ``nodes`` and ``edges``, ``notes`` (free text boxes) and ``groups`` (titled frames;
dragging one on the canvas moves the nodes inside it). Both are layout, not behaviour: validation, publishing,
version diffs and the engine read ``nodes`` and ``edges`` only. They are checked here so a malformed item is
refused when the draft is saved (400) instead of breaking the canvas that loads it later.

    note:  {"id", "text", "position": {"x", "y"}, "width", "height"}
    group: {"id", "title", "position": {"x", "y"}, "width", "height"}
"""

from __future__ import annotations

import math
from typing import Any

MAX_ITEMS = 200
MAX_TEXT = 5000
MAX_TITLE = 200
MAX_COORD = 1_000_000

# The text field of each kind of layout item and its length limit.
KINDS = {"notes": ("text", MAX_TEXT), "groups": ("title", MAX_TITLE)}


def _number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) <= MAX_COORD
    )


def _item_error(item: Any, text_field: str, limit: int) -> str | None:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
        return "needs a non-empty string 'id'"
    text = item.get(text_field, "")
    if not isinstance(text, str) or len(text) > limit:
        return f"'{text_field}' must be a string of at most {limit} characters"
    position = item.get("position")
    if not isinstance(position, dict) or not _number(position.get("x")) or not _number(position.get("y")):
        return "'position' must be an object with numbers 'x' and 'y'"
    for size in ("width", "height"):
        if size in item and not (_number(item[size]) and item[size] > 0):
            return f"'{size}' must be a positive number"
    return None


def layout_errors(graph: dict[str, Any]) -> list[str]:
    """What is wrong with ``graph``'s notes and groups, one message each; empty when both are well formed."""
    errors: list[str] = []
    ids = {n["id"] for n in graph.get("nodes", []) if isinstance(n, dict) and isinstance(n.get("id"), str)}
    for kind, (text_field, limit) in KINDS.items():
        items = graph.get(kind, [])
        if not isinstance(items, list):
            errors.append(f"'{kind}' must be a list")
            continue
        if len(items) > MAX_ITEMS:
            errors.append(f"at most {MAX_ITEMS} {kind}")
            continue
        for index, item in enumerate(items):
            problem = _item_error(item, text_field, limit)
            if problem is None and item["id"] in ids:
                problem = f"id '{item['id']}' is already used"
            if problem:
                errors.append(f"{kind}[{index}] {problem}")
            else:
                ids.add(item["id"])
    return errors
