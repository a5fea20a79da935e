"""Pipeline rules: create, edit, publish (freeze a version and derive its schema), session keys, restore."""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.keys import hash_secret
from config.errors import NotFound, ValidationFailed
from pipelines.graph import GraphInvalid, ensure_valid, validate_graph
from pipelines.models import Pipeline, PublishedVersion, SessionKey
from pipelines.nodes.base import get_node_type

SESSION_KEY_PREFIX = "fq_"
OUTPUT_TYPE = "OUTPUT__"


def _unique_slug(owner: Any, base: str, exclude_pk: int | None = None) -> str:
    base = slugify(base)[:100] or "pipeline"
    slug, n = base, 1
    qs = Pipeline.objects.filter(owner=owner)
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    while qs.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def create_pipeline(
    owner: Any,
    name: str,
    description: str = "",
    graph: dict | None = None,
    presets: dict | None = None,
    slug: str | None = None,
) -> Pipeline:
    for _ in range(3):
        try:
            with transaction.atomic():
                return Pipeline.objects.create(
                    owner=owner,
                    name=name,
                    description=description,
                    slug=_unique_slug(owner, slug or name),
                    graph=graph or {"nodes": [], "edges": []},
                    presets=presets or {},
                )
        except IntegrityError:  # a concurrent create took the slug; pick the next one
            continue
    raise ValidationFailed("Could not allocate a unique slug", code="SLUG_CONFLICT")


def update_pipeline(pipeline: Pipeline, data: dict[str, Any]) -> Pipeline:
    for field in ("name", "description", "graph", "presets", "is_public"):
        if field in data:
            setattr(pipeline, field, data[field])
    if "slug" in data and data["slug"] != pipeline.slug:
        pipeline.slug = _unique_slug(pipeline.owner, data["slug"], exclude_pk=pipeline.pk)
    pipeline.save()
    return pipeline


def duplicate_pipeline(pipeline: Pipeline) -> Pipeline:
    return create_pipeline(
        pipeline.owner,
        f"{pipeline.name} (copy)",
        pipeline.description,
        copy.deepcopy(pipeline.graph),
        copy.deepcopy(pipeline.presets),
    )


# --- schema derivation -------------------------------------------------------------------------------


def _merged_params(node: dict) -> dict[str, Any]:
    node_type = get_node_type(node["type"])
    return node_type.resolved_params(node.get("params"))


def derive_schema(graph: dict) -> tuple[dict, dict, dict]:
    """Input schema, output schema and input examples, in the FractalQ docs shape."""
    inputs: dict[str, Any] = {}
    examples: dict[str, Any] = {}
    nodes = {n["id"]: n for n in graph["nodes"]}
    for node in graph["nodes"]:
        node_type = get_node_type(node["type"])
        if node_type.exposes_input is None:
            continue
        params = _merged_params(node)
        inputs[params["name"]] = {
            **node_type.exposes_input,
            "required": bool(params.get("required", True)),
            "description": params.get("description", ""),
            "node": node["id"],
        }
        if params.get("example"):
            examples[params["name"]] = params["example"]
    outputs: dict[str, Any] = {}
    for edge in graph.get("edges", []):
        target = nodes[edge["to"]["node"]]
        if target["type"] != OUTPUT_TYPE:
            continue
        source = nodes[edge["from"]["node"]]
        source_type = get_node_type(source["type"])
        port = source_type.output_port(edge["from"]["port"])
        outputs[edge["to"]["port"]] = output_spec(port, source)
    return inputs, outputs, examples


def output_spec(port: Any, source: dict) -> dict[str, Any]:
    """The docs entry of a pipeline output fed by ``port`` of node ``source``: the JSON schema of the value
    the caller receives (an image as its URL, an array of boxes as an array) and where it comes from."""
    what = (port.description or port.name).rstrip(".")
    if port.type == "image":
        what = f"URL of the image: {what[:1].lower()}{what[1:]}"
    return {**port.json_schema(), "description": f"{what} (from {source['id']}, {source['type']})"}


def node_prices(graph: dict) -> dict[str, int]:
    """Credits per node id at today's prices (publishing freezes them into the version)."""
    return {n["id"]: get_node_type(n["type"]).credit_cost for n in graph["nodes"]}


def graph_credit_cost(graph: dict) -> int:
    return sum(node_prices(graph).values())


# --- publishing and session keys --------------------------------------------------------------------


@dataclass
class PublishResult:
    version: PublishedVersion
    session_key: str | None  # the raw key, only when a new one was issued


def issue_session_key(pipeline: Pipeline) -> str:
    """Revoke the active key (if any) and issue a new one, returned once. The spending caps set on the old
    key carry over: rotating a leaked key must not lift the owner's bound on what it may spend."""
    raw = SESSION_KEY_PREFIX + secrets.token_urlsafe(24)
    with transaction.atomic():
        active = SessionKey.objects.select_for_update().filter(pipeline=pipeline, revoked_at__isnull=True)
        caps = active.values("daily_credit_cap", "monthly_credit_cap").first() or {}
        active.update(revoked_at=timezone.now())
        SessionKey.objects.create(pipeline=pipeline, prefix=raw[:10], key_hash=hash_secret(raw), **caps)
    return raw


CAP_FIELDS = {"credits_per_day": "daily_credit_cap", "credits_per_month": "monthly_credit_cap"}


def spending_caps(key: SessionKey | None) -> dict[str, int | None]:
    """The caps of ``key`` as the studio API and the docs name them (None: no cap)."""
    return {name: getattr(key, field) if key else None for name, field in CAP_FIELDS.items()}


def check_spending_caps(caps: Any) -> None:
    """422 unless ``caps`` is an object of known caps, each a whole number of credits or null."""
    if not isinstance(caps, dict):
        raise ValidationFailed("'spending_cap' must be an object", code="INVALID_CAP")
    unknown = sorted(set(caps) - set(CAP_FIELDS))
    if unknown:
        raise ValidationFailed(
            f"Unknown spending cap: {unknown[0]}", code="INVALID_CAP", details={"allowed": sorted(CAP_FIELDS)}
        )
    for name, value in caps.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ValidationFailed(
                f"'{name}' must be a whole number of credits, or null for no cap", code="INVALID_CAP"
            )


def set_spending_caps(pipeline: Pipeline, caps: dict[str, int | None]) -> SessionKey:
    """Set (an int) or lift (None) the caps named in ``caps`` on the pipeline's active session key."""
    check_spending_caps(caps)
    with transaction.atomic():
        key = SessionKey.objects.select_for_update().filter(pipeline=pipeline, revoked_at__isnull=True).first()
        if key is None:
            raise NotFound("The pipeline has no session key; publish it first", code="NO_SESSION_KEY")
        for name, value in caps.items():
            setattr(key, CAP_FIELDS[name], value)
        key.save(update_fields=[CAP_FIELDS[name] for name in caps])
    return key


def active_session_key(pipeline: Pipeline) -> SessionKey | None:
    return pipeline.session_keys.filter(revoked_at__isnull=True).first()


def publish(pipeline: Pipeline, spending: dict[str, int | None] | None = None) -> PublishResult:
    """Freeze the draft as the next version; the first publish issues the session key. ``spending``: caps
    to set on the key (see :func:`set_spending_caps`), checked before anything is published."""
    return publish_graph(pipeline, pipeline.graph, spending)


def publish_graph(
    pipeline: Pipeline, source: dict, spending: dict[str, int | None] | None = None
) -> PublishResult:
    """Freeze ``source`` (the draft, or an earlier version's graph on a rollback) as the next version."""
    if spending is not None:
        check_spending_caps(spending)
    try:
        ensure_valid(source)
    except GraphInvalid as exc:
        raise ValidationFailed(
            "The pipeline graph is invalid",
            code="INVALID_GRAPH",
            details={"errors": [e.as_dict() for e in exc.errors]},
        ) from exc
    graph = copy.deepcopy(source)
    input_schema, output_schema, examples = derive_schema(graph)
    with transaction.atomic():
        Pipeline.objects.select_for_update().filter(pk=pipeline.pk).first()
        last = pipeline.versions.order_by("-number").values_list("number", flat=True).first() or 0
        version = PublishedVersion.objects.create(
            pipeline=pipeline,
            number=last + 1,
            graph=graph,
            input_schema=input_schema,
            output_schema=output_schema,
            input_examples=examples,
            credit_cost=graph_credit_cost(graph),
            node_prices=node_prices(graph),
        )
        raw = None if active_session_key(pipeline) else issue_session_key(pipeline)
        if spending is not None:
            set_spending_caps(pipeline, spending)
    return PublishResult(version=version, session_key=raw)


def resolve_session_key(raw: str) -> tuple[Pipeline, PublishedVersion]:
    """The pipeline and latest published version behind a FractalQ key; NotFound otherwise."""
    key, version = resolve_key(raw)
    return key.pipeline, version


# The objects a FractalQ call needs, by key hash, with the state they were read in (bounded).
_KEYS: dict[str, tuple[tuple, SessionKey, PublishedVersion]] = {}


def _key_state(key_hash: str) -> tuple | None:
    """What a call must see fresh, in one indexed query: the key (active, its caps), its pipeline (changed
    since?), the owner (active, tier) and the latest version's id and date. None: no active key."""
    k, p, u, v = (m._meta.db_table for m in (SessionKey, Pipeline, Pipeline.owner.field.related_model,
                                               PublishedVersion))
    latest = f"FROM {v} v WHERE v.pipeline_id = p.id ORDER BY v.number DESC LIMIT 1"
    sql = (
        f"SELECT k.id, k.daily_credit_cap, k.monthly_credit_cap, p.id, p.updated_at, u.id, u.is_active, u.tier, "
        f"u.username, (SELECT v.id {latest}), (SELECT v.created_at {latest}) "
        f"FROM {k} k JOIN {p} p ON p.id = k.pipeline_id JOIN {u} u ON u.id = p.owner_id "
        "WHERE k.key_hash = %s AND k.revoked_at IS NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [key_hash])
        row = cursor.fetchone()
    return tuple(row) if row is not None else None


def resolve_key(raw: str) -> tuple[SessionKey, PublishedVersion]:
    """The active session key ``raw`` (with its pipeline and owner) and the latest published version;
    NotFound otherwise.

    A FractalQ call pays this on every request, so the state that decides it (the key active and its caps,
    the owner active and its tier, the pipeline's last change, the latest version) is read fresh in one small
    query, and the objects are taken from this process's memory when that state is the one they were read
    in. Each caller gets its own copies."""
    if raw.startswith(SESSION_KEY_PREFIX):
        key_hash = hash_secret(raw)
        state = _key_state(key_hash)
        if state is not None and state[6] and state[9] is not None:
            cached = _KEYS.get(key_hash)
            if cached is None or cached[0] != state:
                key = (
                    SessionKey.objects.select_related("pipeline", "pipeline__owner")
                    .defer("pipeline__graph")  # the draft: a call runs the published version
                    .get(pk=state[0])
                )
                version = PublishedVersion.objects.get(pk=state[9])
                if len(_KEYS) >= 1024:
                    _KEYS.pop(next(iter(_KEYS)))
                cached = _KEYS[key_hash] = (state, key, version)
            return _own_copies(cached[1], cached[2])
    raise NotFound("API key not found or session not published", code="NOT_FOUND")


def _own_copies(key: SessionKey, version: PublishedVersion) -> tuple[SessionKey, PublishedVersion]:
    owner = copy.copy(key.pipeline.owner)
    pipeline = copy.copy(key.pipeline)
    pipeline.owner = owner
    pipeline.presets = copy.deepcopy(pipeline.presets)
    key = copy.copy(key)
    key.pipeline = pipeline
    mine = copy.copy(version)
    mine.graph, mine.input_schema = copy.deepcopy(version.graph), copy.deepcopy(version.input_schema)
    return key, mine


def restore_version(pipeline: Pipeline, number: int) -> Pipeline:
    version = pipeline.versions.filter(number=number).first()
    if version is None:
        raise NotFound(f"Version {number} not found")
    pipeline.graph = copy.deepcopy(version.graph)
    pipeline.save(update_fields=["graph", "updated_at"])
    return pipeline


def validation_report(graph: Any) -> dict[str, Any]:
    errors = validate_graph(graph)
    return {"valid": not errors, "errors": [e.as_dict() for e in errors]}
