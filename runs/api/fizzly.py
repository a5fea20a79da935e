"""Fizzly queue surface (seed 003): /workflows/{username}/{slug}…

Authorization: Key fiz_…; Pro or Ultimate tier; credits checked; 60 requests per
minute per key (sliding window). Errors: {"error", "code", "details"}.
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path, re_path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import BearerAuthentication, KeyHeaderAuthentication, QueryTokenAuthentication
from accounts.ratelimit import SlidingWindowThrottle
from accounts.scopes import Scope, read_write
from config.errors import BadRequest, CanvasflowError, Forbidden, NotFound
from config.timefmt import iso_z
from pipelines.models import Pipeline
from runs import access, artifacts, services
from runs.api.common import (
    base_url_of,
    base_url_option,
    checked_webhook,
    flat_outputs,
    surface_view,
    unmatched_view,
    webhook_delivery,
)
from runs.api.fizzly_schema import (
    LOGS_PARAM,
    STREAM_RESPONSE,
    WEBHOOK_PARAM,
    CancelResponseSerializer,
    FizzlyErrorSerializer,
    ResultResponseSerializer,
    StatusResponseSerializer,
    SubmitRequestSerializer,
    SubmitResponseSerializer,
)
from runs.events import TERMINAL_EVENTS, events_after, follow
from runs.models import TERMINAL, Artifact, Run, RunStatus, Surface
from runs.outputs import STORE_INTERMEDIATES

STATUS = {
    RunStatus.QUEUED: "IN_QUEUE",
    RunStatus.RUNNING: "IN_PROGRESS",
    RunStatus.COMPLETED: "COMPLETED",
    RunStatus.FAILED: "FAILED",
    RunStatus.BLOCKED: "FAILED",
    RunStatus.CANCELLED: "CANCELLED",
}
PREVIOUS = {RunStatus.QUEUED: "PENDING", RunStatus.RUNNING: "RUNNING"}


# The seed's error table: every answer uses one of these statuses and codes. Other 4xx (422, 409, 413, …)
# become 400 BAD_REQUEST with the specific reason in details; other 5xx become 500 INTERNAL_ERROR.
SEED_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    402: "INSUFFICIENT_CREDITS",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    429: "RATE_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
}
# Codes the seed itself shows besides its table.
SEED_SPECIFIC_CODES = {"ALREADY_COMPLETED"}


def seed_status(status: int) -> int:
    if status in SEED_CODES:
        return status
    return 500 if status >= 500 else 400


def fizzly_shape(err: CanvasflowError) -> dict[str, Any]:
    status = seed_status(err.status)
    code = err.code if err.code in SEED_SPECIFIC_CODES else SEED_CODES[status]
    details = dict(err.details)
    if err.code not in (code, "BAD_REQUEST") and err.status < 500:
        details.setdefault("reason", err.code)  # MISSING_INPUT, IMAGE_TOO_LARGE, …
    if "current_status" in details:
        details["current_status"] = STATUS.get(details["current_status"], details["current_status"])
    body: dict[str, Any] = {"error": err.message, "code": code, "details": details}
    if err.status == 429:
        body["retry_after"] = getattr(err, "retry_after", 1)
    if "current_status" in details:
        body["current_status"] = details["current_status"]
    return body


class FizzlyView(surface_view(fizzly_shape, status_of=seed_status)):
    authentication_classes = [KeyHeaderAuthentication, BearerAuthentication]
    openapi_error = FizzlyErrorSerializer
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
            "started_at": iso_z(nr.started_at),
            "completed_at": iso_z(nr.finished_at),
            **({"error": nr.error.get("message")} if nr.error else {}),
        }
        for nr in run.node_runs.all()
    ]


def webhook_payload(run: Run) -> dict[str, Any]:
    base = base_url_of(run)
    completed_at = iso_z(run.finished_at)
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
    openapi_error_statuses = (400, 401, 402, 403, 404, 429, 500)

    @extend_schema(
        summary="Submit Workflow",
        description="Submit a workflow to the execution queue. Returns immediately with a request ID for "
        "tracking. PRO or ULTIMATE subscription required.",
        request=SubmitRequestSerializer,
        parameters=[WEBHOOK_PARAM],
        responses={200: SubmitResponseSerializer},
    )
    def post(self, request: Request, username: str, slug: str) -> Response:
        pipeline = self.get_pipeline(username, slug)
        version = pipeline.latest_version
        if version is None:
            raise NotFound("Workflow is not published", code="NOT_FOUND")
        body = request.data
        if not isinstance(body, dict) or not isinstance(body.get("inputs", {}), dict):
            raise BadRequest("Body must be a JSON object with an 'inputs' object", code="BAD_REQUEST")
        webhook = checked_webhook(request.query_params.get("webhook", ""))
        submission = services.submit_run(
            pipeline=pipeline,
            version=version,
            billed_to=request.user,
            requested_by=request.user,
            surface=Surface.FIZZLY,
            inputs=body.get("inputs", {}),
            webhook_url=webhook,
            # every node's image gets a URL, for the stream's completion events
            options={**base_url_option(request), STORE_INTERMEDIATES: True},
        )
        run = submission.run
        return Response(
            {"request_id": run.pk, "status": "PENDING", **urls_for(request, username, slug, run.pk)}
        )


class StatusView(FizzlyView):
    @extend_schema(
        summary="Get Status",
        description="Poll the current status of a workflow run.",
        parameters=[LOGS_PARAM],
        responses={200: StatusResponseSerializer},
    )
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
        if run.webhook_url:
            body["delivery"] = webhook_delivery(run)  # did the ?webhook= callback reach the caller
        return Response(body)


class ResultView(FizzlyView):
    @extend_schema(
        summary="Get Result",
        description="Retrieve the full output of a completed workflow run. Returns 400 Bad Request if the "
        "workflow is not yet completed. Use the status endpoint to check completion first.",
        responses={200: ResultResponseSerializer},
    )
    def get(self, request: Request, username: str, slug: str, request_id: str) -> Response:
        run = self.get_run(username, slug, request_id)
        if run.status != RunStatus.COMPLETED:
            details: dict[str, Any] = {"status": STATUS[run.status]}
            if run.status in TERMINAL:
                message = "Request was cancelled" if run.status == RunStatus.CANCELLED else "Request failed"
                if run.error:
                    details.update(error=run.error.get("message"), error_code=run.error.get("code"))
                    message = f"{message}: {run.error.get('message')}"
            else:
                message = "Request is not completed yet; poll its status until it is COMPLETED"
            raise BadRequest(message, code="BAD_REQUEST", details=details)
        return Response(
            {
                "status": "COMPLETED",
                "outputs": flat_outputs(run, request, "object"),
                "metrics": metrics(run),
                "logs": logs(run),
                "started_at": iso_z(run.started_at),
                "completed_at": iso_z(run.finished_at),
            }
        )


class CancelView(FizzlyView):
    @extend_schema(
        summary="Cancel Request",
        description="Cancel a pending or running workflow request. Cancelling a PENDING request refunds all "
        "reserved credits. Cancelling a RUNNING request does not refund credits for nodes that have already "
        "been processed.",
        request=None,
        responses={200: CancelResponseSerializer},
    )
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


def node_output(summary: dict[str, Any], request: Any) -> dict[str, Any]:
    """A node's outputs as the seed's stream shows them: ``{"url": …}`` for an image (its stored artifact),
    the value itself otherwise. One output is the object itself (``output.url``); several are keyed by port,
    with the first image's ``url`` also at the top."""
    ids = [v["artifact_id"] for v in summary.values() if isinstance(v, dict) and v.get("artifact_id")]
    stored = {a.pk: a for a in Artifact.objects.filter(pk__in=ids)}
    described: dict[str, Any] = {}
    for port, value in summary.items():
        if isinstance(value, dict) and value.get("type") == "image":
            art = stored.get(value.get("artifact_id"))
            described[port] = {
                "url": artifacts.public_url(art, request) if art else None,
                "width": value.get("width"),
                "height": value.get("height"),
            }
        elif isinstance(value, dict) and "value" in value and set(value) <= {"type", "value"}:
            described[port] = value["value"]
        else:
            described[port] = value
    if len(described) == 1:
        only = next(iter(described.values()))
        return only if isinstance(only, dict) else {"value": only}
    first_image = next((v for v in described.values() if isinstance(v, dict) and v.get("url")), None)
    return {**({"url": first_image["url"]} if first_image else {}), "outputs": described}


def fizzly_events(run_event: Any, request: Any) -> list[tuple[str, dict[str, Any]]]:
    """Map one RunEvent onto Fizzly stream events."""
    ts = iso_z(run_event.created_at)
    t = run_event.type
    if t == "node.started":
        return [("submit", {"node": run_event.node_id, "timestamp": ts})]
    if t == "node.completed":
        outputs = run_event.data.get("outputs", {})
        return [
            (
                "completion",
                {"node": run_event.node_id, "output": node_output(outputs, request), "timestamp": ts},
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
    if t == "run.requeued":
        # The worker died: the request is back in the queue and its nodes start again (a second "submit").
        attempt = int(run_event.data.get("attempt") or 1) + 1
        return [
            (
                "status",
                {
                    "status": STATUS[RunStatus.QUEUED],
                    "reason": "WORKER_LOST",
                    "message": "The worker running this request stopped; the request is queued again and its "
                    f"nodes run again (attempt {attempt})",
                    "node": run_event.data.get("node") or None,
                    "attempt": attempt,
                    "timestamp": ts,
                },
            )
        ]
    if t in TERMINAL_EVENTS:
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
    # A browser's EventSource cannot send an Authorization header: ?token= (an access token) or ?key=.
    authentication_classes = [*FizzlyView.authentication_classes, QueryTokenAuthentication]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        """Every SSE client sends ``Accept: text/event-stream``: the stream itself is not rendered by DRF, and
        an error before it starts is JSON in Fizzly's shape, whatever the Accept header says."""
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        summary="Status Stream (SSE)",
        description="Real-time event stream for workflow execution updates using Server-Sent Events.",
        responses={(200, "text/event-stream"): STREAM_RESPONSE},
    )
    def get(self, request: Request, username: str, slug: str, request_id: str) -> StreamingHttpResponse:
        run = self.get_run(username, slug, request_id)
        last_id = request.headers.get("Last-Event-ID", "")
        after = int(last_id) if last_id.isdigit() else 0
        if after and run.is_terminal and not events_after(run.pk, after):
            # An EventSource reconnects by itself after the stream ends; 204 tells it there is nothing more.
            return HttpResponse(status=204)
        response = StreamingHttpResponse(
            self._stream(run.pk, after, request), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response

    async def _stream(self, run_id: str, after: int, request: Any) -> AsyncIterator[bytes]:
        """The run's events after ``after`` (runs.events.follow: replayed from the database, then as they
        come), each under its event id, and a ping after SSE_PING_SECONDS without one."""
        describe = sync_to_async(fizzly_events)
        # The first event also says how soon a dropped client reconnects (a block of its own would be an
        # empty "message" event to some clients).
        retry = f"retry: {settings.SSE_RETRY_MS}\n".encode()
        async for event in follow(run_id, after, idle=settings.SSE_PING_SECONDS):
            if event is None:
                yield retry + sse("ping", {"timestamp": iso_z(timezone.now())})
                retry = b""
                continue
            for name, data in await describe(event, request):
                yield retry + f"id: {event.pk}\n".encode() + sse(name, data)
                retry = b""


# Any other path under /workflows/: Fizzly's own 404, not another surface's shape.
UnmatchedView = unmatched_view(FizzlyView, "Workflow or request not found")


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
    re_path(r"^workflows/", UnmatchedView.as_view(), name="fizzly-unmatched"),
]
