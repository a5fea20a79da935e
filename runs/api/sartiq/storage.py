"""Sartiq's image storage (/api/v1/storage/images…) on Django's default storage (local files, or S3).

Each user has a space of their own: the paths a client names (``generations/abc/result.png``; slashes allowed)
live under ``sartiq/<user id>/`` in storage and no one else's are reachable. A path is refused (422) unless
every segment is a plain name: no ``..``, no leading ``/`` or ``.``, no ``%`` (an encoded traversal arrives
decoded, a double-encoded one keeps its ``%``), no backslash. The files of the user's runs are readable too,
by the storage path their tasks show (``result_image_path``: ``artifacts/…``), but not changed here.

Reading a file streams it (local storage) or redirects to a presigned URL (S3, as the seed's R2 redirects to
its CDN). Saving takes a multipart ``file`` that must be an image (PNG, JPEG, WEBP, GIF, BMP, TIFF) of at
most INPUT_MAX_BYTES_PER_REQUEST bytes, and replaces what was there.
"""

from __future__ import annotations

import mimetypes
import re
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from pydantic import BaseModel, Field
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import NotFound, PayloadTooLarge
from pipelines.nodes.base import NodeError
from runs import access, fetch
from runs.api.sartiq import schema as S
from runs.api.sartiq.graphs import invalid
from runs.api.sartiq.views import SartiqView

SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._ -]{0,199}$")
MAX_DEPTH = 16
MAX_PATH = 512


def user_root(user: Any) -> str:
    return f"sartiq/{user.pk}/"


def checked(path: str) -> str:
    """``path`` when every segment is a plain name; 422 otherwise."""
    segments = path.split("/")
    if (
        not path
        or len(path) > MAX_PATH
        or len(segments) > MAX_DEPTH
        or not all(SEGMENT.match(s) and s not in (".", "..") and ".." not in s for s in segments)
    ):
        raise invalid(
            ["path", "path"],
            "Invalid path: use names of letters, digits, '.', '_', '-' and spaces, separated by '/'",
            "value_error",
        )
    return path


def own_name(user: Any, path: str) -> str:
    return user_root(user) + checked(path)


def readable_name(user: Any, path: str) -> str | None:
    """The storage name ``path`` names for ``user``: in the user's space, or one of the user's run files."""
    name = own_name(user, path)
    if default_storage.exists(name):
        return name
    if path.startswith("artifacts/") and access.artifacts_visible_to(user).filter(file=path).exists():
        return path
    return None


def content_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


class ImageItem(BaseModel):
    path: str = Field(description="Path in your storage space")
    size: int = Field(description="Bytes")
    content_type: str


class ImageList(BaseModel):
    images: list[ImageItem]
    count: int = Field(description="Images listed (at most `limit`)")


class SavedImage(ImageItem):
    url: str = Field(description="A signed, expiring URL of the file")


class DeletedImage(BaseModel):
    path: str
    deleted: bool


class ListQuery(BaseModel):
    limit: int = Field(default=100, ge=0, le=10_000)
    prefix: str | None = None


PATH = OpenApiParameter(
    "path", OpenApiTypes.STR, OpenApiParameter.PATH, description="Path in your storage space (may hold '/')"
)
INVALID = OpenApiResponse(S.HTTPValidationError, description="Validation Error")
FILE_BODY = inline_serializer(
    "Body_save_image_api_v1_storage_images__path__post", {"file": serializers.FileField()}
)


def walk(root: str, limit: int, prefix: str, folder: str = "") -> list[tuple[str, int]]:
    """(path relative to ``root``, size) of the files under ``root`` whose path starts with ``prefix``, in
    path order, at most ``limit``; folders that cannot hold such a path are not opened."""
    if limit <= 0:
        return []
    try:
        dirs, files = default_storage.listdir(root + folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found: list[tuple[str, int]] = []
    entries = sorted([(folder + d + "/", True) for d in dirs] + [(folder + f, False) for f in files])
    for path, is_dir in entries:
        if len(found) >= limit:
            break
        if is_dir:
            if path.startswith(prefix) or prefix.startswith(path):
                found.extend(walk(root, limit - len(found), prefix, path))
        elif path.startswith(prefix):
            found.append((path, default_storage.size(root + path)))
    return found


class ImageListView(SartiqView):
    openapi_error_statuses = (401, 403, 429)

    @extend_schema(
        operation_id="sartiq_storage_images_list",
        tags=["sartiq"],
        summary="List Images",
        description="List stored images: the files of your storage space whose path starts with `prefix`, "
        "in path order, at most `limit`.",
        parameters=[
            OpenApiParameter("limit", OpenApiTypes.INT, default=100, required=False),
            OpenApiParameter("prefix", OpenApiTypes.STR, required=False),
        ],
        responses={200: ImageList, 422: INVALID},
    )
    def get(self, request: Request) -> Response:
        query = self.validated_query(request, ListQuery)
        prefix = query.prefix or ""
        if prefix:
            checked(prefix.rstrip("/") or "x")
        items = [
            {"path": path, "size": size, "content_type": content_type(path)}
            for path, size in walk(user_root(request.user), query.limit, prefix)
        ]
        return Response({"images": items, "count": len(items)})


class ImageView(SartiqView):
    parser_classes = [MultiPartParser]
    openapi_error_statuses = {"GET": (401, 403, 404, 429), "*": (401, 403, 404, 429)}

    @extend_schema(
        operation_id="sartiq_storage_images_get",
        tags=["sartiq"],
        summary="Get Image",
        description="Get image by path: the bytes, or a redirect to a presigned URL when the storage is S3. "
        "Paths of your tasks' files (`result_image_path`) are readable too.",
        parameters=[PATH],
        responses={
            (200, "image/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The image"),
            302: OpenApiResponse(description="Redirect to a presigned URL (S3 storage)"),
            422: INVALID,
        },
    )
    def get(self, request: Request, path: str) -> HttpResponse:
        name = readable_name(request.user, path)
        if name is None:
            raise NotFound("Image not found")
        if settings.STORAGE_BUCKET:
            return HttpResponseRedirect(default_storage.url(name))
        return FileResponse(default_storage.open(name, "rb"), content_type=content_type(name))

    def head(self, request: Request, path: str) -> HttpResponse:
        """Check if image exists: 200 with its size and type, or 404, no body."""
        try:
            name = readable_name(request.user, path)
        except Exception:  # noqa: BLE001 - an invalid path does not exist either
            name = None
        if name is None:
            return HttpResponse(status=404)
        response = HttpResponse(status=200, content_type=content_type(name))
        response["Content-Length"] = str(default_storage.size(name))
        return response

    @extend_schema(
        operation_id="sartiq_storage_images_save",
        tags=["sartiq"],
        summary="Save Image",
        description="Save image to storage at `path` in your space (multipart `file`: PNG, JPEG, WEBP, GIF, "
        "BMP or TIFF), replacing what was there.",
        parameters=[PATH],
        request={"multipart/form-data": FILE_BODY},
        responses={200: SavedImage, 413: OpenApiResponse(S.HTTPError, description="Too large"), 422: INVALID},
    )
    def post(self, request: Request, path: str) -> Response:
        name = own_name(request.user, path)
        upload = request.data.get("file") if hasattr(request.data, "get") else None
        if upload is None or not hasattr(upload, "read"):
            raise invalid(["body", "file"], "Field required", "missing")
        limit = settings.INPUT_MAX_BYTES_PER_REQUEST
        if upload.size > limit:
            raise PayloadTooLarge(f"The image is {upload.size} bytes; at most {limit}")
        data = upload.read()
        try:
            image = fetch.open_image(data)
        except NodeError as exc:
            raise invalid(["body", "file"], f"Not an image this API stores: {exc.message}") from None
        if default_storage.exists(name):
            default_storage.delete(name)
        saved = default_storage.save(name, ContentFile(data))
        kind = {"JPEG": "image/jpeg"}.get(image.format, f"image/{(image.format or 'png').lower()}")
        return Response(
            {
                "path": saved[len(user_root(request.user)) :],
                "size": len(data),
                "content_type": kind,
                "url": request.build_absolute_uri(default_storage.url(saved))
                if not default_storage.url(saved).startswith("http")
                else default_storage.url(saved),
            }
        )

    @extend_schema(
        operation_id="sartiq_storage_images_delete",
        tags=["sartiq"],
        summary="Delete Image",
        description="Delete image from your storage space.",
        parameters=[PATH],
        request=None,
        responses={200: DeletedImage, 422: INVALID},
    )
    def delete(self, request: Request, path: str) -> Response:
        name = own_name(request.user, path)
        if not default_storage.exists(name):
            raise NotFound("Image not found")
        default_storage.delete(name)
        return Response({"path": path, "deleted": True})
