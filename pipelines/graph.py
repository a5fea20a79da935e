"""Graph format, validation and execution order.

A graph is ``{"nodes": [{"id", "type", "params", "position"}], "edges": [{"id", "from": {"node", "port"},
"to": {"node", "port"}}]}``. Validation returns every problem it finds, each naming the node (and port or
param) so the canvas can show it on the offending node.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import asdict, dataclass
from typing import Any

import jsonschema

from pipelines.nodes.base import NodeType, get_node_type, ports_compatible, registry

OUTPUT_TYPE = "OUTPUT__"
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_NODES = 200


@dataclass
class GraphError:
    node: str | None
    port: str | None
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class GraphInvalid(Exception):
    def __init__(self, errors: list[GraphError]):
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


def _edge_end(edge: dict, side: str) -> tuple[Any, Any]:
    end = edge.get(side)
    if not isinstance(end, dict):
        return None, None
    return end.get("node"), end.get("port")


def validate_graph(graph: Any) -> list[GraphError]:
    """All problems of ``graph``; an empty list means it can be published and run."""
    errors: list[GraphError] = []
    if (
        not isinstance(graph, dict)
        or not isinstance(graph.get("nodes"), list)
        or not isinstance(graph.get("edges", []), list)
    ):
        return [
            GraphError(None, None, "INVALID_GRAPH", "graph must be an object with 'nodes' and 'edges' lists")
        ]
    nodes: dict[str, dict] = {}
    types: dict[str, type[NodeType]] = {}
    if len(graph["nodes"]) > MAX_NODES:
        errors.append(GraphError(None, None, "TOO_MANY_NODES", f"at most {MAX_NODES} nodes"))
    for raw in graph["nodes"]:
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw.get("id"):
            errors.append(GraphError(None, None, "INVALID_NODE", "every node needs a string 'id'"))
            continue
        node_id = raw["id"]
        if node_id in nodes:
            errors.append(
                GraphError(node_id, None, "DUPLICATE_NODE_ID", f"node id '{node_id}' is used twice")
            )
            continue
        nodes[node_id] = raw
        node_type = get_node_type(raw.get("type")) if isinstance(raw.get("type"), str) else None
        if node_type is None:
            errors.append(
                GraphError(
                    node_id,
                    None,
                    "UNKNOWN_NODE_TYPE",
                    f"node '{node_id}': unknown node type '{raw.get('type')}'",
                )
            )
            continue
        types[node_id] = node_type
        params = raw.get("params", {})
        if not isinstance(params, dict):
            errors.append(
                GraphError(node_id, None, "INVALID_PARAMS", f"node '{node_id}': params must be an object")
            )
            continue
        errors.extend(_param_errors(node_id, node_type, params))

    incoming: dict[tuple[str, str], dict] = {}
    adjacency: dict[str, set[str]] = {n: set() for n in nodes}
    for edge in graph.get("edges", []):
        if not isinstance(edge, dict):
            errors.append(GraphError(None, None, "INVALID_EDGE", "every edge must be an object"))
            continue
        (src, src_port), (dst, dst_port) = _edge_end(edge, "from"), _edge_end(edge, "to")
        if src not in nodes or dst not in nodes:
            missing = dst if src in nodes else src
            errors.append(
                GraphError(
                    missing if isinstance(missing, str) else None,
                    None,
                    "UNKNOWN_NODE",
                    f"edge refers to unknown node '{missing}'",
                )
            )
            continue
        if src not in types or dst not in types:
            continue  # already reported as an unknown type
        out_port = types[src].output_port(src_port) if isinstance(src_port, str) else None
        if out_port is None:
            errors.append(
                GraphError(
                    src,
                    src_port,
                    "UNKNOWN_PORT",
                    f"node '{src}' ({types[src].type}) has no output '{src_port}'",
                )
            )
            continue
        dst_type = types[dst]
        in_port = dst_type.input_port(dst_port) if isinstance(dst_port, str) else None
        if (
            in_port is None
            and dst_type.dynamic_inputs
            and isinstance(dst_port, str)
            and NAME_RE.match(dst_port)
        ):
            in_port_type = "any"
        elif in_port is None:
            errors.append(
                GraphError(
                    dst, dst_port, "UNKNOWN_PORT", f"node '{dst}' ({dst_type.type}) has no input '{dst_port}'"
                )
            )
            continue
        else:
            in_port_type = in_port.type
        if not ports_compatible(out_port.type, in_port_type):
            errors.append(
                GraphError(
                    dst,
                    dst_port,
                    "INCOMPATIBLE_PORTS",
                    f"'{src}.{src_port}' ({out_port.type}) cannot feed '{dst}.{dst_port}' ({in_port_type})",
                )
            )
            continue
        if (dst, dst_port) in incoming:
            errors.append(
                GraphError(
                    dst,
                    dst_port,
                    "DUPLICATE_INPUT",
                    f"input '{dst}.{dst_port}' has more than one incoming edge",
                )
            )
            continue
        incoming[(dst, dst_port)] = edge
        adjacency[src].add(dst)

    for node_id, node_type in types.items():
        for port in node_type.inputs:
            if port.required and (node_id, port.name) not in incoming:
                errors.append(
                    GraphError(
                        node_id,
                        port.name,
                        "MISSING_CONNECTION",
                        f"node '{node_id}': input '{port.name}' is not connected",
                    )
                )
        if node_type.dynamic_inputs and not any(dst == node_id for dst, _ in incoming):
            errors.append(
                GraphError(node_id, None, "MISSING_CONNECTION", f"node '{node_id}' has no inputs wired")
            )

    outputs = [n for n, t in types.items() if t.type == OUTPUT_TYPE]
    if not outputs:
        errors.append(GraphError(None, None, "MISSING_OUTPUT", "the graph needs an OUTPUT__ node"))
    elif len(outputs) > 1:
        for extra in outputs[1:]:
            errors.append(GraphError(extra, None, "MULTIPLE_OUTPUTS", "only one OUTPUT__ node is allowed"))

    errors.extend(_input_name_errors(nodes, types))
    errors.extend(_policy_errors(nodes, types, graph.get("edges", []), incoming))
    for node_id, raw in nodes.items():
        after = raw.get("after")
        if after is None:
            continue
        if not isinstance(after, list) or not all(isinstance(a, str) and a in nodes and a != node_id for a in after):
            errors.append(
                GraphError(node_id, None, "INVALID_AFTER", f"node '{node_id}': after lists other nodes' ids")
            )
            continue
        for dep in after:
            adjacency[dep].add(node_id)
    if _has_cycle(adjacency):
        errors.append(GraphError(None, None, "CYCLE", "the graph has a cycle; pipelines must be acyclic"))
    return errors


MAX_NODE_RETRIES = 5
MAX_RETRY_BACKOFF_SECONDS = 60


def fallback_of(node: dict, node_type: type[NodeType]) -> tuple[type[NodeType], dict[str, Any]] | None:
    """The node type and params a node falls back to (``node["fallback"]``), None when it declares none.

    ``{"type": "T", "params": {...}}`` names another node type with its own params; without ``type`` the
    fallback is the same node type with ``params`` laid over the node's own (another provider or model)."""
    spec = node.get("fallback")
    if not isinstance(spec, dict):
        return None
    fallback_type = get_node_type(spec["type"]) if isinstance(spec.get("type"), str) else node_type
    if fallback_type is None:
        return None
    params = spec.get("params") or {}
    if fallback_type is node_type:
        params = {**(node.get("params") or {}), **params}
    return fallback_type, params


def retry_policy(node: dict, node_type: type[NodeType]) -> tuple[int, float]:
    """(max retries, first backoff in seconds) of a node: its ``retry`` object, else its type's defaults."""
    spec = node.get("retry") if isinstance(node.get("retry"), dict) else {}
    return (
        int(spec.get("max_retries", node_type.max_retries)),
        float(spec.get("backoff_seconds", node_type.retry_backoff_seconds)),
    )


def _policy_errors(
    nodes: dict[str, dict],
    types: dict[str, type[NodeType]],
    edges: list,
    incoming: dict[tuple[str, str], dict],
) -> list[GraphError]:
    """Errors of the nodes' ``retry`` and ``fallback`` objects: a fallback must take the inputs wired to the
    node and give the outputs its edges read, with the same port types."""
    errors: list[GraphError] = []
    for node_id, node_type in types.items():
        raw = nodes[node_id]
        retry = raw.get("retry")
        if retry is not None:
            if not isinstance(retry, dict) or set(retry) - {"max_retries", "backoff_seconds"}:
                errors.append(
                    GraphError(
                        node_id,
                        None,
                        "INVALID_RETRY",
                        f"node '{node_id}': retry takes max_retries and backoff_seconds",
                    )
                )
            else:
                count, backoff = retry.get("max_retries", 0), retry.get("backoff_seconds", 0)
                if (
                    isinstance(count, bool)
                    or not isinstance(count, int)
                    or not 0 <= count <= MAX_NODE_RETRIES
                ):
                    errors.append(
                        GraphError(
                            node_id,
                            None,
                            "INVALID_RETRY",
                            f"node '{node_id}': max_retries must be 0..{MAX_NODE_RETRIES}",
                        )
                    )
                if (
                    isinstance(backoff, bool)
                    or not isinstance(backoff, int | float)
                    or not 0 <= backoff <= MAX_RETRY_BACKOFF_SECONDS
                ):
                    errors.append(
                        GraphError(
                            node_id,
                            None,
                            "INVALID_RETRY",
                            f"node '{node_id}': backoff_seconds must be 0..{MAX_RETRY_BACKOFF_SECONDS}",
                        )
                    )
        spec = raw.get("fallback")
        if spec is None:
            continue
        if (
            not isinstance(spec, dict)
            or set(spec) - {"type", "params"}
            or not isinstance(spec.get("params", {}), dict)
        ):
            errors.append(
                GraphError(
                    node_id,
                    None,
                    "INVALID_FALLBACK",
                    f"node '{node_id}': fallback is an object with 'type' and/or 'params'",
                )
            )
            continue
        if "type" in spec and (not isinstance(spec["type"], str) or get_node_type(spec["type"]) is None):
            errors.append(
                GraphError(
                    node_id,
                    None,
                    "INVALID_FALLBACK",
                    f"node '{node_id}': unknown fallback node type '{spec.get('type')}'",
                )
            )
            continue
        fallback_type, params = fallback_of(raw, node_type)
        if fallback_type is node_type and not spec.get("params"):
            errors.append(
                GraphError(
                    node_id,
                    None,
                    "INVALID_FALLBACK",
                    f"node '{node_id}': a fallback of the same type must change its params",
                )
            )
            continue
        if fallback_type.type == OUTPUT_TYPE or fallback_type.exposes_input is not None:
            errors.append(
                GraphError(
                    node_id,
                    None,
                    "INVALID_FALLBACK",
                    f"node '{node_id}': inputs and outputs have no fallback",
                )
            )
            continue
        found = [
            GraphError(e.node, e.port, "INVALID_FALLBACK", f"fallback of {e.message}")
            for e in _param_errors(node_id, fallback_type, params)
        ]
        wired = {port for (dst, port) in incoming if dst == node_id}
        for port in wired:
            own, other = node_type.input_port(port), fallback_type.input_port(port)
            if other is None or (own is not None and not ports_compatible(own.type, other.type)):
                found.append(
                    GraphError(
                        node_id,
                        port,
                        "INVALID_FALLBACK",
                        f"node '{node_id}': fallback {fallback_type.type} takes no input '{port}'",
                    )
                )
        for port in fallback_type.inputs:
            if port.required and port.name not in wired:
                found.append(
                    GraphError(
                        node_id,
                        port.name,
                        "INVALID_FALLBACK",
                        f"node '{node_id}': fallback needs input '{port.name}', not wired",
                    )
                )
        read = {
            e["from"]["port"] for e in edges if isinstance(e, dict) and _edge_end(e, "from")[0] == node_id
        }
        for port in read:
            own, other = node_type.output_port(port), fallback_type.output_port(port)
            if other is None or (own is not None and own.type != other.type):
                found.append(
                    GraphError(
                        node_id,
                        port,
                        "INVALID_FALLBACK",
                        f"node '{node_id}': fallback {fallback_type.type} gives no {port}",
                    )
                )
        errors.extend(found)
    return errors


def _param_errors(node_id: str, node_type: type[NodeType], params: dict) -> list[GraphError]:
    schema = dict(node_type.params_schema)
    schema.setdefault("type", "object")
    merged = node_type.resolved_params(params)
    validator = jsonschema.Draft202012Validator(schema)
    found = []
    for err in sorted(validator.iter_errors(merged), key=lambda e: list(e.path)):
        param = str(err.path[0]) if err.path else None
        if err.validator == "required":
            param = err.message.split("'")[1] if "'" in err.message else None
            code, message = "MISSING_PARAM", f"node '{node_id}': required param '{param}' is missing"
        elif err.validator == "additionalProperties":
            code, message = "UNKNOWN_PARAM", f"node '{node_id}': {err.message}"
        else:
            code, message = "INVALID_PARAM", f"node '{node_id}': param '{param}': {err.message}"
        found.append(GraphError(node_id, param, code, message))
    return found


def _input_name_errors(nodes: dict[str, dict], types: dict[str, type[NodeType]]) -> list[GraphError]:
    seen: dict[str, str] = {}
    errors = []
    for node_id, node_type in types.items():
        if node_type.exposes_input is None:
            continue
        params = node_type.resolved_params(nodes[node_id].get("params"))
        name = params.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            errors.append(
                GraphError(
                    node_id,
                    "name",
                    "INVALID_INPUT_NAME",
                    f"node '{node_id}': input name must be an identifier",
                )
            )
            continue
        if name in seen:
            errors.append(
                GraphError(
                    node_id,
                    "name",
                    "DUPLICATE_INPUT_NAME",
                    f"input '{name}' is exposed by both '{seen[name]}' and '{node_id}'",
                )
            )
        seen[name] = node_id
    return errors


def _has_cycle(adjacency: dict[str, set[str]]) -> bool:
    return len(topological_order_from(adjacency)) != len(adjacency)


def topological_order_from(adjacency: dict[str, set[str]]) -> list[str]:
    indegree = {n: 0 for n in adjacency}
    for targets in adjacency.values():
        for t in targets:
            indegree[t] += 1
    ready = [n for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)  # deterministic order among independent nodes
    order = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for t in adjacency[node]:
            indegree[t] -= 1
            if indegree[t] == 0:
                heapq.heappush(ready, t)
    return order


def topological_order(graph: dict) -> list[str]:
    adjacency: dict[str, set[str]] = {n["id"]: set() for n in graph["nodes"]}
    for edge in graph.get("edges", []):
        adjacency[edge["from"]["node"]].add(edge["to"]["node"])
    for node in graph["nodes"]:
        for dep in after_of(node):
            adjacency[dep].add(node["id"])
    return topological_order_from(adjacency)


def after_of(node: dict) -> list[str]:
    """The nodes ``node`` starts after without reading their outputs (``node["after"]``: an ordering only)."""
    after = node.get("after")
    return [a for a in after if isinstance(a, str)] if isinstance(after, list) else []


def ensure_valid(graph: Any) -> None:
    errors = validate_graph(graph)
    if errors:
        raise GraphInvalid(errors)


def node_types_catalog() -> list[dict[str, Any]]:
    return [cls.describe() for _, cls in sorted(registry().items())]
