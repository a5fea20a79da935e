"""The node contract.

A node type is a small class that declares its ports, its parameters (as JSON
schema), what it costs and where it runs, and implements one method, ``run``.
The engine never knows about individual node types: adding a node means adding
a module to ``pipelines/nodes/`` and decorating the class with ``@register``.

Values that travel along edges:

* ``image`` ports carry an :class:`ImageValue` (a decoded Pillow image plus the
  encoding to use when it is stored as an artifact, and free-form metadata);
* ``text`` ports carry ``str``;
* ``json`` ports carry any JSON-serialisable value;
* ``number`` ports carry ``int``/``float``;
* ``any`` accepts everything (used by ``OUTPUT__``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

PORT_TYPES = ("image", "text", "json", "number", "any")


@dataclass(frozen=True)
class Port:
    name: str
    type: str
    description: str = ""
    required: bool = True
    # The JSON schema of the value of a ``json`` port (an array of boxes, an object, a boolean), so that the
    # published docs type it as what it is; ``json`` alone says nothing about the shape.
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    def json_schema(self) -> dict[str, Any]:
        """The JSON schema of this port's value as a run's outputs report it (images as their URL)."""
        if self.type == "image":
            return {"type": "string", "format": "uri"}
        if self.type == "text":
            return {"type": "string"}
        if self.type == "number":
            return {"type": "number"}
        return dict(self.schema) if self.schema else {}

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "description": self.description,
            "required": self.required,
        }


def ports_compatible(source_type: str, target_type: str) -> bool:
    """Whether a value of ``source_type`` may flow into a ``target_type`` port."""
    if "any" in (source_type, target_type):
        return True
    if source_type == target_type:
        return True
    # numbers and text render into JSON without loss
    return target_type == "json" and source_type in ("text", "number")


@dataclass
class ImageValue:
    """A decoded image travelling between nodes.

    ``format`` is the encoding used if the engine stores it as an artifact
    (PNG, WEBP or JPEG). ``metadata`` is copied to the artifact and shown in
    outputs (e.g. ``{"scale": 4, "width": 2048, "height": 2048}``).
    ``source`` is a short description of where it came from (a URL, an
    artifact id) for logs and errors.
    """

    image: "Image.Image"
    format: str = "PNG"
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height


class NodeError(Exception):
    """A node could not process its input, or could not run at all; the error names the node.

    ``code`` is machine-readable (e.g. ``INVALID_IMAGE``, ``IMAGE_TOO_LARGE``).
    ``retryable`` lets the engine retry transient failures up to the node's
    ``max_retries``; input errors are not retryable.
    ``server_fault`` is the one rule that classifies the error for every surface: a fault of ours (a model
    missing or broken, out of memory, an engine failure) is a 5xx ("AI processing failed"), anything else is
    a problem with the request's input (422, "input validation failed"). Transient failures are ours, so it
    defaults to ``retryable``; a fault that retrying cannot cure (a missing model) sets it explicitly.
    """

    def __init__(
        self,
        message: str,
        code: str = "NODE_FAILED",
        *,
        retryable: bool = False,
        server_fault: bool | None = None,
        details: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.server_fault = retryable if server_fault is None else server_fault
        self.details = details or {}

    @property
    def http_status(self) -> int:
        return 500 if self.server_fault else 422


class PipelineBlocked(Exception):
    """Raised by gate nodes: stop the pipeline, downstream nodes do not run.

    The run ends with status ``blocked`` and this ``code`` (e.g. ``NSFW_BLOCKED``);
    ``outputs`` are the gate's own outputs, recorded on its node run.
    """

    def __init__(self, message: str, code: str = "BLOCKED", outputs: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.outputs = outputs or {}


class NodeCancelled(Exception):
    """The run was cancelled while this node was running: raised by :meth:`NodeContext.check_cancelled` (and so
    by ``report_progress``), so a long node stops at its next tile or step instead of running to its end."""


@dataclass
class NodeContext:
    """What a running node may use besides its inputs and params."""

    run_id: str
    node_id: str
    report_progress: Callable[[float], None] = lambda fraction: None
    fetch_image: Callable[[str], ImageValue] | None = None
    log: Callable[[str], None] = lambda message: None
    # run-level inputs (the raw request inputs), for I/O nodes
    run_inputs: dict[str, Any] = field(default_factory=dict)
    # options from the calling surface (e.g. Fluxara's ``resolution``)
    options: dict[str, Any] = field(default_factory=dict)
    # The clear key that the user billed for the run stored for a provider (BYOK), None when there is none.
    # The engine binds it to that user, so a node reaches no one else's key; pass it to pipelines.providers
    # and never keep, log or output what it returns.
    provider_key: Callable[[str], str | None] = lambda provider: None
    # Whether the run was cancelled; a long node calls check_cancelled() between its steps (report_progress
    # does it too) and stops there.
    cancelled: Callable[[], bool] = lambda: False
    # A URL a provider can fetch the LoRA file of this name from, among those the user billed for the run may
    # use (pipelines.loras); None when there is no such file.
    lora_url: Callable[[str], str | None] = lambda name: None
    # The bytes of that LoRA file (a node that applies it here, e.g. an upscaler's trained adapter).
    read_lora: Callable[[str], bytes | None] = lambda name: None

    def check_cancelled(self) -> None:
        if self.cancelled():
            raise NodeCancelled(f"run {self.run_id} was cancelled")


class NodeType:
    """Base class of every node type.

    Subclasses set the class attributes and implement :meth:`run`, which returns
    a dict of output values keyed by output port name.
    """

    type: ClassVar[str]
    family: ClassVar[str] = "misc"
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    inputs: ClassVar[tuple[Port, ...]] = ()
    outputs: ClassVar[tuple[Port, ...]] = ()
    # JSON schema of the params object: {"type": "object", "properties": {...}, "required": [...]}
    params_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}
    credit_cost: ClassVar[int] = 0
    resource_class: ClassVar[str] = "cpu"  # "cpu" | "gpu"
    # Retries of a retryable failure (a graph node may set its own: node["retry"]), after a backoff that
    # doubles from retry_backoff_seconds.
    max_retries: ClassVar[int] = 0
    retry_backoff_seconds: ClassVar[float] = 0.5
    # The param naming the provider of a provider-backed node (recorded on each attempt), None otherwise.
    provider_param: ClassVar[str | None] = None
    # The node-output cache (runs.cache) keys outputs by node type and version, resolved params and input
    # hashes. Bump ``version`` when a change alters the outputs of a node type; a node whose outputs are not
    # a function of its params and inputs (a network fetch, a sampled LLM reply) sets ``cacheable`` False.
    version: ClassVar[int] = 1
    cacheable: ClassVar[bool] = True
    # Inputs accepted beyond the declared ones (OUTPUT__ takes any port name).
    dynamic_inputs: ClassVar[bool] = False
    # Run options of the calling surface this node honours (NodeContext.options), e.g. Fluxara's
    # ``resolution``: a surface refuses an option that no node of the pipeline would act on.
    surface_options: ClassVar[tuple[str, ...]] = ()
    # Input nodes expose one run-level input, named by their ``name`` param; this is its JSON schema
    # (e.g. {"type": "string", "format": "uri"}). None for every other node.
    exposes_input: ClassVar[dict[str, Any] | None] = None
    # Cheap, pure and local (no network, no model): a synchronous call made only of such nodes may run
    # in the request instead of waiting for a worker.
    inline: ClassVar[bool] = False
    # Cost model (pipelines.cost), read before a run is queued and again before each node starts, so that a
    # run that cannot finish within RUN_TIME_BUDGET_SECONDS is refused instead of being killed by the worker
    # timeout. ``max_input_pixels``: the largest image the node takes (None: no limit of its own). Running
    # time is estimated as ``base_seconds + seconds_per_megapixel x input megapixels`` (on a CPU worker).
    max_input_pixels: ClassVar[int | None] = None
    base_seconds: ClassVar[float] = 0.0
    seconds_per_megapixel: ClassVar[float] = 0.0

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def cache_context(cls, params: dict[str, Any], read_lora: Callable[[str], bytes | None]) -> dict[str, Any]:
        """What the node's stored-output key must hold besides its params and inputs: what it reads from
        elsewhere (e.g. the hash of a LoRA file it names). ``read_lora`` is the run's (the payer's files)."""
        return {}

    # -- helpers shared by all node types -------------------------------------------------

    @classmethod
    def input_port(cls, name: str) -> Port | None:
        return next((p for p in cls.inputs if p.name == name), None)

    @classmethod
    def output_port(cls, name: str) -> Port | None:
        return next((p for p in cls.outputs if p.name == name), None)

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        props = cls.params_schema.get("properties", {})
        return {k: v["default"] for k, v in props.items() if "default" in v}

    @classmethod
    def resolved_params(cls, params: dict[str, Any] | None) -> dict[str, Any]:
        """The node's params with the schema defaults filled in."""
        return {**cls.param_defaults(), **(params or {})}

    @classmethod
    def max_pixels(cls, params: dict[str, Any]) -> int | None:
        """The largest input (pixels of the largest image input) this node takes with ``params``."""
        return cls.max_input_pixels

    @classmethod
    def estimate_seconds(cls, pixels: int, params: dict[str, Any]) -> float:
        """Estimated running time for an input of ``pixels`` pixels (0 when the size is not known)."""
        return cls.base_seconds + cls.seconds_per_megapixel * pixels / 1_000_000

    @classmethod
    def output_pixels(cls, pixels: int, params: dict[str, Any]) -> int:
        """Pixels of the node's image outputs for an input of ``pixels`` (the same size by default)."""
        return pixels

    @classmethod
    def describe(cls) -> dict[str, Any]:
        defaults = cls.param_defaults()
        return {
            "type": cls.type,
            "family": cls.family,
            "title": cls.title or cls.type,
            "description": cls.description,
            "inputs": [p.as_dict() for p in cls.inputs],
            "outputs": [p.as_dict() for p in cls.outputs],
            "dynamic_inputs": cls.dynamic_inputs,
            "params_schema": cls.params_schema,
            "credit_cost": cls.credit_cost,
            "resource_class": cls.resource_class,
            "max_retries": cls.max_retries,
            "cacheable": cls.cacheable,
            "exposes_input": cls.exposes_input,
            # with the default params, as the studio shows them
            "max_input_pixels": cls.max_pixels(defaults),
            "base_seconds": cls.estimate_seconds(0, defaults),
            "seconds_per_megapixel": cls.estimate_seconds(1_000_000, defaults) - cls.estimate_seconds(0, defaults),
        }


_REGISTRY: dict[str, type[NodeType]] = {}


def register(cls: type[NodeType]) -> type[NodeType]:
    """Class decorator adding a node type to the registry."""
    if cls.type in _REGISTRY and _REGISTRY[cls.type] is not cls:
        raise ValueError(f"node type {cls.type} registered twice")
    _REGISTRY[cls.type] = cls
    return cls


def registry() -> dict[str, type[NodeType]]:
    from pipelines import nodes  # noqa: F401  (imports every family module)

    nodes.load_all()
    return dict(_REGISTRY)


def get_node_type(type_name: str) -> type[NodeType] | None:
    return registry().get(type_name)
