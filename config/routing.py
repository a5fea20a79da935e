"""WebSocket routes. Each app contributes its own ``websocket_urlpatterns``."""

from runs.routing import websocket_urlpatterns as run_routes

websocket_urlpatterns: list = [*run_routes]
