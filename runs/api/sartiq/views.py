"""Sartiq Compute's HTTP surface (seed 002): FastAPI's shapes on our views.

Authentication is ``Authorization: Bearer`` with our JWT access tokens, or an API key with the ``sartiq``
scope (``Bearer`` or our ``Key`` header). Errors: ``{"detail": "…"}`` for 401/403/404/409/429/501, and
FastAPI's 422 list ``{"detail": [{"loc", "msg", "type"}]}`` for every body, query and path error, malformed
JSON included.
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from rest_framework import exceptions
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import BearerAuthentication, KeyHeaderAuthentication
from accounts.errors import normalize
from accounts.ratelimit import RateLimitHeadersMixin, SlidingWindowThrottle
from accounts.scopes import Scope
from config.errors import CanvasflowError, RateLimited
from config.parsers import SafeJSONParser
from runs.api.common import base_url_option
from runs.api.sartiq import (
    evaluation,
    openapi,  # noqa: F401  (pydantic models in OpenAPI 3.0 terms)
)
from runs.api.sartiq import schema as S
from runs.api.sartiq import tasks as T
from runs.api.sartiq.enums import TaskType

# FastAPI's own wording where ours differs.
MESSAGES = {
    exceptions.NotAuthenticated: "Not authenticated",
    exceptions.MethodNotAllowed: "Method Not Allowed",
}
JSON_POSITION = re.compile(r"\(char (\d+)\)")
BODY_NOT_OBJECT = "Input should be a valid dictionary or object to extract fields from"


def fastapi_errors(exc: PydanticValidationError, where: str) -> list[dict[str, Any]]:
    return [
        {"loc": [where, *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


def sartiq_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """The one place Sartiq's errors are rendered."""
    import logging

    if isinstance(exc, exceptions.UnsupportedMediaType):
        # FastAPI reads a body that is not JSON as no object at all
        exc = T.invalid(["body"], BODY_NOT_OBJECT, "model_attributes_type")
    if isinstance(exc, exceptions.ParseError):
        found = JSON_POSITION.search(str(exc.detail))
        position = int(found[1]) if found else 0
        exc = T.RequestInvalid(
            [{"loc": ["body", position], "msg": "JSON decode error", "type": "json_invalid"}]
        )
    message = next((text for kind, text in MESSAGES.items() if isinstance(exc, kind)), None)
    err = normalize(exc)
    if err is None:
        logging.getLogger("canvasflow.errors").exception(
            "unhandled error in %s", context.get("view"), exc_info=exc
        )
        err = CanvasflowError("Internal Server Error", code="INTERNAL_ERROR", status=500)
    if err.status == 400:
        # what the core calls a bad request (an input it cannot take) is a validation error to FastAPI
        err = CanvasflowError(err.message, code=err.code, status=422, details=err.details)
    if err.status == 422:
        errors = err.details.get("errors")
        if not isinstance(errors, list):
            field = err.details.get("input")
            errors = [
                {"loc": ["body", *([field] if field else [])], "msg": err.message, "type": "value_error"}
            ]
        body: dict[str, Any] = {"detail": errors}
    else:
        body = {"detail": message or err.message}
    response = Response(body, status=err.status)
    if isinstance(err, RateLimited):
        response["Retry-After"] = str(err.retry_after)
    if err.status == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response


class SartiqView(RateLimitHeadersMixin, APIView):
    # The seed's HTTPBearer (JWT or API key), and our own ``Key`` header for API keys, as on every surface.
    authentication_classes = [BearerAuthentication, KeyHeaderAuthentication]
    parser_classes = [SafeJSONParser]  # bodies are JSON, as FastAPI's
    permission_classes = [IsAuthenticated]
    key_scope = Scope.SARTIQ
    throttle_classes = [SlidingWindowThrottle]
    rate_limit_scope = "sartiq"
    openapi_error = S.HTTPError
    openapi_error_statuses = (401, 403, 404, 429)

    def get_exception_handler(self) -> Any:
        return sartiq_exception_handler

    # -- input -------------------------------------------------------------------------------------

    def body(self, request: Request) -> Any:
        if not request.body.strip():
            raise T.invalid(["body"], "Field required", "missing")
        return request.data

    def validated_body(self, request: Request, model: type[BaseModel]) -> BaseModel:
        data = self.body(request)
        if not isinstance(data, dict):
            raise T.invalid(["body"], BODY_NOT_OBJECT, "model_attributes_type")
        try:
            return model.model_validate(data)
        except PydanticValidationError as exc:
            raise T.RequestInvalid(fastapi_errors(exc, "body")) from None

    def validated_query(self, request: Request, model: type[BaseModel]) -> Any:
        try:
            return model.model_validate({k: v for k, v in request.query_params.items()})
        except PydanticValidationError as exc:
            raise T.RequestInvalid(fastapi_errors(exc, "query")) from None

    # -- output ------------------------------------------------------------------------------------

    def render(self, tasks_: list[Any]) -> list[dict[str, Any]]:
        results = T.result_paths(tasks_)
        return [
            S.PUBLIC_MODELS[t.task_type].model_validate(T.public(t, results)).model_dump(mode="json")
            for t in tasks_
        ]

    def render_one(self, task: Any) -> dict[str, Any]:
        return self.render([task])[0]


TASK_ID = OpenApiParameter("task_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The task's id")
INVALID = OpenApiResponse(S.HTTPValidationError, description="Validation Error")
CONFLICT = OpenApiResponse(S.HTTPError, description="The task's state does not allow it")


def list_parameters(model: type[BaseModel], exclude: tuple[str, ...] = ()) -> list[OpenApiParameter]:
    types = {"limit": OpenApiTypes.INT, "skip": OpenApiTypes.INT}
    enums = {"status": [s.value for s in S.TaskStatus], "task_type": [t.value for t in TaskType]}
    return [
        OpenApiParameter(
            name,
            types.get(name, OpenApiTypes.STR),
            OpenApiParameter.QUERY,
            required=False,
            enum=enums.get(name),
            default=field.default,
            description=field.description or "",
        )
        for name, field in model.model_fields.items()
        if name not in exclude
    ]


class TaskListView(SartiqView):
    openapi_error_statuses = {"GET": (401, 403, 429), "POST": (401, 402, 403, 413, 429)}

    @extend_schema(
        operation_id="sartiq_tasks_list",
        tags=["sartiq"],
        summary="List Tasks",
        description="List tasks with optional filtering and pagination.",
        parameters=list_parameters(S.TaskListQuery, exclude=("workflow_id",)),
        responses={200: S.TaskList, 422: INVALID},
    )
    def get(self, request: Request) -> Response:
        query = self.validated_query(request, S.TaskListQuery)
        qs = T.filter_tasks(T.visible_tasks(request.user), query)
        return Response(self.render(list(qs[query.skip : query.skip + query.limit])))

    @extend_schema(
        operation_id="sartiq_tasks_create",
        tags=["sartiq"],
        summary="Create Task",
        description="Create and start a new task. The body is one of the 11 task bodies, chosen by its "
        "`task_type`. Executed here, offline: IMAGE_ADJUSTER (Pillow), BACKGROUND_FIX (numpy) and REFINE with "
        "upscaling (Real-ESRGAN: upscale_factor 2, 3, 4 or 8, any other factor up to 8 as the next of "
        "those then a Lanczos resize, or target_width/target_height; `config.upscale_model` picks the "
        "network), DETAIL_ENHANCER (a Real-ESRGAN pass at the base image's size; the reference image is "
        "stored, not used), BACKGROUND_REMOVAL (MediaPipe's person segmentation: people, not objects; one "
        "result per image of the batch) and FACE_ENHANCER (BlazeFace finds faces, Real-ESRGAN restores each, "
        "SSIM-checked), with no provider or `local`. On fal (`provider_type` fal_standard, fal_shootify_refiner "
        "or fal_garment_fixer, or no provider for the types only a provider runs), with the fal key you "
        "stored (PUT /api/v1/me/ai-keys, provider \"fal\"): GENERATION (LoRAs by the name upload gave: "
        "`subject_model_path`…), EDITING, VIDEO_GENERATION, EXPERIMENTAL_FAL, and DETAIL_ENHANCER, "
        "FACE_ENHANCER and REFINE when they name a fal app or provider; the app is `fal_app_id` or "
        "`provider_config.fal_app_id`, else this server's default for the type. LLM_INTERACTION on ai_core: "
        "OpenAI or Anthropic (`provider_config.ai_provider`). A fallback provider runs when the primary "
        "fails on its side after its retries (`retry_count`, `errors`, `fallback_used`). `webhook_url` "
        "(public HTTPS) receives a TaskStatusEvent when the task ends (`User-Agent: Sartiq-Webhook/1.0`, "
        "`X-Sartiq-Task-ID`; retried after 1, 2 and 4 s). Other providers, REFINE's face details and "
        "image inputs to an LLM are answered 501.",
        request=S.TaskData,
        responses={
            200: S.TaskResponse,
            422: INVALID,
            501: OpenApiResponse(S.HTTPError, description="Not available on this server yet"),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.body(request)
        if not isinstance(data, dict):
            raise T.invalid(["body"], BODY_NOT_OBJECT, "model_attributes_type")
        task_type = data.get("task_type")
        model = S.CREATE_MODELS.get(task_type) if isinstance(task_type, str) else None
        if model is None:
            names = ", ".join(f"'{t.value}'" for t in TaskType)
            loc, msg, kind = ["body", "task_type"], f"Input should be {names}", "literal_error"
            if "task_type" not in data:
                msg, kind = "Field required", "missing"
            raise T.invalid(loc, msg, kind)
        task = T.create_task(request.user, self.validated_body(request, model), base_url_option(request))
        return Response(self.render_one(task))


class TaskDetailView(SartiqView):
    openapi_error_statuses = {"GET": (401, 403, 404, 429), "*": (401, 403, 404, 409, 429)}

    @extend_schema(
        operation_id="sartiq_tasks_get",
        tags=["sartiq"],
        summary="Get Task",
        description="Get a specific task by ID.",
        parameters=[TASK_ID],
        responses={200: S.TaskResponse},
    )
    def get(self, request: Request, task_id: str) -> Response:
        return Response(self.render_one(T.get_task(request.user, task_id)))

    @extend_schema(
        operation_id="sartiq_tasks_update",
        tags=["sartiq"],
        summary="Update Task",
        description="Update a specific task: config, errors, executor_type, executor_instance, priority and "
        "status (CANCELLED cancels a PENDING or EXECUTING task; PENDING runs a FAILED or CANCELLED task "
        "again; any other change of status is a 409).",
        parameters=[TASK_ID],
        request=S.UpdateData,
        responses={200: S.TaskResponse, 409: CONFLICT, 422: INVALID},
    )
    def put(self, request: Request, task_id: str) -> Response:
        task = T.get_task(request.user, task_id)
        changes = self.validated_body(request, S.UPDATE_MODELS[task.task_type])
        T.update_task(task, changes.model_dump(exclude_unset=True))
        return Response(self.render_one(task))

    @extend_schema(
        operation_id="sartiq_tasks_delete",
        tags=["sartiq"],
        summary="Delete Task",
        description="Delete a task and permanently remove its associated files (its result images, the "
        "input images stored for it alone, the node outputs it stored) and its record (no audit trail). A "
        "PENDING task is cancelled first; an EXECUTING one is a 409 (cancel it first).",
        parameters=[TASK_ID],
        responses={200: S.TaskResponse, 409: CONFLICT},
    )
    def delete(self, request: Request, task_id: str) -> Response:
        task = T.get_task(request.user, task_id)
        return Response(T.delete_task(task, self.render_one))


class TaskCleanupView(SartiqView):
    openapi_error_statuses = (401, 403, 404, 409, 429)

    @extend_schema(
        operation_id="sartiq_tasks_cleanup",
        tags=["sartiq"],
        summary="Cleanup Task",
        description="Clean up a task by marking it as deleted (is_deleted=True, deleted_at=now) and "
        "permanently removing its files. The record stays for audit; the task no longer appears in lists "
        "or reads. A PENDING task is cancelled first; an EXECUTING one is a 409 (cancel it first).",
        parameters=[TASK_ID],
        request=None,
        responses={200: S.TaskResponse, 409: CONFLICT},
    )
    def post(self, request: Request, task_id: str) -> Response:
        task = T.cleanup_task(T.get_task(request.user, task_id))
        return Response(self.render_one(task))


class TaskCancelView(SartiqView):
    openapi_error_statuses = (401, 403, 404, 409, 429)

    @extend_schema(
        operation_id="sartiq_tasks_cancel",
        tags=["sartiq"],
        summary="Cancel Task",
        description="Cancel a specific task: a PENDING task is cancelled at once (its credits returned), an "
        "EXECUTING one stops at its next step. A task that has finished is a 409.",
        parameters=[TASK_ID],
        request=None,
        responses={200: S.TaskResponse, 409: CONFLICT},
    )
    def post(self, request: Request, task_id: str) -> Response:
        task = T.cancel_task(T.get_task(request.user, task_id))
        return Response(self.render_one(task))


GENERATION = TaskType.GENERATION.value


class GenerationTaskListView(SartiqView):
    openapi_error_statuses = (401, 403, 429)

    @extend_schema(
        operation_id="sartiq_generation_tasks_list",
        tags=["sartiq"],
        summary="List Generation Tasks",
        description="List generation tasks with optional filtering (status, workflow, origin) and "
        "pagination.",
        parameters=list_parameters(S.TaskListQuery, exclude=("task_type",)),
        responses={200: S.GenerationTaskList, 422: INVALID},
    )
    def get(self, request: Request) -> Response:
        query = self.validated_query(request, S.TaskListQuery)
        query.task_type = None
        qs = T.filter_tasks(T.visible_tasks(request.user).filter(task_type=GENERATION), query)
        return Response(self.render(list(qs[query.skip : query.skip + query.limit])))


class GenerationTaskDetailView(SartiqView):
    openapi_error_statuses = {"GET": (401, 403, 404, 429), "*": (401, 403, 404, 409, 429)}

    @extend_schema(
        operation_id="sartiq_generation_tasks_get",
        tags=["sartiq"],
        summary="Get Generation Task",
        description="Get a specific generation task by ID.",
        parameters=[TASK_ID],
        responses={200: S.GenerationTaskPublic},
    )
    def get(self, request: Request, task_id: str) -> Response:
        return Response(self.render_one(T.get_task(request.user, task_id, GENERATION)))

    @extend_schema(
        operation_id="sartiq_generation_tasks_update",
        tags=["sartiq"],
        summary="Update Generation Task",
        description="Update a generation task with generation-specific fields. Fields the engine keeps "
        "(timestamps, progress, retry counts, result paths, queue ids) are refused with 409; status "
        "follows the same rules as PUT /api/v1/tasks/{task_id}.",
        parameters=[TASK_ID],
        request=S.GenerationTaskUpdate,
        responses={200: S.GenerationTaskPublic, 409: CONFLICT, 422: INVALID},
    )
    def put(self, request: Request, task_id: str) -> Response:
        task = T.get_task(request.user, task_id, GENERATION)
        changes = self.validated_body(request, S.GenerationTaskUpdate)
        T.update_task(task, changes.model_dump(exclude_unset=True))
        return Response(self.render_one(task))


class GenerationTaskCancelView(SartiqView):
    openapi_error_statuses = (401, 403, 404, 409, 429)

    @extend_schema(
        operation_id="sartiq_generation_tasks_cancel",
        tags=["sartiq"],
        summary="Cancel Generation Task",
        description="Cancel a generation task.",
        parameters=[TASK_ID],
        request=None,
        responses={200: S.GenerationTaskPublic, 409: CONFLICT},
    )
    def post(self, request: Request, task_id: str) -> Response:
        task = T.cancel_task(T.get_task(request.user, task_id, GENERATION))
        return Response(self.render_one(task))


# -- evaluation ------------------------------------------------------------------------------------------

PROVIDER = OpenApiParameter(
    "provider",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    required=False,
    enum=["local"],
    description="The evaluator: `local`, this server's own detector (the default and the only one)",
)
UNAVAILABLE = OpenApiResponse(
    S.HTTPError, description="The evaluation failed on our side, or the circuit breaker is open"
)


class EvaluationView(SartiqView):
    openapi_error_statuses = (401, 403, 429)

    @extend_schema(
        operation_id="sartiq_evaluation_evaluate",
        tags=["sartiq"],
        summary="Evaluate Image",
        description="Evaluate an image for shot analysis: human presence and number of people, framing and "
        "view angle (from the boxes of a face and body-part detector), a gender estimate from the face, a "
        "collage check. The image is `image_data` (a data URL or base64) or `image_url` (a public http(s) URL "
        "or one of your art_ upload ids). What this server cannot measure (anatomy, descriptions) is null. "
        "503 when the evaluation fails on our side or the circuit breaker is open.",
        parameters=[PROVIDER],
        request=S.EvaluationRequest,
        responses={200: S.EvaluationResponse, 422: INVALID, 503: UNAVAILABLE},
    )
    def post(self, request: Request) -> Response:
        self.validated_query(request, S.EvaluationQuery)
        body = self.validated_body(request, S.EvaluationRequest)
        result = evaluation.evaluate(request.user, body)
        return Response(S.EvaluationResponse.model_validate(result).model_dump(mode="json"))


class EvaluationHealthView(SartiqView):
    openapi_error_statuses = (401, 403, 429)

    @extend_schema(
        operation_id="sartiq_evaluation_health",
        tags=["sartiq"],
        summary="Get Evaluator Health",
        description="Evaluator health status and metrics: evaluations so far, success rate, mean time per "
        "evaluation (seconds), and the circuit breaker (closed, open after repeated failures, half_open "
        "once its cool-down has passed).",
        parameters=[PROVIDER],
        responses={200: S.HealthStatus, 422: INVALID},
    )
    def get(self, request: Request) -> Response:
        self.validated_query(request, S.EvaluationQuery)
        return Response(S.HealthStatus.model_validate(evaluation.health()).model_dump(mode="json"))
