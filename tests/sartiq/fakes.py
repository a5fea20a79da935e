"""Fake providers on 127.0.0.1 for the provider adapters' tests: fal's queue API and Anthropic's Messages API.

Nothing here is ever reached from outside the test process; the adapters are pointed at it with
``FAL_BASE_URL`` / ``ANTHROPIC_BASE_URL``.
"""

from __future__ import annotations

import io
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image


def png_bytes(size=(24, 16), color=(10, 120, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


class JsonServer:
    """A threaded HTTP server whose handler calls ``self.answer(method, path, headers, body)``."""

    def __init__(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length", 0) or 0)
                raw = self.rfile.read(length) if length else b""
                status, content_type, data = fake.answer(self.command, self.path, dict(self.headers), raw)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            do_GET = do_POST = do_PUT = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, method: str, path: str, headers: dict, raw: bytes) -> tuple[int, str, bytes]:
        raise NotImplementedError

    @staticmethod
    def json(status: int, payload: Any) -> tuple[int, str, bytes]:
        return status, "application/json", json.dumps(payload).encode()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class FakeFal(JsonServer):
    """fal's queue: ``POST /{app}`` submits, ``GET …/requests/{id}/status`` and ``GET …/requests/{id}``
    answer, ``PUT …/requests/{id}/cancel`` cancels; ``/files/…`` serves result files.

    ``apps[app]`` says how an app behaves: ``{"fail": status}`` refuses the submit with that status,
    ``{"error": "…"}`` completes with an error, ``{"polls": n}`` stays IN_PROGRESS for n status calls,
    ``{"result": {...}}`` is its answer (default: one image). ``submits`` holds (app, Authorization, body)."""

    def __init__(self):
        self.apps: dict[str, dict[str, Any]] = {}
        self.submits: list[tuple[str, str, dict]] = []
        self.requests: dict[str, dict[str, Any]] = {}
        self.cancelled: list[str] = []
        self.hosts: list[str] = []
        self.ids = itertools.count(1)
        super().__init__()

    def image_result(self, name="out.png") -> dict:
        return {
            "images": [
                {
                    "url": f"{self.base_url}/files/{name}",
                    "content_type": "image/png",
                    "width": 24,
                    "height": 16,
                }
            ],
            "seed": 7,
        }

    def answer(self, method, path, headers, raw):
        path = path.split("?", 1)[0]
        self.hosts.append(headers.get("Host", ""))
        if path.startswith("/files/"):
            if path.endswith(".mp4"):
                return 200, "video/mp4", b"\x00\x00\x00\x18ftypmp42"
            return 200, "image/png", png_bytes()
        if "/requests/" in path:
            app, _, rest = path.lstrip("/").partition("/requests/")
            request_id, _, action = rest.partition("/")
            request = self.requests.get(request_id)
            if request is None:
                return self.json(404, {"detail": "Request not found"})
            behaviour = self.apps.get(app, {})
            if method == "PUT" and action == "cancel":
                self.cancelled.append(request_id)
                return self.json(202, {"status": "CANCELLATION_REQUESTED"})
            if action == "status":
                request["polls"] += 1
                if request["polls"] <= behaviour.get("polls", 0):
                    return self.json(200, {"status": "IN_PROGRESS", "logs": None})
                body = {"status": "COMPLETED", "logs": None, "metrics": {"inference_time": 0.1}}
                if behaviour.get("error"):
                    body["error"] = behaviour["error"]
                return self.json(200, body)
            return self.json(200, behaviour.get("result") or self.image_result())
        if method != "POST":
            return self.json(405, {"detail": "Method not allowed"})
        app = path.lstrip("/")
        body = json.loads(raw or b"{}")
        self.submits.append((app, headers.get("Authorization", ""), body))
        behaviour = self.apps.get(app, {})
        if behaviour.get("fail"):
            return self.json(behaviour["fail"], {"detail": behaviour.get("detail", f"{app} is down")})
        request_id = f"req-{next(self.ids)}"
        self.requests[request_id] = {"app": app, "polls": 0}
        base = f"{self.base_url}/{app}/requests/{request_id}"
        return self.json(
            200,
            {
                "request_id": request_id,
                "response_url": base,
                "status_url": f"{base}/status",
                "cancel_url": f"{base}/cancel",
            },
        )


class FakeAnthropic(JsonServer):
    """Anthropic's ``POST /v1/messages``. ``replies`` are (status, body) answered in turn (the last one
    repeats; none: an echo of the prompt); ``requests`` holds (the key sent, JSON body)."""

    def __init__(self):
        self.replies: list[tuple[int, dict]] = []
        self.requests: list[tuple[str, dict]] = []
        super().__init__()

    def answer(self, method, path, headers, raw):
        body = json.loads(raw or b"{}")
        key = headers.get("X-Api-Key") or headers.get("Authorization", "").removeprefix("Bearer ")
        self.requests.append((key, body))
        if path.split("?")[0] != "/v1/messages":
            return self.json(404, {"type": "error", "error": {"type": "not_found_error", "message": "no"}})
        if self.replies:
            status, payload = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
            return self.json(status, payload)
        return self.json(200, message(body.get("model", ""), f"claude: {body['messages'][-1]['content']}"))


def message(model: str, text: str) -> dict:
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 4},
    }


def anthropic_error(status: int, message_: str) -> tuple[int, dict]:
    kind = "api_error" if status >= 500 else "invalid_request_error"
    return status, {"type": "error", "error": {"type": kind, "message": message_}}
