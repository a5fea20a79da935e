"""ASGI entry: HTTP goes to Django (``/mcp`` to the MCP server: the shader tools and the published pipelines),
WebSocket to Channels."""

import os
from http import HTTPStatus

try:  # daphne (Twisted) answers "422 Unknown Status" for codes its table lacks; give it every standard phrase
    from twisted.web import http as twisted_http

    for _status in HTTPStatus:
        twisted_http.RESPONSES.setdefault(_status.value, _status.phrase.encode())
except ImportError:  # served by another ASGI server
    pass

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
from config.asgi_handler import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()  # request threads (and their database connections) are reused

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.logging import AccessLogMiddleware  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from runs.api.mcp_tools import PROVIDER as PIPELINE_TOOLS  # noqa: E402
from shaders.mcp_http import is_mcp_path, mcp_app  # noqa: E402
from shaders.mcp_server import register_tool_provider  # noqa: E402

register_tool_provider(PIPELINE_TOOLS)  # every published pipeline a key may call, as an MCP tool


async def http_app(scope, receive, send):
    """``/mcp`` (and ``/mcp/…``) to the MCP server, everything else to Django."""
    if is_mcp_path(scope["path"]):
        await mcp_app(scope, receive, send)
    else:
        await django_asgi_app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": AccessLogMiddleware(http_app),
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
        # Servers that speak ASGI lifespan (uvicorn) stop the MCP session manager cleanly;
        # daphne does not send it.
        "lifespan": mcp_app,
    }
)
