"""fal's queue protocol over the Fizzly queue: ``/fal/{username}/{slug}…``.

A compatibility mode beside Fizzly's own shapes, for callers who already use fal's official client
(``fal-client``): point it at this server (``FAL_QUEUE_RUN_HOST=<host>/fal``, the ``fiz_`` key as ``FAL_KEY``)
and ``submit``, ``status`` (with and without logs), ``result``, ``subscribe`` and ``cancel`` work unchanged
against a published pipeline addressed as ``username/slug``.

What differs from Fizzly's seed, as fal's client expects it: the body of a submit is the bare arguments
object (Fizzly wraps it in ``inputs``); the statuses are ``IN_QUEUE``, ``IN_PROGRESS`` and ``COMPLETED`` only
(a failed or cancelled request is ``COMPLETED`` with ``error`` and ``error_type``); ``logs`` is on every
``IN_PROGRESS`` and ``COMPLETED`` status (null unless ``?logs=1``); errors are ``{"detail", "error_type"}``;
the webhook is ``?fal_webhook=`` and its payload is fal's (``status`` ``OK`` or ``ERROR``, ``payload``).
Everything else is Fizzly's: the same keys, tiers, credits, limits, runs and engine.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import path, re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.errors import render_with
from config.errors import BadRequest, CanvasflowError, NotFound
from config.timefmt import iso_z
from runs import services
from runs.api.common import (
    base_url_of,
    base_url_option,
    checked_webhook,
    flat_outputs,
    node_log_lines,
    unmatched_view,
)
from runs.api.fizzly import FizzlyView
from runs.models import TERMINAL, Run, RunStatus, Surface
from runs.outputs import STORE_INTERMEDIATES

PREFIX = "fal"
STATUS = {RunStatus.QUEUED: "IN_QUEUE", RunStatus.RUNNING: "IN_PROGRESS"}  # every other status: COMPLETED
ERROR_TYPES = {RunStatus.CANCELLED: "request_cancelled"}


def fal_shape(err: CanvasflowError) -> dict[str, Any]:
    """fal's error body: ``detail`` (what fal-client raises with) and ``error_type``."""
    body: dict[str, Any] = {"detail": err.message, "error_type": err.code}
    body.update({k: v for k, v in err.details.items() if k not in body})
    return body


class FalErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    error_type = serializers.CharField()


class FalView(FizzlyView):
    """Fizzly's access rules (``fiz_`` keys as ``Key …``, Pro tier, credits) with fal's error body and its own
    rate limit: fal's client polls every 0.1 s while it waits, which Fizzly's 60 a minute would refuse."""

    openapi_error = FalErrorSerializer
    rate_limit_scope = "fal"

    @property
    def rate_limit(self) -> tuple[int, int]:
        return settings.FAL_COMPAT_RATE_LIMIT

    def get_exception_handler(self):
        return lambda exc, context: render_with(fal_shape, exc, context)


def request_urls(request: Any, username: str, slug: str, run_id: str) -> dict[str, str]:
    base = request.build_absolute_uri(f"/{PREFIX}/{username}/{slug}/requests/{run_id}")
    return {"response_url": base, "status_url": f"{base}/status", "cancel_url": f"{base}/cancel"}


def error_of(run: Run) -> str | None:
    if run.status == RunStatus.COMPLETED or run.status not in TERMINAL:
        return None
    if run.status == RunStatus.CANCELLED:
        return "Request was cancelled"
    return (run.error or {}).get("message") or "Request failed"


def error_type_of(run: Run) -> str | None:
    if error_of(run) is None:
        return None
    return ERROR_TYPES.get(run.status) or (run.error or {}).get("code") or "request_failed"


def fal_logs(run: Run) -> list[dict[str, Any]]:
    """fal's log objects (``message``, ``level``, ``source``, ``timestamp``): each node's start and end."""
    return [
        {"message": message, "level": level, "source": "USER", "timestamp": iso_z(at)}
        for at, level, message in node_log_lines(run)
    ]


def fal_metrics(run: Run) -> dict[str, Any]:
    seconds = (run.total_ms or 0) / 1000
    return {"inference_time": seconds, "credits_used": run.credits_used}


def webhook_payload(run: Run) -> dict[str, Any]:
    """What fal posts to ``?fal_webhook=`` when a request ends."""
    body: dict[str, Any] = {"request_id": run.pk, "gateway_request_id": run.pk}
    if run.status == RunStatus.COMPLETED:
        return {**body, "status": "OK", "payload": flat_outputs(run, base_url_of(run), "object")}
    return {
        **body,
        "status": "ERROR",
        "error": error_of(run),
        "error_type": error_type_of(run),
        "payload": None,
    }


STATUS_BODY = inline_serializer(
    "FalStatus",
    {
        "status": serializers.ChoiceField(choices=["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]),
        "request_id": serializers.CharField(),
        "queue_position": serializers.IntegerField(required=False),
        "logs": serializers.ListField(child=serializers.DictField(), allow_null=True, required=False),
        "metrics": serializers.DictField(required=False),
        "error": serializers.CharField(required=False, allow_null=True),
        "error_type": serializers.CharField(required=False, allow_null=True),
        "response_url": serializers.URLField(),
    },
)
SUBMIT_BODY = inline_serializer(
    "FalSubmit",
    {
        "request_id": serializers.CharField(),
        "response_url": serializers.URLField(),
        "status_url": serializers.URLField(),
        "cancel_url": serializers.URLField(),
        "queue_position": serializers.IntegerField(),
    },
)
CANCEL_BODY = inline_serializer("FalCancel", {"status": serializers.CharField()})
WEBHOOK_PARAM = OpenApiParameter(
    "fal_webhook", str, description="HTTPS URL that receives the result when the request ends", required=False
)
LOGS_PARAM = OpenApiParameter("logs", str, description="1 or true: include the logs", required=False)


class SubmitView(FalView):
    openapi_error_statuses = (400, 401, 402, 403, 404, 413, 422, 429)

    @extend_schema(
        summary="fal: submit a request",
        description="fal's queue submit: the body is the pipeline's inputs, as fal-client posts them.",
        request=OpenApiTypes.OBJECT,
        parameters=[WEBHOOK_PARAM],
        responses={200: SUBMIT_BODY},
        tags=["fal-compatible queue"],
    )
    def post(self, request: Request, username: str, slug: str) -> Response:
        pipeline = self.get_pipeline(username, slug)
        version = pipeline.latest_version
        if version is None:
            raise NotFound("Application is not published", code="NOT_FOUND")
        if not isinstance(request.data, dict):
            raise BadRequest("The body must be a JSON object of the pipeline's inputs", code="BAD_REQUEST")
        webhook = checked_webhook(request.query_params.get("fal_webhook", ""), "fal_webhook")
        run = services.submit_run(
            pipeline=pipeline,
            version=version,
            billed_to=request.user,
            requested_by=request.user,
            surface=Surface.FAL,
            inputs=dict(request.data),
            webhook_url=webhook,
            options={**base_url_option(request), STORE_INTERMEDIATES: True},
        ).run
        return Response(
            {
                "request_id": run.pk,
                **request_urls(request, username, slug, run.pk),
                "queue_position": services.queue_position(run),
            }
        )


class StatusView(FalView):
    @extend_schema(
        summary="fal: request status",
        description="IN_QUEUE with queue_position, IN_PROGRESS, or COMPLETED with metrics (a failed or "
        "cancelled request: COMPLETED with error and error_type). logs: null unless ?logs=1.",
        parameters=[LOGS_PARAM],
        responses={200: STATUS_BODY},
        tags=["fal-compatible queue"],
    )
    def get(self, request: Request, username: str, slug: str, request_id: str) -> Response:
        run = self.get_run(username, slug, request_id)
        urls = request_urls(request, username, slug, run.pk)
        body: dict[str, Any] = {
            "status": STATUS.get(run.status, "COMPLETED"),
            "request_id": run.pk,
            "response_url": urls["response_url"],
            "status_url": urls["status_url"],
            "cancel_url": urls["cancel_url"],
        }
        if run.status == RunStatus.QUEUED:
            body["queue_position"] = services.queue_position(run)
            return Response(body)
        with_logs = request.query_params.get("logs", "").lower() in ("1", "true")
        body["logs"] = fal_logs(run) if with_logs else None
        if run.status == RunStatus.RUNNING:
            body.update(progress=run.progress, current_node=run.current_node or None)
        else:
            body["metrics"] = fal_metrics(run)
            error = error_of(run)
            if error is not None:
                body.update(error=error, error_type=error_type_of(run))
        return Response(body)


class ResultView(FalView):
    openapi_error_statuses = (400, 401, 403, 404, 422, 429)

    @extend_schema(
        summary="fal: request result",
        description="The pipeline's outputs (images as {url, width, height, content_type}). A request still "
        "queued or running is a 400; a failed one answers its error (422), a cancelled one a 400.",
        responses={200: OpenApiTypes.OBJECT},
        tags=["fal-compatible queue"],
    )
    def get(self, request: Request, username: str, slug: str, request_id: str) -> Response:
        run = self.get_run(username, slug, request_id)
        if run.status == RunStatus.COMPLETED:
            return Response(flat_outputs(run, request, "object"))
        if run.status not in TERMINAL:
            raise BadRequest("Request is still in progress", code="request_in_progress")
        if run.status == RunStatus.CANCELLED:
            raise BadRequest(error_of(run) or "", code="request_cancelled")
        raise CanvasflowError(error_of(run) or "Request failed", code=error_type_of(run), status=422)


class CancelView(FalView):
    openapi_error_statuses = (400, 401, 403, 404, 429)

    @extend_schema(
        summary="fal: cancel a request",
        description="202 CANCELLATION_REQUESTED for a queued or running request (a queued one is refunded "
        "in full); 400 ALREADY_COMPLETED once it has ended.",
        request=None,
        responses={202: CANCEL_BODY},
        tags=["fal-compatible queue"],
    )
    def put(self, request: Request, username: str, slug: str, request_id: str) -> Response:
        run = self.get_run(username, slug, request_id)
        if run.status in TERMINAL:
            return Response(
                {
                    "status": "ALREADY_COMPLETED",
                    "detail": "Request is already completed",
                    "error_type": "ALREADY_COMPLETED",
                },
                status=400,
            )
        result = services.cancel_run(run)
        return Response(
            {"status": "CANCELLATION_REQUESTED", "credits_refunded": result.credits_refunded}, status=202
        )


UnmatchedView = unmatched_view(FalView, "Application or request not found")

urlpatterns = [
    path(f"{PREFIX}/<str:username>/<slug:slug>", SubmitView.as_view(), name="fal-submit"),
    path(
        f"{PREFIX}/<str:username>/<slug:slug>/requests/<str:request_id>",
        ResultView.as_view(),
        name="fal-result",
    ),
    path(
        f"{PREFIX}/<str:username>/<slug:slug>/requests/<str:request_id>/status",
        StatusView.as_view(),
        name="fal-status",
    ),
    path(
        f"{PREFIX}/<str:username>/<slug:slug>/requests/<str:request_id>/cancel",
        CancelView.as_view(),
        name="fal-cancel",
    ),
    re_path(rf"^{PREFIX}/", UnmatchedView.as_view(), name="fal-unmatched"),
]
