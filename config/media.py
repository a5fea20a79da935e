"""Media files (artifacts, shader renders) reach browsers only through signed, expiring URLs.

A file URL is a capability: whoever holds it may fetch the bytes until it expires, so URLs are handed out only
by views that have checked who is asking (the run's caller, the shader's audience). On S3 django-storages
presigns them (``querystring_auth``, ``AWS_QUERYSTRING_EXPIRE``); in the local-storage default
:class:`SignedFileSystemStorage` signs them and :func:`serve` refuses any request whose signature is missing,
tampered with or expired. Either way ``storage.url(name)`` is the one source of file URLs, and
:func:`absolute_url` the one place they are made absolute.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils.crypto import constant_time_compare
from django.views import static

SALT = "canvasflow.media"
logger = logging.getLogger(__name__)


def _signature(name: str, expires: int) -> str:
    return signing.Signer(salt=SALT).signature(f"{name}\n{expires}")


def _expiry(now: float | None = None) -> int:
    """The expiry of a URL signed now: MEDIA_URL_MAX_AGE from now, rounded up to a step.

    The rounding keeps a file's URL stable for a while (browsers cache the thumbnail of a feed page instead of
    refetching it on every poll); a URL therefore lives between max age and max age plus one step."""
    max_age = settings.MEDIA_URL_MAX_AGE
    step = max(1, max_age // 10)
    deadline = int(now if now is not None else time.time()) + max_age
    return -(-deadline // step) * step


def signed_query(name: str, now: float | None = None) -> str:
    expires = _expiry(now)
    return urlencode({"expires": expires, "signature": _signature(name, expires)})


def check_signature(name: str, expires: Any, signature: Any, now: float | None = None) -> bool:
    """True when ``signature`` was made by :func:`signed_query` for ``name`` and has not expired."""
    if not isinstance(expires, str) or not expires.isdigit() or not isinstance(signature, str):
        return False
    if int(expires) < (now if now is not None else time.time()):
        return False
    return constant_time_compare(signature, _signature(name, int(expires)))


class SignedFileSystemStorage(FileSystemStorage):
    """Local files whose URLs carry an expiring signature over the storage path (checked by :func:`serve`)."""

    def url(self, name: str | None) -> str:
        url = super().url(name)
        return f"{url}?{signed_query(name or '')}"


def delete_on_commit(names: list[str]) -> None:
    """Delete stored files once the transaction that forgot them commits (never files a rollback keeps)."""

    def remove() -> None:
        for name in names:
            try:
                default_storage.delete(name)
            except OSError:
                logger.warning("could not delete the stored file %s", name, exc_info=True)

    if names:
        transaction.on_commit(remove)


def absolute_url(name: str, request: Any = None) -> str:
    """The signed URL of the stored file ``name``, absolute when a base is known (PUBLIC_BASE_URL, the
    request, or a run's remembered base URL: anything with ``build_absolute_uri``)."""
    url = default_storage.url(name)
    if url.startswith(("http://", "https://")):
        return url
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL + url
    if request is not None:
        return request.build_absolute_uri(url)
    return url


def serve(request: HttpRequest, path: str) -> HttpResponse:
    """Serve a local media file for a valid signature only; never the bytes otherwise."""
    if not check_signature(path, request.GET.get("expires"), request.GET.get("signature")):
        return HttpResponseForbidden("This file link is missing its signature or has expired.")
    try:
        response = static.serve(request, path, document_root=settings.MEDIA_ROOT)
    except Http404:
        raise Http404("File not found") from None
    remaining = max(0, int(request.GET["expires"]) - int(time.time()))
    response["Cache-Control"] = f"private, max-age={remaining}"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
