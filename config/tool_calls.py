"""How an MCP tool reaches the ORM: in Django's sync thread, with connection hygiene, and our errors answered
as tool errors carrying the API's body. The shader tools (shaders.mcp_server) and the pipeline tools
(runs.api.mcp_tools) both call through it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from mcp.server.mcpserver.exceptions import ToolError

from config.errors import CanvasflowError


def orm_call(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as a coroutine function run in Django's sync thread; a CanvasflowError it raises becomes a
    ToolError whose text is ``{"detail", "code", "status", …details}``."""

    def call(*args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        try:
            return fn(*args, **kwargs)
        except CanvasflowError as exc:
            detail = {"detail": exc.message, "code": exc.code, "status": exc.status, **exc.details}
            raise ToolError(json.dumps(detail, default=str)) from exc
        finally:
            close_old_connections()

    return sync_to_async(call, thread_sensitive=True)
