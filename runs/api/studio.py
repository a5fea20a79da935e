"""Studio run endpoints for the canvas: start a run, read it (with node runs), cancel it, upload images."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import BadRequest, ValidationFailed
from config.timefmt import iso_z
from pipelines import studio_schema as S
from pipelines.graph import GraphInvalid, ensure_valid
from pipelines.nodes.base import NodeError
from pipelines.views import StudioView
from runs import access, artifacts, fetch, services, stored_inputs
from runs.api.common import base_url_option, image_outputs
from runs.api.session_keys import SessionKeySettingsView
from runs.models import ACTIVE, TERMINAL, Run, Surface
from runs.outputs import STORE_INTERMEDIATES

iso = iso_z


def annotate_last_run(pipelines: Any) -> Any:
    """The studio's pipeline list shows each pipeline's last run (registered by runs.api.apps)."""
    runs = Run.objects.filter(pipeline=OuterRef("pk")).order_by("-created_at")
    return pipelines.annotate(
        last_run_id=Subquery(runs.values("id")[:1]),
        last_run_status=Subquery(runs.values("status")[:1]),
        last_run_created=Subquery(runs.values("created_at")[:1]),
    )


def run_summary(run: Run) -> dict[str, Any]:
    return {
        "id": run.pk,
        "own": True,
        "status": run.status,
        "progress": run.progress,
        "surface": run.surface,
        "credits_reserved": run.credits_reserved,
        "credits_used": run.credits_used,
        "version": run.version.number if run.version_id else None,
        "created_at": iso(run.created_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "error": run.error,
        "resumes": run.resumes,
        "resumable": run.status in services.RESUMABLE and not run.job_id,
    }


def _with_urls(node_outputs: dict[str, Any], urls: dict[str, str]) -> dict[str, Any]:
    return {
        k: (
            {**v, "url": urls[v["artifact_id"]]}
            if isinstance(v, dict) and v.get("artifact_id") in urls
            else v
        )
        for k, v in (node_outputs or {}).items()
    }


def run_detail(run: Run, request: Any) -> dict[str, Any]:
    # First: the state read below is at least as new as this event (a follower replays what comes after it).
    last_event_id = run.events.order_by("-pk").values_list("pk", flat=True).first() or 0
    run.refresh_from_db()
    images = image_outputs(run, request)
    outputs = {
        key: images.get(key) if value.get("type") == "image" else value for key, value in run.outputs.items()
    }
    urls = {a.id: artifacts.public_url(a, request) for a in run.artifacts.all()}
    return {
        **run_summary(run),
        "pipeline": run.pipeline_id,
        "current_node": run.current_node or None,
        "last_event_id": last_event_id,
        "inputs": run.inputs,
        "outputs": outputs,
        "nodes": [
            {
                "node_id": nr.node_id,
                "type": nr.node_type,
                "status": nr.status,
                "progress": nr.progress,
                "attempts": nr.attempts,
                "attempt_log": nr.attempt_log,
                "fallback_used": nr.fallback_used,
                "cached": nr.cached,
                "reused": nr.reused,
                "credit_cost": nr.credit_cost,
                "outputs": _with_urls(nr.outputs, urls),
                "error": nr.error,
                "started_at": iso(nr.started_at),
                "finished_at": iso(nr.finished_at),
            }
            for nr in run.node_runs.all()
        ],
    }


class PipelineRunsView(StudioView):
    openapi_error_statuses = {"POST": (400, 401, 402, 403, 404, 413, 422, 429), "GET": (401, 403, 404, 429)}

    @extend_schema(
        operation_id="studio_runs_list",
        summary="Runs of a pipeline",
        description="The pipeline's latest 100 runs on every surface: yours in full, other callers' runs "
        "(of a public pipeline) with their state, timings and error code only.",
        responses={200: S.RunSummarySerializer(many=True)},
    )
    def get(self, request: Request, pipeline_id: int) -> Response:
        pipeline = self.get_pipeline(pipeline_id)
        runs = pipeline.runs.select_related("version").order_by("-created_at")[:100]
        return Response(
            [
                run_summary(r) if access.is_caller(r, request.user) else access.redacted_summary(r)
                for r in runs
            ]
        )

    @extend_schema(
        summary="Run a pipeline",
        description="Run the published version (or the draft with draft=true) on the given inputs, billed "
        "to you; every node's result is kept so the canvas can show it. Follow it on /ws/runs/{id}/.",
        request=S.RunRequestSerializer,
        responses={202: S.RunDetailSerializer},
    )
    def post(self, request: Request, pipeline_id: int) -> Response:
        pipeline = self.get_pipeline(pipeline_id)
        body = request.data if isinstance(request.data, dict) else None
        if body is None:
            raise BadRequest("Expected a JSON object")
        draft = bool(body.get("draft", False))
        version = None if draft else pipeline.latest_version
        if not draft and version is None:
            raise BadRequest("Publish the pipeline first, or run the draft with draft=true")
        if draft:
            try:
                ensure_valid(pipeline.graph)
            except GraphInvalid as exc:
                raise ValidationFailed(
                    "The draft graph is invalid",
                    code="INVALID_GRAPH",
                    details={"errors": [e.as_dict() for e in exc.errors]},
                ) from exc
        submission = services.submit_run(
            pipeline=pipeline,
            version=version,
            billed_to=request.user,
            requested_by=request.user,
            surface=Surface.STUDIO,
            inputs=body.get("inputs", {}),
            options={**base_url_option(request), STORE_INTERMEDIATES: True},  # every node shows its result
        )
        return Response(run_detail(submission.run, request), status=status.HTTP_202_ACCEPTED)


QUEUE_FILTERS = {"all": None, "active": ACTIVE, "finished": TERMINAL}


class MyRunsView(StudioView):
    openapi_error_statuses = (400, 401, 403, 429)

    @extend_schema(
        operation_id="studio_my_runs",
        summary="Your runs across pipelines (the queue)",
        description="Your latest runs on every pipeline and surface, newest first: queued ones with their "
        "position in the queue, running ones with their progress and current node, finished ones with their "
        "outcome. `status`: all (default), active (queued or running) or finished. `limit`: 1..200 (50).",
        parameters=[
            OpenApiParameter("status", str, enum=list(QUEUE_FILTERS), required=False),
            OpenApiParameter("limit", int, required=False),
        ],
        responses={200: S.QueuedRunSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        which = request.query_params.get("status", "all")
        if which not in QUEUE_FILTERS:
            raise BadRequest(f"status must be one of: {', '.join(QUEUE_FILTERS)}")
        raw_limit = request.query_params.get("limit", "50")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 200:
            raise BadRequest("limit must be a whole number from 1 to 200")
        runs = access.runs_visible_to(request.user).select_related("pipeline", "version")
        if QUEUE_FILTERS[which] is not None:
            runs = runs.filter(status__in=QUEUE_FILTERS[which])
        page = list(runs.order_by("-created_at")[: int(raw_limit)])
        positions = services.queue_positions(page)
        return Response(
            [
                {
                    **run_summary(r),
                    "pipeline": {"id": r.pipeline_id, "name": r.pipeline.name},
                    "current_node": r.current_node or None,
                    "queue_position": positions.get(r.pk),
                }
                for r in page
            ]
        )


class PipelineUsageView(StudioView):
    @extend_schema(
        summary="Usage of a pipeline",
        description="Aggregate usage and failures of the pipeline's runs by every caller: counts by status "
        "and surface, error codes, credits and mean execution time. Nobody's inputs or outputs.",
        responses={200: S.UsageSerializer},
    )
    def get(self, request: Request, pipeline_id: int) -> Response:
        return Response(access.pipeline_usage(self.get_pipeline(pipeline_id)))


class RunDetailView(StudioView):
    @extend_schema(
        operation_id="studio_run",
        summary="A run",
        description="One of your runs with its inputs, outputs (signed URLs) and every node's state and "
        "result.",
        responses={200: S.RunDetailSerializer},
    )
    def get(self, request: Request, run_id: str) -> Response:
        return Response(run_detail(access.get_run_for(request.user, run_id), request))


class RunCancelView(StudioView):
    openapi_error_statuses = (400, 401, 403, 404, 429)  # 400 ALREADY_COMPLETED: the run has ended

    @extend_schema(
        summary="Cancel a run",
        description="Cancel a queued run (all credits back) or stop a running one between nodes (the nodes "
        "not yet run are refunded).",
        request=None,
        responses={200: S.RunCancelledSerializer},
    )
    def post(self, request: Request, run_id: str) -> Response:
        run = access.get_run_for(request.user, run_id)
        result = services.cancel_run(run)
        run.refresh_from_db()
        return Response(
            {
                "status": run.status,
                "previous_status": result.previous_status,
                "credits_refunded": result.credits_refunded,
            }
        )


class RunResumeView(StudioView):
    openapi_error_statuses = (401, 402, 403, 404, 409, 429)  # 409 NOT_RESUMABLE: the run did not fail

    @extend_schema(
        operation_id="studio_run_resume",
        summary="Resume a failed or cancelled run",
        description="Run again what did not finish: the nodes that completed are reused from their stored "
        "outputs (nodes marked `reused`), the failed, cancelled and unrun ones run again. Credits are "
        "reserved only for what runs again, plus any reused output no charge has paid yet (a failed run is "
        "charged nothing). The run goes back to the queue under the same id.",
        request=None,
        responses={202: S.RunDetailSerializer},
    )
    def post(self, request: Request, run_id: str) -> Response:
        run = services.resume_run(access.get_run_for(request.user, run_id))
        return Response(run_detail(Run.objects.get(pk=run.pk), request), status=status.HTTP_202_ACCEPTED)


class UploadView(StudioView):
    parser_classes = [MultiPartParser, FormParser]

    openapi_error_statuses = (400, 401, 403, 429)

    @extend_schema(
        summary="Upload an image",
        description="Store an image of yours (multipart field `file`) to use as an input (its art_ id); it "
        "counts towards your hourly input bytes.",
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
        responses={201: S.UploadedSerializer},
    )
    def post(self, request: Request) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            raise BadRequest("Send the image as a multipart 'file' field")
        if upload.size > settings.FETCH_MAX_BYTES:
            raise BadRequest(f"The file is larger than {settings.FETCH_MAX_BYTES} bytes")
        stored_inputs.check_hourly_quota(request.user, upload.size)
        try:
            value = fetch.decode_image(upload.read(), source=upload.name)
        except NodeError as exc:
            raise BadRequest(exc.message, code=exc.code) from exc
        art = artifacts.store_image(request.user, value)
        return Response(
            {
                "artifact_id": art.id,
                "url": artifacts.public_url(art, request),
                "width": art.width,
                "height": art.height,
                "content_type": art.content_type,
            },
            status=status.HTTP_201_CREATED,
        )


# Mounted under /api/v1/studio/ by config.urls, beside pipelines.urls.
urlpatterns = [
    path("pipelines/<int:pipeline_id>/runs", PipelineRunsView.as_view(), name="studio-pipeline-runs"),
    path(
        "pipelines/<int:pipeline_id>/usage", PipelineUsageView.as_view(), name="studio-pipeline-usage"
    ),
    path("runs", MyRunsView.as_view(), name="studio-my-runs"),
    path("runs/<str:run_id>", RunDetailView.as_view(), name="studio-run"),
    path("runs/<str:run_id>/cancel", RunCancelView.as_view(), name="studio-run-cancel"),
    path("runs/<str:run_id>/resume", RunResumeView.as_view(), name="studio-run-resume"),
    path(
        "pipelines/<int:pipeline_id>/session-key",
        SessionKeySettingsView.as_view(),
        name="studio-session-key",
    ),
    path("uploads", UploadView.as_view(), name="studio-uploads"),
]
