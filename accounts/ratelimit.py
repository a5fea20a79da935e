"""Sliding-window rate limiting, shared by every surface.

The limiter counts requests in the last ``window`` seconds (a true sliding
window, not fixed buckets). With ``REDIS_URL`` set it keeps one sorted set per
identity in Redis and updates it atomically with a Lua script, so all web
processes share the count; otherwise it uses the Django cache under a process
lock (one daphne process serves the embedded default).

``SlidingWindowThrottle`` plugs it into DRF; ``RateLimitHeadersMixin`` adds
``X-RateLimit-*`` to every response of a view that uses it.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

_LUA = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
local allowed = 0
if count < limit then
  redis.call('ZADD', key, now, ARGV[4])
  count = count + 1
  allowed = 1
end
redis.call('PEXPIRE', key, math.ceil(window * 1000))
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local first = now
if oldest[2] then first = tonumber(oldest[2]) end
return {allowed, count, tostring(first)}
"""


@dataclass(frozen=True)
class RateLimitResult:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # unix timestamp at which a slot frees up
    retry_after: int  # seconds to wait when not allowed

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


class SlidingWindowLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._redis: Any = None
        self._script: Any = None

    def _redis_client(self) -> Any:
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(settings.REDIS_URL)
            self._script = self._redis.register_script(_LUA)
        return self._redis

    def hit(self, identity: str, limit: int, window: int) -> RateLimitResult:
        now = time.time()
        key = f"rl:{window}:{identity}"
        if getattr(settings, "REDIS_URL", ""):
            self._redis_client()
            allowed, count, first = self._script(
                keys=[key], args=[now, window, limit, f"{now}:{uuid.uuid4().hex}"]
            )
            allowed, count, first = bool(allowed), int(count), float(first)
        else:
            with self._lock:
                stamps = [t for t in cache.get(key, []) if t > now - window]
                allowed = len(stamps) < limit
                if allowed:
                    stamps.append(now)
                cache.set(key, stamps, timeout=window + 1)
                count = len(stamps)
                first = stamps[0] if stamps else now
        reset_at = first + window
        return RateLimitResult(
            allowed=allowed,
            limit=limit,
            remaining=max(0, limit - count),
            reset=math.ceil(reset_at),
            retry_after=0 if allowed else max(1, math.ceil(reset_at - now)),
        )

    def reset(self, identity: str, window: int) -> None:
        key = f"rl:{window}:{identity}"
        if getattr(settings, "REDIS_URL", ""):
            self._redis_client().delete(key)
        else:
            cache.delete(key)


limiter = SlidingWindowLimiter()


def client_ip(request: Any) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


class SlidingWindowThrottle(BaseThrottle):
    """Per API key, else per user, else per client address.

    A view may set ``rate_limit = (limit, window_seconds)`` to fix its own
    limit (Fizzly: 60 per minute per key); otherwise an API key's own
    ``rate_limit_per_hour`` applies, then the per-user and anonymous defaults.
    """

    def limit_for(self, request: Any, view: Any) -> tuple[str, int, int]:
        """(identity, limit, window seconds) of this request; subclasses pick other identities."""
        from accounts.models import ApiKey

        scope = getattr(view, "rate_limit_scope", "api")
        fixed = getattr(view, "rate_limit", None)
        key = request.auth if isinstance(request.auth, ApiKey) else None
        if key is not None:
            identity = f"key:{key.pk}"
            limit, window = fixed or (key.rate_limit_per_hour, 3600)
        elif request.user and request.user.is_authenticated:
            identity = f"user:{request.user.pk}"
            limit, window = fixed or (settings.RATE_LIMIT_USER_PER_HOUR, 3600)
        else:
            identity = f"ip:{client_ip(request)}"
            limit, window = fixed or (settings.RATE_LIMIT_ANON_PER_HOUR, 3600)
        return f"{scope}:{identity}", limit, window

    def allow_request(self, request: Any, view: Any) -> bool:
        result = limiter.hit(*self.limit_for(request, view))
        request._request.ratelimit = result
        self._result = result
        return result.allowed

    def wait(self) -> float | None:
        return float(self._result.retry_after)


class RateLimitHeadersMixin:
    # Adds the X-RateLimit-* headers of this request's throttle result to the response. A request refused
    # before the throttle ran (no or a bad credential, a permission) is counted by the view's own throttle
    # all the same (a refused credential leaves the client address as its identity), so a 401 carries the
    # headers too and guessing keys is rate limited like anything else.

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        raw = request._request if hasattr(request, "_request") else request
        result = getattr(raw, "ratelimit", None)
        if result is None and response.status_code in (401, 403):
            throttle = next((t for t in self.get_throttles() if isinstance(t, SlidingWindowThrottle)), None)
            if throttle is not None:
                throttle.allow_request(request, self)
                result = raw.ratelimit
        if result is not None:
            for name, value in result.headers().items():
                response[name] = value
            if not result.allowed:
                response["Retry-After"] = str(result.retry_after)
        return response
