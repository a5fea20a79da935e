"""Inputs that used to crash the server or leak a secret: each reproduces what was found by hand."""

from __future__ import annotations

import io
import ipaddress
import logging
import sys
import threading
import time
from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync
from rest_framework.test import APIClient

from accounts import keys
from accounts.models import ApiKeyKind
from config.logging import AccessLogMiddleware, redact
from pipelines import nodes
from pipelines.nodes import base
from runs.fetch import UnsafeURL, _check_ip, resolve_public
from tests.runs.conftest import published  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("code", ["ß", "void mainImage(out vec4 c, in vec2 f) { c = vec4(1.0); } // ß", "😀"])
def test_non_ascii_glsl_is_a_422_not_a_500(pro_user, code):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {keys.create_api_key(pro_user, 's').raw}")
    resp = client.post("/api/v1/shaders", {"title": "Umlaut", "glsl_code": code}, format="json")
    assert resp.status_code in (201, 422), resp.content
    if resp.status_code == 422:
        assert "detail" in resp.json()


@pytest.mark.parametrize(
    "address",
    [
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254 (cloud metadata)
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "::ffff:10.0.0.1",
    ],
)
def test_ipv6_forms_that_embed_a_private_ipv4_are_refused(address, settings):
    settings.FETCH_ALLOW_LOOPBACK = False
    with pytest.raises(UnsafeURL):
        _check_ip(ipaddress.ip_address(address))
    with pytest.raises(UnsafeURL):
        resolve_public(f"http://[{address}]/x.png")


def test_public_ipv6_and_6to4_of_a_public_ipv4_still_pass():
    for address in ("2606:4700:4700::1111", "2002:808:808::1"):
        _check_ip(ipaddress.ip_address(address))


def test_registry_is_whole_before_the_first_request_and_loading_is_thread_safe(monkeypatch):
    """After a restart 16 concurrent first requests used to see half a registry (500s)."""
    assert nodes._loaded  # PipelinesConfig.ready loaded it
    saved = dict(base._REGISTRY)
    by_module: dict[str, list] = {}
    for cls in saved.values():
        by_module.setdefault(cls.__module__, []).append(cls)

    def slow_import(name):  # a first import that takes its time, registering as it goes
        for cls in by_module.get(name, []):
            time.sleep(0.01)
            base._REGISTRY[cls.type] = cls
        return sys.modules[name]

    monkeypatch.setattr(nodes, "importlib", SimpleNamespace(import_module=slow_import))
    seen: list[int] = []
    try:
        base._REGISTRY.clear()
        nodes._loaded = False
        threads = [threading.Thread(target=lambda: seen.append(len(base.registry()))) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        base._REGISTRY.update(saved)
        nodes._loaded = True
    # (other tests may have registered node types of their own; the families are what loading brings)
    families = [cls for cls in saved.values() if cls.__module__.startswith("pipelines.nodes.")]
    assert seen == [len(families)] * 16


SESSION_KEY = "fq_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9"


def test_redact_keeps_only_prefixes():
    line = (
        f"Bad Request: /api/node/api/{SESSION_KEY}/execute key=fiz_abcdefghijklmnop ff_key_0123456789abcdef"
    )
    clean = redact(line)
    assert (
        SESSION_KEY not in clean and "fiz_abcdefghijklmnop" not in clean and "0123456789abcdef" not in clean
    )
    assert "fq_A1b2C3…" in clean and "fiz_abcdef…" in clean and "ff_key_012345…" in clean


def test_bad_request_warning_shows_the_key_prefix_only(published):  # noqa: F811
    _, key = published
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(type(f).__name__ == "RedactSecretsFilter" for f in h.filters)
    )
    stream = io.StringIO()
    old = handler.setStream(stream)
    try:
        resp = APIClient().generic(
            "POST", f"/api/node/api/{key}/execute", "{broken", content_type="application/json"
        )
        assert resp.status_code == 400
    finally:
        handler.setStream(old)
    logged = stream.getvalue()
    assert "Bad Request" in logged and key not in logged and key[:9] in logged


def test_access_log_shows_the_key_prefix_only(caplog):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def noop_receive():
        return {"type": "http.request"}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": f"/api/node/api/{SESSION_KEY}/execute",
        "client": ("127.0.0.1", 5000),
    }
    with caplog.at_level(logging.INFO, logger="canvasflow.access"):
        async_to_sync(AccessLogMiddleware(app))(scope, noop_receive, send)
    text = caplog.text
    assert "POST /api/node/api/fq_A1b2C3…/execute" in text and " 200 " in text
    assert SESSION_KEY not in text


def test_a_queue_key_in_a_fractafrag_shader_call_is_refused_not_crashed(pro_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Key {keys.create_api_key(pro_user, 'q', ApiKeyKind.QUEUE).raw}")
    assert client.post("/api/v1/shaders", {"title": "x", "glsl_code": "ß"}, format="json").status_code == 403
