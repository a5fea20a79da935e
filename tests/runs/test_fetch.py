"""Safe fetching: SSRF attempts refused after DNS resolution and after redirects; size and pixel limits."""

import io
import socket

import pytest
from PIL import Image

from pipelines.nodes.base import NodeError
from runs import fetch


@pytest.fixture
def no_loopback(settings):
    settings.FETCH_ALLOW_LOOPBACK = False


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/a.png",
        "http://localhost/a.png",
        "http://[::1]/a.png",
        "http://10.1.2.3/a.png",
        "http://172.16.0.5/a.png",
        "http://192.168.1.1/a.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/a.png",
        "http://100.64.0.1/a.png",
        "http://[::ffff:127.0.0.1]/a.png",
        "http://[fd00::1]/a.png",
        "http://224.0.0.1/a.png",
        "http://2130706433/a.png",
    ],
)
def test_private_addresses_refused(no_loopback, url):
    with pytest.raises(NodeError) as info:
        fetch.fetch_bytes(url)
    assert info.value.code == "URL_NOT_ALLOWED"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://example.com/",
        "ftp://example.com/a",
        "http://user:pw@example.com/a.png",
        "http:///nohost",
    ],
)
def test_bad_schemes_and_forms_refused(no_loopback, url):
    with pytest.raises(NodeError) as info:
        fetch.fetch_bytes(url)
    assert info.value.code == "URL_NOT_ALLOWED"


def test_dns_name_resolving_to_private_address_refused(no_loopback, monkeypatch):
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if host == "innocent.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 80))]
        if host == "mixed.example":
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 80)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80)),
            ]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    for host in ("innocent.example", "mixed.example"):
        with pytest.raises(NodeError) as info:
            fetch.fetch_bytes(f"http://{host}/a.png")
        assert info.value.code == "URL_NOT_ALLOWED"


def test_redirect_to_loopback_refused(settings, image_server, monkeypatch):
    """The first hop is allowed (a public name pinned to our test server); the redirect target is not."""
    settings.FETCH_ALLOW_LOOPBACK = False
    real = socket.getaddrinfo
    image_server.add_image("/real.png")
    image_server.add_redirect("/go", "http://127.0.0.1:1/secret")

    def fake(host, port, *args, **kwargs):
        if host == "public.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    # route the pinned public address to the local test server
    original_pool = fetch._pool

    def pool(target, timeout):
        if target.ip == "93.184.216.34":
            target.ip, target.port = "127.0.0.1", image_server.port
        return original_pool(target, timeout)

    monkeypatch.setattr(fetch, "_pool", pool)
    data, _ = fetch.fetch_bytes("http://public.example/real.png")
    assert data.startswith(b"\x89PNG")
    with pytest.raises(NodeError) as info:
        fetch.fetch_bytes("http://public.example/go")
    assert info.value.code == "URL_NOT_ALLOWED"
    assert "/go" in image_server.hits


def test_redirects_followed_and_loop_bounded(settings, image_server):
    settings.FETCH_ALLOW_LOOPBACK = True
    image_server.add_image("/final.png")
    image_server.add_redirect("/r1", image_server.url("/final.png"))
    data, _ = fetch.fetch_bytes(image_server.url("/r1"))
    assert data.startswith(b"\x89PNG")
    image_server.add_redirect("/loop", image_server.url("/loop"))
    with pytest.raises(NodeError) as info:
        fetch.fetch_bytes(image_server.url("/loop"))
    assert info.value.code == "UNREACHABLE_URL"


def test_size_limit(settings, image_server):
    settings.FETCH_ALLOW_LOOPBACK = True
    settings.FETCH_MAX_BYTES = 1000
    image_server.add_image("/big.png", b"\x89PNG" + b"0" * 5000)
    with pytest.raises(NodeError) as info:
        fetch.fetch_bytes(image_server.url("/big.png"))
    assert info.value.code == "IMAGE_TOO_LARGE"


def test_timeout(settings, image_server):
    settings.FETCH_ALLOW_LOOPBACK = True
    image_server.add_image("/slow.png", delay=2)
    with pytest.raises(NodeError) as info:
        fetch.fetch_bytes(image_server.url("/slow.png"), timeout=0.5)
    assert info.value.code == "UNREACHABLE_URL"


def test_decompression_bomb_refused(settings):
    settings.MAX_INPUT_PIXELS = 10_000
    buf = io.BytesIO()
    Image.new("L", (200, 200)).save(buf, format="PNG")  # 40k pixels, tiny file
    with pytest.raises(NodeError) as info:
        fetch.decode_image(buf.getvalue())
    assert info.value.code == "IMAGE_TOO_LARGE"


def test_unsupported_and_corrupt(settings):
    with pytest.raises(NodeError) as info:
        fetch.decode_image(b"GIF89a garbage")
    assert info.value.code == "INVALID_IMAGE"
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, format="ICO")
    with pytest.raises(NodeError) as info:
        fetch.decode_image(buf.getvalue())
    assert info.value.code == "UNSUPPORTED_FORMAT"
