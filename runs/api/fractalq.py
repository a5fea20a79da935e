"""FractalQ surface (seed 000): the published session key in the URL runs the pipeline.

POST /api/node/api/{apiKey}/execute   sync, or async with callbackUrl and _jobId idempotency
GET  /api/node/api/{apiKey}/docs      input/output schema and examples of the published version
GET  /api/node/api/{apiKey}/jobs/{id} poll an async job under the same key
Errors: {"success": false, "error": "...", "code": "..."}.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.keys import hash_secret
from accounts.ratelimit import SlidingWindowThrottle
from config.errors import BadRequest, CanvasflowError, NotFound
from pipelines.cost import input_limits
from pipelines.nodes.base import NodeError
from pipelines.services import resolve_session_key
from runs import services
from runs.api.common import base_url_of, base_url_option, flat_outputs, surface_view
from runs.models import Run, RunStatus, Surface
from runs.webhooks import check_webhook_url

ERROR_STATUS_CODES = {RunStatus.FAILED: "PROCESSING_FAILED", RunStatus.BLOCKED: "BLOCKED"}


def fractalq_shape(err: CanvasflowError) -> dict[str, Any]:
    body: dict[str, Any] = {"success": False, "error": err.message, "code": err.code}
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
        return status, {
            "success": False,
            "error": error.get("message", "Processing failed"),
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


class ExecuteView(FractalQView):
    @extend_schema(summary="Run the published pipeline", request=dict, responses=dict)
    def post(self, request: Request, api_key: str) -> Response:
        pipeline, version = resolve_session_key(api_key)
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
        callback = body.get("callbackUrl") or ""
        if callback:
            if not isinstance(callback, str):
                raise BadRequest("'callbackUrl' must be a string", code="INVALID_CALLBACK_URL")
            try:
                check_webhook_url(callback)
            except NodeError as exc:
                raise BadRequest(
                    f"callbackUrl must be a public HTTPS URL ({exc.message})", code="INVALID_CALLBACK_URL"
                ) from exc
        submission = services.submit_run(
            pipeline=pipeline,
            version=version,
            billed_to=pipeline.owner,
            surface=Surface.FRACTALQ,
            inputs=body["inputs"],
            idempotency_key=job_key,
            webhook_url=callback,
            options=base_url_option(request),
            sync=not is_async,
        )
        run = submission.run
        status_url = request.build_absolute_uri(f"/api/node/api/{api_key}/jobs/{run.pk}")
        if is_async:
            return Response(
                {
                    "success": True,
                    "jobId": run.pk,
                    "_jobId": job_key or None,
                    "status": run.status,
                    "statusUrl": status_url,
                },
                status=202,
            )
        run = services.run_sync(run) if not run.is_terminal else run
        status, payload = result_body(run, request)
        if status == 202:
            payload["statusUrl"] = status_url
        return Response(payload, status=status)


def docs_limits(graph: dict) -> dict[str, Any]:
    """What a caller must stay under: the largest image (the nodes' limits and the run's time budget), the
    image bytes per request (runs.stored_inputs). Larger inputs are refused at submit, or once fetched."""
    limits = input_limits(graph)
    return {
        "maxInputPixels": limits["max_input_pixels"],
        "maxInputBytes": settings.INPUT_MAX_BYTES_PER_REQUEST,
        "timeBudgetSeconds": limits["time_budget_seconds"],
        "estimatedSeconds": limits["estimated_seconds"],
        "estimatedSecondsPerMegapixel": limits["estimated_seconds_per_megapixel"],
    }


class DocsView(FractalQView):
    @extend_schema(summary="Session docs: input/output schema and examples", responses=dict)
    def get(self, request: Request, api_key: str) -> Response:
        pipeline, version = resolve_session_key(api_key)
        inputs = {
            k: {f: v for f, v in spec.items() if f != "node"} for k, spec in version.input_schema.items()
        }
        url = execute_url(request, api_key)
        example_inputs = version.input_examples or {k: "…" for k in inputs}
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
                "creditCost": version.credit_cost,
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
    @extend_schema(summary="Poll an async job", responses=dict)
    def get(self, request: Request, api_key: str, job_id: str) -> Response:
        pipeline, _ = resolve_session_key(api_key)
        run = Run.objects.filter(pk=job_id, pipeline=pipeline, surface=Surface.FRACTALQ).first()
        if run is None:
            raise NotFound("Job not found", code="NOT_FOUND")
        status, payload = result_body(run, request)
        payload["status"] = run.status
        payload["_jobId"] = run.idempotency_key or None
        # Polling always answers 200 with the job's state; errors are described in the body.
        return Response(payload, status=200)


urlpatterns = [
    path("api/node/api/<str:api_key>/execute", ExecuteView.as_view(), name="fractalq-execute"),
    path("api/node/api/<str:api_key>/docs", DocsView.as_view(), name="fractalq-docs"),
    path("api/node/api/<str:api_key>/jobs/<str:job_id>", JobView.as_view(), name="fractalq-job"),
]
