"""Sartiq workflow routes (seed: /api/v1/workflows/…), on :mod:`runs.api.sartiq.workflows`."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from runs.api.common import base_url_option
from runs.api.sartiq import schema as S
from runs.api.sartiq import workflows as W
from runs.api.sartiq.views import SartiqView

WORKFLOW_ID = OpenApiParameter("workflow_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The workflow's id")
INVALID = OpenApiResponse(S.HTTPValidationError, description="Validation Error")
CONFLICT = OpenApiResponse(S.HTTPError, description="The workflow's state does not allow it")


def query(name: str, kind: object, default: object, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, kind, OpenApiParameter.QUERY, required=False, default=default,
                            description=description)


class WorkflowListView(SartiqView):
    openapi_error_statuses = {"GET": (401, 403, 429), "POST": (401, 402, 403, 429)}

    @extend_schema(
        operation_id="sartiq_workflows_create",
        tags=["sartiq"],
        summary="Create Workflow",
        description="Create a workflow: a DAG of task steps (`depends_on` edges; `input_mappings` wire a step's "
        "`result_image_path` or `result_text` into a later step's input field). It is validated whole before "
        "anything is kept (duplicate ids, unknown dependencies, cycles, mappings to fields the target type does "
        "not take: 422 naming the step), then compiled into one run of our engine and started, unless "
        "`?start=false` (start it later with POST …/start). Steps that do not depend on each other run at "
        "the same time; each step's `max_retries` and fallback provider apply to its task.",
        parameters=[query("start", OpenApiTypes.BOOL, True, "Start the workflow at once")],
        request=W.CreateWorkflow,
        responses={200: W.WorkflowPublic, 422: INVALID,
                   501: OpenApiResponse(S.HTTPError, description="A step this server cannot execute")},
    )
    def post(self, request: Request) -> Response:
        params = self.validated_query(request, W.CreateQuery)
        data = self.validated_body(request, W.CreateWorkflow)
        workflow = W.create_workflow(request.user, data, params.start, base_url_option(request))
        return Response(W.public_workflow(workflow))

    @extend_schema(
        operation_id="sartiq_workflows_list",
        tags=["sartiq"],
        summary="List Workflows",
        description="Your workflows, newest first, with skip/limit; cleaned-up ones only with "
        "`include_deleted=true`.",
        parameters=[
            query("include_deleted", OpenApiTypes.BOOL, False, "Include cleaned-up workflows"),
            query("limit", OpenApiTypes.INT, 50, "At most this many"),
            query("skip", OpenApiTypes.INT, 0, "Skip this many"),
            query("status", OpenApiTypes.STR, None, "PENDING, RUNNING, COMPLETED, FAILED or CANCELLED"),
            query("origin_instance", OpenApiTypes.STR, None, "Only this origin instance"),
            query("origin_tenant_id", OpenApiTypes.STR, None, "Only this tenant"),
        ],
        responses={200: W.WorkflowListResponse, 422: INVALID},
    )
    def get(self, request: Request) -> Response:
        q = self.validated_query(request, W.ListQuery)
        qs = W.visible(request.user, q.include_deleted)
        for name in ("origin_instance", "origin_tenant_id"):
            if getattr(q, name) is not None:
                qs = qs.filter(**{name: getattr(q, name)})
        found = list(qs)
        if q.status is not None:
            found = [w for w in found if W.status_of(w) == q.status]
        page = found[q.skip : q.skip + q.limit]
        return Response({"workflows": [W.public_workflow(w) for w in page], "total": len(found),
                         "skip": q.skip, "limit": q.limit})


class WorkflowDetailView(SartiqView):
    openapi_error_statuses = {"GET": (401, 403, 404, 429), "*": (401, 403, 404, 409, 429)}

    @extend_schema(operation_id="sartiq_workflows_get", tags=["sartiq"], summary="Get Workflow",
                   description="A workflow with its steps (each with its task id, status and result).",
                   parameters=[WORKFLOW_ID], responses={200: W.WorkflowPublic})
    def get(self, request: Request, workflow_id: str) -> Response:
        return Response(W.public_workflow(W.get_workflow(request.user, workflow_id)))

    @extend_schema(operation_id="sartiq_workflows_update", tags=["sartiq"], summary="Update Workflow",
                   description="Change a workflow's name, description or webhook_url (nothing else).",
                   parameters=[WORKFLOW_ID], request=W.WorkflowUpdate,
                   responses={200: W.WorkflowPublic, 422: INVALID})
    def patch(self, request: Request, workflow_id: str) -> Response:
        workflow = W.get_workflow(request.user, workflow_id)
        changes = self.validated_body(request, W.WorkflowUpdate).model_dump(exclude_unset=True)
        return Response(W.public_workflow(W.update_workflow(workflow, changes)))

    @extend_schema(operation_id="sartiq_workflows_cancel", tags=["sartiq"], summary="Cancel Workflow",
                   description="Cancel a PENDING or RUNNING workflow: its running steps stop, its unrun steps "
                   "never run; the record stays. Any other state is a 409.",
                   parameters=[WORKFLOW_ID], responses={200: W.WorkflowPublic, 409: CONFLICT})
    def delete(self, request: Request, workflow_id: str) -> Response:
        workflow = W.cancel_workflow(W.get_workflow(request.user, workflow_id))
        return Response(W.public_workflow(workflow))


class WorkflowStartView(SartiqView):
    openapi_error_statuses = (401, 402, 403, 404, 409, 429)

    @extend_schema(operation_id="sartiq_workflows_start", tags=["sartiq"], summary="Start Workflow",
                   description="Start a PENDING workflow (created with ?start=false): its DAG is compiled into "
                   "one run and queued. Any other state is a 409.",
                   parameters=[WORKFLOW_ID], request=None, responses={200: W.WorkflowPublic, 409: CONFLICT})
    def post(self, request: Request, workflow_id: str) -> Response:
        workflow = W.get_workflow(request.user, workflow_id)
        return Response(W.public_workflow(W.start_workflow(workflow, base_url_option(request))))


class WorkflowResumeView(SartiqView):
    openapi_error_statuses = (401, 402, 403, 404, 409, 429)

    @extend_schema(operation_id="sartiq_workflows_resume", tags=["sartiq"], summary="Resume Workflow",
                   description="Resume a FAILED workflow: completed steps keep their outputs (they do not run "
                   "again), failed and unrun steps run. Any other state is a 409.",
                   parameters=[WORKFLOW_ID], request=None, responses={200: W.WorkflowPublic, 409: CONFLICT})
    def post(self, request: Request, workflow_id: str) -> Response:
        workflow = W.resume_workflow(W.get_workflow(request.user, workflow_id))
        return Response(W.public_workflow(workflow))


class WorkflowCleanupView(SartiqView):
    openapi_error_statuses = (401, 403, 404, 409, 429)

    @extend_schema(operation_id="sartiq_workflows_cleanup", tags=["sartiq"], summary="Cleanup Workflow",
                   description="Soft-delete a workflow (lists hide it unless include_deleted=true); with "
                   "cleanup_tasks (the default) its steps' tasks are soft-deleted and their files removed. The "
                   "answer lists the removed paths and what could not be cleaned.",
                   parameters=[WORKFLOW_ID, query("cleanup_tasks", OpenApiTypes.BOOL, True,
                                                  "Also clean up the workflow's tasks and their files")],
                   request=None, responses={200: W.WorkflowCleanupResponse, 409: CONFLICT, 422: INVALID})
    def post(self, request: Request, workflow_id: str) -> Response:
        params = self.validated_query(request, W.CleanupQuery)
        workflow = W.get_workflow(request.user, workflow_id)
        return Response(W.cleanup_workflow(workflow, params.cleanup_tasks))


class MonitoringWorkflowListView(SartiqView):
    openapi_error_statuses = (401, 403, 429)

    @extend_schema(
        operation_id="sartiq_monitoring_workflows",
        tags=["sartiq"],
        summary="List Workflows (monitoring)",
        description="Your workflows, paginated (page is 1-indexed), sorted and filtered; `search` matches a "
        "workflow name or an ID prefix.",
        parameters=[
            query("page", OpenApiTypes.INT, 1, "Page number (1-indexed)"),
            query("page_size", OpenApiTypes.INT, 50, "Items per page"),
            query("sort_by", OpenApiTypes.STR, "created_at", "created_at, started_at, completed_at, name, status, "
                  "progress"),
            query("sort_order", OpenApiTypes.STR, "desc", "asc or desc"),
            query("status", OpenApiTypes.STR, None, "Workflow status"),
            query("origin_instance", OpenApiTypes.STR, None, "Origin instance"),
            query("origin_zone", OpenApiTypes.STR, None, "Origin zone"),
            query("origin_tenant_id", OpenApiTypes.STR, None, "Tenant"),
            query("created_after", OpenApiTypes.DATETIME, None, "Created after"),
            query("created_before", OpenApiTypes.DATETIME, None, "Created before"),
            query("search", OpenApiTypes.STR, None, "Workflow name or ID prefix"),
        ],
        responses={200: W.MonitoringWorkflowListResponse, 422: INVALID},
    )
    def get(self, request: Request) -> Response:
        return Response(W.monitoring_list(request.user, self.validated_query(request, W.MonitoringQuery)))


class MonitoringWorkflowStatsView(SartiqView):
    openapi_error_statuses = (401, 403, 429)

    @extend_schema(
        operation_id="sartiq_monitoring_workflow_stats",
        tags=["sartiq"],
        summary="Workflow Stats",
        description="Counts of your workflows by status, in the last hour and day, and steps per workflow.",
        parameters=[query("origin_instance", OpenApiTypes.STR, None, "Origin instance"),
                    query("origin_zone", OpenApiTypes.STR, None, "Origin zone")],
        responses={200: W.WorkflowAggregateStats, 422: INVALID},
    )
    def get(self, request: Request) -> Response:
        return Response(W.monitoring_stats(request.user, self.validated_query(request, W.OriginQuery)))


class MonitoringWorkflowDetailView(SartiqView):
    openapi_error_statuses = (401, 403, 404, 429)

    @extend_schema(
        operation_id="sartiq_monitoring_workflow",
        tags=["sartiq"],
        summary="Workflow Detail (monitoring)",
        description="A workflow with its steps in topological order, each with its timings and result.",
        parameters=[WORKFLOW_ID],
        responses={200: W.WorkflowDetailResponse},
    )
    def get(self, request: Request, workflow_id: str) -> Response:
        return Response(W.monitoring_detail(W.get_workflow(request.user, workflow_id)))
