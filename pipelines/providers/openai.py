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

from pipelines.providers.base import KeyLookup, ProviderError, classify_sdk_error, require_key

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
    return classify_sdk_error(openai, exc, TITLE, NAME, model, key)
