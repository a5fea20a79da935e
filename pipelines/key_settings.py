"""A FractalQ session key's spending caps as the studio API takes them: on publish (``{"spending_cap":
{…}}``) and on the key's settings (runs.api.session_keys, which also shows what the key spent). They can also
be edited in Django admin; the FractalQ surface enforces them before a run is queued (:mod:`runs.spending`).
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class SpendingCapSerializer(serializers.Serializer):
    credits_per_day = serializers.IntegerField(
        min_value=0, allow_null=True, required=False, help_text="Credits per UTC day; null for no cap"
    )
    credits_per_month = serializers.IntegerField(
        min_value=0, allow_null=True, required=False, help_text="Credits per calendar month; null for no cap"
    )


def spending_cap_of(data: Any) -> dict[str, int | None] | None:
    """The ``spending_cap`` of a request body (None when absent), checked by its serializer."""
    if not isinstance(data, dict) or "spending_cap" not in data:
        return None
    serializer = SpendingCapSerializer(data=data["spending_cap"])
    serializer.is_valid(raise_exception=True)
    return {k: v for k, v in serializer.validated_data.items() if k in data["spending_cap"]}
