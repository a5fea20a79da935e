"""Safe outbound HTTP: image inputs by URL and webhook/callback URLs.

Every hop is checked *after* DNS resolution: the connection goes to the address
we checked (no second lookup a rebinding DNS server could change), private,
loopback, link-local, multicast, reserved and cloud-metadata addresses are
refused, and each redirect is checked again. Bodies are size-limited and the
whole fetch has a deadline. ``FETCH_ALLOW_LOOPBACK`` lets tests use a local
server; it is never on in production.
"""

from __future__ import annotations

import base64
import io
import ipaddress
import socket
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3
from django.conf import settings
from PIL import Image, UnidentifiedImageError

from pipelines.nodes.base import ImageValue, NodeError

MAX_REDIRECTS = 5
USER_AGENT = "Canvasflow-Fetcher/1.0"


class UnsafeURL(NodeError):
    def __init__(self, message: str):
        super().__init__(message, code="URL_NOT_ALLOWED")


def _allow_loopback() -> bool:
    return bool(getattr(settings, "FETCH_ALLOW_LOOPBACK", False))


NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries and may be routed to: mapped, 6to4, Teredo, NAT64."""
    found = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if ip in NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [v4 for v4 in found if v4 is not None]


def _check_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = embedded_ipv4(ip)
        if ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        else:
            for v4 in embedded:  # [2002:7f00:1::] is 127.0.0.1 through a 6to4 relay
                _check_ip(v4)
    if ip.is_loopback and _allow_loopback():
        return
    if not ip.is_global or ip.is_multicast or ip.is_reserved:
        raise UnsafeURL(f"address {ip} is not a public address")


@dataclass
class Target:
    scheme: str
    host: str
    port: int
    path: str
    ip: str


def resolve_public(url: str, *, https_only: bool = False) -> Target:
    """Parse and resolve ``url``; raise UnsafeURL unless every address it resolves to is public."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL("malformed URL") from exc
    scheme = (parts.scheme or "").lower()
    allowed = ("https",) if https_only else ("http", "https")
    if (
        https_only
        and scheme == "http"
        and _allow_loopback()
        and parts.hostname in ("127.0.0.1", "localhost", "::1")
    ):
        allowed = ("http", "https")  # tests: a plain local receiver
    if scheme not in allowed:
        raise UnsafeURL(f"URL scheme must be {' or '.join(allowed)}")
    if not parts.hostname:
        raise UnsafeURL("URL has no host")
    if parts.username or parts.password:
        raise UnsafeURL("credentials in URLs are not allowed")
    port = port or (443 if scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise NodeError(f"could not resolve host '{parts.hostname}'", code="UNREACHABLE_URL") from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for ip in addresses:  # every address must be public, not just the first
        _check_ip(ip)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme, parts.hostname, port, path, str(addresses[0]))


def _pool(target: Target, timeout: urllib3.Timeout) -> urllib3.HTTPConnectionPool:
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            target.ip,
            target.port,
            timeout=timeout,
            retries=False,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=__import__("certifi").where(),
        )
    return urllib3.HTTPConnectionPool(target.ip, target.port, timeout=timeout, retries=False)


def _host_header(target: Target) -> str:
    default = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default else f"{host}:{target.port}"


def fetch_bytes(url: str, *, max_bytes: int | None = None, timeout: float | None = None) -> tuple[bytes, str]:
    """GET ``url`` safely, following redirects; returns (body, content type)."""
    max_bytes = max_bytes or settings.FETCH_MAX_BYTES
    deadline = time.monotonic() + (timeout or settings.FETCH_TIMEOUT_SECONDS)
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        target = resolve_public(current)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NodeError("timed out fetching the URL", code="UNREACHABLE_URL")
        pool = _pool(target, urllib3.Timeout(connect=min(5.0, remaining), read=remaining))
        try:
            resp = pool.urlopen(
                "GET",
                target.path,
                headers={"Host": _host_header(target), "User-Agent": USER_AGENT, "Accept": "image/*"},
                redirect=False,
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise NodeError(
                f"could not fetch the URL: {exc.__class__.__name__}", code="UNREACHABLE_URL"
            ) from exc
        try:
            if resp.status in (301, 302, 303, 307, 308):
                location = resp.headers.get("Location")
                if not location:
                    raise NodeError("redirect without a Location", code="UNREACHABLE_URL")
                current = urljoin(current, location)
                continue
            if resp.status != 200:
                raise NodeError(f"the URL answered HTTP {resp.status}", code="UNREACHABLE_URL")
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise NodeError(f"the file is larger than {max_bytes} bytes", code="IMAGE_TOO_LARGE")
            chunks, total = [], 0
            for chunk in resp.stream(64 * 1024):
                total += len(chunk)
                if total > max_bytes:
                    raise NodeError(f"the file is larger than {max_bytes} bytes", code="IMAGE_TOO_LARGE")
                if time.monotonic() > deadline:
                    raise NodeError("timed out fetching the URL", code="UNREACHABLE_URL")
                chunks.append(chunk)
            return b"".join(chunks), resp.headers.get("Content-Type", "")
        except urllib3.exceptions.HTTPError as exc:
            raise NodeError("the connection failed while reading", code="UNREACHABLE_URL") from exc
        finally:
            resp.release_conn()
            pool.close()
    raise NodeError("too many redirects", code="UNREACHABLE_URL")


IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")


@contextmanager
def _image_errors() -> Iterator[None]:
    """Pillow's refusals as NodeErrors; decompression bombs are refused, not warned about."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except NodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise NodeError("image has too many pixels", code="IMAGE_TOO_LARGE") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise NodeError("the data is not a readable image", code="INVALID_IMAGE") from exc


def open_image(data: bytes) -> Image.Image:
    """Open image bytes from their header only (no pixels decoded): pixel limit, format, decompression
    bombs checked. Submit uses it to measure an input image; :func:`decode_image` then loads the pixels."""
    max_pixels = settings.MAX_INPUT_PIXELS
    with _image_errors():
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > max_pixels:
            raise NodeError(
                f"image has {image.width}x{image.height} pixels; the limit is {max_pixels}",
                code="IMAGE_TOO_LARGE",
                details={"width": image.width, "height": image.height, "max_pixels": max_pixels},
            )
        if image.format not in IMAGE_FORMATS:
            raise NodeError(f"unsupported image format {image.format}", code="UNSUPPORTED_FORMAT")
    return image


def decode_image(data: bytes, source: str = "") -> ImageValue:
    """Decode image bytes with size and pixel limits (decompression bombs refused)."""
    image = open_image(data)
    with _image_errors():
        image.load()
    fmt = image.format or "PNG"
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
        image = image.copy()
    return ImageValue(
        image=image,
        format=fmt if fmt in ("PNG", "JPEG", "WEBP") else "PNG",
        metadata={"width": image.width, "height": image.height},
        source=source,
    )


def data_uri_bytes(uri: str, max_bytes: int | None = None) -> bytes:
    """The bytes of a base64 ``data:image/…`` URI (of at most ``max_bytes``, when given)."""
    header, _, payload = uri.partition(",")
    if not header.startswith("data:image/") or ";base64" not in header:
        raise NodeError("data URIs must be base64 images", code="INVALID_INPUT")
    if max_bytes is not None and len(payload) > max_bytes * 4 // 3 + 4:
        raise NodeError("the image is too large", code="IMAGE_TOO_LARGE")
    try:
        return base64.b64decode(payload, validate=True)
    except ValueError as exc:
        raise NodeError("invalid base64 in data URI", code="INVALID_INPUT") from exc


def decode_data_uri(uri: str) -> ImageValue:
    return decode_image(data_uri_bytes(uri, settings.FETCH_MAX_BYTES), source="data-uri")


def fetch_image(url: str) -> ImageValue:
    data, _ = fetch_bytes(url)
    return decode_image(data, source=url)
