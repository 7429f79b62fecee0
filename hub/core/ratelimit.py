"""A generic per-key rate limiter: fixed windows counted in Redis (shared by every web process) or the Django cache.

    check(f"inference:token:{token.pk}", *parse_rate("600/minute"))   # raises RateLimited past the limit

RateLimited is a HubError with status 429 and `retry_after` (seconds); each protocol renders it in its own format
with a Retry-After header.
"""

from __future__ import annotations

import math
import re
import threading
import time

from django.conf import settings

from hub.core.errors import HubError

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "d": 86400}
_PERIODS.update({"day": 86400})
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")


class RateLimited(HubError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, limit: int, window_s: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after
        self.limit = limit
        self.window_s = window_s


def parse_rate(rate: str) -> tuple[int, int]:
    """ "600/minute", "10/s", "1000/5m" → (limit, window seconds). An empty rate or "0/…" means no limit: (0, 0)."""
    if not rate:
        return 0, 0
    match = _RATE.match(rate.lower())
    if not match or match.group(3) not in _PERIODS:
        raise ValueError(f"Bad rate {rate!r}: use e.g. '600/minute', '10/second', '1000/5m'.")
    count, multiple, unit = match.groups()
    return int(count), int(multiple or 1) * _PERIODS[unit]


_redis_client = None
_redis_lock = threading.Lock()


def _redis():
    global _redis_client
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return None
    with _redis_lock:
        if _redis_client is None:
            import redis

            _redis_client = redis.Redis.from_url(url, socket_timeout=2)
    return _redis_client


def _count(key: str, window_s: int, now: float) -> int:
    window = int(now // window_s)
    full_key = f"{settings.CELERY_KEY_PREFIX or ''}ratelimit:{key}:{window}"
    client = _redis()
    if client is not None:
        pipe = client.pipeline()
        pipe.incr(full_key)
        pipe.expire(full_key, window_s + 1)
        return int(pipe.execute()[0])
    from django.core.cache import cache

    cache.add(full_key, 0, timeout=window_s + 1)
    try:
        return cache.incr(full_key)
    except ValueError:  # expired between add and incr
        cache.set(full_key, 1, timeout=window_s + 1)
        return 1


def check(key: str, limit: int, window_s: int) -> None:
    """Count one hit for `key`; raise RateLimited when it is over `limit` hits in the current window."""
    if limit <= 0 or window_s <= 0:
        return
    now = time.time()
    if _count(key, window_s, now) > limit:
        retry_after = max(1, math.ceil((math.floor(now / window_s) + 1) * window_s - now))
        raise RateLimited(
            f"Rate limit exceeded: {limit} requests per {window_s} s. Retry in {retry_after} s.",
            retry_after=retry_after,
            limit=limit,
            window_s=window_s,
        )
