"""Webhook (Fizzly, Sartiq tasks) and callback (FractalQ) delivery with the Fizzly retry policy.

POST JSON with each surface's own identity (``User-Agent: Fizzly-Webhook/1.0`` and ``X-Fizzly-Request-ID``;
``User-Agent: FractalQ-Callback/1.0`` and ``X-FractalQ-Job-ID``; ``User-Agent: Sartiq-Webhook/1.0`` and
``X-Sartiq-Task-ID``), a 30 s timeout, up to 3 retries after 1, 2
and 4 seconds; a 4xx answer other than 429 is final. Each attempt is a django-q2 task of its own: a failed
attempt queues the next one as a task the broker holds until it is due (config.queues), so no worker waits out
a backoff. Each attempt is recorded on the WebhookDelivery, which the status responses show to the caller
(:func:`runs.api.common.webhook_delivery`). Every attempt re-checks the URL (HTTPS, public address) so a DNS
change cannot turn a webhook into a request to an internal service.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import urllib3
from django.conf import settings
from django.utils import timezone

from pipelines.nodes.base import NodeError
from runs import tasks
from runs.fetch import _host_header, _pool, resolve_public
from runs.models import Run, WebhookDelivery, WebhookKind

logger = logging.getLogger(__name__)
USER_AGENT = "Fizzly-Webhook/1.0"
# User-Agent and the header naming the run, per kind of delivery: a receiver tells the senders apart.
IDENTITY = {
    WebhookKind.FIZZLY: (USER_AGENT, "X-Fizzly-Request-ID"),
    WebhookKind.FRACTALQ: ("FractalQ-Callback/1.0", "X-FractalQ-Job-ID"),
    WebhookKind.SARTIQ: ("Sartiq-Webhook/1.0", "X-Sartiq-Task-ID"),
    WebhookKind.FAL: (USER_AGENT, "X-Fal-Webhook-Request-Id"),
    WebhookKind.REPLICATE: (USER_AGENT, "Webhook-Id"),
}
# The payload field whose value that header carries, where the surface names the run by an id of its own
# (a Sartiq task's UUID); otherwise the run id.
ID_FIELD = {WebhookKind.SARTIQ: "task_id"}


def check_webhook_url(url: str) -> None:
    """Raise NodeError (code URL_NOT_ALLOWED) unless ``url`` is HTTPS to a public address."""
    resolve_public(url, https_only=True)


# surface -> (kind of delivery, payload builder). The engine knows no API surface: each surface registers how
# its callback looks when its app loads (runs.api.apps.SurfacesConfig.ready).
PAYLOAD_BUILDERS: dict[str, tuple[str, Callable[[Run], dict[str, Any]]]] = {}


def register_payload(surface: str, kind: str, builder: Callable[[Run], dict[str, Any]]) -> None:
    """``builder(run)`` makes the body of the callback a finished run of ``surface`` delivers."""
    PAYLOAD_BUILDERS[surface] = (kind, builder)


# surface -> builder(run, node run) of the callback a node's ending sends, or None when it sends none (a
# Sartiq workflow step's TaskStatusEvent when the workflow does not suppress them).
NODE_PAYLOAD_BUILDERS: dict[str, Callable[[Run, Any], dict[str, Any] | None]] = {}


def register_node_payload(surface: str, builder: Callable[[Run, Any], dict[str, Any] | None]) -> None:
    NODE_PAYLOAD_BUILDERS[surface] = builder


def schedule_for_node(run: Run, node_run: Any) -> WebhookDelivery | None:
    """The callback of a node that just ended, when its surface sends one for it."""
    if not run.webhook_url or run.surface not in NODE_PAYLOAD_BUILDERS or run.surface not in PAYLOAD_BUILDERS:
        return None
    payload = NODE_PAYLOAD_BUILDERS[run.surface](run, node_run)
    if payload is None:
        return None
    kind = PAYLOAD_BUILDERS[run.surface][0]
    delivery = WebhookDelivery.objects.create(
        run=run, kind=kind, node_id=node_run.node_id, url=run.webhook_url, payload=payload
    )
    tasks.enqueue_webhook(delivery.pk)
    return delivery


def schedule_for(run: Run) -> WebhookDelivery | None:
    if not run.webhook_url or not run.is_terminal:
        return None
    if run.surface not in PAYLOAD_BUILDERS:
        logger.warning("run %s of surface %s has a webhook but its surface sends none", run.pk, run.surface)
        return None
    kind, build = PAYLOAD_BUILDERS[run.surface]
    payload = build(run)
    # One delivery per ending: a resumed run that ends again calls back again (its ``resumes``-th ending).
    if WebhookDelivery.objects.filter(run=run, kind=kind, node_id="").count() > run.resumes:
        return None
    delivery = WebhookDelivery.objects.create(run=run, kind=kind, url=run.webhook_url, payload=payload)
    tasks.enqueue_webhook(delivery.pk)
    return delivery


def send(kind: str, url: str, payload: dict[str, Any]) -> WebhookDelivery:
    """Deliver an event that is no run's (a training task's) with the same policy and record."""
    delivery = WebhookDelivery.objects.create(run=None, kind=kind, url=url, payload=payload)
    tasks.enqueue_webhook(delivery.pk)
    return delivery


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    target = resolve_public(url, https_only=True)
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    pool = _pool(target, urllib3.Timeout(connect=min(10.0, timeout), read=timeout))
    try:
        resp = pool.urlopen(
            "POST", target.path, body=body, headers={**headers, "Host": _host_header(target)}, redirect=False
        )
        return resp.status
    finally:
        pool.close()


def attempt_delivery(delivery_id: int, number: int) -> str:
    """Make attempt ``number`` (1-based) of a delivery, once: record it, and on a retryable failure queue
    the next attempt after its delay (``WEBHOOK_RETRY_DELAYS[number - 1]``) as a task of its own. Answers
    the delivery's status. A task for an attempt already made (a duplicate, or the delivery ended) does
    nothing."""
    # Claim the attempt: of two tasks for the same attempt, one makes it.
    claimed = WebhookDelivery.objects.filter(pk=delivery_id, status="pending", attempts=number - 1).update(
        attempts=number
    )
    delivery = WebhookDelivery.objects.select_related("run").get(pk=delivery_id)
    if not claimed:
        return delivery.status
    user_agent, id_header = IDENTITY[delivery.kind]
    named = delivery.payload.get(ID_FIELD[delivery.kind]) if delivery.kind in ID_FIELD else None
    headers = {
        "User-Agent": user_agent,
        id_header: str(named or delivery.run_id),
        "Content-Type": "application/json",
    }
    final = False
    try:
        status = _post(delivery.url, json.dumps(delivery.payload).encode(), headers)
        delivery.response_codes = [*delivery.response_codes, status]
        delivery.last_error = ""
    except (urllib3.exceptions.HTTPError, OSError, NodeError) as exc:
        status = None
        delivery.response_codes = [*delivery.response_codes, None]
        delivery.last_error = f"{exc.__class__.__name__}: {exc}"[:1000]
        # The URL now points somewhere it may not (checked again on every attempt): never retried.
        final = isinstance(exc, NodeError) and exc.code == "URL_NOT_ALLOWED"
    delays = tuple(settings.WEBHOOK_RETRY_DELAYS)
    if status is not None and 200 <= status < 300:
        delivery.status = "delivered"
        delivery.delivered_at = timezone.now()
    elif final or (status is not None and 400 <= status < 500 and status != 429) or number > len(delays):
        delivery.status = "failed"  # a client-side refusal (retrying will not help), or no attempt left
    delivery.save(update_fields=["response_codes", "last_error", "status", "delivered_at"])
    if delivery.status == "pending":
        tasks.enqueue_webhook(delivery.pk, number + 1, delay=delays[number - 1])
    elif delivery.status == "failed":
        logger.warning("webhook %s for %s failed after %s attempts", delivery.pk, delivery.run_id, number)
    return delivery.status


def describe(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "status": delivery.status,
        "attempts": delivery.attempts,
        "response_codes": delivery.response_codes,
    }
