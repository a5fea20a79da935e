"""Billing in one place: what a run is charged, for which node outcomes, under which ledger reference.

* A node is priced at what the version that runs froze at publish (``PublishedVersion.node_prices``); a run
  of the draft pays today's prices. FractalQ's docs show the same figures (the version's ``credit_cost``).
* Submitting reserves the price of every node; the end of the run settles: a completed, blocked or cancelled
  run keeps the price of the nodes that delivered (:func:`billable`), a failed run keeps nothing.
* A node is paid once: a cache hit is free, a node whose outputs a settled charge has paid is not charged
  again when a resumed run reuses them. A resume reserves what runs again plus the reused outputs no charge
  has paid yet (a failed run's finished nodes), under a reference of its own, because a settled reservation
  is closed for good in the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from accounts import credits
from pipelines.nodes.base import get_node_type
from runs.models import NodeRun, NodeStatus, Run

BILLED = (NodeStatus.COMPLETED, NodeStatus.BLOCKED)


def node_prices(graph: dict, version: Any = None) -> dict[str, int]:
    """Credits per node id: the version's frozen prices, else (a draft) today's prices of the node types."""
    frozen = (version.node_prices or {}) if version is not None else {}
    prices = {}
    for node in graph["nodes"]:
        if node["id"] in frozen:
            prices[node["id"]] = int(frozen[node["id"]])
        else:
            node_type = get_node_type(node["type"])
            prices[node["id"]] = node_type.credit_cost if node_type else 0
    return prices


def run_price(graph: dict, version: Any = None) -> int:
    return sum(node_prices(graph, version).values())


def billable(node_run: NodeRun, outcomes: Iterable[str] = BILLED) -> bool:
    """The one rule: a node that delivered (completed, or a gate that blocked; a cancel also keeps the ones
    still running until they stop) and that no charge, nor the cache, paid for yet."""
    return node_run.status in outcomes and not node_run.cached and not node_run.paid


def charge(node_runs: Iterable[NodeRun], outcomes: Iterable[str] = BILLED) -> int:
    """What the billable nodes of ``node_runs`` cost."""
    outcomes = set(outcomes)
    return sum(nr.credit_cost for nr in node_runs if billable(nr, outcomes))


def reference(run: Run) -> str:
    """The ledger reference of the run's current reservation (each resume opens one of its own)."""
    return run.pk if not run.resumes else f"{run.pk}~{run.resumes}"


def reserve(run: Run, amount: int, note: str) -> None:
    credits.reserve(run.billed_to, amount, reference(run), note=note)


def outstanding(run: Run) -> int:
    return credits.outstanding(run.billed_to, reference(run))


def refund(run: Run, amount: int, note: str) -> int:
    done = credits.refund(run.billed_to, amount, reference(run), note=note)
    return done.amount if done is not None else 0


def settle(run: Run, node_runs: list[NodeRun], delivered: bool) -> int:
    """Close the run's reservation: keep the price of the billable nodes when it ``delivered`` (completed,
    blocked or cancelled with work done), nothing when it failed. Marks the charged nodes paid (the saved
    ones in the database too; an inline run's are written later) and returns the credits charged."""
    paying = [nr for nr in node_runs if delivered and billable(nr)]
    used = sum(nr.credit_cost for nr in paying)
    if run.credits_reserved:
        credits.settle(run.billed_to, reference(run), used)
    for nr in paying:
        nr.paid = True
    saved = [nr.pk for nr in paying if nr.pk is not None]
    if saved:
        NodeRun.objects.filter(pk__in=saved).update(paid=True)
    return used
