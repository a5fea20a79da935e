"""Authorization matrix (issue 12, "Show it"): two Pro users with credits, A (alice) and B (bob), and every
route that names one of A's objects, asked by B with every credential B can hold.

Why a matrix: each surface checks ownership in its own code (studio ``get_pipeline``, ``runs.access``, the
Fluxara job filter, the FractalQ session key, ``shaders.services.get_visible``/``get_owned``, the media
signature), so a cross-user hole is one forgotten filter in one view. One table of (route, method, A's object)
rows asked the same questions catches that wherever it is, and a route added later is one row away.

Every row asserts, in order:

1. B is refused (the row's 403 or 404) in the surface's own error shape with B's access token, and with a key
   of B for *every* non-empty scope set (31; the kinds ``fiz_``/``ff_key_`` take turns, and each kind also
   with every scope): a key whose scopes reach the route gets the row's answer for B, a key whose scopes
   don't reach it gets 403; no answer carries A's data (A's email, input URL, upload and output artifact
   ids, file paths and signed URLs, session key, API keys, BYOK provider and key, draft shader source and
   title, private pipeline name). All of A's objects exist before B asks, so every answer is checked
   against all of them.
2. Every key of A that lacks the row's scope (every such scope set) is refused with 403 in the surface's
   shape, and where the route takes no key (studio, account) every key of A is refused.
3. Nothing of A's changed (pipelines, versions, session keys, runs, artifacts, shaders, keys, BYOK keys,
   desires, the user row and its credits).
4. A itself succeeds on the same route (with a key holding exactly the row's scope, else its access token),
   so no row can pass because the route is broken or the object missing.

Routes covered by the matrix (``ROWS``), with A's object in the path:

* studio ``/api/v1/studio/``: ``pipelines/{id}`` GET PATCH PUT DELETE (public and private pipeline),
  ``…/validate``, ``…/duplicate``, ``…/publish``, ``…/rotate-key``, ``…/versions``, ``…/versions/{n}``,
  ``…/versions/{n}/restore``, ``…/runs`` GET and POST, ``…/usage``, ``runs/{id}`` (studio and Fizzly runs),
  ``runs/{id}/cancel``
* Fizzly ``/workflows/{user}/{slug}`` POST (private workflow), ``…/requests/{id}``, ``…/status``,
  ``…/status/stream``, ``…/cancel`` (under A's path and under B's own workflow path)
* fal-compatible ``/fal/{user}/{slug}`` POST (private workflow), ``…/requests/{id}``, ``…/status``,
  ``…/cancel``
* Replicate-compatible ``/replicate/v1/predictions/{id}`` GET, ``…/cancel``, ``/replicate/v1/predictions``
  POST (A's private version), ``/replicate/v1/models/{user}/{slug}`` GET, ``…/versions[/{id}]``,
  ``…/predictions`` POST (A's private model)
* Fluxara ``/api/v1/jobs`` POST (A's private pipeline), ``/api/v1/jobs/{id}``, ``…/outputs``,
  ``/api/v1/artifacts/{id}`` (upload and output)
* FractalQ ``/api/node/api/{B's key}/jobs/{A's job}`` (a FractalQ job and a studio run)
* media ``/media/{file}``: A's files unsigned, A's file with the signature of a URL handed to B, B's file
  with the signature of a URL handed to A
* fractafrag ``/api/v1/shaders/{id}`` GET PUT PATCH DELETE, ``…/versions``, ``…/versions/{n}``,
  ``…/versions/{n}/restore``, ``…/fork``, ``…/replay``, ``/feed/similar/{id}``, ``/feed/dwell`` (A's draft);
  PUT DELETE restore (A's published shader: 403); ``/desires/{id}/fulfill`` (A's desire and shader)
* shader pages ``/shaders/{id}/``, ``/shaders/{id}/edit/`` (Django session)
* account ``/api/v1/me/api-keys/{id}`` DELETE, ``/api/v1/me/ai-keys?provider=`` DELETE

Beside the matrix: lists B may read show none of A's private objects (``LIST_ROWS``: studio pipelines,
Fluxara pipelines, shaders/mine, shader search and feeds, API keys, BYOK keys, public profile); the owner of
a public pipeline sees a consumer's runs redacted (the other direction); B's runs cannot read A's upload as
an input; the WebSocket ``/ws/runs/{id}/`` refuses B's token and every key of B, and A's keys without
``runs:read``; no key of A with any scopes reaches ``/api/v1/me``, ``/me/api-keys``, ``/me/ai-keys``.

Not here: the MCP tools (``tests/shaders/test_mcp.py`` keeps drafts private over MCP, with keys of another
user); votes on drafts (refused even to the owner, so there is no "A succeeds" to assert: tests/shaders);
the canvas pages ``/studio/{id}/`` (shells with no data: the API they call is in the matrix).
"""

from __future__ import annotations

import io
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from accounts import keys
from accounts import services as account_services
from accounts.models import ApiKey, ApiKeyKind, ProviderKey, Tier, User
from accounts.scopes import Scope
from pipelines import services as pipeline_services
from pipelines.models import Pipeline, PublishedVersion, SessionKey
from runs.api.sartiq.models import SartiqTask
from runs.models import Artifact, Run, RunStatus
from shaders import desires as desire_services
from shaders import services as shader_services
from shaders.models import Desire, Shader, ShaderVersion
from tests.conftest import PASSWORD
from tests.runs import conftest as runs_fixtures
from tests.runs.conftest import png_bytes, resize_graph
from tests.shaders.conftest import GOOD_CODE, OTHER_CODE

pytestmark = pytest.mark.django_db

image_server = runs_fixtures.image_server  # the local image server of the run tests

SCOPES = [s.value for s in Scope]
SCOPE_SETS = [frozenset(c) for n in range(1, len(SCOPES) + 1) for c in itertools.combinations(SCOPES, n)]
KINDS = [ApiKeyKind.QUEUE, ApiKeyKind.FRACTAFRAG]
NO_KEYS = "none"  # a route no API key may call
NOT_HEADER_AUTH = "n/a"  # FractalQ, media, pages: the credential is not an Authorization header


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # many users, no cost
    settings.RUNS_EAGER = True
    settings.FETCH_ALLOW_LOOPBACK = True


# --- the two users and A's objects, made on demand ----------------------------------------------------


def relative(url: str) -> str:
    """Path and query of an absolute URL, as the test client wants it."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def body_of(resp: Any) -> bytes:
    if not getattr(resp, "streaming", False):
        return resp.content

    async def drain() -> bytes:
        chunks = []
        async for chunk in resp.streaming_content:
            chunks.append(chunk)
        return b"".join(chunks)

    if hasattr(resp.streaming_content, "__aiter__"):
        return async_to_sync(drain)()
    return b"".join(resp.streaming_content)


class World:
    """A and B, and A's objects, each made the first time something asks for it (``populate`` makes all).

    ``secrets`` collects what B must never read back: it grows as objects are made, and each answer B gets is
    checked against everything made so far."""

    def __init__(self, make_user: Callable, server: Any, settings: Any):
        self.tag = uuid.uuid4().hex[:10]
        self.server = server
        self.settings = settings
        self.alice = make_user(
            tier=Tier.PRO, credits_amount=500, username="alice", email=f"alice.{self.tag}@example.com"
        )
        self.bob = make_user(
            tier=Tier.PRO, credits_amount=500, username="bob", email=f"bob.{self.tag}@example.com"
        )
        self.secrets: set[str] = {self.alice.email}
        self._api = APIClient()

    def secret(self, *values: str) -> None:
        self.secrets.update(v for v in values if v)

    # clients ------------------------------------------------------------------------------------------

    def client(
        self, *, token: str | None = None, key: str | None = None, session: User | None = None
    ) -> APIClient:
        """A client with exactly this credential (none: anonymous). Header clients share one APIClient: a new
        one loads the whole middleware stack on its first request, which would be most of this file's time."""
        if session is not None:
            client = APIClient()
            client.force_login(session)
            return client
        client = self._api
        client.cookies.clear()
        client.credentials()
        if token:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        elif key:
            client.credentials(HTTP_AUTHORIZATION=f"Key {key}" if key.startswith("fiz_") else f"Bearer {key}")
        return client

    @cached_property
    def alice_token(self) -> str:
        return account_services.issue_tokens(self.alice)[0]

    @cached_property
    def bob_token(self) -> str:
        return account_services.issue_tokens(self.bob)[0]

    def keys_of(self, user: User) -> list[tuple[str, frozenset[str], str]]:
        """(label, scopes, raw key): a key with each non-empty scope set, the kinds taking turns, and a key of
        each kind with every scope (scopes, not kinds, decide what a key reaches on the REST surfaces)."""
        made = []
        sets = [(KINDS[i % 2], scopes) for i, scopes in enumerate(SCOPE_SETS)]
        sets.append((KINDS[len(SCOPE_SETS) % 2], SCOPE_SETS[-1]))
        for kind, scopes in sets:
            raw = keys.create_api_key(user, f"{kind}:{sorted(scopes)}", kind, scopes=sorted(scopes)).raw
            made.append((f"{user.username}'s {kind} key {sorted(scopes)}", scopes, raw))
        return made

    @cached_property
    def bob_keys(self) -> list[tuple[str, frozenset[str], str]]:
        return self.keys_of(self.bob)

    @cached_property
    def alice_keys(self) -> list[tuple[str, frozenset[str], str]]:
        keys_ = self.keys_of(self.alice)
        self.secret(*(raw for _, _, raw in keys_))
        return keys_

    def alice_key_with(self, scope: str) -> str:
        kind = ApiKeyKind.FRACTAFRAG if scope.startswith(("shaders", "mcp")) else ApiKeyKind.QUEUE
        return keys.create_api_key(self.alice, f"only {scope}", kind, scopes=[scope]).raw

    # A's pipelines and runs -----------------------------------------------------------------------------

    @cached_property
    def image_url(self) -> str:
        url = self.server.add_image(f"/alice-input-{self.tag}.png")
        self.secret(url, f"alice-input-{self.tag}")
        return url

    @cached_property
    def pipeline(self) -> Pipeline:
        """A's published public pipeline: B may call it, never manage it nor read A's runs of it."""
        pipeline = pipeline_services.create_pipeline(
            self.alice, "Thumbs", description=f"alice-desc-{self.tag}", graph=resize_graph()
        )
        pipeline_services.update_pipeline(pipeline, {"is_public": True})
        self.session_key = pipeline_services.publish(pipeline).session_key
        self.secret(self.session_key, pipeline.description)
        return pipeline

    @cached_property
    def private_pipeline(self) -> Pipeline:
        pipeline = pipeline_services.create_pipeline(
            self.alice, f"Alice private {self.tag}", graph=resize_graph(), slug=f"private-{self.tag}"
        )
        key = pipeline_services.publish(pipeline).session_key
        self.secret(pipeline.name, key)
        return pipeline

    @cached_property
    def bob_pipeline(self) -> Pipeline:
        pipeline = pipeline_services.create_pipeline(self.bob, "Bob thumbs", graph=resize_graph())
        self.bob_session_key = pipeline_services.publish(pipeline).session_key
        return pipeline

    @property
    def bob_key(self) -> str:
        self.bob_pipeline  # noqa: B018 - publishes it and sets the key
        return self.bob_session_key

    def populate(self) -> None:
        """Make all of A's objects, so every answer B gets is checked against all of A's secrets."""
        for name in (
            "upload",
            "studio_run",
            "output_url_of_studio_run",
            "fizzly_run",
            "sartiq_task",
            "sartiq_image",
            "queued_run",
            "fluxara_job",
            "fractalq_job",
            "private_pipeline",
            "draft_shader",
            "published_shader",
            "desire",
            "alice_api_key",
            "provider",
            "alice_keys",
            "bob_keys",
        ):
            getattr(self, name)

    def _note_run(self, run_id: str) -> str:
        """Record a finished run's output files (ids, storage paths) as A's secrets."""
        for art in Artifact.objects.filter(run_id=run_id):
            self.secret(art.id, art.file.name)
        return run_id

    @cached_property
    def upload(self) -> dict[str, Any]:
        resp = self.client(token=self.alice_token).post(
            "/api/v1/studio/uploads", {"file": io.BytesIO(png_bytes())}, format="multipart"
        )
        assert resp.status_code == 201, resp.content
        body = resp.json()
        self.secret(body["artifact_id"], urlsplit(body["url"]).path, body["url"])
        return body

    @cached_property
    def bob_upload(self) -> dict[str, Any]:
        resp = self.client(token=self.bob_token).post(
            "/api/v1/studio/uploads", {"file": io.BytesIO(png_bytes(color=(1, 2, 3)))}, format="multipart"
        )
        assert resp.status_code == 201, resp.content
        return resp.json()

    @cached_property
    def studio_run(self) -> str:
        """A completed studio run of A (input: A's image URL), with its output and per-node files."""
        resp = self.client(token=self.alice_token).post(
            f"/api/v1/studio/pipelines/{self.pipeline.pk}/runs",
            {"inputs": {"image_url": self.image_url}},
            format="json",
        )
        assert resp.status_code == 202, resp.content
        run = Run.objects.get(pk=resp.json()["id"])
        assert run.status == RunStatus.COMPLETED, run.error
        return self._note_run(run.pk)

    @property
    def output_artifact(self) -> Artifact:
        return Artifact.objects.filter(run_id=self.studio_run, output_key="result_url").get()

    @cached_property
    def output_url_of_studio_run(self) -> str:
        """The signed URL of A's studio output, as A's own run detail hands it out."""
        resp = self.client(token=self.alice_token).get(f"/api/v1/studio/runs/{self.studio_run}")
        assert resp.status_code == 200, resp.content
        url = resp.json()["outputs"]["result_url"]["url"]
        self.secret(url)
        return url

    @cached_property
    def sartiq_task(self) -> str:
        """A completed Sartiq Compute task of A (input: A's image URL), with its result file."""
        origin = f"alice-origin-{self.tag}"
        resp = self.client(token=self.alice_token).post(
            "/api/v1/tasks/",
            {
                "task_type": "IMAGE_ADJUSTER",
                "origin_instance": origin,
                "input_image": self.image_url,
                "mode": "crop",
                "aspect_ratio": 1.0,
            },
            format="json",
        )
        assert resp.status_code == 200 and resp.json()["status"] == "COMPLETED", resp.content
        self.secret(origin)
        self._note_run(Run.objects.get(sartiq_task__id=resp.json()["id"]).pk)
        return resp.json()["id"]

    @cached_property
    def sartiq_image(self) -> str:
        """An image in A's Sartiq storage space."""
        path = f"alice-{self.tag}/secret.png"
        upload = io.BytesIO(png_bytes())
        upload.name = "secret.png"
        resp = self.client(token=self.alice_token).post(
            f"/api/v1/storage/images/{path}", {"file": upload}, format="multipart"
        )
        assert resp.status_code == 200, resp.content
        return path

    @cached_property
    def sartiq_result_path(self) -> str:
        """The storage path of A's Sartiq task's result (its ``result_image_path``)."""
        self.sartiq_task  # noqa: B018
        result = Artifact.objects.get(run__sartiq_task__id=self.sartiq_task, output_key="result_image")
        return result.file.name

    @cached_property
    def fizzly_run(self) -> str:
        """A completed Fizzly request of A, whose input is A's private upload."""
        resp = self.client(token=self.alice_token).post(
            f"/workflows/alice/{self.pipeline.slug}",
            {"inputs": {"image_url": self.upload["artifact_id"]}},
            format="json",
        )
        assert resp.status_code == 200, resp.content
        run = Run.objects.get(pk=resp.json()["request_id"])
        assert run.status == RunStatus.COMPLETED, run.error
        return self._note_run(run.pk)

    @cached_property
    def queued_run(self) -> str:
        """A Fizzly request of A still in the queue (no worker in the test), so A can cancel it."""
        self.settings.RUNS_EAGER = False
        try:
            resp = self.client(token=self.alice_token).post(
                f"/workflows/alice/{self.pipeline.slug}",
                {"inputs": {"image_url": self.image_url}},
                format="json",
            )
        finally:
            self.settings.RUNS_EAGER = True
        assert resp.status_code == 200, resp.content
        assert Run.objects.get(pk=resp.json()["request_id"]).status == RunStatus.QUEUED
        return resp.json()["request_id"]

    @cached_property
    def fluxara_job(self) -> str:
        resp = self.client(token=self.alice_token).post(
            "/api/v1/jobs",
            {"pipeline": self.pipeline.slug, "input": {"image_url": self.image_url}},
            format="json",
        )
        assert resp.status_code == 201, resp.content
        job = resp.json()["job_id"]
        for run_id in Run.objects.filter(job_id=job).values_list("pk", flat=True):
            self._note_run(run_id)
        return job

    @cached_property
    def fractalq_job(self) -> str:
        resp = self.client().post(
            f"/api/node/api/{self.session_key_of_pipeline}/execute",
            {"inputs": {"image_url": self.image_url}},
            format="json",
        )
        assert resp.status_code == 200, resp.content
        return self._note_run(resp.json()["jobId"])

    @property
    def session_key_of_pipeline(self) -> str:
        self.pipeline  # noqa: B018 - publishes it and sets the key
        return self.session_key

    # A's shaders, desire, keys ---------------------------------------------------------------------------

    @cached_property
    def draft_shader(self) -> Shader:
        title = f"Alice draft {self.tag}"
        shader = shader_services.create_shader(
            self.alice, title=title, glsl_code=f"// alice-glsl-{self.tag}\n{GOOD_CODE}", status="draft"
        ).shader
        self.secret(title, f"alice-glsl-{self.tag}")
        return shader

    @cached_property
    def published_shader(self) -> Shader:
        shader = shader_services.create_shader(
            self.alice, title="Alice published", glsl_code=GOOD_CODE, status="published"
        ).shader
        shader_services.update_shader(self.alice, shader.pk, {"glsl_code": OTHER_CODE})  # a version 2
        return shader

    @cached_property
    def desire(self) -> Desire:
        return desire_services.create_desire(self.alice, f"alice wants {self.tag}")

    @cached_property
    def alice_api_key(self) -> ApiKey:
        new = keys.create_api_key(self.alice, f"alice key {self.tag}", ApiKeyKind.QUEUE)
        self.secret(new.raw, new.api_key.prefix, new.api_key.name)
        return new.api_key

    @cached_property
    def provider(self) -> str:
        provider = f"alice-{self.tag}"
        account_services.store_provider_key(self.alice, provider, f"sk-alice-{self.tag}")
        self.secret(provider, f"sk-alice-{self.tag}")
        return provider


def snapshot(world: World) -> dict[str, Any]:
    """Everything of A's that a refused request must leave as it was."""
    a = world.alice
    return {
        "user": list(
            User.objects.filter(pk=a.pk).values(
                "username", "email", "password", "tier", "credit_balance", "is_active"
            )
        ),
        "pipelines": list(
            Pipeline.objects.filter(owner=a)
            .order_by("pk")
            .values("pk", "name", "slug", "description", "graph", "presets", "is_public")
        ),
        "versions": list(PublishedVersion.objects.filter(pipeline__owner=a).order_by("pk").values_list("pk")),
        "session_keys": list(
            SessionKey.objects.filter(pipeline__owner=a).order_by("pk").values_list("pk", "revoked_at")
        ),
        "runs": list(
            Run.objects.filter(pipeline__owner=a)
            .order_by("pk")
            .values_list("pk", "status", "cancel_requested")
        ),
        "artifacts": list(Artifact.objects.filter(owner=a).order_by("pk").values_list("pk")),
        "sartiq_tasks": list(
            SartiqTask.objects.filter(owner=a).order_by("pk").values_list("pk", "priority", "is_deleted")
        ),
        "shaders": list(
            Shader.objects.filter(owner=a)
            .order_by("pk")
            .values("pk", "title", "glsl_code", "status", "current_version")
        ),
        "shader_versions": list(
            ShaderVersion.objects.filter(shader__owner=a).order_by("pk").values_list("pk")
        ),
        "api_keys": list(
            ApiKey.objects.filter(user=a).order_by("pk").values_list("pk", "revoked_at", "scopes")
        ),
        "provider_keys": list(
            ProviderKey.objects.filter(user=a).order_by("pk").values_list("provider", "encrypted_key")
        ),
        "desires": list(
            Desire.objects.filter(author=a).order_by("pk").values_list("pk", "status", "fulfilled_by")
        ),
        "forks": list(Shader.objects.filter(forked_from__owner=a).values_list("pk")),
    }


@pytest.fixture
def world(make_user, image_server, settings):
    return World(make_user, image_server, settings)


# --- the error shapes ---------------------------------------------------------------------------------

FIZZLY_CODES = {403: "FORBIDDEN", 404: "NOT_FOUND"}
FLUXARA_CODES = {403: "forbidden", 404: "not_found"}


def assert_shape(surface: str, resp: Any, status: int) -> None:
    """The refusal is in the surface's own shape (README's table), not a framework default."""
    if surface in ("media", "page"):
        assert resp.status_code == status
        return
    body = resp.json()
    if surface in ("studio", "fractafrag"):
        assert isinstance(body.get("detail"), str), body
    elif surface == "fizzly":
        assert {"error", "code", "details"} <= set(body), body
        assert body["code"] == FIZZLY_CODES[status], body
    elif surface == "fluxara":
        assert body["error"]["code"] == FLUXARA_CODES[status] and body["error"]["message"], body
    elif surface == "fractalq":
        assert body["success"] is False and body["error"] and body["code"], body
    elif surface == "sartiq":
        assert set(body) == {"detail"} and isinstance(body["detail"], str), body
    elif surface == "fal":
        assert isinstance(body.get("detail"), str) and body.get("error_type"), body
    elif surface == "replicate":
        assert body["status"] == status and body["title"] and isinstance(body["detail"], str), body
    else:  # pragma: no cover - a row names an unknown surface
        raise AssertionError(surface)


def assert_no_leak(world: World, resp: Any, url: str, who: str) -> None:
    """None of A's secrets in the answer, except what the asker itself put in the URL."""
    text = body_of(resp).decode("utf-8", "replace") + "".join(f"{k}: {v}\n" for k, v in resp.items())
    leaked = sorted(s for s in world.secrets if s in text and s not in url)
    assert not leaked, f"{who} read A's {leaked} from {url}: {text[:500]}"


# --- the matrix ---------------------------------------------------------------------------------------

Url = Callable[[World], str]
Body = Callable[[World], Any] | None


@dataclass(frozen=True)
class Row:
    """B asks ``method`` ``url`` (A's object) and gets ``denied``; A asks ``url_a`` (default: the same) and
    gets ``ok``. ``scope``: what a key needs here (NO_KEYS: no key may; NOT_HEADER_AUTH: headers are not the
    credential, the URL is)."""

    name: str
    surface: str
    method: str
    url: Url
    scope: str
    denied: int = 404
    ok: int = 200
    body: Body = None
    url_a: Url | None = None
    body_a: Body = None
    session: bool = False  # the route authenticates by the Django session (pages)


def studio(path: str) -> Url:
    return lambda w: f"/api/v1/studio/{path.format(w=w)}"


P = "pipelines/{w.pipeline.pk}"
FIZ = "/workflows/alice/{w.pipeline.slug}/requests"
RUN_READ, RUN_WRITE = Scope.RUNS_READ.value, Scope.PIPELINES_RUN.value
SARTIQ = Scope.SARTIQ.value
STORED = "/api/v1/storage/images/"
SH_READ, SH_WRITE = Scope.SHADERS_READ.value, Scope.SHADERS_WRITE.value


def fmt(template: str) -> Url:
    return lambda w: template.format(w=w)


ROWS = [
    # studio: pipelines, versions, keys, runs (owner only; keys never)
    Row("studio pipeline detail", "studio", "GET", studio(P), NO_KEYS),
    Row(
        "studio private pipeline detail",
        "studio",
        "GET",
        studio("pipelines/{w.private_pipeline.pk}"),
        NO_KEYS,
    ),
    Row("studio pipeline patch", "studio", "PATCH", studio(P), NO_KEYS, body=lambda w: {"name": "pwned"}),
    Row("studio pipeline put", "studio", "PUT", studio(P), NO_KEYS, body=lambda w: {"is_public": False}),
    Row("studio pipeline delete", "studio", "DELETE", studio(P), NO_KEYS, ok=204),
    Row("studio validate", "studio", "POST", studio(P + "/validate"), NO_KEYS, body=lambda w: {}),
    Row("studio duplicate", "studio", "POST", studio(P + "/duplicate"), NO_KEYS, ok=201),
    Row("studio publish", "studio", "POST", studio(P + "/publish"), NO_KEYS, ok=201),
    Row("studio rotate key", "studio", "POST", studio(P + "/rotate-key"), NO_KEYS),
    Row("studio versions", "studio", "GET", studio(P + "/versions"), NO_KEYS),
    Row("studio version 1", "studio", "GET", studio(P + "/versions/1"), NO_KEYS),
    Row("studio version restore", "studio", "POST", studio(P + "/versions/1/restore"), NO_KEYS),
    Row("studio version diff", "studio", "GET", studio(P + "/versions/1/diff/1"), NO_KEYS),
    Row("studio version rollback", "studio", "POST", studio(P + "/versions/1/rollback"), NO_KEYS, ok=201),
    Row("studio pipeline runs", "studio", "GET", studio(P + "/runs"), NO_KEYS),
    Row(
        "studio run the pipeline",
        "studio",
        "POST",
        studio(P + "/runs"),
        NO_KEYS,
        ok=202,
        body=lambda w: {"inputs": {"image_url": w.image_url}},
    ),
    Row("studio usage", "studio", "GET", studio(P + "/usage"), NO_KEYS),
    Row("studio run detail", "studio", "GET", studio("runs/{w.studio_run}"), NO_KEYS),
    Row("studio run detail (Fizzly run)", "studio", "GET", studio("runs/{w.fizzly_run}"), NO_KEYS),
    Row("studio run cancel", "studio", "POST", studio("runs/{w.queued_run}/cancel"), NO_KEYS),
    # Fizzly: A's requests, under A's workflow path and under B's own
    Row(
        "fizzly submit private workflow",
        "fizzly",
        "POST",
        fmt("/workflows/alice/{w.private_pipeline.slug}"),
        RUN_WRITE,
        body=lambda w: {"inputs": {"image_url": w.image_url}},
    ),
    Row("fizzly result", "fizzly", "GET", fmt(FIZ + "/{w.fizzly_run}"), RUN_READ),
    Row("fizzly status", "fizzly", "GET", fmt(FIZ + "/{w.fizzly_run}/status?logs=1"), RUN_READ),
    Row("fizzly stream", "fizzly", "GET", fmt(FIZ + "/{w.fizzly_run}/status/stream"), RUN_READ),
    Row("fizzly cancel", "fizzly", "PUT", fmt(FIZ + "/{w.queued_run}/cancel"), RUN_WRITE),
    Row(
        "fizzly result under B's own workflow",
        "fizzly",
        "GET",
        fmt("/workflows/bob/{w.bob_pipeline.slug}/requests/{w.fizzly_run}"),
        RUN_READ,
        url_a=fmt(FIZ + "/{w.fizzly_run}"),
    ),
    # fal's queue protocol (the Fizzly queue in fal-client's shapes): A's requests and private workflow
    Row(
        "fal submit private workflow",
        "fal",
        "POST",
        fmt("/fal/alice/{w.private_pipeline.slug}"),
        RUN_WRITE,
        body=lambda w: {"image_url": w.image_url},
    ),
    Row("fal result", "fal", "GET", fmt("/fal/alice/{w.pipeline.slug}/requests/{w.fizzly_run}"), RUN_READ),
    Row(
        "fal status",
        "fal",
        "GET",
        fmt("/fal/alice/{w.pipeline.slug}/requests/{w.fizzly_run}/status?logs=1"),
        RUN_READ,
    ),
    Row(
        "fal cancel",
        "fal",
        "PUT",
        fmt("/fal/alice/{w.pipeline.slug}/requests/{w.queued_run}/cancel"),
        RUN_WRITE,
        ok=202,
    ),
    # Replicate's API (the Fizzly queue in Replicate's client's shapes): A's predictions, private model
    Row(
        "replicate prediction", "replicate", "GET", fmt("/replicate/v1/predictions/{w.fizzly_run}"), RUN_READ
    ),
    Row(
        "replicate cancel",
        "replicate",
        "POST",
        fmt("/replicate/v1/predictions/{w.queued_run}/cancel"),
        RUN_WRITE,
    ),
    Row(
        "replicate model (private)",
        "replicate",
        "GET",
        fmt("/replicate/v1/models/alice/{w.private_pipeline.slug}"),
        RUN_READ,
    ),
    Row(
        "replicate model versions (private)",
        "replicate",
        "GET",
        fmt("/replicate/v1/models/alice/{w.private_pipeline.slug}/versions"),
        RUN_READ,
    ),
    Row(
        "replicate model version (private)",
        "replicate",
        "GET",
        fmt("/replicate/v1/models/alice/{w.private_pipeline.slug}/versions/{w.private_pipeline.latest_version.pk}"),
        RUN_READ,
    ),
    Row(
        "replicate predict private model",
        "replicate",
        "POST",
        fmt("/replicate/v1/models/alice/{w.private_pipeline.slug}/predictions"),
        RUN_WRITE,
        ok=201,
        body=lambda w: {"input": {"image_url": w.image_url}},
    ),
    Row(
        "replicate predict private version",
        "replicate",
        "POST",
        fmt("/replicate/v1/predictions"),
        RUN_WRITE,
        ok=201,
        body=lambda w: {
            "version": str(w.private_pipeline.latest_version.pk),
            "input": {"image_url": w.image_url},
        },
    ),
    # Fluxara: jobs, outputs, artifacts, and submitting to A's private pipeline
    Row(
        "fluxara submit private pipeline",
        "fluxara",
        "POST",
        fmt("/api/v1/jobs"),
        RUN_WRITE,
        ok=201,
        body=lambda w: {"pipeline": f"alice/{w.private_pipeline.slug}", "input": {"image_url": w.image_url}},
    ),
    Row("fluxara job", "fluxara", "GET", fmt("/api/v1/jobs/{w.fluxara_job}"), RUN_READ),
    Row("fluxara job outputs", "fluxara", "GET", fmt("/api/v1/jobs/{w.fluxara_job}/outputs"), RUN_READ),
    Row(
        "fluxara upload artifact",
        "fluxara",
        "GET",
        fmt("/api/v1/artifacts/{w.upload[artifact_id]}"),
        RUN_READ,
    ),
    Row(
        "fluxara output artifact", "fluxara", "GET", fmt("/api/v1/artifacts/{w.output_artifact.id}"), RUN_READ
    ),
    # FractalQ: the session key is the credential; B's key must not reach A's jobs
    Row(
        "fractalq job under B's session key",
        "fractalq",
        "GET",
        fmt("/api/node/api/{w.bob_key}/jobs/{w.fractalq_job}"),
        NOT_HEADER_AUTH,
        url_a=fmt("/api/node/api/{w.session_key_of_pipeline}/jobs/{w.fractalq_job}"),
    ),
    Row(
        "fractalq studio run under B's session key",
        "fractalq",
        "GET",
        fmt("/api/node/api/{w.bob_key}/jobs/{w.studio_run}"),
        NOT_HEADER_AUTH,
        url_a=fmt("/api/v1/studio/runs/{w.studio_run}"),
    ),
    # media: a signed URL is bound to its path; no signature, no bytes
    Row(
        "media upload unsigned",
        "media",
        "GET",
        lambda w: urlsplit(w.upload["url"]).path,
        NOT_HEADER_AUTH,
        denied=403,
        url_a=lambda w: relative(w.upload["url"]),
    ),
    Row(
        "media upload with B's signature",
        "media",
        "GET",
        lambda w: f"{urlsplit(w.upload['url']).path}?{urlsplit(w.bob_upload['url']).query}",
        NOT_HEADER_AUTH,
        denied=403,
        url_a=lambda w: relative(w.upload["url"]),
    ),
    Row(
        "media B's file with the signature of A's URL",
        "media",
        "GET",
        lambda w: f"{urlsplit(w.bob_upload['url']).path}?{urlsplit(w.upload['url']).query}",
        NOT_HEADER_AUTH,
        denied=403,
        url_a=lambda w: relative(w.upload["url"]),
    ),
    Row(
        "media output unsigned",
        "media",
        "GET",
        lambda w: "/media/" + w.output_artifact.file.name,
        NOT_HEADER_AUTH,
        denied=403,
        url_a=lambda w: relative(w.output_url_of_studio_run),
    ),
    # shaders: A's draft does not exist for B; A's published shader is B's to read, not to change
    Row("shader draft detail", "fractafrag", "GET", fmt("/api/v1/shaders/{w.draft_shader.pk}"), SH_READ),
    Row(
        "shader draft put",
        "fractafrag",
        "PUT",
        fmt("/api/v1/shaders/{w.draft_shader.pk}"),
        SH_WRITE,
        body=lambda w: {"title": "pwned"},
    ),
    Row(
        "shader draft patch",
        "fractafrag",
        "PATCH",
        fmt("/api/v1/shaders/{w.draft_shader.pk}"),
        SH_WRITE,
        body=lambda w: {"glsl_code": OTHER_CODE},
    ),
    Row(
        "shader draft delete",
        "fractafrag",
        "DELETE",
        fmt("/api/v1/shaders/{w.draft_shader.pk}"),
        SH_WRITE,
        ok=204,
    ),
    Row(
        "shader draft versions",
        "fractafrag",
        "GET",
        fmt("/api/v1/shaders/{w.draft_shader.pk}/versions"),
        SH_READ,
    ),
    Row(
        "shader draft version 1",
        "fractafrag",
        "GET",
        fmt("/api/v1/shaders/{w.draft_shader.pk}/versions/1"),
        SH_READ,
    ),
    Row(
        "shader draft restore",
        "fractafrag",
        "POST",
        fmt("/api/v1/shaders/{w.draft_shader.pk}/versions/1/restore"),
        SH_WRITE,
    ),
    Row(
        "shader draft fork",
        "fractafrag",
        "POST",
        fmt("/api/v1/shaders/{w.draft_shader.pk}/fork"),
        SH_WRITE,
        ok=201,
    ),
    Row(
        "shader draft replay",
        "fractafrag",
        "POST",
        fmt("/api/v1/shaders/{w.draft_shader.pk}/replay"),
        SH_WRITE,
        ok=204,
    ),
    Row(
        "shader draft similar", "fractafrag", "GET", fmt("/api/v1/feed/similar/{w.draft_shader.pk}"), SH_READ
    ),
    Row(
        "shader draft dwell",
        "fractafrag",
        "POST",
        fmt("/api/v1/feed/dwell"),
        SH_WRITE,
        ok=204,
        body=lambda w: {"shader_id": str(w.draft_shader.pk), "dwell_secs": 3, "session_id": "s"},
    ),
    Row(
        "shader published put",
        "fractafrag",
        "PUT",
        fmt("/api/v1/shaders/{w.published_shader.pk}"),
        SH_WRITE,
        denied=403,
        body=lambda w: {"title": "pwned"},
    ),
    Row(
        "shader published delete",
        "fractafrag",
        "DELETE",
        fmt("/api/v1/shaders/{w.published_shader.pk}"),
        SH_WRITE,
        denied=403,
        ok=204,
    ),
    Row(
        "shader published restore",
        "fractafrag",
        "POST",
        fmt("/api/v1/shaders/{w.published_shader.pk}/versions/1/restore"),
        SH_WRITE,
        denied=403,
    ),
    Row(
        "desire fulfil with A's shader",
        "fractafrag",
        "POST",
        fmt("/api/v1/desires/{w.desire.pk}/fulfill"),
        SH_WRITE,
        denied=403,
        body=lambda w: {"shader_id": str(w.published_shader.pk)},
    ),
    Row(
        "shader draft page",
        "page",
        "GET",
        fmt("/shaders/{w.draft_shader.pk}/"),
        NOT_HEADER_AUTH,
        session=True,
    ),
    Row(
        "shader draft editor",
        "page",
        "GET",
        fmt("/shaders/{w.draft_shader.pk}/edit/"),
        NOT_HEADER_AUTH,
        session=True,
    ),
    Row(
        "shader published editor",
        "page",
        "GET",
        fmt("/shaders/{w.published_shader.pk}/edit/"),
        NOT_HEADER_AUTH,
        session=True,
    ),
    # account objects named in the path
    Row(
        "api key delete",
        "fractafrag",
        "DELETE",
        fmt("/api/v1/me/api-keys/{w.alice_api_key.pk}"),
        NO_KEYS,
        ok=204,
    ),
    Row(
        "byok key delete",
        "fractafrag",
        "DELETE",
        fmt("/api/v1/me/ai-keys?provider={w.provider}"),
        NO_KEYS,
        ok=204,
    ),
    # Sartiq Compute: a task is its creator's only (404 to anyone else, FastAPI's {"detail"})
    Row("sartiq task", "sartiq", "GET", fmt("/api/v1/tasks/{w.sartiq_task}"), SARTIQ),
    Row(
        "sartiq task update",
        "sartiq",
        "PUT",
        fmt("/api/v1/tasks/{w.sartiq_task}"),
        SARTIQ,
        body=lambda w: {"priority": 9, "status": "CANCELLED"},
        body_a=lambda w: {"priority": 9},
    ),
    Row("sartiq task cancel", "sartiq", "POST", fmt("/api/v1/tasks/{w.sartiq_task}/cancel"), SARTIQ, ok=409),
    Row("sartiq task cleanup", "sartiq", "POST", fmt("/api/v1/tasks/{w.sartiq_task}/cleanup"), SARTIQ),
    Row("sartiq task delete", "sartiq", "DELETE", fmt("/api/v1/tasks/{w.sartiq_task}"), SARTIQ),
    Row("sartiq stored image", "sartiq", "GET", fmt(STORED + "{w.sartiq_image}"), SARTIQ),
    Row("sartiq stored image delete", "sartiq", "DELETE", fmt(STORED + "{w.sartiq_image}"), SARTIQ),
    Row("sartiq task result file", "sartiq", "GET", fmt(STORED + "{w.sartiq_result_path}"), SARTIQ),
    Row(
        "sartiq generation task",
        "sartiq",
        "GET",
        fmt("/api/v1/tasks/generation/{w.sartiq_task}"),
        SARTIQ,
        ok=404,  # an IMAGE_ADJUSTER task is no generation task, for A either
    ),
]


def call(client: APIClient, method: str, url: str, body: Any = None) -> Any:
    kwargs = {"format": "json"} if body is not None else {}
    return (
        getattr(client, method.lower())(url, body, **kwargs)
        if body is not None
        else getattr(client, method.lower())(url)
    )


def key_reaches(scope: str, held: frozenset[str]) -> bool:
    return scope not in (NO_KEYS, NOT_HEADER_AUTH) and scope in held


@pytest.mark.parametrize("row", ROWS, ids=[r.name.replace(" ", "-") for r in ROWS])
def test_b_cannot_reach_a_objects(world, row):
    url = row.url(world)
    body = row.body(world) if row.body else None
    url_a = row.url_a(world) if row.url_a else url
    world.populate()
    before = snapshot(world)

    # 1. B, with its token (or session) and with keys of every kind and scope set.
    attempts: list[tuple[str, dict, int]] = []
    if row.session:
        attempts.append(("B's session", {"session": world.bob}, row.denied))
        attempts.append(("anonymous", {}, 200))
    else:
        attempts.append(("B's token", {"token": world.bob_token}, row.denied))
    if row.scope != NOT_HEADER_AUTH:
        for label, held, raw in world.bob_keys:
            attempts.append((label, {"key": raw}, row.denied if key_reaches(row.scope, held) else 403))
    for label, credential, expected in attempts:
        resp = call(world.client(**credential), row.method, url, body)
        if label == "anonymous":
            # A page shell may render for a visitor without a session (the API decides), never with A's data.
            assert resp.status_code in (200, 404), (label, resp.status_code)
        else:
            assert resp.status_code == expected, (label, row.name, resp.status_code, body_of(resp)[:300])
            assert_shape(row.surface, resp, expected)
        assert_no_leak(world, resp, url, label)

    # 2. A's keys that lack the row's scope are refused, on A's own object.
    if row.scope not in (NOT_HEADER_AUTH,):
        for label, held, raw in world.alice_keys:
            if key_reaches(row.scope, held):
                continue
            resp = call(world.client(key=raw), row.method, url_a, row.body_a(world) if row.body_a else body)
            assert resp.status_code == 403, (label, row.name, resp.status_code, body_of(resp)[:300])
            assert_shape(row.surface, resp, 403)

    # 3. Nothing of A's changed.
    assert snapshot(world) == before

    # 4. A succeeds on the same object (so the refusals above are not a broken route).
    if row.session:
        client = world.client(session=world.alice)
    elif row.scope in (NO_KEYS, NOT_HEADER_AUTH):
        client = world.client(token=world.alice_token)
    else:
        client = world.client(key=world.alice_key_with(row.scope))
    resp = call(client, row.method, url_a, row.body_a(world) if row.body_a else body)
    content = body_of(resp)
    assert resp.status_code == row.ok, (row.name, resp.status_code, content[:300])


# --- lists: B reads its own, never A's private objects ------------------------------------------------


@dataclass(frozen=True)
class ListRow:
    """``url`` lists things; A's answer shows ``marker`` (A's private object), B's must not (nor any other
    secret of A); ``public``: what B's answer must show, where the list is B's view of public things."""

    name: str
    url: Url
    marker: Callable[[World], str]
    a_sees: bool = True
    public: Callable[[World], str] | None = None


LIST_ROWS = [
    ListRow("studio pipelines", fmt("/api/v1/studio/pipelines"), lambda w: w.private_pipeline.name),
    ListRow("studio runs (the queue)", fmt("/api/v1/studio/runs"), lambda w: w.studio_run),
    ListRow(
        "fluxara pipelines",
        fmt("/api/v1/pipelines"),
        lambda w: w.private_pipeline.slug,
        public=lambda w: f"alice/{w.pipeline.slug}",
    ),
    ListRow("my shaders", fmt("/api/v1/shaders/mine?status=draft"), lambda w: w.draft_shader.title),
    ListRow(
        "shader search",
        fmt("/api/v1/shaders?q=Alice"),
        lambda w: w.draft_shader.title,
        a_sees=False,
        public=lambda w: w.published_shader.title,
    ),
    ListRow(
        "newest feed",
        fmt("/api/v1/feed/new"),
        lambda w: w.draft_shader.title,
        a_sees=False,
        public=lambda w: w.published_shader.title,
    ),
    ListRow(
        "trending feed",
        fmt("/api/v1/feed/trending"),
        lambda w: w.draft_shader.title,
        a_sees=False,
        public=lambda w: w.published_shader.title,
    ),
    ListRow("personal feed", fmt("/api/v1/feed"), lambda w: w.draft_shader.title, a_sees=False),
    ListRow("api keys", fmt("/api/v1/me/api-keys"), lambda w: w.alice_api_key.prefix),
    ListRow("byok keys", fmt("/api/v1/me/ai-keys"), lambda w: w.provider),
    ListRow("sartiq tasks", fmt("/api/v1/tasks/"), lambda w: w.sartiq_task),
    ListRow("sartiq stored images", fmt("/api/v1/storage/images"), lambda w: w.sartiq_image),
    ListRow("public profile", fmt("/api/v1/users/alice"), lambda w: w.alice.email, a_sees=False),
]


@pytest.mark.parametrize("row", LIST_ROWS, ids=[r.name.replace(" ", "-") for r in LIST_ROWS])
def test_b_lists_show_none_of_a(world, row):
    marker = row.marker(world)
    world.published_shader  # noqa: B018 - there is something public to list
    world.pipeline  # noqa: B018
    url = row.url(world)
    a = world.client(token=world.alice_token).get(url)
    assert a.status_code == 200, a.content
    assert (marker in a.content.decode()) is row.a_sees
    b = world.client(token=world.bob_token).get(url)
    assert b.status_code == 200, b.content
    assert_no_leak(world, b, url, "B's token")
    assert marker not in b.content.decode()
    if row.public is not None:
        assert row.public(world) in b.content.decode()


# --- the other direction: A owns a public pipeline, B's runs of it are B's ---------------------------


def test_owner_of_a_public_pipeline_sees_a_consumers_runs_redacted(world):
    """B's inputs and outputs on A's public pipeline are B's: A gets aggregates and redacted rows only."""
    pipeline = world.pipeline
    bob_image = world.server.add_image(f"/bob-input-{world.tag}.png")
    resp = world.client(token=world.bob_token).post(
        f"/workflows/alice/{pipeline.slug}", {"inputs": {"image_url": bob_image}}, format="json"
    )
    assert resp.status_code == 200, resp.content
    run_id = resp.json()["request_id"]
    bob_secrets = [bob_image, world.bob.email] + [
        s for art in Artifact.objects.filter(run_id=run_id) for s in (art.id, art.file.name)
    ]
    assert len(bob_secrets) > 2  # B's run stored an output
    a = world.client(token=world.alice_token)
    for method, url, expected in [
        ("GET", f"/api/v1/studio/pipelines/{pipeline.pk}/runs", 200),
        ("GET", f"/api/v1/studio/pipelines/{pipeline.pk}/usage", 200),
        ("GET", f"/api/v1/studio/runs/{run_id}", 404),
        ("POST", f"/api/v1/studio/runs/{run_id}/cancel", 404),
        ("GET", f"/workflows/alice/{pipeline.slug}/requests/{run_id}", 404),
        ("GET", f"/workflows/alice/{pipeline.slug}/requests/{run_id}/status", 404),
        ("PUT", f"/workflows/alice/{pipeline.slug}/requests/{run_id}/cancel", 404),
        ("GET", f"/api/node/api/{world.session_key}/jobs/{run_id}", 404),
    ] + [
        ("GET", f"/api/v1/artifacts/{art}", 404)
        for art in Artifact.objects.filter(run_id=run_id).values_list("pk", flat=True)
    ]:
        resp = call(a, method, url)
        assert resp.status_code == expected, (url, resp.status_code, resp.content[:300])
        text = resp.content.decode()
        assert not [s for s in bob_secrets if s in text and s not in url], (url, text[:300])
    listed = a.get(f"/api/v1/studio/pipelines/{pipeline.pk}/runs").json()
    assert [r["own"] for r in listed if r["id"] == run_id] == [False]


def test_b_cannot_use_a_upload_as_input(world):
    """An ``art_`` input resolves to the caller's own files only, even on A's public pipeline (item 4)."""
    art = world.upload["artifact_id"]
    resp = world.client(token=world.bob_token).post(
        f"/workflows/alice/{world.pipeline.slug}", {"inputs": {"image_url": art}}, format="json"
    )
    if resp.status_code == 200:  # accepted, then failed in the run: B's own failed request
        run = Run.objects.get(pk=resp.json()["request_id"])
        assert run.status == RunStatus.FAILED and not run.artifacts.exists()
        status = world.client(token=world.bob_token).get(
            f"/workflows/alice/{world.pipeline.slug}/requests/{run.pk}/status"
        )
        assert_no_leak(world, status, art, "B's token")
    else:
        assert resp.status_code in (400, 404, 422), resp.content
        assert_no_leak(world, resp, art, "B's token")


# --- WebSocket /ws/runs/{id}/ ---------------------------------------------------------------------------


def ws_connect(path: str) -> tuple[bool, Any]:
    from config.asgi import application

    async def attempt() -> tuple[bool, Any]:
        comm = WebsocketCommunicator(application, path)
        connected, code = await comm.connect()
        await comm.disconnect()
        return connected, code

    return async_to_sync(attempt)()


@pytest.mark.django_db(transaction=True)  # the consumer's database thread closes the test's connection
def test_websocket_refuses_b_and_keys_without_runs_read(world):
    """B's token and every key of B are refused on A's run; A's keys need ``runs:read``; A connects."""
    run_id = world.studio_run
    world.bob_keys, world.alice_keys, world.bob_token, world.alice_token  # noqa: B018 - before any connect
    base = f"/ws/runs/{run_id}/"
    assert ws_connect(f"{base}?token={world.bob_token}") == (False, 4403)
    for label, _, raw in world.bob_keys:
        assert ws_connect(f"{base}?key={raw}") == (False, 4403), label
    for label, held, raw in world.alice_keys:
        connected, code = ws_connect(f"{base}?key={raw}")
        if Scope.RUNS_READ.value in held:
            assert connected, label
        else:
            assert (connected, code) == (False, 4403), label
    assert ws_connect(f"{base}?token={world.alice_token}")[0] is True
    assert ws_connect(base) == (False, 4403)  # anonymous


# --- no key reaches account settings -----------------------------------------------------------------

ME_ROWS = [
    ("GET", "/api/v1/me", None, 200),
    ("PUT", "/api/v1/me", lambda w: {"email": f"new.{w.tag}@example.com", "current_password": PASSWORD}, 200),
    ("PATCH", "/api/v1/me", lambda w: {"password": "another-horse-77", "current_password": PASSWORD}, 200),
    ("GET", "/api/v1/me/api-keys", None, 200),
    ("POST", "/api/v1/me/api-keys", lambda w: {"name": "more", "kind": "queue"}, 201),
    ("DELETE", "/api/v1/me/api-keys/{w.alice_api_key.pk}", None, 204),
    ("GET", "/api/v1/me/ai-keys", None, 200),
    ("PUT", "/api/v1/me/ai-keys", lambda w: {"provider": "openai", "key": "sk-overwrite-1234"}, 200),
    ("DELETE", "/api/v1/me/ai-keys?provider={w.provider}", None, 204),
    ("DELETE", "/api/v1/me", lambda w: {"password": PASSWORD}, 204),
]


@pytest.mark.parametrize(
    "method,path,body,ok", ME_ROWS, ids=[f"{m} {p.split('{')[0]}" for m, p, _, _ in ME_ROWS]
)
def test_no_key_reaches_account_settings(world, method, path, body, ok):
    """Any key of A, whatever its scopes, is refused with 403 {"detail"} on A's own account (issue 12 item 1);
    A's token works."""
    url = path.format(w=world)
    data = body(world) if body else None
    alice_keys = world.alice_keys
    before = snapshot(world)
    for label, _, raw in alice_keys:
        resp = call(world.client(key=raw), method, url, data)
        assert resp.status_code == 403, (label, resp.status_code, resp.content[:300])
        assert_shape("fractafrag", resp, 403)
    assert snapshot(world) == before
    resp = call(world.client(token=world.alice_token), method, url, data)
    assert resp.status_code == ok, resp.content
