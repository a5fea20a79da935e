"""The creator (studio) API used by the canvas: /api/v1/studio/… Owner-only; errors {"detail"}."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import OuterRef, Subquery
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.views import FractafragView, validated
from config.errors import BadRequest, NotFound
from config.timefmt import iso_z
from pipelines import services, versions
from pipelines import studio_schema as S
from pipelines.cost import input_limits
from pipelines.graph import node_types_catalog
from pipelines.layout import layout_errors
from pipelines.models import Pipeline, PublishedVersion


class PipelineWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    slug = serializers.SlugField(max_length=100, required=False)
    graph = serializers.JSONField(required=False)
    presets = serializers.DictField(
        child=serializers.DictField(child=serializers.DictField()), required=False
    )
    is_public = serializers.BooleanField(required=False)

    def validate_graph(self, value: Any) -> Any:
        if (
            not isinstance(value, dict)
            or not isinstance(value.get("nodes", []), list)
            or not isinstance(value.get("edges", []), list)
        ):
            raise serializers.ValidationError("graph must be an object with 'nodes' and 'edges' lists")
        problems = layout_errors(value)
        if problems:
            raise serializers.ValidationError(problems)
        value.setdefault("nodes", [])
        value.setdefault("edges", [])
        return value


def version_summary(version: PublishedVersion) -> dict[str, Any]:
    return {
        "number": version.number,
        "created_at": iso_z(version.created_at),
        "input_schema": version.input_schema,
        "output_schema": version.output_schema,
        "input_examples": version.input_examples,
        "credit_cost": version.credit_cost,
    }


def pipeline_summary(pipeline: Pipeline) -> dict[str, Any]:
    last_run = getattr(pipeline, "last_run_id", None)
    return {
        "id": pipeline.pk,
        "name": pipeline.name,
        "slug": pipeline.slug,
        "description": pipeline.description,
        "is_public": pipeline.is_public,
        "published_version": getattr(pipeline, "published_number", None),
        "last_run": (
            {
                "id": last_run,
                "status": pipeline.last_run_status,
                "created_at": iso_z(pipeline.last_run_created),
            }
            if last_run
            else None
        ),
        "created_at": iso_z(pipeline.created_at),
        "updated_at": iso_z(pipeline.updated_at),
    }


def pipeline_detail(pipeline: Pipeline, request: Request) -> dict[str, Any]:
    latest = pipeline.latest_version
    key = services.active_session_key(pipeline)
    return {
        "id": pipeline.pk,
        "name": pipeline.name,
        "slug": pipeline.slug,
        "description": pipeline.description,
        "owner": pipeline.owner.username,
        "is_public": pipeline.is_public,
        "graph": pipeline.graph,
        "presets": pipeline.presets,
        "published_version": latest.number if latest else None,
        "limits": input_limits(latest.graph) if latest else None,  # the published version's, as in /docs
        "session_key_prefix": key.prefix if key else None,
        "fizzly_url": request.build_absolute_uri(f"/workflows/{pipeline.owner.username}/{pipeline.slug}"),
        "created_at": iso_z(pipeline.created_at),
        "updated_at": iso_z(pipeline.updated_at),
    }


# What other apps add to the studio's pipeline list, registered when they load: the runs surface adds each
# pipeline's last run (runs.api.studio.annotate_last_run). Publishing knows no run.
PIPELINE_LIST_ANNOTATIONS: list[Callable[[Any], Any]] = []


def annotated(qs: Any) -> Any:
    versions = PublishedVersion.objects.filter(pipeline=OuterRef("pk")).order_by("-number")
    qs = qs.annotate(published_number=Subquery(versions.values("number")[:1]))
    for annotate in PIPELINE_LIST_ANNOTATIONS:
        qs = annotate(qs)
    return qs


# The error statuses a studio operation may answer (config.schema documents them): 401 without a session or
# token, 403 for an API key (no scope reaches the studio) or a failed CSRF check, 404 for a pipeline or run
# that is not yours, 429 past the rate limit; a body may also be refused (400 malformed, 422 not acceptable).
READ_ERRORS = (401, 403, 404, 429)
WRITE_ERRORS = (400, 401, 403, 404, 422, 429)


class StudioView(FractafragView):
    permission_classes = [IsAuthenticated]
    rate_limit_scope = "studio"
    openapi_error = S.StudioErrorSerializer
    openapi_error_statuses = {"GET": READ_ERRORS, "DELETE": READ_ERRORS, "*": WRITE_ERRORS}

    def get_pipeline(self, pipeline_id: int) -> Pipeline:
        pipeline = (
            Pipeline.objects.select_related("owner").filter(pk=pipeline_id, owner=self.request.user).first()
        )
        if pipeline is None:
            raise NotFound("Pipeline not found")
        return pipeline


class NodeTypesView(StudioView):
    openapi_error_statuses = (401, 403, 429)

    @extend_schema(
        operation_id="studio_node_types",
        summary="Node types",
        description="Every node type the canvas offers: its ports, params (JSON Schema), credit cost, "
        "resource class and limits (largest input, time estimate), and the node families unavailable on "
        "this server.",
        responses={200: S.NodeCatalogSerializer},
    )
    def get(self, request: Request) -> Response:
        from pipelines.nodes import UNAVAILABLE

        return Response({"node_types": node_types_catalog(), "unavailable_families": UNAVAILABLE})


class PipelineListView(StudioView):
    openapi_error_statuses = {"GET": (401, 403, 429), "POST": (400, 401, 403, 422, 429)}

    @extend_schema(
        operation_id="studio_pipelines_list",
        summary="Your pipelines",
        description="Your pipelines, most recently changed first, with their published version and last run.",
        responses={200: S.PipelineSummarySerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        qs = annotated(Pipeline.objects.filter(owner=request.user))
        return Response([pipeline_summary(p) for p in qs])

    @extend_schema(
        operation_id="studio_pipelines_create",
        summary="Create a pipeline",
        description="A new pipeline with a draft graph (empty unless given); the slug is derived from the "
        "name unless given, unique among your pipelines.",
        request=PipelineWriteSerializer,
        responses={201: S.PipelineDetailSerializer},
    )
    def post(self, request: Request) -> Response:
        data = validated(PipelineWriteSerializer, request)
        pipeline = services.create_pipeline(
            request.user,
            data["name"],
            data.get("description", ""),
            data.get("graph"),
            data.get("presets"),
            data.get("slug"),
        )
        if "is_public" in data:
            services.update_pipeline(pipeline, {"is_public": data["is_public"]})
        return Response(pipeline_detail(pipeline, request), status=status.HTTP_201_CREATED)


class PipelineDetailView(StudioView):
    openapi_error_statuses = {"GET": READ_ERRORS, "DELETE": READ_ERRORS, "*": (400, 401, 403, 404, 429)}

    @extend_schema(
        operation_id="studio_pipeline",
        summary="A pipeline",
        description="The pipeline with its draft graph, presets, published version, limits and key prefix.",
        responses={200: S.PipelineDetailSerializer},
    )
    def get(self, request: Request, pipeline_id: int) -> Response:
        return Response(pipeline_detail(self.get_pipeline(pipeline_id), request))

    @extend_schema(
        summary="Change a pipeline",
        description="Change the name, description, slug, draft graph (autosaved by the canvas), presets or "
        "visibility. The published versions do not change: publish again to make the draft callable.",
        request=PipelineWriteSerializer(partial=True),
        responses={200: S.PipelineDetailSerializer},
    )
    def patch(self, request: Request, pipeline_id: int) -> Response:
        pipeline = self.get_pipeline(pipeline_id)
        if not isinstance(request.data, dict):
            validated(PipelineWriteSerializer, request)
        serializer = PipelineWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.update_pipeline(pipeline, serializer.validated_data)
        return Response(pipeline_detail(pipeline, request))

    put = patch

    @extend_schema(
        summary="Delete a pipeline",
        description="Delete the pipeline, its versions and session keys.",
        responses={204: None},
    )
    def delete(self, request: Request, pipeline_id: int) -> Response:
        self.get_pipeline(pipeline_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class ValidateView(StudioView):
    openapi_error_statuses = (400, 401, 403, 404, 429)  # an invalid graph is a 200 report, not an error

    @extend_schema(
        summary="Validate a graph",
        description="Check the draft (or a graph sent in the body) as publishing would: unknown types and "
        "ports, incompatible wires, missing connections, params, cycles. Each error names its node and "
        "port.",
        request=S.ValidateRequestSerializer,
        responses={200: S.ValidationReportSerializer},
    )
    def post(self, request: Request, pipeline_id: int) -> Response:
        pipeline = self.get_pipeline(pipeline_id)
        graph = (
            request.data.get("graph", pipeline.graph) if isinstance(request.data, dict) else pipeline.graph
        )
        return Response(services.validation_report(graph))


class DuplicateView(StudioView):
    openapi_error_statuses = (401, 403, 404, 422, 429)

    @extend_schema(
        summary="Duplicate a pipeline",
        description="A copy of the pipeline's draft under a new name and slug, unpublished.",
        request=None,
        responses={201: S.PipelineDetailSerializer},
    )
    def post(self, request: Request, pipeline_id: int) -> Response:
        copy = services.duplicate_pipeline(self.get_pipeline(pipeline_id))
        return Response(pipeline_detail(copy, request), status=status.HTTP_201_CREATED)


def key_urls(request: Request, raw: str | None) -> dict[str, Any]:
    if raw is None:
        return {"session_key": None, "execute_url": None, "docs_url": None}
    return {
        "session_key": raw,
        "execute_url": request.build_absolute_uri(f"/api/node/api/{raw}/execute"),
        "docs_url": request.build_absolute_uri(f"/api/node/api/{raw}/docs"),
    }


class PublishView(StudioView):
    @extend_schema(
        summary="Publish",
        description="Freeze the draft as the next published version and derive its input and output "
        "schemas. The first publish issues the FractalQ session key (shown once); later ones keep it. An "
        "optional spending_cap limits what the key may spend.",
        request=S.PublishRequestSerializer,
        responses={201: S.PublishedSerializer},
    )
    def post(self, request: Request, pipeline_id: int) -> Response:
        from pipelines.key_settings import spending_cap_of  # the session key's settings, given on publish

        pipeline = self.get_pipeline(pipeline_id)
        result = services.publish(pipeline, spending=spending_cap_of(request.data))
        body = {"version": version_summary(result.version), **key_urls(request, result.session_key)}
        if result.session_key is None:
            del body["session_key"]
        return Response(body, status=status.HTTP_201_CREATED)


class RotateKeyView(StudioView):
    openapi_error_statuses = (400, 401, 403, 404, 429)

    @extend_schema(
        summary="Rotate the session key",
        description="Issue a new FractalQ session key (shown once); the old one stops working at once.",
        request=None,
        responses={200: S.KeyUrlsSerializer},
    )
    def post(self, request: Request, pipeline_id: int) -> Response:
        pipeline = self.get_pipeline(pipeline_id)
        if pipeline.latest_version is None:
            raise BadRequest("Publish the pipeline before rotating its key")
        return Response(key_urls(request, services.issue_session_key(pipeline)))


class VersionListView(StudioView):
    @extend_schema(
        operation_id="studio_versions_list",
        summary="Published versions",
        description="Every published version, newest first, with its schemas and credit cost.",
        responses={200: S.VersionSummarySerializer(many=True)},
    )
    def get(self, request: Request, pipeline_id: int) -> Response:
        pipeline = self.get_pipeline(pipeline_id)
        return Response([version_summary(v) for v in pipeline.versions.all()])


class VersionDetailView(StudioView):
    @extend_schema(
        operation_id="studio_version",
        summary="A published version",
        description="One published version with its frozen graph.",
        responses={200: S.VersionDetailSerializer},
    )
    def get(self, request: Request, pipeline_id: int, number: int) -> Response:
        version = self.get_pipeline(pipeline_id).versions.filter(number=number).first()
        if version is None:
            raise NotFound(f"Version {number} not found")
        return Response({**version_summary(version), "graph": version.graph})


class VersionRestoreView(StudioView):
    openapi_error_statuses = READ_ERRORS

    @extend_schema(
        summary="Restore a version into the draft",
        description="Copy a published version's graph back into the draft (publish again to make it "
        "current).",
        request=None,
        responses={200: S.PipelineDetailSerializer},
    )
    def post(self, request: Request, pipeline_id: int, number: int) -> Response:
        pipeline = services.restore_version(self.get_pipeline(pipeline_id), number)
        return Response(pipeline_detail(pipeline, request))


class VersionDiffView(StudioView):
    @extend_schema(
        operation_id="studio_version_diff",
        summary="Compare two published versions",
        description="What changed from version `number` to version `other`: nodes added, removed and changed "
        "(type, or parameters added, removed or given another value, with both values) and wires added or "
        "removed. Node positions are layout and are not compared.",
        responses={200: S.VersionDiffSerializer},
    )
    def get(self, request: Request, pipeline_id: int, number: int, other: int) -> Response:
        return Response(versions.diff_versions(self.get_pipeline(pipeline_id), number, other))


class VersionRollbackView(StudioView):
    @extend_schema(
        operation_id="studio_version_rollback",
        summary="Roll back to a published version",
        description="Publish version `number`'s graph again as the newest version. The session key is not "
        "changed, so its callers run the old graph from their next call without changing anything. The draft "
        "is left as it is. 422 when that graph no longer validates (a node type since withdrawn).",
        request=None,
        responses={201: S.RolledBackSerializer},
    )
    def post(self, request: Request, pipeline_id: int, number: int) -> Response:
        pipeline = self.get_pipeline(pipeline_id)
        result = versions.rollback(pipeline, number)
        key = services.active_session_key(pipeline)
        return Response(
            {
                "version": version_summary(result.version),
                "rolled_back_to": number,
                "session_key_prefix": key.prefix if key else None,
            },
            status=status.HTTP_201_CREATED,
        )
