"""Anthropic through its official SDK, on the key of the account billed for the run.

As with OpenAI (:mod:`pipelines.providers.openai`): a client per call with the payer's key (the SDK's
``ANTHROPIC_API_KEY`` fallback is never reached), ``ANTHROPIC_BASE_URL`` (a setting) points it at another
server, and ``PROVIDER_TIMEOUT_SECONDS`` / ``PROVIDER_MAX_RETRIES`` bound each call.
"""

from __future__ import annotations

import anthropic
from django.conf import settings

from pipelines.providers.base import KeyLookup, ProviderError, classify_sdk_error, require_key

NAME = "anthropic"
TITLE = "Anthropic"
DEFAULT_MAX_TOKENS = 1024  # the Messages API requires one


def chat(
    provider_key: KeyLookup,
    *,
    model: str,
    prompt: str,
    system: str = "",
    temperature: float | None = None,
    max_tokens: int | None = None,
) -> str:
    """The model's answer to ``prompt`` (one user message, an optional system prompt): its text blocks.

    ``temperature`` is not sent: the Messages API of the pinned SDK takes no sampling parameters."""
    key = require_key(provider_key, NAME, TITLE)
    options = {"system": system or None}
    try:
        with _client(key) as client:
            message = client.messages.create(
                model=model,
                max_tokens=max_tokens or DEFAULT_MAX_TOKENS,
                messages=[{"role": "user", "content": prompt}],
                **{k: v for k, v in options.items() if v is not None},
            )
    except anthropic.APIError as exc:
        # raised afresh: the SDK's exception holds the request, whose headers carry the key
        raise classify_sdk_error(anthropic, exc, TITLE, NAME, model, key) from None
    texts = [block.text for block in message.content if getattr(block, "type", "") == "text"]
    if not texts:
        raise ProviderError(f"{TITLE} answered without text", "PROVIDER_FAILED", server_fault=True)
    return "".join(texts)


def _client(key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key=key,
        base_url=settings.ANTHROPIC_BASE_URL or None,
        timeout=settings.PROVIDER_TIMEOUT_SECONDS,
        max_retries=settings.PROVIDER_MAX_RETRIES,
    )
