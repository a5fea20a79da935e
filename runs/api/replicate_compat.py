"""Replicate's HTTP API over the Fizzly queue: ``/replicate/v1/…``.

A compatibility mode for callers who already use Replicate's official client (``replicate``): set
``REPLICATE_BASE_URL=<host>/replicate`` and ``REPLICATE_API_TOKEN=<fiz_ key>`` and ``predictions.create / get
/ cancel``, ``run`` and ``Prediction.wait`` work unchanged. A published pipeline is the model
``username/slug``; each published version is a model version (its id is the version's, its OpenAPI schema
holds the version's input and output schemas).

Replicate's shapes: a prediction (``id``, ``model``, ``version``, ``status`` one of ``starting``,
``processing``, ``succeeded``, ``failed``, ``canceled``, ``input``, ``output``, ``logs`` as text, ``error``,
``metrics.predict_time``, ``urls``); ``Prefer: wait[=n]`` holds a create for up to n seconds (60 at most)
until the prediction ends; errors are problem details (``title``, ``detail``, ``status``); a ``webhook``
receives the prediction when it completes (``webhook_events_filter`` ``completed``; other events are not
sent).
Access is Fizzly's: ``fiz_`` keys (``Authorization: Bearer`` or ``Token``), Pro tier, credits, limits.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.urls import path, re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import BearerAuthentication, KeyHeaderAuthentication, TokenHeaderAuthentication
from accounts.errors import render_with
from config.errors import BadRequest, CanvasflowError, NotFound
from config.timefmt import iso_z
from pipelines.json_schemas import input_json_schema, output_json_schema
from pipelines.models import Pipeline, PublishedVersion
from runs import access, events, services
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

PREFIX = "replicate/v1"
STATUS = {
    RunStatus.QUEUED: "starting",
    RunStatus.RUNNING: "processing",
    RunStatus.COMPLETED: "succeeded",
    RunStatus.FAILED: "failed",
    RunStatus.BLOCKED: "failed",
    RunStatus.CANCELLED: "canceled",
}
WEBHOOK_EVENTS = ("start", "output", "logs", "completed")
MAX_WAIT_SECONDS = 60
PAGE_SIZE = 100
PREFER_WAIT = re.compile(r"(?:^|[;,\s])wait(?:=(\d+))?(?:$|[;,\s])")


def replicate_shape(err: CanvasflowError) -> dict[str, Any]:
    """Replicate's problem details: ``title`` and ``detail`` (what its client raises with) and ``status``."""
    body: dict[str, Any] = {"title": err.code.replace("_", " ").capitalize(), "detail": err.message}
    body["status"] = err.status
    if err.details:
        body["invalid_fields"] = [{"field": k, "description": str(v)} for k, v in err.details.items()]
    return body


class ReplicateErrorSerializer(serializers.Serializer):
    title = serializers.CharField()
    detail = serializers.CharField()
    status = serializers.IntegerField()


class ReplicateView(FizzlyView):
    # Bearer (Replicate's client), Token (its older releases) and Key (our other queue clients)
    authentication_classes = [BearerAuthentication, TokenHeaderAuthentication, KeyHeaderAuthentication]
    openapi_error = ReplicateErrorSerializer
    rate_limit_scope = "replicate"

    @property
    def rate_limit(self) -> tuple[int, int]:
        return settings.REPLICATE_COMPAT_RATE_LIMIT

    def get_exception_handler(self):
        return lambda exc, context: render_with(replicate_shape, exc, context)

    def visible_pipelines(self):
        user = self.request.user
        return Pipeline.objects.select_related("owner").filter(Q(owner=user) | Q(is_public=True))

    def get_model(self, owner: str, name: str) -> Pipeline:
        pipeline = self.visible_pipelines().filter(owner__username=owner, slug=name).first()
        if pipeline is None:
            raise NotFound(f"Model {owner}/{name} not found", code="NOT_FOUND")
        return pipeline

    def get_version(self, ref: str) -> PublishedVersion:
        """A version by its id, or ``owner/name`` (the newest) or ``owner/name:id``."""
        model, _, version_id = ref.partition(":") if "/" in ref else ("", "", ref)
        if model:
            owner, _, name = model.partition("/")
            pipeline = self.get_model(owner, name)
            if not version_id:
                version = pipeline.latest_version
                if version is None:
                    raise NotFound(f"Model {model} has no published version", code="NOT_FOUND")
                return version
            versions = pipeline.versions.all()
        else:
            versions = PublishedVersion.objects.filter(pipeline__in=self.visible_pipelines())
        version = versions.select_related("pipeline", "pipeline__owner").filter(pk=_int(version_id)).first()
        if version is None:
            raise NotFound(f"Version {ref} not found", code="NOT_FOUND")
        return version

    def get_prediction(self, prediction_id: str) -> Run:
        try:
            return access.get_run_for(self.request.user, prediction_id)
        except NotFound:
            raise NotFound("Prediction not found", code="NOT_FOUND") from None


def _int(value: str) -> int:
    return int(value) if value.isdigit() and len(value) < 12 else -1


def model_name(pipeline: Pipeline) -> str:
    return f"{pipeline.owner.username}/{pipeline.slug}"


def version_body(version: PublishedVersion) -> dict[str, Any]:
    return {
        "id": str(version.pk),
        "created_at": iso_z(version.created_at),
        "cog_version": "",  # no Cog container: a pipeline of Canvasflow nodes
        "openapi_schema": {
            "openapi": "3.0.2",
            "info": {"title": version.pipeline.name, "version": str(version.number)},
            "paths": {},
            "components": {
                "schemas": {
                    "Input": input_json_schema(version.input_schema or {}, version.input_examples),
                    "Output": output_json_schema(version.output_schema or {}, single_as_value=True),
                }
            },
        },
    }


def model_body(pipeline: Pipeline, request: Any) -> dict[str, Any]:
    latest = pipeline.latest_version
    return {
        "url": request.build_absolute_uri(f"/{PREFIX}/models/{model_name(pipeline)}"),
        "owner": pipeline.owner.username,
        "name": pipeline.slug,
        "description": pipeline.description or pipeline.name,
        "visibility": "public" if pipeline.is_public else "private",
        "github_url": None,
        "paper_url": None,
        "license_url": None,
        "run_count": pipeline.runs.count(),
        "cover_image_url": None,
        "default_example": None,
        "latest_version": version_body(latest) if latest else None,
    }


def replicate_output(run: Run, request: Any) -> Any:
    """One output is the value itself (an image: its URL), as Replicate's models answer; several: by name."""
    if run.status != RunStatus.COMPLETED:
        return None
    outputs = flat_outputs(run, request, "url")
    return next(iter(outputs.values())) if len(outputs) == 1 else outputs


def replicate_logs(run: Run) -> str:
    return "\n".join(f"{iso_z(at)} {message}" for at, _, message in node_log_lines(run))


def prediction_body(run: Run, request: Any) -> dict[str, Any]:
    url = request.build_absolute_uri(f"/{PREFIX}/predictions/{run.pk}")
    error = None
    if run.status in (RunStatus.FAILED, RunStatus.BLOCKED):
        error = (run.error or {}).get("message") or "Prediction failed"
    metrics: dict[str, Any] = {}
    if run.status in TERMINAL and run.started_at and run.finished_at:
        metrics["predict_time"] = (run.finished_at - run.started_at).total_seconds()
        metrics["total_time"] = (run.finished_at - run.created_at).total_seconds()
    return {
        "id": run.pk,
        "model": model_name(run.pipeline),
        "version": str(run.version_id or ""),
        "status": STATUS[run.status],
        "input": run.inputs,
        "output": replicate_output(run, request),
        "logs": replicate_logs(run),
        "error": error,
        "metrics": metrics,
        "source": "api",
        "data_removed": False,
        "created_at": iso_z(run.created_at),
        "started_at": iso_z(run.started_at),
        "completed_at": iso_z(run.finished_at),
        "urls": {"get": url, "cancel": f"{url}/cancel"},
    }


def webhook_payload(run: Run) -> dict[str, Any]:
    """The prediction as it ended, posted to its ``webhook``."""
    return prediction_body(run, base_url_of(run))


def wait_seconds(request: Request) -> int:
    """``Prefer: wait`` (60 s) or ``wait=n`` (1 to 60 s); 0 without it."""
    match = PREFER_WAIT.search(request.headers.get("Prefer", ""))
    if match is None:
        return 0
    return max(1, min(int(match.group(1) or MAX_WAIT_SECONDS), MAX_WAIT_SECONDS))


PREDICTION = inline_serializer(
    "ReplicatePrediction",
    {
        "id": serializers.CharField(),
        "model": serializers.CharField(),
        "version": serializers.CharField(),
        "status": serializers.ChoiceField(choices=sorted(set(STATUS.values()))),
        "input": serializers.DictField(),
        "output": serializers.JSONField(allow_null=True),
        "logs": serializers.CharField(),
        "error": serializers.CharField(allow_null=True),
        "metrics": serializers.DictField(),
        "created_at": serializers.CharField(),
        "started_at": serializers.CharField(allow_null=True),
        "completed_at": serializers.CharField(allow_null=True),
        "urls": serializers.DictField(child=serializers.URLField()),
    },
)
CREATE_BODY = inline_serializer(
    "ReplicateCreate",
    {
        "version": serializers.CharField(required=False),
        "input": serializers.DictField(),
        "webhook": serializers.URLField(required=False),
        "webhook_events_filter": serializers.ListField(child=serializers.CharField(), required=False),
        "stream": serializers.BooleanField(required=False),
    },
)
PREFER_PARAM = OpenApiParameter(
    "Prefer",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="wait or wait=n (1-60): hold the request until the prediction ends or n seconds pass",
)
TAGS = ["replicate-compatible api"]


class CreateMixin:
    def create(self, request: Request, version: PublishedVersion) -> Response:
        body = request.data
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object", code="BAD_REQUEST")
        inputs = body.get("input", {})
        if not isinstance(inputs, dict):
            raise BadRequest(
                "input must be an object", code="BAD_REQUEST", details={"input": "not an object"}
            )
        webhook = body.get("webhook") or ""
        event_filter = body.get("webhook_events_filter")
        if event_filter is not None and (
            not isinstance(event_filter, list) or not all(e in WEBHOOK_EVENTS for e in event_filter)
        ):
            raise BadRequest(
                "webhook_events_filter must list start, output, logs or completed",
                code="BAD_REQUEST",
                details={"webhook_events_filter": "unknown event"},
            )
        webhook = checked_webhook(webhook)
        if event_filter is not None and "completed" not in event_filter:
            webhook = ""  # only the completed event is sent: a filter without it asks for nothing we send
        run = services.submit_run(
            pipeline=version.pipeline,
            version=version,
            billed_to=request.user,
            requested_by=request.user,
            surface=Surface.REPLICATE,
            inputs=inputs,
            webhook_url=webhook,
            options={**base_url_option(request), STORE_INTERMEDIATES: True},
        ).run
        # as it is now (a cheap graph may have run inline), or once it ends within Prefer: wait's seconds
        run = events.wait(run.pk, wait_seconds(request))
        return Response(prediction_body(run, request), status=201)


class PredictionsView(CreateMixin, ReplicateView):
    openapi_error_statuses = {
        "POST": (400, 401, 402, 403, 404, 413, 422, 429),
        "GET": (400, 401, 403, 429),
    }

    @extend_schema(
        summary="Replicate: create a prediction",
        description="``version``: a version id, ``owner/name`` (its newest version) or ``owner/name:id``.",
        request=CREATE_BODY,
        parameters=[PREFER_PARAM],
        responses={201: PREDICTION},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        ref = request.data.get("version") if isinstance(request.data, dict) else None
        if not isinstance(ref, str) or not ref:
            raise BadRequest("version is required", code="BAD_REQUEST", details={"version": "required"})
        return self.create(request, self.get_version(ref))

    @extend_schema(
        summary="Replicate: list predictions",
        description="Your predictions made through this API, newest first, 100 a page (next: the next page).",
        parameters=[OpenApiParameter("cursor", str, required=False)],
        responses={200: OpenApiTypes.OBJECT},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        cursor = request.query_params.get("cursor", "0")
        if not cursor.isdigit() or len(cursor) > 9:
            raise BadRequest("cursor is not one this server gave", code="BAD_REQUEST")
        offset = int(cursor)
        runs = list(
            access.runs_visible_to(request.user)
            .filter(surface=Surface.REPLICATE)
            .select_related("pipeline", "pipeline__owner")
            .order_by("-created_at")[offset : offset + PAGE_SIZE + 1]
        )
        page_url = request.build_absolute_uri(f"/{PREFIX}/predictions")
        more = len(runs) > PAGE_SIZE
        return Response(
            {
                "next": f"{page_url}?cursor={offset + PAGE_SIZE}" if more else None,
                "previous": f"{page_url}?cursor={max(0, offset - PAGE_SIZE)}" if offset else None,
                "results": [prediction_body(run, request) for run in runs[:PAGE_SIZE]],
            }
        )


class ModelPredictionsView(CreateMixin, ReplicateView):
    openapi_error_statuses = (400, 401, 402, 403, 404, 413, 422, 429)

    @extend_schema(
        summary="Replicate: create a prediction of a model's newest version",
        description="The model is a published pipeline (username/slug); this runs its newest version.",
        request=CREATE_BODY,
        parameters=[PREFER_PARAM],
        responses={201: PREDICTION},
        tags=TAGS,
    )
    def post(self, request: Request, owner: str, name: str) -> Response:
        version = self.get_model(owner, name).latest_version
        if version is None:
            raise NotFound(f"Model {owner}/{name} has no published version", code="NOT_FOUND")
        return self.create(request, version)


class PredictionView(ReplicateView):
    openapi_error_statuses = (401, 403, 404, 429)

    @extend_schema(
        summary="Replicate: get a prediction",
        description="A prediction of yours: its status, output (once succeeded), logs, error and metrics.",
        responses={200: PREDICTION},
        tags=TAGS,
    )
    def get(self, request: Request, prediction_id: str) -> Response:
        return Response(prediction_body(self.get_prediction(prediction_id), request))


class CancelView(ReplicateView):
    openapi_error_statuses = (401, 403, 404, 429)

    @extend_schema(
        summary="Replicate: cancel a prediction",
        description="A prediction that has ended is answered as it is.",
        request=None,
        responses={200: PREDICTION},
        tags=TAGS,
    )
    def post(self, request: Request, prediction_id: str) -> Response:
        run = self.get_prediction(prediction_id)
        if run.status not in TERMINAL:
            services.cancel_run(run)
            run.refresh_from_db()
        return Response(prediction_body(run, request))


class ModelView(ReplicateView):
    openapi_error_statuses = (401, 403, 404, 429)

    @extend_schema(
        summary="Replicate: get a model",
        description="A published pipeline you may call (your own or a public one), with its newest version.",
        responses={200: OpenApiTypes.OBJECT},
        tags=TAGS,
    )
    def get(self, request: Request, owner: str, name: str) -> Response:
        return Response(model_body(self.get_model(owner, name), request))


class VersionsView(ReplicateView):
    openapi_error_statuses = (401, 403, 404, 429)

    @extend_schema(
        summary="Replicate: list a model's versions",
        description="A pipeline's published versions, newest first, with their input and output schemas.",
        responses={200: OpenApiTypes.OBJECT},
        tags=TAGS,
    )
    def get(self, request: Request, owner: str, name: str) -> Response:
        versions = self.get_model(owner, name).versions.select_related("pipeline").order_by("-number")
        return Response({"next": None, "previous": None, "results": [version_body(v) for v in versions]})


class VersionView(ReplicateView):
    openapi_error_statuses = (401, 403, 404, 429)

    @extend_schema(
        summary="Replicate: get a model version",
        description="One published version: its id, and an OpenAPI schema with its Input and Output.",
        responses={200: OpenApiTypes.OBJECT},
        tags=TAGS,
    )
    def get(self, request: Request, owner: str, name: str, version_id: str) -> Response:
        return Response(version_body(self.get_version(f"{owner}/{name}:{version_id}")))


UnmatchedView = unmatched_view(ReplicateView, "Not found")

urlpatterns = [
    path(f"{PREFIX}/predictions", PredictionsView.as_view(), name="replicate-predictions"),
    path(f"{PREFIX}/predictions/<str:prediction_id>", PredictionView.as_view(), name="replicate-prediction"),
    path(f"{PREFIX}/predictions/<str:prediction_id>/cancel", CancelView.as_view(), name="replicate-cancel"),
    path(f"{PREFIX}/models/<str:owner>/<slug:name>", ModelView.as_view(), name="replicate-model"),
    path(
        f"{PREFIX}/models/<str:owner>/<slug:name>/predictions",
        ModelPredictionsView.as_view(),
        name="replicate-model-predictions",
    ),
    path(
        f"{PREFIX}/models/<str:owner>/<slug:name>/versions", VersionsView.as_view(), name="replicate-versions"
    ),
    path(
        f"{PREFIX}/models/<str:owner>/<slug:name>/versions/<str:version_id>",
        VersionView.as_view(),
        name="replicate-version",
    ),
    re_path(r"^replicate/", UnmatchedView.as_view(), name="replicate-unmatched"),
]
