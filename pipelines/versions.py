"""Published versions compared and rolled back.

A diff names what changed between two graphs by node id (the canvas keeps ids stable across edits): nodes
added, removed, or changed (their type, or a parameter added, removed or given another value), and wires
added or removed. Positions and notes are layout, not behaviour, and are left out.

Rolling back publishes an earlier version's graph again as the newest version. Callers of the session key
always run the newest version, so they get the old behaviour back with nothing to change on their side; the
key itself is untouched, and the draft on the canvas is left as it is.
"""

from __future__ import annotations

from typing import Any

from config.errors import NotFound
from pipelines import services
from pipelines.models import Pipeline, PublishedVersion

MISSING = object()


def _nodes(graph: dict) -> dict[str, dict]:
    nodes = graph.get("nodes", [])
    return {n["id"]: n for n in nodes if isinstance(n, dict) and isinstance(n.get("id"), str)}


def _edge_key(edge: dict) -> tuple[str, str, str, str]:
    return (edge["from"]["node"], edge["from"]["port"], edge["to"]["node"], edge["to"]["port"])


def _edges(graph: dict) -> dict[tuple[str, str, str, str], dict]:
    found = {}
    for edge in graph.get("edges", []):
        try:
            found[_edge_key(edge)] = edge
        except (KeyError, TypeError):
            continue
    return found


def _edge_view(key: tuple[str, str, str, str]) -> dict[str, Any]:
    return {"from": {"node": key[0], "port": key[1]}, "to": {"node": key[2], "port": key[3]}}


def _param_changes(old: dict, new: dict) -> list[dict[str, Any]]:
    changes = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name, MISSING), new.get(name, MISSING)
        if before == after:
            continue
        change: dict[str, Any] = {"param": name}
        change["change"] = "added" if before is MISSING else "removed" if after is MISSING else "changed"
        if before is not MISSING:
            change["from"] = before
        if after is not MISSING:
            change["to"] = after
        changes.append(change)
    return changes


def diff_graphs(old: dict, new: dict) -> dict[str, Any]:
    """What turns ``old`` into ``new``: nodes added/removed/changed and edges added/removed."""
    before, after = _nodes(old), _nodes(new)
    changed = []
    for node_id in sorted(set(before) & set(after)):
        a, b = before[node_id], after[node_id]
        params = _param_changes(a.get("params") or {}, b.get("params") or {})
        if a.get("type") != b.get("type") or params:
            entry: dict[str, Any] = {"id": node_id, "type": b.get("type"), "params": params}
            if a.get("type") != b.get("type"):
                entry["previous_type"] = a.get("type")
            changed.append(entry)
    old_edges, new_edges = _edges(old), _edges(new)
    return {
        "nodes": {
            "added": [{"id": i, "type": after[i].get("type")} for i in sorted(set(after) - set(before))],
            "removed": [{"id": i, "type": before[i].get("type")} for i in sorted(set(before) - set(after))],
            "changed": changed,
        },
        "edges": {
            "added": [_edge_view(k) for k in sorted(set(new_edges) - set(old_edges))],
            "removed": [_edge_view(k) for k in sorted(set(old_edges) - set(new_edges))],
        },
    }


def is_empty(diff: dict[str, Any]) -> bool:
    return not any(diff[part][kind] for part in ("nodes", "edges") for kind in diff[part])


def get_version(pipeline: Pipeline, number: int) -> PublishedVersion:
    version = pipeline.versions.filter(number=number).first()
    if version is None:
        raise NotFound(f"Version {number} not found")
    return version


def diff_versions(pipeline: Pipeline, base: int, other: int) -> dict[str, Any]:
    """The diff from version ``base`` to version ``other`` of ``pipeline`` (NotFound for a missing one)."""
    old, new = get_version(pipeline, base), get_version(pipeline, other)
    diff = diff_graphs(old.graph, new.graph)
    return {"from": old.number, "to": new.number, "identical": is_empty(diff), **diff}


def rollback(pipeline: Pipeline, number: int) -> services.PublishResult:
    """Publish version ``number``'s graph again as the newest version; the session key stays as it is."""
    version = get_version(pipeline, number)
    return services.publish_graph(pipeline, version.graph)
