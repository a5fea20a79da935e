"""Fizzly queue surface (seed 003): /workflows/{username}/{slug}…

Authorization: Key fiz_…; Pro or Ultimate tier; credits checked; 60 requests per
minute per key (sliding window). Errors: {"error", "code", "details"}.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.scopes import Scope, read_write
from accounts.authentication import BearerAuthentication, KeyHeaderAuthentication
from accounts.ratelimit import SlidingWindowThrottle
from config.errors import BadRequest, CanvasflowError, Forbidden, NotFound
from pipelines.models import Pipeline
from pipelines.nodes.base import NodeError
from runs import access, services
from runs.api.common import base_url_of, base_url_option, flat_outputs, surface_view
from runs.events import events_after
from runs.models import TERMINAL, Run, RunStatus, Surface
from runs.webhooks import check_webhook_url

STATUS = {
    RunStatus.QUEUED: "IN_QUEUE",
    RunStatus.RUNNING: "IN_PROGRESS",
    RunStatus.COMPLETED: "COMPLETED",
    RunStatus.FAILED: "FAILED",
    RunStatus.BLOCKED: "FAILED",
    RunStatus.CANCELLED: "CANCELLED",
}
PREVIOUS = {RunStatus.QUEUED: "PENDING", RunStatus.RUNNING: "RUNNING"}


def fizzly_shape(err: CanvasflowError) -> dict[str, Any]:
    code = {
        401: "UNAUTHORIZED",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        402: "INSUFFICIENT_CREDITS",
        429: "RATE_LIMIT_EXCEEDED",
        500: "INTERNAL_ERROR",
    }.get(err.status, err.code)
    if err.status in (400, 422) and err.code not in ("BAD_REQUEST",):
        code = err.code  # keep the specific code (ALREADY_COMPLETED, MISSING_INPUT, …)
    body: dict[str, Any] = {"error": err.message, "code": code, "details": dict(err.details)}
    if err.status == 429:
        body["retry_after"] = getattr(err, "retry_after", 1)
    if "current_status" in err.details:
        body["current_status"] = STATUS.get(err.details["current_status"], err.details["current_status"])
    return body


class FizzlyView(surface_view(fizzly_shape)):
    authentication_classes = [KeyHeaderAuthentication, BearerAuthentication]
    permission_classes = [IsAuthenticated]
    key_scope = read_write(Scope.RUNS_READ, Scope.PIPELINES_RUN)
    throttle_classes = [SlidingWindowThrottle]
    rate_limit_scope = "fizzly"

    @property
    def rate_limit(self) -> tuple[int, int]:
        return settings.FIZZLY_RATE_LIMIT

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not request.user.is_pro:
            raise Forbidden("PRO or ULTIMATE subscription required", code="FORBIDDEN")

    def get_pipeline(self, username: str, slug: str) -> Pipeline:
        pipeline = (
            Pipeline.objects.select_related("owner").filter(owner__username=username, slug=slug).first()
        )
        if pipeline is None or not (pipeline.owner_id == self.request.user.pk or pipeline.is_public):
            raise NotFound("Workflow not found", code="NOT_FOUND")
        return pipeline

    def get_run(self, username: str, slug: str, request_id: str) -> Run:
        """The caller's own request: never another caller's (not even for the workflow's owner), and still
        the caller's after the owner makes the workflow private (runs.access)."""
        run = (
            access.runs_visible_to(self.request.user)
            .filter(pk=request_id, pipeline__owner__username=username, pipeline__slug=slug)
            .first()
        )
        if run is None:
            raise NotFound("Request not found", code="NOT_FOUND")
        return run


def urls_for(request: Any, username: str, slug: str, run_id: str) -> dict[str, str]:
    base = request.build_absolute_uri(f"/workflows/{username}/{slug}/requests/{run_id}")
    return {"status_url": f"{base}/status", "response_url": base, "cancel_url": f"{base}/cancel"}


def metrics(run: Run) -> dict[str, Any]:
    return {"credits_used": run.credits_used, "total_time_ms": run.total_ms}


def logs(run: Run) -> list[dict[str, Any]]:
    return [
        {
            "node": nr.node_id,
            "type": nr.node_type,
            "status": nr.status,
            "started_at": nr.started_at.isoformat() if nr.started_at else None,
            "completed_at": nr.finished_at.isoformat() if nr.finished_at else None,
            **({"error": nr.error.get("message")} if nr.error else {}),
        }
        for nr in run.node_runs.all()
    ]


def webhook_payload(run: Run) -> dict[str, Any]:
    base = base_url_of(run)
    completed_at = run.finished_at.isoformat() if run.finished_at else None
    if run.status == RunStatus.COMPLETED:
        return {
            "request_id": run.pk,
            "status": "OK",
            "payload": flat_outputs(run, base, "object"),
            "metrics": metrics(run),
            "completed_at": completed_at,
        }
    error = (run.error or {}).get("message") or (
        "Cancelled by user" if run.status == RunStatus.CANCELLED else "Execution failed"
    )
    return {
        "request_id": run.pk,
        "status": "ERROR",
        "error": error,
        "metrics": metrics(run),
        "completed_at": completed_at,
    }


class SubmitView(FizzlyView):
    @extend_schema(summary="Submit a workflow to the queue", request=dict, responses=dict)
    def post(self, request: Request, username: str, slug: str) -> Response:
        pipeline = self.get_pipeline(username, slug)
        version = pipeline.latest_version
        if version is None:
            raise NotFound("Workflow is not published", code="NOT_FOUND")
        body = request.data
        if not isinstance(body, dict) or not isinstance(body.get("inputs", {}), dict):
            raise BadRequest("Body must be a JSON object with an 'inputs' object", code="BAD_REQUEST")
        webhook = request.query_params.get("webhook", "")
        if webhook:
            try:
                check_webhook_url(webhook)
            except NodeError as exc:
                raise BadRequest(
                    f"Invalid webhook URL: {exc.message}",
                    code="BAD_REQUEST",
                    details={"webhook": exc.message},
                ) from exc
        submission = services.submit_run(
            pipeline=pipeline,
            version=version,
            billed_to=request.user,
            requested_by=request.user,
            surface=Surface.FIZZLY,
            inputs=body.get("inputs", {}),
            webhook_url=webhook,
            options=base_url_option(request),
        )
        run = submission.run
        return Response(
            {"request_id": run.pk, "status": "PENDING", **urls_for(request, username, slug, run.pk)}
        )


class StatusView(FizzlyView):
    @extend_schema(summary="Poll the status of a request", responses=dict)
    def get(self, request: Request, username: str, slug: str, request_id: str) -> Response:
        run = self.get_run(username, slug, request_id)
        body: dict[str, Any] = {"status": STATUS[run.status], "request_id": run.pk}
        if run.status == RunStatus.QUEUED:
            body["queue_position"] = services.queue_position(run)
        elif run.status == RunStatus.RUNNING:
            body.update(progress=run.progress, current_node=run.current_node or None)
        else:
            body["metrics"] = metrics(run)
            if run.error:
                body["error"] = run.error.get("message")
                body["error_code"] = run.error.get("code")
        if request.query_params.get("logs") in ("1", "true"):
            body["logs"] = logs(run)
        return Response(body)


class ResultView(FizzlyView):
    @extend_schema(summary="The full output of a completed request", responses=dict)
    def get(self, request: Request, username: str, slug: str, request_id: str) -> Response:
        run = self.get_run(username, slug, request_id)
        if run.status != RunStatus.COMPLETED:
            raise BadRequest(
                "Request is not completed", code="BAD_REQUEST", details={"status": STATUS[run.status]}
            )
        return Response(
            {
                "status": "COMPLETED",
                "outputs": flat_outputs(run, request, "object"),
                "metrics": metrics(run),
                "logs": logs(run),
                "started_at": run.started_at.isoformat() if run.started_at else None,
                "completed_at": run.finished_at.isoformat() if run.finished_at else None,
            }
        )


class CancelView(FizzlyView):
    @extend_schema(summary="Cancel a pending or running request", request=None, responses=dict)
    def put(self, request: Request, username: str, slug: str, request_id: str) -> Response:
        run = self.get_run(username, slug, request_id)
        result = services.cancel_run(run)
        return Response(
            {
                "status": "CANCELLATION_REQUESTED",
                "message": "Request cancellation initiated",
                "previous_status": PREVIOUS.get(result.previous_status, result.previous_status),
                "credits_refunded": result.credits_refunded,
            }
        )


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def fizzly_events(run_event: Any, request: Any) -> list[tuple[str, dict[str, Any]]]:
    """Map one RunEvent onto Fizzly stream events."""
    ts = run_event.created_at.isoformat()
    t = run_event.type
    if t == "node.started":
        return [("submit", {"node": run_event.node_id, "timestamp": ts})]
    if t == "node.completed":
        return [
            (
                "completion",
                {"node": run_event.node_id, "output": run_event.data.get("outputs", {}), "timestamp": ts},
            )
        ]
    if t == "node.progress":
        return [
            (
                "progress",
                {"node": run_event.node_id, "progress": run_event.data.get("progress"), "timestamp": ts},
            )
        ]
    if t == "run.completed":
        run = Run.objects.get(pk=run_event.run_id)
        return [
            (
                "output",
                {
                    "outputs": flat_outputs(run, request, "object"),
                    "credits_used": run_event.data.get("credits_used", 0),
                    "timestamp": ts,
                },
            )
        ]
    if t in ("run.failed", "run.blocked", "run.cancelled"):
        data = run_event.data
        return [
            (
                "error",
                {
                    "error": data.get("message") or data.get("reason") or "Execution failed",
                    "code": data.get("code", "CANCELLED" if t == "run.cancelled" else "FAILED"),
                    "node": data.get("node") or None,
                    "timestamp": ts,
                },
            )
        ]
    return []


class StreamView(FizzlyView):
    @extend_schema(
        summary="Server-Sent Events stream of a request", responses={(200, "text/event-stream"): str}
    )
    def get(self, request: Request, username: str, slug: str, request_id: str) -> StreamingHttpResponse:
        run = self.get_run(username, slug, request_id)
        last_id = request.headers.get("Last-Event-ID", "")
        after = int(last_id) if last_id.isdigit() else 0
        response = StreamingHttpResponse(
            self._stream(run.pk, after, request), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response

    async def _stream(self, run_id: str, after: int, request: Any) -> AsyncIterator[bytes]:
        ping_every = settings.SSE_PING_SECONDS
        last_ping = asyncio.get_running_loop().time()
        fetch = sync_to_async(
            lambda a: [(e.pk, e.type, fizzly_events(e, request)) for e in events_after(run_id, a)]
        )
        is_done = sync_to_async(lambda: Run.objects.filter(pk=run_id, status__in=TERMINAL).exists())
        while True:
            batch = await fetch(after)
            for event_id, type_, mapped in batch:
                after = event_id
                for name, data in mapped:
                    yield f"id: {event_id}\n".encode() + sse(name, data)
                if type_ in ("run.completed", "run.failed", "run.blocked", "run.cancelled"):
                    return
            if not batch and await is_done() and not await fetch(after):
                return
            now = asyncio.get_running_loop().time()
            if now - last_ping >= ping_every:
                last_ping = now
                yield sse("ping", {"timestamp": timezone.now().isoformat()})
            await asyncio.sleep(0.1)


urlpatterns = [
    path("workflows/<str:username>/<slug:slug>", SubmitView.as_view(), name="fizzly-submit"),
    path(
        "workflows/<str:username>/<slug:slug>/requests/<str:request_id>",
        ResultView.as_view(),
        name="fizzly-result",
    ),
    path(
        "workflows/<str:username>/<slug:slug>/requests/<str:request_id>/status",
        StatusView.as_view(),
        name="fizzly-status",
    ),
    path(
        "workflows/<str:username>/<slug:slug>/requests/<str:request_id>/status/stream",
        StreamView.as_view(),
        name="fizzly-stream",
    ),
    path(
        "workflows/<str:username>/<slug:slug>/requests/<str:request_id>/cancel",
        CancelView.as_view(),
        name="fizzly-cancel",
    ),
]
