"""OpenAI through its official SDK, on the key of the account billed for the run.

A client is made for each call with that key, so the SDK's environment fallback (``OPENAI_API_KEY``) is never
reached and a run can only spend its payer's OpenAI account. ``OPENAI_BASE_URL`` (a setting) points it at a
compatible server; ``PROVIDER_TIMEOUT_SECONDS`` and ``PROVIDER_MAX_RETRIES`` bound each call (the SDK retries
connection errors, timeouts, 429 and 5xx with backoff), which keeps a node within the run's time budget.
The SDK still reads ``OPENAI_ORG_ID``, ``OPENAI_PROJECT_ID`` and ``OPENAI_CUSTOM_HEADERS`` from the process
environment and would send them with every payer's key: a worker's environment leaves them unset.
"""

from __future__ import annotations

import openai
from django.conf import settings

from pipelines.providers.base import KEYS_ENDPOINT, KeyLookup, ProviderError, require_key

NAME = "openai"
TITLE = "OpenAI"


def chat(
    provider_key: KeyLookup,
    *,
    model: str,
    prompt: str,
    system: str = "",
    temperature: float | None = None,
    max_tokens: int | None = None,
) -> str:
    """The model's answer to ``prompt`` (a chat completion: an optional system message, one user message)."""
    key = require_key(provider_key, NAME, TITLE)
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    options = {"temperature": temperature, "max_completion_tokens": max_tokens}
    try:
        with _client(key) as client:
            completion = client.chat.completions.create(
                model=model, messages=messages, **{k: v for k, v in options.items() if v is not None}
            )
    except openai.APIError as exc:
        # raised afresh: the SDK's exception holds the request, whose headers carry the key
        raise _classified(exc, model, key) from None
    if not completion.choices:
        raise ProviderError(f"{TITLE} answered without a completion", "PROVIDER_FAILED", server_fault=True)
    message = completion.choices[0].message
    return message.content or message.refusal or ""


def _client(key: str) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=key,
        base_url=settings.OPENAI_BASE_URL or None,
        timeout=settings.PROVIDER_TIMEOUT_SECONDS,
        max_retries=settings.PROVIDER_MAX_RETRIES,
    )


def _classified(exc: openai.APIError, model: str, key: str) -> ProviderError:
    """Our error for an SDK error; the provider's own words only where they help the caller, never the key."""
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(
            f"{TITLE} did not answer within {settings.PROVIDER_TIMEOUT_SECONDS:g} seconds",
            "PROVIDER_UNAVAILABLE",
            server_fault=True,
        )
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(f"{TITLE} could not be reached", "PROVIDER_UNAVAILABLE", server_fault=True)
    if not isinstance(exc, openai.APIStatusError):  # an answer the SDK could not read
        return ProviderError(f"{TITLE} answered something unreadable", "PROVIDER_FAILED", server_fault=True)
    status = exc.status_code
    if status >= 500:
        return ProviderError(
            f"{TITLE} is failing (HTTP {status}); try again later", "PROVIDER_UNAVAILABLE", server_fault=True
        )
    if status == 401:
        return ProviderError(
            f"{TITLE} rejected the API key of the account billed for this run (HTTP 401): store a valid one "
            f'with {KEYS_ENDPOINT} {{"provider": "{NAME}", "key": "…"}}.',
            "PROVIDER_KEY_REJECTED",
        )
    said = exc.body.get("message") if isinstance(exc.body, dict) else None
    said = str(said).replace(key, "…")[:500] if said else ""
    if status == 429:
        return ProviderError(
            f"{TITLE} refused the call for the key's rate limit or quota (HTTP 429){': ' + said if said else ''}",
            "PROVIDER_RATE_LIMITED",
        )
    return ProviderError(
        f"{TITLE} refused the request for model {model!r} (HTTP {status}){': ' + said if said else ''}",
        "PROVIDER_REQUEST_REJECTED",
    )
