"""The core error hierarchy.

Services raise these; each public surface has its own exception handler that
renders them in that surface's shape (FractalQ, Fluxara, Fizzly, fractafrag).
Nothing else renders errors.
"""

from __future__ import annotations

from typing import Any


class CanvasflowError(Exception):
    status = 400
    code = "BAD_REQUEST"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details or {}


class BadRequest(CanvasflowError):
    status, code = 400, "BAD_REQUEST"


class Unauthorized(CanvasflowError):
    status, code = 401, "UNAUTHORIZED"


class InsufficientCredits(CanvasflowError):
    status, code = 402, "INSUFFICIENT_CREDITS"


class Forbidden(CanvasflowError):
    status, code = 403, "FORBIDDEN"


class NotFound(CanvasflowError):
    status, code = 404, "NOT_FOUND"


class Conflict(CanvasflowError):
    status, code = 409, "CONFLICT"


class PayloadTooLarge(CanvasflowError):
    status, code = 413, "PAYLOAD_TOO_LARGE"


class ValidationFailed(CanvasflowError):
    status, code = 422, "VALIDATION_FAILED"


class RateLimited(CanvasflowError):
    status, code = 429, "RATE_LIMIT_EXCEEDED"

    def __init__(self, message: str = "Rate limit exceeded", *, retry_after: int = 1, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class NotImplementedYet(CanvasflowError):
    status, code = 501, "NOT_IMPLEMENTED"
