"""Fluxara job surface (seed 001): /api/v1/status, /auth, /pipelines, /jobs, /jobs/{id}/outputs, /artifacts/{id}.

Bearer token (JWT or API key) of an account approved for the closed beta (runs.beta). A job groups
``options.count`` runs of one pipeline and succeeds or fails as a whole (runs.jobs). Every output is an
artifact: images, and text or JSON results as files (the seed's outputs are artifacts only).
Errors: {"error": {"code", "message"}}; no or a bad token: 401, an unapproved account: 403, both
{"error": "access_denied", "message": "closed beta environment"} as the seed writes it.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Min, Q
from django.http import FileResponse
from django.urls import path, re_path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import BearerAuthentication, KeyHeaderAuthentication
from accounts.models import ApiKey
from accounts.ratelimit import SlidingWindowThrottle
from accounts.scopes import Scope, read_write
from config.errors import BadRequest, CanvasflowError, NotFound
from config.timefmt import iso_z
from pipelines.models import Pipeline
from pipelines.nodes.base import get_node_type
from pipelines.nodes.image import MAX_SIDE, RESOLUTION_RE
from runs import access, artifacts, beta, services
from runs.api import fluxara_schema as schema
from runs.api.common import base_url_option, surface_view, unmatched_view
from runs.jobs import job_status
from runs.models import Artifact, Run, RunStatus, Surface, new_job_id

SERVICE = "canvasflow-core"
MAX_COUNT = 16
ACCESS_DENIED = "closed beta environment"
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


@cache
def service_version() -> str:
    """Our version, as pyproject.toml declares it (the project is not installed as a distribution)."""
    try:
        with open(Path(settings.BASE_DIR) / "pyproject.toml", "rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


class NotApproved(CanvasflowError):
    status, code = 403, "ACCESS_DENIED"


def fluxara_shape(err: CanvasflowError) -> dict[str, Any]:
    if err.status == 401 or isinstance(err, NotApproved):
        return {"error": "access_denied", "message": ACCESS_DENIED}
    body: dict[str, Any] = {
        "error": {"code": ERROR_CODES.get(err.status, "invalid_request"), "message": err.message}
    }
    if err.details:
        body["error"]["details"] = err.details
    return body


class ApprovedBetaUser(BasePermission):
    """API access is limited to approved beta users (runs.beta)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if not beta.is_approved(request.user):
            raise NotApproved(ACCESS_DENIED)
        return True


class FluxaraView(surface_view(fluxara_shape)):
    authentication_classes = [BearerAuthentication, KeyHeaderAuthentication]
    permission_classes = [IsAuthenticated, ApprovedBetaUser]
    key_scope = read_write(Scope.RUNS_READ, Scope.PIPELINES_RUN)
    throttle_classes = [SlidingWindowThrottle]
    rate_limit_scope = "fluxara"
    openapi_error = schema.FluxaraErrorSerializer
    openapi_error_statuses = (429,)


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


def check_resolution(resolution: Any, graph: dict) -> str | None:
    """``options.resolution`` (WxH) when a node of the pipeline acts on it; a 400 rather than ignoring it."""
    if resolution is None:
        return None
    match = RESOLUTION_RE.match(resolution) if isinstance(resolution, str) else None
    if not match or not (0 < int(match[1]) <= MAX_SIDE and 0 < int(match[2]) <= MAX_SIDE):
        raise BadRequest(f"'options.resolution' must look like 1024x1024 (at most {MAX_SIDE}x{MAX_SIDE})")
    takes_it = any(
        "resolution" in getattr(get_node_type(n["type"]), "surface_options", ()) for n in graph["nodes"]
    )
    if not takes_it:
        raise BadRequest(
            "'options.resolution' is not supported by this pipeline: it has no step that sets the output size"
        )
    return resolution


def job_runs(user: Any, job_id: str) -> list[Run]:
    runs = list(
        Run.objects.filter(job_id=job_id, billed_to=user, surface=Surface.FLUXARA).select_related("pipeline")
    )
    if not runs:
        raise NotFound("Job not found")
    return runs


def value_artifacts(runs: list[Run]) -> None:
    """Store the text and JSON results of completed runs as artifacts (once), so that a job's outputs are
    all artifacts as the seed has them. Done when they are first listed; a run's row lock keeps two
    concurrent listings from storing one twice."""
    for run in runs:
        values = {k: v for k, v in run.outputs.items() if v.get("type") != "image"}
        if run.status != RunStatus.COMPLETED or not values:
            continue
        with transaction.atomic():
            Run.objects.select_for_update().filter(pk=run.pk).first()
            stored = set(Artifact.objects.filter(run=run).values_list("output_key", flat=True))
            for key, value in values.items():
                if key not in stored:
                    artifacts.store_value(
                        run.billed_to, value["type"], value.get("value"), run=run, output_key=key
                    )


class StatusView(FluxaraView):
    key_scope = {"GET": (Scope.PIPELINES_RUN, Scope.RUNS_READ)}

    @extend_schema(
        operation_id="fluxara_status",
        tags=["Fluxara"],
        summary="Service status",
        description="Returns basic service-level status information for the current environment.",
        responses={200: schema.STATUS, **schema.ACCESS_DENIED},
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "status": "ok",
                "service": SERVICE,
                "version": service_version(),
                "environment": "development" if settings.DEBUG else "production",
            }
        )


class AuthView(FluxaraView):
    key_scope = {"GET": (Scope.PIPELINES_RUN, Scope.RUNS_READ)}

    @extend_schema(
        operation_id="fluxara_auth",
        tags=["Fluxara"],
        summary="Authentication check",
        description=(
            "API access is limited to approved beta users. Requests should include a bearer token in the "
            "Authorization header. Unauthorized or unapproved environments may receive an access denial "
            "response; an approved account gets who it is."
        ),
        responses={200: schema.AUTH, **schema.ACCESS_DENIED},
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "status": "ok",
                "user": request.user.username,
                "approved": True,
                "credential": "api_key" if isinstance(request.auth, ApiKey) else "jwt",
            }
        )


class PipelinesView(FluxaraView):
    key_scope = {"GET": (Scope.PIPELINES_RUN, Scope.RUNS_READ)}

    @extend_schema(
        operation_id="fluxara_pipelines",
        tags=["Fluxara"],
        summary="List pipelines",
        description="Returns the currently available pipeline identifiers in the active environment.",
        responses={200: schema.PIPELINES, **schema.ACCESS_DENIED},
    )
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
    @extend_schema(
        operation_id="fluxara_create_job",
        tags=["Fluxara"],
        summary="Create job",
        description="Creates a new processing job using a selected pipeline, preset, and input payload.",
        request=schema.CREATE_JOB,
        responses=schema.CREATE_RESPONSES,
    )
    def post(self, request: Request) -> Response:
        body = request.data
        if not isinstance(body, dict):
            raise BadRequest("Request body must be a JSON object")
        pipeline = find_pipeline(request.user, body.get("pipeline"))
        version = pipeline.latest_version
        preset = body.get("preset") or ""
        if not isinstance(preset, str):
            raise BadRequest("'preset' must be a string")
        if preset and preset not in pipeline.presets:
            raise BadRequest("Preset is not available in the current environment.")
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise BadRequest("'options' must be an object")
        unknown = sorted(set(options) - {"count", "resolution"})
        if unknown:
            raise BadRequest(f"Unknown option: {unknown[0]} (count and resolution are supported)")
        count = options.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
            raise BadRequest(f"'options.count' must be an integer from 1 to {MAX_COUNT}")
        run_options = base_url_option(request)
        resolution = check_resolution(options.get("resolution"), version.graph)
        if resolution:
            run_options["resolution"] = resolution
        job_id = new_job_id()
        # all runs of a job, or none (credits for all of them); the input is stored once for all of them
        runs = services.submit_run(
            pipeline=pipeline,
            version=version,
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
            {"job_id": job_id, "status": "queued", "created_at": iso_z(runs[0].created_at)}, status=201
        )


class JobDetailView(FluxaraView):
    @extend_schema(
        operation_id="fluxara_job",
        tags=["Fluxara"],
        summary="Get job status",
        description=(
            "Returns the current execution state of a previously created job. Status values: queued (the job "
            "was accepted and is waiting for execution), running (the job is currently being processed), "
            "completed (the job finished successfully and outputs are available), failed (the job could not "
            "be completed and no usable output was produced: a job of several runs fails as a whole, lists "
            "no outputs and is not charged)."
        ),
        responses={200: schema.JOB, **schema.NOT_FOUND, **schema.ACCESS_DENIED},
    )
    def get(self, request: Request, job_id: str) -> Response:
        runs = job_runs(request.user, job_id)
        first = runs[0]
        agg = Run.objects.filter(job_id=job_id).aggregate(
            created=Min("created_at"), updated=Max("updated_at")
        )
        status = job_status(runs)
        body = {
            "job_id": job_id,
            "status": status,
            "pipeline": pipeline_id(first.pipeline, request.user),
            "preset": first.preset or None,
            "created_at": iso_z(agg["created"]),
            "updated_at": iso_z(agg["updated"]),
            "count": len(runs),
            "progress": int(sum(r.progress for r in runs) / len(runs)),
        }
        errors = [r.error for r in runs if r.error and r.status != RunStatus.COMPLETED]
        if errors and status == "failed":
            body["error"] = {
                "code": str(errors[0].get("code", "failed")).lower(),
                "message": errors[0].get("message"),
            }
        return Response(body)


class JobOutputsView(FluxaraView):
    @extend_schema(
        operation_id="fluxara_job_outputs",
        tags=["Fluxara"],
        summary="List job outputs",
        description=(
            "Returns output artifacts and associated metadata for a completed job: every output is an "
            "artifact (images, and text or JSON results as text/plain or application/json files). A job that "
            "is not completed lists none."
        ),
        responses={200: schema.OUTPUTS, **schema.NOT_FOUND, **schema.ACCESS_DENIED},
    )
    def get(self, request: Request, job_id: str) -> Response:
        runs = job_runs(request.user, job_id)
        status = job_status(runs)
        outputs: list[dict[str, Any]] = []
        if status == "completed":
            value_artifacts(runs)
            found = Artifact.objects.filter(run__in=runs).exclude(output_key__contains=".")
            outputs = [
                {
                    "artifact_id": a.id,
                    "type": a.content_type,
                    "width": a.width,
                    "height": a.height,
                    "name": a.output_key,
                    "download_url": f"/api/v1/artifacts/{a.id}",
                }
                for a in found.order_by("created_at", "id")
            ]
        return Response({"job_id": job_id, "status": status, "outputs": outputs})


class ArtifactView(FluxaraView):
    @extend_schema(
        operation_id="fluxara_artifact",
        tags=["Fluxara"],
        summary="Download artifact",
        description="Retrieves a previously produced output artifact.",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                bytes, description="The artifact's file, with its own Content-Type"
            ),
            **schema.NOT_FOUND,
            **schema.ACCESS_DENIED,
        },
    )
    def get(self, request: Request, artifact_id: str) -> FileResponse:
        artifact = access.artifacts_visible_to(request.user).filter(pk=artifact_id).first()
        if artifact is None:
            raise NotFound("Artifact not found")
        ext = artifact.file.name.rsplit(".", 1)[-1]
        return FileResponse(
            artifact.file.open("rb"), content_type=artifact.content_type, filename=f"{artifact.id}.{ext}"
        )


# Any other path under Fluxara's own prefixes: its 404 in its shape. /api/v1/ is shared with fractafrag, so
# only the prefixes Fluxara owns are caught (see urlpatterns).
UnmatchedView = unmatched_view(
    FluxaraView,
    "Resource not found",
    key_scope=read_write((Scope.PIPELINES_RUN, Scope.RUNS_READ), (Scope.PIPELINES_RUN, Scope.RUNS_READ)),
)


urlpatterns = [
    path("api/v1/status", StatusView.as_view(), name="fluxara-status"),
    path("api/v1/auth", AuthView.as_view(), name="fluxara-auth"),
    path("api/v1/pipelines", PipelinesView.as_view(), name="fluxara-pipelines"),
    path("api/v1/jobs", JobsView.as_view(), name="fluxara-jobs"),
    path("api/v1/jobs/<str:job_id>", JobDetailView.as_view(), name="fluxara-job"),
    path("api/v1/jobs/<str:job_id>/outputs", JobOutputsView.as_view(), name="fluxara-job-outputs"),
    path("api/v1/artifacts/<str:artifact_id>", ArtifactView.as_view(), name="fluxara-artifact"),
    # not auth/: /api/v1/auth/* is fractafrag's
    re_path(r"^api/v1/(status|pipelines|jobs|artifacts)/", UnmatchedView.as_view(), name="fluxara-unmatched"),
]
