"""Planning a run: which node feeds which, the order of record, and which nodes are ready to start.

The plan knows the graph only (no database, no node code): the engine asks it which nodes may start once
others have finished, so that nodes whose inputs are ready run at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipelines.graph import after_of, topological_order


@dataclass
class Plan:
    nodes: dict[str, dict]
    order: list[str]  # a topological order: the order node runs are listed in
    upstream: dict[str, set[str]] = field(default_factory=dict)
    downstream: dict[str, set[str]] = field(default_factory=dict)
    # node -> [(its input port, source node, source port)]
    wires: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)

    @classmethod
    def of(cls, graph: dict) -> Plan:
        nodes = {n["id"]: n for n in graph["nodes"]}
        plan = cls(nodes=nodes, order=topological_order(graph))
        plan.upstream = {n: set() for n in nodes}
        plan.downstream = {n: set() for n in nodes}
        plan.wires = {n: [] for n in nodes}
        for edge in graph.get("edges", []):
            src, dst = edge["from"]["node"], edge["to"]["node"]
            plan.upstream[dst].add(src)
            plan.downstream[src].add(dst)
            plan.wires[dst].append((edge["to"]["port"], src, edge["from"]["port"]))
        for node_id, node in nodes.items():
            for dep in after_of(node):  # an ordering without a value
                plan.upstream[node_id].add(dep)
                plan.downstream[dep].add(node_id)
        return plan

    def ready(self, finished: set[str], started: set[str]) -> list[str]:
        """Nodes not started whose upstream nodes have all finished, in the order of record."""
        return [n for n in self.order if n not in started and self.upstream[n] <= finished]

    def inputs_for(self, node_id: str, values: dict[tuple[str, str], Any]) -> dict[str, Any]:
        """The values on the node's wired inputs (a port whose source gave no value is left out)."""
        return {
            port: values[(src, src_port)]
            for port, src, src_port in self.wires[node_id]
            if (src, src_port) in values
        }

    def after(self, node_id: str) -> set[str]:
        """Every node downstream of ``node_id`` (transitively)."""
        seen: set[str] = set()
        todo = list(self.downstream[node_id])
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo.extend(self.downstream[n])
        return seen
