"""What an API key may do.

An API key is a credential for calling things, never for managing the account: changing the email or the
password, minting or revoking keys and storing BYOK provider keys need an interactive session (a JWT from
``/auth/login`` or the browser session). Each key carries the scopes it was made for; a view says which
scope a key needs for each HTTP method (``key_scope``), and a view that says nothing refuses every key.
Refusing by default means a new endpoint cannot hand an account to a leaked key by being forgotten.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models


class Scope(models.TextChoices):
    PIPELINES_RUN = "pipelines:run", "Call published pipelines (Fizzly, Fluxara) and cancel its own requests"
    RUNS_READ = "runs:read", "Read its own runs, jobs, results and artifacts, and follow their events"
    SHADERS_READ = "shaders:read", "Browse shaders, feeds and desires"
    SHADERS_WRITE = "shaders:write", "Create, edit, fork and vote on shaders; post and fulfil desires"
    MCP = "mcp", "Use the MCP server (its tools still need the scopes above)"
    SARTIQ = "sartiq", "Use the Sartiq Compute API: create, read, change and delete its own tasks"


# What a key of each kind gets unless its creator narrows it.
DEFAULT_SCOPES: dict[str, list[str]] = {
    "queue": [Scope.PIPELINES_RUN, Scope.RUNS_READ],
    "fractafrag": [Scope.SHADERS_READ, Scope.SHADERS_WRITE, Scope.MCP],
}

READ_METHODS = ("GET", "HEAD", "OPTIONS")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

# A view's ``key_scope``: one scope for every method, or a scope (or a tuple of alternatives) per method.
KeyScope = str | tuple[str, ...] | dict[str, str | tuple[str, ...]] | None


def read_write(read: str | tuple[str, ...], write: str | tuple[str, ...]) -> dict[str, Any]:
    """``key_scope`` of a resource that keys may read with ``read`` and change with ``write``."""
    return {**{m: read for m in READ_METHODS}, **{m: write for m in WRITE_METHODS}}


def required_scopes(view: Any, method: str) -> tuple[str, ...]:
    """The scopes any one of which lets a key call ``method`` on ``view``; empty: no key may."""
    spec: KeyScope = getattr(view, "key_scope", None)
    if isinstance(spec, dict):
        spec = spec.get(method.upper()) or (spec.get("GET") if method.upper() in READ_METHODS else None)
    if not spec:
        return ()
    return (spec,) if isinstance(spec, str) else tuple(spec)


def key_allows(key: Any, scopes: Iterable[str]) -> bool:
    held = set(key.scopes or [])
    return any(scope in held for scope in scopes)
