"""FractalQ surface (seed 000): the published session key in the URL runs the pipeline.

POST /api/node/api/{apiKey}/execute   sync, or async with callbackUrl and _jobId idempotency
GET  /api/node/api/{apiKey}/docs      input/output schema and examples of the published version
GET  /api/node/api/{apiKey}/jobs/{id} poll an async job under the same key (with its callback's delivery)
Errors: {"success": false, "error": "...", "code": "..."}.

Rules a seed client relies on (and ``/docs`` states in ``inputRules`` and ``limits``):

* a synchronous call answers with the outputs or an error, never 202: it waits ``SYNC_WAIT_SECONDS`` for a
  worker to start the run (else 429 ``WORKERS_BUSY``, the run cancelled and not charged), then up to the
  run's time budget (else 500 ``RUN_TIMED_OUT``, the run cancelled);
* ``inputs`` keys that match none of the session's input nodes are ignored and listed in ``ignoredInputs``
  (the seed's own example sends ``command`` to an image pipeline);
* a fault of ours is the seed's 500 "AI processing failed"; a problem with the input is a 422;
* a call that would take the key over its owner's spending cap is a 429 ``SPENDING_CAP_REACHED``.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.urls import path, re_path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.keys import hash_secret
from accounts.ratelimit import SlidingWindowThrottle
from config.errors import BadRequest, CanvasflowError, NotFound, RateLimited
from pipelines.cost import input_limits
from pipelines.nodes.base import NodeError
from pipelines.services import resolve_key, resolve_session_key, spending_caps
from runs import events, limits, services, spending
from runs.api import fractalq_schema as schema
from runs.api.common import (
    base_url_of,
    base_url_option,
    flat_outputs,
    surface_view,
    unmatched_view,
    webhook_delivery,
)
from runs.models import Run, RunStatus, Surface
from runs.webhooks import check_webhook_url

ERROR_STATUS_CODES = {RunStatus.FAILED: "PROCESSING_FAILED", RunStatus.BLOCKED: "BLOCKED"}


SERVER_FAULT = "AI processing failed"
INPUT_RULES = {
    "unknownInputs": "Keys of 'inputs' that match none of the input nodes above are ignored; the response "
    "lists them in 'ignoredInputs'.",
    "missingInputs": "A required input that is missing or empty is a 400 MISSING_INPUT.",
    "imageInputs": "An image input takes an http(s) URL, a data:image/… URI or the art_ id of an upload.",
    "sync": "A call without async waits for the outputs: up to limits.syncQueueWaitSeconds for a worker to "
    "start the run (429 WORKERS_BUSY otherwise, not charged), then up to limits.timeBudgetSeconds (500 "
    "RUN_TIMED_OUT otherwise, the run cancelled). Use async: true for long pipelines.",
}


def server_fault_message(message: str) -> str:
    """The seed's 500 wording, followed by what failed."""
    return message if message.startswith(SERVER_FAULT) else f"{SERVER_FAULT}: {message}"


def fractalq_shape(err: CanvasflowError) -> dict[str, Any]:
    message = server_fault_message(err.message) if err.status >= 500 else err.message
    body: dict[str, Any] = {"success": False, "error": message, "code": err.code}
    if err.details:
        body["details"] = err.details
    return body


class SessionKeyThrottle(SlidingWindowThrottle):
    """Sliding window per session key (FRACTALQ_RATE_LIMIT): the key in the URL is the identity."""

    def limit_for(self, request: Any, view: Any) -> tuple[str, int, int]:
        limit, window = settings.FRACTALQ_RATE_LIMIT
        return f"fractalq:{hash_secret(view.kwargs['api_key'])[:32]}", limit, window


class FractalQView(surface_view(fractalq_shape)):
    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes = [SessionKeyThrottle]
    rate_limit_scope = "fractalq"  # documents the X-RateLimit-* headers (config.schema)
    openapi_error = schema.FractalQErrorSerializer
    openapi_error_statuses = (404, 429)


def execute_url(request: Any, key: str) -> str:
    return request.build_absolute_uri(f"/api/node/api/{key}/execute")


def result_body(run: Run, request: Any) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body that describe ``run`` (the same shape sync, polled or called back)."""
    if run.status == RunStatus.COMPLETED:
        return 200, {
            "success": True,
            "outputs": flat_outputs(run, request),
            "executionMs": run.execution_ms,
            "jobId": run.pk,
        }
    if run.status in (RunStatus.FAILED, RunStatus.BLOCKED):
        error = run.error or {}
        status = int(error.get("status", 500))
        message = error.get("message", "Processing failed")
        return status, {
            "success": False,
            "error": server_fault_message(message) if status >= 500 else message,
            "code": error.get("code", ERROR_STATUS_CODES[run.status]),
            "node": error.get("node"),
            "jobId": run.pk,
        }
    if run.status == RunStatus.CANCELLED:
        return 409, {"success": False, "error": "The job was cancelled", "code": "CANCELLED", "jobId": run.pk}
    return 202, {"success": True, "jobId": run.pk, "status": run.status, "progress": run.progress}


def callback_payload(run: Run) -> dict[str, Any]:
    base = base_url_of(run)
    _, body = result_body(run, base)
    body["_jobId"] = run.idempotency_key or None
    return body


def split_inputs(inputs: Any, input_schema: dict[str, Any]) -> tuple[Any, list[str]]:
    """The inputs the session's input nodes take, and the names of the others (ignored, then reported)."""
    if not isinstance(inputs, dict):
        return inputs, []
    ignored = sorted(k for k in inputs if k not in input_schema)
    return {k: v for k, v in inputs.items() if k in input_schema}, ignored


def wait_sync(run: Run) -> Run:
    """The finished run for a synchronous caller, who must get outputs or an error, never a 202.

    First up to SYNC_WAIT_SECONDS for a worker to start the run: when all are busy the caller hears so at
    once (429 WORKERS_BUSY, the run cancelled and refunded) rather than after its HTTP client gave up. Then
    up to the run's own time budget from its start, the time a run may take at all (runs.limits): past it
    the run is cancelled (what was not processed refunded) and the caller gets 500 RUN_TIMED_OUT."""
    if run.is_terminal:  # ran in the request (cheap local nodes): nothing to wait for
        return run
    run = events.wait(run.pk, settings.SYNC_WAIT_SECONDS, until=lambda status: status != RunStatus.QUEUED)
    if run.status == RunStatus.QUEUED:
        return _give_up(
            run,
            RateLimited(
                f"No worker could start the run within {settings.SYNC_WAIT_SECONDS:.0f} s; it was cancelled "
                "and not charged. Retry later, or call with async: true",
                code="WORKERS_BUSY",
                retry_after=limits.RETRY_AFTER_SECONDS,
            ),
        )
    if not run.is_terminal:
        elapsed = (timezone.now() - (run.started_at or timezone.now())).total_seconds()
        run = events.wait(run.pk, max(0.0, limits.budget_seconds() - elapsed))
    if run.is_terminal:
        return run
    return _give_up(
        run,
        CanvasflowError(
            f"the run did not finish within its time budget of {limits.budget_seconds():.0f} s and was "
            "cancelled. Send a smaller input, or call with async: true",
            code="RUN_TIMED_OUT",
            status=500,
        ),
    )


def _give_up(run: Run, error: CanvasflowError) -> Run:
    """Cancel ``run`` for a caller that stops waiting and raise ``error``, unless it finished meanwhile."""
    try:
        services.cancel_run(run)
    except CanvasflowError:  # it ended between the last look and the cancel
        run = Run.objects.get(pk=run.pk)
        if run.is_terminal:
            return run
    error.details = {**error.details, "jobId": run.pk}
    raise error


def check_callback(callback: Any) -> str:
    if not callback:
        return ""
    if not isinstance(callback, str):
        raise BadRequest("'callbackUrl' must be a string", code="INVALID_CALLBACK_URL")
    try:
        check_webhook_url(callback)
    except NodeError as exc:
        raise BadRequest(
            f"callbackUrl must be a public HTTPS URL ({exc.message})", code="INVALID_CALLBACK_URL"
        ) from exc
    return callback


class ExecuteView(FractalQView):
    openapi_error_statuses = (400, 402, 404, 409, 413, 422, 429, 500)

    @extend_schema(
        operation_id="fractalq_execute",
        tags=["FractalQ"],
        summary="Execute Endpoint",
        description=(
            "Runs the published pipeline synchronously and returns all outputs. For pipelines that take more "
            "than a few seconds, use async: true instead.\n\n"
            "Long-running pipelines (e.g. 4× upscaling) can exceed HTTP timeout limits. Pass async: true to "
            "queue the job and receive results via a callback instead of waiting for the response. Your "
            "callbackUrl must be a publicly reachable HTTPS endpoint. FractalQ will POST the same response "
            "shape as a synchronous call, plus a _jobId field (User-Agent: FractalQ-Callback/1.0).\n\n"
            "The execute endpoint is public — no Authorization header required. Access is controlled "
            "entirely by the API key embedded in the URL. Treat your API key like a password."
        ),
        request=schema.EXECUTE_REQUEST,
        responses=schema.EXECUTE_RESPONSES,
    )
    def post(self, request: Request, api_key: str) -> Response:
        key, version = resolve_key(api_key)
        pipeline = key.pipeline
        body = request.data
        if not isinstance(body, dict):
            raise BadRequest("Request body must be a JSON object", code="INVALID_REQUEST")
        if "inputs" not in body:
            raise BadRequest("Missing 'inputs'", code="MISSING_INPUT")
        is_async = body.get("async", False)
        if not isinstance(is_async, bool):
            raise BadRequest("'async' must be a boolean", code="INVALID_REQUEST")
        job_key = body.get("_jobId") or ""
        if not isinstance(job_key, str) or len(job_key) > 200:
            raise BadRequest("'_jobId' must be a string of at most 200 characters", code="INVALID_REQUEST")
        callback = check_callback(body.get("callbackUrl"))
        inputs, ignored = split_inputs(body["inputs"], version.input_schema)
        submission = services.submit_run(
            pipeline=pipeline,
            version=version,
            billed_to=pipeline.owner,
            surface=Surface.FRACTALQ,
            inputs=inputs,
            idempotency_key=job_key,
            webhook_url=callback,
            options=base_url_option(request),
            sync=not is_async,
            # a key without caps has nothing to check (nor to lock the owner's balance for)
            check_spend=(
                (lambda credits: spending.check_caps(key, credits))
                if key.daily_credit_cap is not None or key.monthly_credit_cap is not None
                else None
            ),
        )
        run = submission.run
        extra = {"ignoredInputs": ignored} if ignored else {}
        if is_async:
            status_url = request.build_absolute_uri(f"/api/node/api/{api_key}/jobs/{run.pk}")
            return Response(
                {
                    "success": True,
                    "jobId": run.pk,
                    "_jobId": job_key or None,
                    "status": run.status,
                    "statusUrl": status_url,
                    **extra,
                },
                status=202,
            )
        status, payload = result_body(wait_sync(run), request)
        return Response({**payload, **extra}, status=status)


def docs_limits(graph: dict) -> dict[str, Any]:
    """What a caller must stay under: the largest image (the nodes' limits and the run's time budget), the
    image bytes per request (runs.stored_inputs), and how long a synchronous call waits (wait_sync)."""
    bounds = input_limits(graph)
    return {
        "maxInputPixels": bounds["max_input_pixels"],
        "maxInputBytes": settings.INPUT_MAX_BYTES_PER_REQUEST,
        "timeBudgetSeconds": bounds["time_budget_seconds"],
        "syncQueueWaitSeconds": settings.SYNC_WAIT_SECONDS,
        "estimatedSeconds": bounds["estimated_seconds"],
        "estimatedSecondsPerMegapixel": bounds["estimated_seconds_per_megapixel"],
    }


class DocsView(FractalQView):
    @extend_schema(
        operation_id="fractalq_docs",
        tags=["FractalQ"],
        summary="Get Session Docs",
        description=(
            "Returns the full input/output schema, usage examples, and environment variable for a specific "
            "session. Useful for introspection and generating client SDKs. inputRules says how inputs are "
            "matched, limits what a call must stay under, spendingCap the key's credits per day and month."
        ),
        responses=schema.DOCS_RESPONSES,
    )
    def get(self, request: Request, api_key: str) -> Response:
        key, version = resolve_key(api_key)
        pipeline = key.pipeline
        inputs = {
            k: {f: v for f, v in spec.items() if f != "node"} for k, spec in version.input_schema.items()
        }
        url = execute_url(request, api_key)
        example_inputs = version.input_examples or {k: "…" for k in inputs}
        caps = spending_caps(key)
        return Response(
            {
                "success": True,
                "apiKey": api_key,
                "apiUrl": url,
                "name": pipeline.name,
                "description": pipeline.description,
                "version": version.number,
                "inputSchema": inputs,
                "outputSchema": version.output_schema,
                "inputExamples": version.input_examples,
                "inputRules": INPUT_RULES,
                "creditCost": version.credit_cost,
                "spendingCap": {
                    "creditsPerDay": caps["credits_per_day"],
                    "creditsPerMonth": caps["credits_per_month"],
                },
                "limits": docs_limits(version.graph),
                "envVar": "FRACTALQ_API_KEY",
                "examples": {
                    "curl": (
                        f"curl -X POST {request.build_absolute_uri('/api/node/api/')}$FRACTALQ_API_KEY/execute "
                        f"-H 'Content-Type: application/json' -d '{{\"inputs\": "
                        f"{json.dumps(example_inputs)}}}'"
                    ),
                },
            }
        )


class JobView(FractalQView):
    @extend_schema(
        operation_id="fractalq_job",
        tags=["FractalQ"],
        summary="Poll an async job",
        description=(
            "The state of a job queued with async: true, under the same API key: its outputs once completed, "
            "its error once failed, and in delivery whether the callback reached callbackUrl (attempts, the "
            "last HTTP status, pending / delivered / given_up). Always 200 for a job that exists."
        ),
        responses=schema.JOB_RESPONSES,
    )
    def get(self, request: Request, api_key: str, job_id: str) -> Response:
        pipeline, _ = resolve_session_key(api_key)
        run = Run.objects.filter(pk=job_id, pipeline=pipeline, surface=Surface.FRACTALQ).first()
        if run is None:
            raise NotFound("Job not found", code="NOT_FOUND")
        _, payload = result_body(run, request)
        payload["status"] = run.status
        payload["_jobId"] = run.idempotency_key or None
        payload["delivery"] = webhook_delivery(run, camel=True)
        # Polling always answers 200 with the job's state; errors are described in the body.
        return Response(payload, status=200)


# Any other path under /api/node/: FractalQ's own 404, not another surface's shape. There is no session key
# to count against, so the client address is.
UnmatchedView = unmatched_view(FractalQView, "Route not found", throttle_classes=[SlidingWindowThrottle])


urlpatterns = [
    path("api/node/api/<str:api_key>/execute", ExecuteView.as_view(), name="fractalq-execute"),
    path("api/node/api/<str:api_key>/docs", DocsView.as_view(), name="fractalq-docs"),
    path("api/node/api/<str:api_key>/jobs/<str:job_id>", JobView.as_view(), name="fractalq-job"),
    re_path(r"^api/node/", UnmatchedView.as_view(), name="fractalq-unmatched"),
]
