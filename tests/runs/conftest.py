"""Fixtures for pipelines and runs: published pipelines, a local image server, eager execution."""

from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from pipelines import services as pipeline_services


def png_bytes(size=(64, 48), color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def resize_graph(width=32, height=32) -> dict:
    return {
        "nodes": [
            {
                "id": "in",
                "type": "INPUT__IMAGE",
                "params": {"name": "image_url"},
                "position": {"x": 0, "y": 0},
            },
            {
                "id": "resize",
                "type": "IMAGE__RESIZE",
                "params": {"width": width, "height": height, "mode": "stretch"},
                "position": {"x": 200, "y": 0},
            },
            {"id": "gray", "type": "IMAGE__GRAYSCALE", "params": {}, "position": {"x": 400, "y": 0}},
            {"id": "out", "type": "OUTPUT__", "params": {}, "position": {"x": 600, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "from": {"node": "in", "port": "image"}, "to": {"node": "resize", "port": "image"}},
            {
                "id": "e2",
                "from": {"node": "resize", "port": "image"},
                "to": {"node": "gray", "port": "image"},
            },
            {
                "id": "e3",
                "from": {"node": "gray", "port": "image"},
                "to": {"node": "out", "port": "result_url"},
            },
        ],
    }


def text_graph() -> dict:
    return {
        "nodes": [
            {"id": "t", "type": "INPUT__TEXT", "params": {"name": "command"}, "position": {"x": 0, "y": 0}},
            {"id": "out", "type": "OUTPUT__", "params": {}, "position": {"x": 200, "y": 0}},
        ],
        "edges": [{"id": "e", "from": {"node": "t", "port": "text"}, "to": {"node": "out", "port": "echo"}}],
    }


@pytest.fixture
def eager(settings):
    settings.RUNS_EAGER = True
    settings.FETCH_ALLOW_LOOPBACK = True
    settings.WEBHOOK_RETRY_DELAYS = (0.01, 0.02, 0.04)
    return settings


@pytest.fixture
def published(pro_user):
    """A published INPUT__IMAGE → RESIZE → GRAYSCALE → OUTPUT__ pipeline; returns (pipeline, raw session key)."""
    pipeline = pipeline_services.create_pipeline(
        pro_user, "Thumbs", graph=resize_graph(), presets={"tiny": {"resize": {"width": 8, "height": 8}}}
    )
    result = pipeline_services.publish(pipeline)
    return pipeline, result.session_key


@pytest.fixture
def published_text(pro_user):
    pipeline = pipeline_services.create_pipeline(pro_user, "Echo", graph=text_graph())
    return pipeline, pipeline_services.publish(pipeline).session_key


class ImageServer:
    """A local HTTP server serving images, redirects and slow responses (loopback, tests only)."""

    def __init__(self):
        self.routes: dict[str, tuple[int, dict, bytes, float]] = {}
        self.hits: list[str] = []
        self.posts: list[tuple[str, dict, bytes]] = []
        self.post_status: list[int] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.hits.append(self.path)
                status, headers, body, delay = server.routes.get(self.path, (404, {}, b"nope", 0))
                if delay:
                    import time

                    time.sleep(delay)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                server.posts.append((self.path, dict(self.headers), body))
                status = server.post_status.pop(0) if server.post_status else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add_image(self, path: str, data: bytes | None = None, delay: float = 0) -> str:
        self.routes[path] = (200, {"Content-Type": "image/png"}, data or png_bytes(), delay)
        return self.url(path)

    def add_redirect(self, path: str, location: str) -> str:
        self.routes[path] = (302, {"Location": location}, b"", 0)
        return self.url(path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def image_server():
    server = ImageServer()
    yield server
    server.close()
