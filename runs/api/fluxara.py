"""Fluxara job surface (seed 001): /api/v1/status, /pipelines, /jobs, /jobs/{id}/outputs, /artifacts/{id}.

Bearer token (JWT or API key). A job groups ``options.count`` runs of one pipeline.
Errors: {"error": {"code", "message"}}; unauthenticated: 401 {"error": "access_denied", "message"}.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Max, Min, Q
from django.http import FileResponse
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.scopes import Scope, read_write
from accounts.authentication import BearerAuthentication, KeyHeaderAuthentication
from accounts.ratelimit import SlidingWindowThrottle
from config.errors import BadRequest, CanvasflowError, NotFound
from pipelines.models import Pipeline
from runs import access, services
from runs.api.common import base_url_option, surface_view
from runs.models import Artifact, Run, RunStatus, Surface, new_job_id

SERVICE_VERSION = "0.9.3-beta"
MAX_COUNT = 16
ERROR_CODES = {
    400: "invalid_request",
    402: "insufficient_credits",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
    500: "internal_error",
}


def fluxara_shape(err: CanvasflowError) -> dict[str, Any]:
    if err.status == 401:
        return {"error": "access_denied", "message": err.message or "closed beta environment"}
    body: dict[str, Any] = {
        "error": {"code": ERROR_CODES.get(err.status, "invalid_request"), "message": err.message}
    }
    if err.details:
        body["error"]["details"] = err.details
    return body


class FluxaraView(surface_view(fluxara_shape)):
    authentication_classes = [BearerAuthentication, KeyHeaderAuthentication]
    permission_classes = [IsAuthenticated]
    key_scope = read_write(Scope.RUNS_READ, Scope.PIPELINES_RUN)
    throttle_classes = [SlidingWindowThrottle]
    rate_limit_scope = "fluxara"


def pipeline_type(pipeline: Pipeline) -> str:
    version = pipeline.latest_version
    graph = version.graph if version else pipeline.graph
    types = {n["type"] for n in graph.get("nodes", [])}
    if "INPUT__IMAGE" in types or any(t.startswith("IMAGE__") for t in types):
        return "image"
    return "text"


def visible_pipelines(user: Any):
    return (
        Pipeline.objects.filter(Q(owner=user) | Q(is_public=True)).filter(versions__isnull=False).distinct()
    )


def pipeline_id(pipeline: Pipeline, user: Any) -> str:
    return pipeline.slug if pipeline.owner_id == user.pk else f"{pipeline.owner.username}/{pipeline.slug}"


def find_pipeline(user: Any, ident: Any) -> Pipeline:
    if not isinstance(ident, str) or not ident:
        raise BadRequest("'pipeline' must be a pipeline id", code="invalid_request")
    owner, _, slug = ident.rpartition("/")
    qs = visible_pipelines(user).select_related("owner")
    pipeline = (
        qs.filter(owner__username=owner, slug=slug) if owner else qs.filter(owner=user, slug=slug)
    ).first()
    if pipeline is None:
        raise NotFound("Pipeline is not available in the current environment.")
    return pipeline


def job_runs(user: Any, job_id: str) -> list[Run]:
    runs = list(
        Run.objects.filter(job_id=job_id, billed_to=user, surface=Surface.FLUXARA).select_related("pipeline")
    )
    if not runs:
        raise NotFound("Job not found")
    return runs


def job_status(runs: list[Run]) -> str:
    statuses = {r.status for r in runs}
    if statuses <= {RunStatus.COMPLETED}:
        return "completed"
    if statuses & {RunStatus.FAILED, RunStatus.BLOCKED, RunStatus.CANCELLED} and not statuses & {
        RunStatus.QUEUED,
        RunStatus.RUNNING,
    }:
        return "failed"
    if statuses & {RunStatus.RUNNING} or statuses & {RunStatus.COMPLETED, RunStatus.FAILED}:
        return "running"
    return "queued"


class StatusView(FluxaraView):
    key_scope = {"GET": (Scope.PIPELINES_RUN, Scope.RUNS_READ)}
    @extend_schema(summary="Service status", responses=dict)
    def get(self, request: Request) -> Response:
        from django.conf import settings

        return Response(
            {
                "status": "ok",
                "service": "canvasflow-core",
                "version": SERVICE_VERSION,
                "environment": "development" if settings.DEBUG else "production",
            }
        )


class PipelinesView(FluxaraView):
    key_scope = {"GET": (Scope.PIPELINES_RUN, Scope.RUNS_READ)}
    @extend_schema(summary="Pipelines available to the caller", responses=dict)
    def get(self, request: Request) -> Response:
        pipelines = visible_pipelines(request.user).select_related("owner").order_by("slug")
        return Response(
            {
                "pipelines": [
                    {
                        "id": pipeline_id(p, request.user),
                        "name": p.name,
                        "type": pipeline_type(p),
                        "status": "active",
                        "presets": sorted(p.presets),
                    }
                    for p in pipelines
                ]
            }
        )


class JobsView(FluxaraView):
    @extend_schema(summary="Create a job", request=dict, responses=dict)
    def post(self, request: Request) -> Response:
        body = request.data
        if not isinstance(body, dict):
            raise BadRequest("Request body must be a JSON object")
        pipeline = find_pipeline(request.user, body.get("pipeline"))
        preset = body.get("preset") or ""
        if not isinstance(preset, str):
            raise BadRequest("'preset' must be a string")
        if preset and preset not in pipeline.presets:
            raise BadRequest("Preset is not available in the current environment.")
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise BadRequest("'options' must be an object")
        count = options.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
            raise BadRequest(f"'options.count' must be an integer from 1 to {MAX_COUNT}")
        resolution = options.get("resolution")
        if resolution is not None and not isinstance(resolution, str):
            raise BadRequest("'options.resolution' must be a string like 1024x1024")
        run_options = base_url_option(request)
        if resolution:
            run_options["resolution"] = resolution
        job_id = new_job_id()
        # all runs of a job, or none (credits for all of them); the input is stored once for all of them
        runs = services.submit_run(
            pipeline=pipeline,
            version=pipeline.latest_version,
            billed_to=request.user,
            requested_by=request.user,
            surface=Surface.FLUXARA,
            inputs=body.get("input", {}),
            options=run_options,
            preset=preset,
            job_id=job_id,
            count=count,
        ).runs
        return Response(
            {"job_id": job_id, "status": "queued", "created_at": runs[0].created_at.isoformat()}, status=201
        )


class JobDetailView(FluxaraView):
    @extend_schema(summary="Job status", responses=dict)
    def get(self, request: Request, job_id: str) -> Response:
        runs = job_runs(request.user, job_id)
        first = runs[0]
        agg = Run.objects.filter(job_id=job_id).aggregate(
            created=Min("created_at"), updated=Max("updated_at")
        )
        body = {
            "job_id": job_id,
            "status": job_status(runs),
            "pipeline": pipeline_id(first.pipeline, request.user),
            "preset": first.preset or None,
            "created_at": agg["created"].isoformat(),
            "updated_at": agg["updated"].isoformat(),
            "count": len(runs),
            "progress": int(sum(r.progress for r in runs) / len(runs)),
        }
        errors = [r.error for r in runs if r.error]
        if errors:
            body["error"] = {
                "code": str(errors[0].get("code", "failed")).lower(),
                "message": errors[0].get("message"),
            }
        return Response(body)


class JobOutputsView(FluxaraView):
    @extend_schema(summary="Output artifacts of a job", responses=dict)
    def get(self, request: Request, job_id: str) -> Response:
        runs = job_runs(request.user, job_id)
        artifacts = Artifact.objects.filter(run__in=runs).order_by("created_at", "id")
        outputs = [
            {
                "artifact_id": a.id,
                "type": a.content_type,
                "width": a.width,
                "height": a.height,
                "name": a.output_key,
                "download_url": f"/api/v1/artifacts/{a.id}",
            }
            for a in artifacts
        ]
        values = {}
        for run in runs:
            for key, value in run.outputs.items():
                if value.get("type") != "image":
                    values.setdefault(key, []).append(value.get("value"))
        body: dict[str, Any] = {"job_id": job_id, "status": job_status(runs), "outputs": outputs}
        if values:
            body["values"] = values
        return Response(body)


class ArtifactView(FluxaraView):
    @extend_schema(summary="Download an artifact", responses={(200, "application/octet-stream"): bytes})
    def get(self, request: Request, artifact_id: str) -> FileResponse:
        artifact = access.artifacts_visible_to(request.user).filter(pk=artifact_id).first()
        if artifact is None:
            raise NotFound("Artifact not found")
        ext = artifact.file.name.rsplit(".", 1)[-1]
        return FileResponse(
            artifact.file.open("rb"), content_type=artifact.content_type, filename=f"{artifact.id}.{ext}"
        )


urlpatterns = [
    path("api/v1/status", StatusView.as_view(), name="fluxara-status"),
    path("api/v1/pipelines", PipelinesView.as_view(), name="fluxara-pipelines"),
    path("api/v1/jobs", JobsView.as_view(), name="fluxara-jobs"),
    path("api/v1/jobs/<str:job_id>", JobDetailView.as_view(), name="fluxara-job"),
    path("api/v1/jobs/<str:job_id>/outputs", JobOutputsView.as_view(), name="fluxara-job-outputs"),
    path("api/v1/artifacts/<str:artifact_id>", ArtifactView.as_view(), name="fluxara-artifact"),
]
