"""LoRA files (seed: POST /api/v1/lora/upload, POST /api/v1/admin/lora/upload, DELETE /api/v1/admin/lora).

Files go to the default storage (local files, or S3) under ``models/loras/`` (the seed's
``/data/models/loras/``): an admin's in ``models/loras/{entity_type}/``, a user's in a tree of their own,
``models/loras/users/{user id}/{entity_type}/``, so that no user reaches another's files. The upload is
streamed to storage (Django keeps a large one in a temporary file, never whole in memory), at most
LORA_MAX_BYTES (500 MB), with one of the seed's extensions; a ``.safetensors`` file must have a valid header
(its length, a JSON table of tensors whose dtypes, shapes and offsets fit the file). The name is made safe; a
name already taken gets ``_v2``, ``_v3``… with ``use_safe_filename`` (the default) and is a 409 without it.
Deleting (admin) moves the file to ``bin/models/loras/…`` rather than destroying it.
"""

from __future__ import annotations

import json
import re
import struct
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from pydantic import BaseModel, Field
from pydantic import ValidationError as PydanticValidationError
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import Conflict, Forbidden, NotFound, PayloadTooLarge
from config.parsers import SafeJSONParser
from config.timefmt import iso_z
from pipelines.loras import EXTENSIONS, ROOT, user_folder
from runs.api.sartiq import schema as S
from runs.api.sartiq.graphs import RequestInvalid, invalid
from runs.api.sartiq.views import SartiqView, fastapi_errors

BIN = "bin/"
USER_ENTITIES = ("clothes", "identities", "product", "styles")
ADMIN_ENTITIES = (*USER_ENTITIES, "faces")
NO_TYPE = "no_type_provided"
MAX_HEADER = 100 * 1024 * 1024
DTYPES = {
    "BOOL",
    "U8",
    "I8",
    "F8_E5M2",
    "F8_E4M3",
    "I16",
    "U16",
    "F16",
    "BF16",
    "I32",
    "U32",
    "F32",
    "F64",
    "I64",
    "U64",
}
SAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def max_bytes() -> int:
    return int(getattr(settings, "LORA_MAX_BYTES", 500 * 1024 * 1024))


def check_safetensors(upload: Any) -> None:
    """422 unless ``upload`` starts with a safetensors header that fits it (read from the stream: 8 bytes and
    the header, never the tensors)."""
    size = upload.size
    upload.seek(0)
    head = upload.read(8)
    problem = None
    if len(head) < 8:
        problem = "shorter than its header"
    else:
        (length,) = struct.unpack("<Q", head)
        if length > MAX_HEADER or length > size - 8:
            problem = "its header length does not fit the file"
        else:
            try:
                table = json.loads(upload.read(length))
            except (UnicodeDecodeError, ValueError):
                table = None
            problem = tensor_table_problem(table, size - 8 - length)
    upload.seek(0)
    if problem:
        raise invalid(["body", "file"], f"Not a valid .safetensors file: {problem}")


def tensor_table_problem(table: Any, data_size: int) -> str | None:
    if not isinstance(table, dict):
        return "its header is not a JSON object"
    for name, spec in table.items():
        if name == "__metadata__":
            if not isinstance(spec, dict) or not all(isinstance(v, str) for v in spec.values()):
                return "__metadata__ must map names to strings"
            continue
        if not isinstance(spec, dict) or spec.get("dtype") not in DTYPES:
            return f"tensor {name!r} has no known dtype"
        shape, offsets = spec.get("shape"), spec.get("data_offsets")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            return f"tensor {name!r} has no valid shape"
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_size
        ):
            return f"tensor {name!r} has offsets outside the file"
    return None


def safe_name(filename: str) -> tuple[str, str]:
    """(stem, extension) of a safe file name; 422 for an extension the seed does not list."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    ext = next((e for e in EXTENSIONS if base.lower().endswith(e)), None)
    if ext is None:
        raise invalid(["body", "file"], f"Unsupported file type: use one of {', '.join(EXTENSIONS)}")
    stem = SAFE_CHARS.sub("_", base[: -len(ext)]).strip("._-")[:150] or "lora"
    return stem, ext


def free_name(folder: str, stem: str, ext: str, versioned: bool) -> str:
    name = f"{folder}{stem}{ext}"
    if not default_storage.exists(name):
        return name
    if not versioned:
        raise Conflict(f"A LoRA file named {stem}{ext} already exists; upload with use_safe_filename=true")
    version = 2
    while default_storage.exists(f"{folder}{stem}_v{version}{ext}"):
        version += 1
    return f"{folder}{stem}_v{version}{ext}"


class UploadForm(BaseModel):
    entity_type: str | None = None
    use_safe_filename: bool = True


class LoRAUploadResponse(BaseModel):
    file_path: str = Field(description="Full path where the LoRA file was stored")
    partial_path: str = Field(
        description="Partial path relative to the LoRA directory, e.g. 'identities/x.safetensors'"
    )
    filename: str = Field(description="Original filename of the uploaded file")
    file_size: int = Field(description="Size of the uploaded file in bytes")
    upload_timestamp: str = Field(description="ISO timestamp of when the file was uploaded")


class AdminLoRAUploadResponse(LoRAUploadResponse):
    entity_type: str = Field(description="The entity type category")


class LoRADeleteRequest(BaseModel):
    partial_path: str = Field(
        max_length=400, description="Relative path of the LoRA file (as returned by upload)"
    )


class LoRADeleteResponse(BaseModel):
    deleted: bool
    full_path: str
    bin_path: str | None = None
    timestamp: str


def upload_body(name: str, entities: tuple[str, ...]) -> Any:
    return inline_serializer(
        name,
        {
            "file": serializers.FileField(help_text="The LoRA model file to upload"),
            "entity_type": serializers.ChoiceField(
                [*entities, NO_TYPE], required=False, allow_null=True, help_text="The entity type"
            ),
            "use_safe_filename": serializers.BooleanField(
                default=True, help_text="Whether to enable automatic versioning for duplicate filenames"
            ),
        },
    )


INVALID = OpenApiResponse(S.HTTPValidationError, description="Validation Error")
TOO_LARGE = OpenApiResponse(S.HTTPError, description="Larger than 500 MB")
CONFLICT = OpenApiResponse(S.HTTPError, description="The name is taken (use_safe_filename=false)")


class UploadBase(SartiqView):
    parser_classes = [MultiPartParser]
    entities: tuple[str, ...] = USER_ENTITIES

    def folder(self, request: Request, entity: str) -> tuple[str, str]:
        """(storage folder of the uploads, the folder partial paths are relative to)."""
        return ROOT, ROOT

    def store(self, request: Request) -> dict[str, Any]:
        form = self.validated_form(request)
        upload = request.data.get("file") if hasattr(request.data, "get") else None
        if upload is None or not hasattr(upload, "read"):
            raise invalid(["body", "file"], "Field required", "missing")
        entity = form.entity_type or NO_TYPE
        if entity not in (*self.entities, NO_TYPE):
            raise invalid(
                ["body", "entity_type"], f"Input should be one of {', '.join(self.entities)}", "enum"
            )
        stem, ext = safe_name(upload.name or "")
        if upload.size > max_bytes():
            raise PayloadTooLarge(f"The file is {upload.size} bytes; at most {max_bytes()}")
        if ext == ".safetensors":
            check_safetensors(upload)
        base, relative_to = self.folder(request, entity)
        name = free_name(f"{base}{entity}/", stem, ext, form.use_safe_filename)
        saved = default_storage.save(name, upload)  # in chunks, from memory or the temporary file
        return {
            "file_path": saved,
            "partial_path": saved[len(relative_to) :],
            "filename": upload.name,
            "file_size": upload.size,
            "upload_timestamp": iso_z(timezone.now()),
            "entity_type": entity,
        }

    def validated_form(self, request: Request) -> UploadForm:
        data = request.data
        fields = {
            k: data.get(k) for k in ("entity_type", "use_safe_filename") if hasattr(data, "get") and k in data
        }
        try:
            return UploadForm.model_validate(fields)
        except PydanticValidationError as exc:
            raise RequestInvalid(fastapi_errors(exc, "body")) from None


class UserUploadView(UploadBase):
    openapi_error_statuses = (401, 403, 429)

    def folder(self, request: Request, entity: str) -> tuple[str, str]:
        own = user_folder(request.user.pk)
        return own, own

    @extend_schema(
        operation_id="sartiq_lora_upload",
        tags=["sartiq"],
        summary="Upload a LoRA model file",
        description="Upload a LoRA model file (.safetensors, .ckpt, .pt, .pth, .bin; at most 500 MB) for "
        "entity type clothes, identities, product or styles (default no_type_provided). It is stored in your "
        "own LoRA folder under a safe filename; a duplicate is versioned (name_v2) with use_safe_filename "
        "(the default) and a 409 without it. A .safetensors header is checked.",
        request={"multipart/form-data": upload_body("Body_upload_lora", USER_ENTITIES)},
        responses={200: LoRAUploadResponse, 409: CONFLICT, 413: TOO_LARGE, 422: INVALID},
    )
    def post(self, request: Request) -> Response:
        body = self.store(request)
        body.pop("entity_type")
        return Response(body)


class AdminView(SartiqView):
    key_scope = None  # an admin token, never an API key
    openapi_error_statuses = (401, 403, 429)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not request.user.is_staff:
            raise Forbidden("Admin privileges required")


class AdminUploadView(AdminView, UploadBase):
    entities = ADMIN_ENTITIES

    @extend_schema(
        operation_id="sartiq_admin_lora_upload",
        tags=["sartiq"],
        summary="Upload a LoRA model file (Admin)",
        description="Upload a LoRA model file to the shared LoRA folder `models/loras/{entity_type}/` "
        "(clothes, identities, product, styles, faces). Same formats, limit, versioning and checks as the "
        "user upload. Requires an admin's token.",
        request={"multipart/form-data": upload_body("Body_admin_upload_lora", ADMIN_ENTITIES)},
        responses={200: AdminLoRAUploadResponse, 409: CONFLICT, 413: TOO_LARGE, 422: INVALID},
    )
    def post(self, request: Request) -> Response:
        return Response(self.store(request))


def checked_partial(path: str) -> str:
    segments = path.split("/")
    if (
        len(segments) != 2
        or segments[0] not in (*ADMIN_ENTITIES, NO_TYPE)
        or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,199}", segments[1])
        or ".." in segments[1]
        or not segments[1].lower().endswith(EXTENSIONS)
    ):
        raise invalid(
            ["body", "partial_path"], "Input should be '<entity type>/<file name>' as upload returned it"
        )
    return path


class AdminDeleteView(AdminView):
    parser_classes = [SafeJSONParser]
    openapi_error_statuses = (401, 403, 404, 429)

    @extend_schema(
        operation_id="sartiq_admin_lora_delete",
        tags=["sartiq"],
        summary="Delete a LoRA model file (Admin)",
        description="Delete a LoRA model file of the shared folder by its partial path (as upload returned "
        "it, e.g. identities/x.safetensors): the file is moved to a bin folder (bin/models/loras/…) for "
        "recovery. Requires an admin's token.",
        request=LoRADeleteRequest,
        responses={200: LoRADeleteResponse, 422: INVALID},
    )
    def delete(self, request: Request) -> Response:
        body = self.validated_body(request, LoRADeleteRequest)
        name = ROOT + checked_partial(body.partial_path)
        if not default_storage.exists(name):
            raise NotFound("LoRA file not found")
        now = timezone.now()
        target = BIN + name
        if default_storage.exists(target):
            stem, dot, ext = target.rpartition(".")
            target = f"{stem}_{now:%Y%m%dT%H%M%S%f}{dot}{ext}"
        with default_storage.open(name, "rb") as source:
            moved = default_storage.save(target, source)
        default_storage.delete(name)
        return Response({"deleted": True, "full_path": name, "bin_path": moved, "timestamp": iso_z(now)})
