"""The OpenAPI generator's conventions for every surface.

A view declares how its errors look (``openapi_error``: a serializer of the surface's error body) and which
error statuses its operations may answer (``openapi_error_statuses``); every operation then documents those
responses, and views with a rate limit (``rate_limit_scope``) document the ``X-RateLimit-*`` headers on every
response and ``Retry-After`` on 429. Declared once per surface, so no operation can forget them.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse

DEFAULT_ERROR_STATUSES = (400, 401, 403, 404, 429)

RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": "Requests allowed in the current window",
    "X-RateLimit-Remaining": "Requests left in the current window",
    "X-RateLimit-Reset": "Unix time at which the window resets",
}


class AutoSchema(SpectacularAutoSchema):
    def get_description(self) -> str:
        """Only ``extend_schema(description=…)`` (the seeds' own words) describes an operation.

        drf-spectacular falls back to the view's docstring, inherited from base classes: that published notes
        meant for us ("Adds the X-RateLimit-* headers…") as the description of every operation."""
        return ""

    def _error_statuses(self) -> tuple[int, ...]:
        statuses = getattr(self.view, "openapi_error_statuses", DEFAULT_ERROR_STATUSES)
        if isinstance(statuses, dict):
            statuses = statuses.get(self.method, statuses.get("*", DEFAULT_ERROR_STATUSES))
        if not getattr(self.view, "authentication_classes", None) and not getattr(
            self.view, "permission_classes", None
        ):
            statuses = tuple(s for s in statuses if s not in (401, 403))
        return tuple(statuses)

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        error = getattr(self.view, "openapi_error", None)
        if error is None or direction != "response":
            return responses
        for status in self._error_statuses():
            if str(status) not in responses:
                described = OpenApiResponse(response=error, description=HTTPStatus(status).phrase)
                responses[str(status)] = self._get_response_for_code(
                    described, str(status), direction=direction
                )
        return responses

    def _get_response_headers_for_code(self, status_code: str, direction: str = "response") -> dict[str, Any]:
        headers = super()._get_response_headers_for_code(status_code, direction)
        if getattr(self.view, "rate_limit_scope", None):
            for name, text in RATE_LIMIT_HEADERS.items():
                headers.setdefault(name, {"schema": {"type": "integer"}, "description": text})
            if str(status_code) == "429":
                headers.setdefault(
                    "Retry-After",
                    {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying"},
                )
        return headers


__all__ = ["AutoSchema", "OpenApiTypes"]
