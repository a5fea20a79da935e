"""Canvasflow settings: one module, driven by environment variables.

Embedded defaults (``make run`` / ``make test``): SQLite, django-q2's ORM
broker, the in-memory channel layer and local files under ``DATA_DIR``.
Production switches each of them with one variable:

* ``DATABASE_URL``   -> PostgreSQL through psycopg 3
* ``REDIS_URL``      -> django-q2's Redis broker, channels-redis, the cache and the rate limiter's store
* ``STORAGE_BUCKET`` -> S3 through django-storages (plus the standard ``AWS_*`` variables)
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

from config.local_secrets import load_or_create_secrets

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("CANVASFLOW_DATA_DIR", BASE_DIR / "var"))
DATA_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


_secrets = load_or_create_secrets(DATA_DIR / "secrets.json")
SECRET_KEY = os.environ.get("SECRET_KEY") or _secrets["SECRET_KEY"]
# Fernet key for secrets stored at rest (BYOK provider keys).
FIELD_ENCRYPTION_KEY = os.environ.get("FIELD_ENCRYPTION_KEY") or _secrets["FIELD_ENCRYPTION_KEY"]

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = [
    h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver").split(",") if h
]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
# Absolute URLs in API responses (artifact links). Empty: built from the request.
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "").rstrip("/")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_q",
    "accounts",
    "pipelines",
    "runs",
    "runs.api.apps.SurfacesConfig",
    "training",
    "shaders",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = os.environ.get("ROOT_URLCONF", "config.urls")
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -----------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    DATABASES["default"].setdefault("TEST", {})
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH") or DATA_DIR / "db.sqlite3",
            # WAL + synchronous=NORMAL: readers never block the writer, and a commit is not an fsync (a power cut
            # may lose the last commits, never corrupt the file). IMMEDIATE takes the write lock at BEGIN, so
            # concurrent ledger writers queue instead of failing with "database is locked" half-way through.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file (not :memory:) so that worker processes started by tests share it; one per test
            # process so that concurrent test runs on one machine never share a database.
            "TEST": {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")},
            # Kept open between requests of a thread (daphne runs sync views on one thread): opening the file
            # and setting the pragmas on every request cost a FractalQ sync call about a third of its time.
            "CONN_MAX_AGE": env_int("SQLITE_CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": True,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- redis-backed services ----------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    # A socket timeout above channels-redis's blocking receive (5 s): with redis-py's default (5 s as well)
    # an idle receive fails with "Timeout reading", which ends a WebSocket consumer and delays a follower's
    # pushes.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}]},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Two clusters share the broker (django-q2's multi-queue: a cluster serves the list named like it). The
# default one (Q_CLUSTER["name"]) takes every task but the runs whose graph has a node of resource class
# "gpu"; those go to Q_GPU_CLUSTER (runs.tasks.cluster_for). A GPU host starts
# `Q_CLUSTER_NAME=canvasflow-gpu manage.py qcluster`, which reads ALT_CLUSTERS[that name] over this config;
# `make run` starts both on one machine. An empty Q_GPU_CLUSTER sends every run to the default cluster.
Q_GPU_CLUSTER = os.environ.get("Q_GPU_CLUSTER", "canvasflow-gpu")
Q_CLUSTER = {
    "name": "canvasflow",
    "workers": env_int("Q_WORKERS", 2),
    "timeout": env_int("Q_TIMEOUT", 600),
    "retry": env_int("Q_TIMEOUT", 600) + 60,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "poll": float(os.environ.get("Q_POLL", "0.05")),
    "label": "Task queue",
    # GPU nodes are serialized per device: one worker per GPU host unless it has more devices.
    "ALT_CLUSTERS": {Q_GPU_CLUSTER: {"workers": env_int("Q_GPU_WORKERS", 1)}},
}
# django-q2's brokers plus tasks held until a due time (config.queues: webhook retries after 1, 2, 4 s).
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
    Q_CLUSTER["broker_class"] = "config.queues.RedisBroker"
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["broker_class"] = "config.queues.OrmBroker"
    # The clusters' heartbeats (django-q2's Stat) in a cache every process reads (the default cache is each
    # process's own here): the workers that GET /api/v1/monitoring/workers lists. With Redis they are in Redis.
    CACHES["django_q"] = {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(DATA_DIR / "q-stats"),
    }
    Q_CLUSTER["cache"] = "django_q"

# --- files ---------------------------------------------------------------------------------------
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", DATA_DIR / "media"))
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
# Media URLs are signed and expire (config.media): locally by our view, on S3 by presigning.
MEDIA_URL_MAX_AGE = env_int("MEDIA_URL_MAX_AGE", 3600)
AWS_QUERYSTRING_EXPIRE = MEDIA_URL_MAX_AGE
STORAGE_BUCKET = os.environ.get("STORAGE_BUCKET", "")
if STORAGE_BUCKET:
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": STORAGE_BUCKET,
                "querystring_auth": True,
                "querystring_expire": MEDIA_URL_MAX_AGE,
                # SigV4 presigned URLs: buckets made since 2020 (and R2) refuse the SigV2 boto3 would use in
                # us-east-1 or with no region set.
                "signature_version": "s3v4",
            },
        },
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    }
else:
    STORAGES = {
        "default": {"BACKEND": "config.media.SignedFileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    }
# Serve straight from the finders too, so tests and a fresh checkout work before collectstatic.
WHITENOISE_USE_FINDERS = True

DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE

# --- auth ----------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=30),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "SIGNING_KEY": SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
}
REFRESH_COOKIE_NAME = "refresh_token"
# Secure is also set whenever the request itself came over HTTPS.
REFRESH_COOKIE_SECURE = env_bool("REFRESH_COOKIE_SECURE", False)

# Cloudflare Turnstile: verified on register when a secret is configured.
TURNSTILE_SECRET = os.environ.get("TURNSTILE_SECRET", "")
TURNSTILE_VERIFY_URL = os.environ.get(
    "TURNSTILE_VERIFY_URL", "https://challenges.cloudflare.com/turnstile/v0/siteverify"
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerAuthentication",
        "accounts.authentication.KeyHeaderAuthentication",
        "accounts.authentication.CsrfSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "config.schema.AutoSchema",
    # The seeds write timestamps as 2026-01-17T12:00:00Z (UTC, whole seconds).
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%SZ",
    "EXCEPTION_HANDLER": "accounts.errors.fractafrag_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Canvasflow API",
    "DESCRIPTION": "Visual AI pipelines: FractalQ, Fluxara, Fizzly and fractafrag surfaces plus the studio API.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc served from our own static files, nothing fetched from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # /mcp is an ASGI app beside Django (shaders.mcp_http), so no view describes it: documented here.
    "APPEND_PATHS": {
        "/mcp": {
            "post": {
                "operationId": "mcp",
                "tags": ["mcp"],
                "summary": "MCP server (streamable HTTP, JSON-RPC 2.0)",
                "description": "The MCP server for AI agents: `initialize`, `tools/list` and `tools/call` "
                "as JSON-RPC 2.0 messages over MCP's streamable HTTP transport (stateless; answers "
                "stream as SSE, so a tool's progress notifications arrive while it runs). Tools: "
                "search_shaders, similar_shaders, my_shaders, get_shader, list_shader_versions, "
                "get_shader_version, validate_glsl, create_shader, update_shader, list_desires, "
                "get_desire, fulfill_desire, and, for a key with `pipelines:run`, one tool per published "
                "pipeline its owner may call (`owner__slug`: the version's inputs as its input schema; "
                "text answered as text, images as image content or a link to the file; a caller that "
                "hangs up cancels the run). Authenticate with `Authorization: Bearer ff_key_…`, a key "
                "with the `mcp` scope; each tool also needs `shaders:read`, `shaders:write` or "
                "`pipelines:run`, and the key's trust tier decides whether it may publish shaders. The "
                "key's hourly limit is shared with its REST calls.",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["jsonrpc", "method"],
                                "properties": {
                                    "jsonrpc": {"type": "string", "enum": ["2.0"]},
                                    "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                                    "method": {"type": "string", "example": "tools/call"},
                                    "params": {"type": "object", "additionalProperties": True},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "A JSON-RPC 2.0 response (or an SSE stream of them when asked for)",
                        "content": {
                            "application/json": {"schema": {"type": "object", "additionalProperties": True}},
                            "text/event-stream": {"schema": {"type": "string"}},
                        },
                    },
                    "202": {"description": "A notification was accepted (no body)"},
                    "401": {
                        "description": "Missing, unknown or revoked key, or a key without the mcp scope",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}},
                    },
                    "429": {
                        "description": "The key's hourly limit is spent (Retry-After says how long to wait)",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}},
                    },
                },
            }
        }
    },
}

# --- rate limits and credits ---------------------------------------------------------------------
# Default hourly limit for a signed-in user without a key of their own.
RATE_LIMIT_USER_PER_HOUR = env_int("RATE_LIMIT_USER_PER_HOUR", 3600)
RATE_LIMIT_ANON_PER_HOUR = env_int("RATE_LIMIT_ANON_PER_HOUR", 600)
API_KEY_DEFAULT_RATE_LIMIT_PER_HOUR = env_int("API_KEY_DEFAULT_RATE_LIMIT_PER_HOUR", 1000)
SIGNUP_CREDITS = env_int("SIGNUP_CREDITS", 100)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Session and API keys are cut to their prefix in every line (config.logging).
    "filters": {"redact_secrets": {"()": "config.logging.RedactSecretsFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact_secrets"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {
        # Our access log replaces daphne's (run it with --verbosity 0), which prints whole paths.
        "canvasflow.access": {
            "handlers": ["console"],
            "level": os.environ.get("ACCESS_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
    },
}

# --- runs ---------------------------------------------------------------------------------------
# Execute runs in the submitting thread instead of a django-q2 worker (tests only).
RUNS_EAGER = env_bool("RUNS_EAGER", False)
# Nodes of one run whose inputs are ready run at the same time on this many threads per worker process
# (GPU nodes still one at a time per device).
RUN_NODE_WORKERS = env_int("RUN_NODE_WORKERS", 4)
# The node-output store (runs.cache): the node-output cache and the outputs a resumed run reuses, bounded
# (least recently used out). 0 turns it off: every node runs every time and a resume reruns everything.
NODE_CACHE_MAX_BYTES = env_int("NODE_CACHE_MAX_BYTES", 1024 * 1024 * 1024)
# A synchronous call waits this long for the run, then answers as an async call would.
SYNC_WAIT_SECONDS = float(os.environ.get("SYNC_WAIT_SECONDS", "30"))
# A synchronous call made only of cheap, local nodes runs in the request (no queue round trip).
RUN_INLINE_FAST_PIPELINES = env_bool("RUN_INLINE_FAST_PIPELINES", True)
# A running run whose worker stopped beating for this long is retried (or failed after MAX_RUN_ATTEMPTS).
# Every running worker's heartbeat thread sweeps for such runs each RUN_STALE_SWEEP_SECONDS, and a follower of
# a run (runs.events.follow) recovers the run it follows when it sees the heartbeat go stale: a worker killed
# -9 is noticed within seconds, not at the next minute of a schedule.
RUN_HEARTBEAT_SECONDS = float(os.environ.get("RUN_HEARTBEAT_SECONDS", "1"))
STALE_RUN_SECONDS = float(os.environ.get("STALE_RUN_SECONDS", "5"))
RUN_STALE_SWEEP_SECONDS = float(os.environ.get("RUN_STALE_SWEEP_SECONDS", "2"))
MAX_RUN_ATTEMPTS = env_int("MAX_RUN_ATTEMPTS", 2)
# Safe fetching of image URLs.
FETCH_MAX_BYTES = env_int("FETCH_MAX_BYTES", 25 * 1024 * 1024)
FETCH_TIMEOUT_SECONDS = float(os.environ.get("FETCH_TIMEOUT_SECONDS", "20"))
MAX_INPUT_PIXELS = env_int("MAX_INPUT_PIXELS", 40_000_000)
# Inputs are stored once (a data: image becomes an input artifact the runs refer to); the image bytes a caller
# sends are bounded per request (413) and per user and hour (429). Uploads count towards the hourly bound.
INPUT_MAX_BYTES_PER_REQUEST = env_int("INPUT_MAX_BYTES_PER_REQUEST", 8 * 1024 * 1024)
INPUT_MAX_BYTES_PER_USER_PER_HOUR = env_int("INPUT_MAX_BYTES_PER_USER_PER_HOUR", 256 * 1024 * 1024)
# A run whose estimated time (pipelines.cost: each node's estimate from its input size) exceeds this is refused
# before it is queued, and fails before a node that would overrun it starts; it leaves a margin under the
# worker's timeout (Q_TIMEOUT), which kills the task. A run that ran past it when its worker died is failed
# and refunded, not requeued. The node estimates are measured on a CPU worker: faster workers (CUDA) set
# NODE_COST_SCALE to their ratio (e.g. 0.05).
RUN_TIME_BUDGET_SECONDS = float(os.environ.get("RUN_TIME_BUDGET_SECONDS", Q_CLUSTER["timeout"] * 0.8))
NODE_COST_SCALE = float(os.environ.get("NODE_COST_SCALE", "1.0"))
# Each user's share of the workers: at most this many queued+running runs per tier; further submits get 429.
RUN_MAX_ACTIVE_PER_USER = {
    "free": env_int("RUN_MAX_ACTIVE_FREE", 4),
    "pro": env_int("RUN_MAX_ACTIVE_PRO", 16),
    "ultimate": env_int("RUN_MAX_ACTIVE_ULTIMATE", 32),
}
FETCH_ALLOW_LOOPBACK = env_bool("FETCH_ALLOW_LOOPBACK", False)  # tests only
# Webhooks (Fizzly) and callbacks (FractalQ).
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "30"))
# Seconds before the 2nd, 3rd and 4th attempt. Each attempt is a task of its own; a retry is a task the broker
# holds until it is due (config.queues), never a sleep in a worker.
WEBHOOK_RETRY_DELAYS = (1.0, 2.0, 4.0)
SSE_PING_SECONDS = float(os.environ.get("SSE_PING_SECONDS", "15"))
SSE_RETRY_MS = env_int("SSE_RETRY_MS", 1000)  # the reconnection delay an SSE stream asks clients for
# Following a run (runs.events.follow: the SSE stream, the WebSocket, the synchronous execute wait; one watch
# per run and process, shared by the run's followers). With a channel layer that spans processes (Redis) the
# watch sleeps until an event is pushed and reads the database only then and every RUN_FOLLOW_SAFETY_SECONDS
# (a lost push never hangs it). With the in-memory layer (a worker's pushes never reach the web process) it
# polls the database every RUN_FOLLOW_POLL_MIN seconds, backing off to RUN_FOLLOW_POLL_MAX while nothing
# happens. RUN_FOLLOW_PUSH=0 forces the database poll (when pushes are suspect).
RUN_FOLLOW_PUSH = env_bool("RUN_FOLLOW_PUSH", True)
RUN_FOLLOW_POLL_MIN = float(os.environ.get("RUN_FOLLOW_POLL_MIN", "0.05"))
RUN_FOLLOW_POLL_MAX = float(os.environ.get("RUN_FOLLOW_POLL_MAX", "1.0"))
RUN_FOLLOW_SAFETY_SECONDS = float(os.environ.get("RUN_FOLLOW_SAFETY_SECONDS", "2.0"))
# Per-surface limits: (requests, window seconds).
FIZZLY_RATE_LIMIT = (env_int("FIZZLY_RATE_LIMIT_PER_MINUTE", 60), 60)
# fal's and Replicate's clients poll while they wait (fal-client every 0.1 s): their compatibility modes
# (runs.api.fal_compat, runs.api.replicate_compat) count requests per key in windows of their own.
FAL_COMPAT_RATE_LIMIT = (env_int("FAL_COMPAT_RATE_LIMIT_PER_MINUTE", 1200), 60)
REPLICATE_COMPAT_RATE_LIMIT = (env_int("REPLICATE_COMPAT_RATE_LIMIT_PER_MINUTE", 1200), 60)
# Published pipelines as MCP tools (runs.api.mcp_tools): how many a key sees (its owner's first, then public
# ones), the largest image sent inline (a bigger one is a link to the file), how long a call may run.
MCP_PIPELINE_TOOLS_MAX = env_int("MCP_PIPELINE_TOOLS_MAX", 100)
MCP_INLINE_IMAGE_BYTES = env_int("MCP_INLINE_IMAGE_BYTES", 512 * 1024)
MCP_PIPELINE_WAIT_SECONDS = env_int("MCP_PIPELINE_WAIT_SECONDS", 600)
FRACTALQ_RATE_LIMIT = (env_int("FRACTALQ_RATE_LIMIT_PER_MINUTE", 120), 60)

# --- AI providers (BYOK) -------------------------------------------------------------------------
# Nodes that call a provider (pipelines/providers/) use the key the run's payer stored, never one of ours.
# OPENAI_BASE_URL: an OpenAI-compatible server instead of the SDK's default (https://api.openai.com/v1).
OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL", "")
# ANTHROPIC_BASE_URL: another server for the Anthropic SDK (default https://api.anthropic.com).
ANTHROPIC_BASE_URL = os.environ.get("ANTHROPIC_BASE_URL", "")
# FAL_BASE_URL: send every request fal-client makes to fal's hosts (queue.fal.run, rest.fal.ai, …) to this
# server instead (scheme://host:port); empty: fal itself. A fal request is polled every FAL_POLL_SECONDS and
# given up (and cancelled at fal) after FAL_MAX_WAIT_SECONDS.
FAL_BASE_URL = os.environ.get("FAL_BASE_URL", "")
FAL_POLL_SECONDS = float(os.environ.get("FAL_POLL_SECONDS", "1.0"))
FAL_MAX_WAIT_SECONDS = float(os.environ.get("FAL_MAX_WAIT_SECONDS", "600"))
# Sartiq tasks (runs/api/sartiq/graphs.py): the fal app of a type when the task names none ("TYPE:variant"
# for a variant: with LoRAs, from a reference image), and the model of an ai_core provider config without one.
SARTIQ_FAL_APPS = {
    "GENERATION": "fal-ai/flux/dev",
    "GENERATION:image": "fal-ai/flux/dev/image-to-image",
    "GENERATION:lora": "fal-ai/flux-lora",
    "EDITING": "fal-ai/nano-banana/edit",
    "VIDEO_GENERATION": "fal-ai/kling-video/v2.1/master/text-to-video",
    "VIDEO_GENERATION:image": "fal-ai/kling-video/v2.1/master/image-to-video",
    "REFINE": "fal-ai/clarity-upscaler",
    "FACE_ENHANCER": "fal-ai/codeformer",
}
SARTIQ_DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5"}
# LoRA training (training/jobs.py): a job trains in slices of this many seconds (inside the worker timeout) and
# queues the next slice from its checkpoint; a task whose job has not beaten for TRAINING_STALE_SECONDS is queued
# again from its last checkpoint, at most TRAINING_MAX_RECOVERIES times. Training pairs are patches of this side.
TRAINING_SLICE_SECONDS = float(os.environ.get("TRAINING_SLICE_SECONDS", Q_CLUSTER["timeout"] * 0.6))
TRAINING_STALE_SECONDS = float(os.environ.get("TRAINING_STALE_SECONDS", "60"))
TRAINING_MAX_RECOVERIES = env_int("TRAINING_MAX_RECOVERIES", 3)
TRAINING_PATCH_SIZE = env_int("TRAINING_PATCH_SIZE", 64)
# Each call waits at most this long per attempt and is retried this often (connection errors, 429, 5xx).
PROVIDER_TIMEOUT_SECONDS = float(os.environ.get("PROVIDER_TIMEOUT_SECONDS", "60"))
PROVIDER_MAX_RETRIES = env_int("PROVIDER_MAX_RETRIES", 2)
