"""What every provider module shares: the error it raises and the one way to obtain the payer's key."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from django.conf import settings

# The run's key lookup: the clear key its payer stored for a provider name, None when there is none.
KeyLookup = Callable[[str], str | None]

KEYS_ENDPOINT = "PUT /api/v1/me/ai-keys"


class ProviderError(Exception):
    """A provider call that failed, classified as node errors are (``pipelines.nodes.base.NodeError``).

    ``server_fault``: the provider is down, slow or answered nonsense (a 5xx for every surface); otherwise it
    is the caller's or the key owner's to fix (no key stored, a key the provider rejects, a model the key may
    not use, the key's own quota): a 422. The provider's SDK already retried what retrying can cure."""

    def __init__(self, message: str, code: str, *, server_fault: bool = False):
        super().__init__(message)
        self.message = message
        self.code = code
        self.server_fault = server_fault


def require_key(provider_key: KeyLookup, name: str, title: str) -> str:
    """The payer's clear key for provider ``name``, or a client error saying where to store one."""
    key = provider_key(name)
    if not key:
        raise ProviderError(
            f"{title} is called with the {title} API key of the account billed for this run, and that account "
            f'has stored none: store one with {KEYS_ENDPOINT} {{"provider": "{name}", "key": "…"}}.',
            code="PROVIDER_KEY_MISSING",
        )
    return key


def classify_sdk_error(
    sdk: ModuleType, exc: Any, title: str, name: str, model: str, key: str
) -> ProviderError:
    """Our error for an error of a provider SDK made the same way as OpenAI's and Anthropic's (``APIError``,
    ``APITimeoutError``, ``APIConnectionError``, ``APIStatusError`` with ``status_code`` and ``body``): the
    provider's own words only where they help the caller, never the key."""
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderError(
            f"{title} did not answer within {settings.PROVIDER_TIMEOUT_SECONDS:g} seconds",
            "PROVIDER_UNAVAILABLE",
            server_fault=True,
        )
    if isinstance(exc, sdk.APIConnectionError):
        return ProviderError(f"{title} could not be reached", "PROVIDER_UNAVAILABLE", server_fault=True)
    if not isinstance(exc, sdk.APIStatusError):  # an answer the SDK could not read
        return ProviderError(f"{title} answered something unreadable", "PROVIDER_FAILED", server_fault=True)
    status = exc.status_code
    if status >= 500:
        return ProviderError(
            f"{title} is failing (HTTP {status}); try again later", "PROVIDER_UNAVAILABLE", server_fault=True
        )
    if status == 401:
        return ProviderError(
            f"{title} rejected the API key of the account billed for this run (HTTP 401): store a valid one "
            f'with {KEYS_ENDPOINT} {{"provider": "{name}", "key": "…"}}.',
            "PROVIDER_KEY_REJECTED",
        )
    body = exc.body.get("error", exc.body) if isinstance(exc.body, dict) else None
    said = body.get("message") if isinstance(body, dict) else None
    said = str(said).replace(key, "…")[:500] if said else ""
    if status == 429:
        return ProviderError(
            f"{title} refused the call for the key's rate limit or quota (HTTP 429){': ' + said if said else ''}",
            "PROVIDER_RATE_LIMITED",
        )
    return ProviderError(
        f"{title} refused the request for model {model!r} (HTTP {status}){': ' + said if said else ''}",
        "PROVIDER_REQUEST_REJECTED",
    )
