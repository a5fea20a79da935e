"""What every provider module shares: the error it raises and the one way to obtain the payer's key."""

from __future__ import annotations

from collections.abc import Callable

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
