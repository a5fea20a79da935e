"""fractafrag's error shape: ``{"detail": ...}`` with its status codes.

This is also the project default: DRF views that belong to no other surface
(the studio API, the fractafrag endpoints) render errors through it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import CanvasflowError, RateLimited

logger = logging.getLogger("canvasflow.errors")


def first_message(detail: Any) -> str:
    """A readable one-line message from DRF's nested error details."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            msg = first_message(value)
            return msg if field in ("non_field_errors", "detail") else f"{field}: {msg}"
        return "Invalid request"
    if isinstance(detail, list):
        return first_message(detail[0]) if detail else "Invalid request"
    return str(detail)


def normalize(exc: Exception) -> CanvasflowError | exceptions.APIException | None:
    """Map framework exceptions onto a status/code/message, shared by every surface's handler."""
    if isinstance(exc, CanvasflowError):
        return exc
    if isinstance(exc, RequestDataTooBig):
        return CanvasflowError("Request body too large", code="PAYLOAD_TOO_LARGE", status=413)
    if isinstance(exc, Http404):
        return CanvasflowError("Not found", code="NOT_FOUND", status=404)
    if isinstance(exc, PermissionDenied):
        return CanvasflowError("Permission denied", code="FORBIDDEN", status=403)
    if isinstance(exc, exceptions.Throttled):
        return RateLimited("Rate limit exceeded", retry_after=int(exc.wait or 1))
    if isinstance(exc, exceptions.ValidationError):
        return CanvasflowError(
            first_message(exc.detail), code="BAD_REQUEST", status=400, details={"errors": exc.detail}
        )
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return CanvasflowError(str(exc.detail), code="UNAUTHORIZED", status=401)
    if isinstance(exc, exceptions.PermissionDenied):
        return CanvasflowError(str(exc.detail), code="FORBIDDEN", status=403)
    if isinstance(exc, exceptions.ParseError):
        return CanvasflowError(str(exc.detail), code="BAD_REQUEST", status=400)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return CanvasflowError(str(exc.detail), code="UNSUPPORTED_MEDIA_TYPE", status=415)
    if isinstance(exc, exceptions.MethodNotAllowed):
        return CanvasflowError(str(exc.detail), code="METHOD_NOT_ALLOWED", status=405)
    if isinstance(exc, exceptions.NotFound):
        return CanvasflowError(str(exc.detail), code="NOT_FOUND", status=404)
    if isinstance(exc, exceptions.APIException):
        return CanvasflowError(
            first_message(exc.detail), code=str(exc.default_code).upper(), status=exc.status_code
        )
    return None


def render_with(
    shape: Any, exc: Exception, context: dict[str, Any], status_of: Any = None
) -> Response:
    """Render ``exc`` through ``shape(error) -> dict``; unknown exceptions become a logged 500.

    ``status_of(status) -> status``: a surface whose seed lists fewer statuses than we use maps ours onto
    its own (Fizzly answers 400 for our 422)."""
    err = normalize(exc)
    if err is None:
        logger.exception("unhandled error in %s", context.get("view"), exc_info=exc)
        err = CanvasflowError("Internal server error", code="INTERNAL_ERROR", status=500)
    response = Response(shape(err), status=status_of(err.status) if status_of else err.status)
    if isinstance(err, RateLimited):
        response["Retry-After"] = str(err.retry_after)
    if err.status == 401:
        request = context.get("request")
        view = context.get("view")
        if request is not None and view is not None:
            header = view.get_authenticate_header(request)
            if header:
                response["WWW-Authenticate"] = header
    return response


def fractafrag_shape(err: CanvasflowError) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": err.message}
    extra = {k: v for k, v in err.details.items()}
    body.update(extra)
    return body


def fractafrag_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    return render_with(fractafrag_shape, exc, context)


# Kept for views that want DRF's plain behaviour.
__all__ = ["fractafrag_exception_handler", "render_with", "normalize", "drf_exception_handler"]
