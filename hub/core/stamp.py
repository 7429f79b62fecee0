"""The access stamp: one counter that changes whenever who-may-use-what or which-endpoint-serves-what may have changed,
and process-local caches of such lookups that hold only under the stamp they were stored with.

    token = TOKENS.get_or_load(digest, lambda: load_from_the_database(digest))   # None results are never cached
    stamp.bump()   # after changing a token, user, membership, namespace, repo or endpoint (hub.core.signals)

The stamp is a Redis key shared by every process (web and workers), plus a process-local generation that moves at
once when this process changes something. `bump()` moves the local generation now and, once the transaction commits,
again and the Redis key, so a change rolled back never invalidates anything and a committed one invalidates every
process's caches before its next lookup. Inside a transaction that has changed something (a bump is waiting for the
commit) lookups bypass the caches: they read that transaction's own, uncommitted rows and must not share them.

An entry also expires after HUB_LOOKUP_CACHE_S seconds (default 5; 1 without Redis, where the TTL alone bounds what
another process may miss; 0 turns caching off). When Redis fails lookups go to the database (never an error) and
Redis is left alone for a second, so a hung Redis costs one short timeout, not one per request.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)
T = TypeVar("T")

REDIS_TIMEOUT_S = 0.25
REDIS_RETRY_S = 1.0  # after a Redis error, how long lookups skip Redis (and the caches)
MAX_ENTRIES = 10_000

_lock = threading.Lock()
_generation = 0  # this process's own changes
_redis_client: tuple[str, object] | None = None  # (url, client)
_redis_down_until = 0.0
_caches: list[LookupCache] = []


def _redis_url() -> str | None:
    url = settings.CELERY_BROKER_URL or ""
    return url if url.startswith(("redis://", "rediss://")) else None


def _redis():
    global _redis_client
    url = _redis_url()
    if url is None:
        return None
    with _lock:
        if _redis_client is None or _redis_client[0] != url:
            import redis

            client = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)
            _redis_client = (url, client)
        return _redis_client[1]


def redis_key() -> str:
    return f"{settings.CELERY_KEY_PREFIX or ''}hub:access-stamp"


def ttl_s() -> float:
    """How long an entry may be used (0: caching is off)."""
    value = getattr(settings, "HUB_LOOKUP_CACHE_S", None)
    if value is None or value == "":
        return 5.0 if _redis_url() else 1.0
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        return 0.0


def _bump_local() -> None:
    global _generation
    with _lock:
        _generation += 1


def _publish() -> None:
    """After the commit: invalidate this process's entries (also those read meanwhile) and every other process's."""
    global _redis_down_until
    _bump_local()
    client = _redis()
    if client is None:
        return
    try:
        client.incr(redis_key())
    except Exception as exc:  # the change is committed; other processes fall back on the TTL
        _redis_down_until = time.monotonic() + REDIS_RETRY_S
        log.warning("could not bump the access stamp in Redis (%s); other processes may lag up to the TTL", exc)


def bump() -> None:
    """Something that decides access or routing changed (or is changing in the current transaction)."""
    _bump_local()
    transaction.on_commit(_publish)  # at once outside a transaction; never if it rolls back


def _changing_in_transaction() -> bool:
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return False
    return any(entry[1] is _publish for entry in connection.run_on_commit)


def current() -> str | None:
    """The stamp now, or None when caches must not be used (Redis failing, or this transaction changed access)."""
    global _redis_down_until
    if _changing_in_transaction():
        return None
    local = _generation
    client = _redis()
    if client is None:
        return str(local)
    if time.monotonic() < _redis_down_until:
        return None
    remote = getattr(_scope, "remote", None)
    if remote is None:
        try:
            remote = int(client.get(redis_key()) or 0)
        except Exception as exc:
            _redis_down_until = time.monotonic() + REDIS_RETRY_S
            log.warning("could not read the access stamp from Redis (%s); lookups go to the database", exc)
            return None
        if getattr(_scope, "active", False):
            _scope.remote = remote
    return f"{local}:{remote}"


_scope = threading.local()


@contextlib.contextmanager
def request_scope():
    """One read of Redis's stamp per request (BearerTokenMiddleware): the token and the endpoint lookups of one
    request share it. This process's own bumps still count at once (the local part is read every time)."""
    _scope.active, _scope.remote = True, None
    try:
        yield
    finally:
        _scope.active, _scope.remote = False, None


class LookupCache:
    """A thread-safe LRU of lookup results, each valid under the stamp it was stored with and for ttl_s()."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[str, float, object]] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[Hashable, threading.Lock] = {}
        _caches.append(self)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, stamp: str | None) -> object | None:
        ttl = ttl_s()
        if stamp is None or ttl <= 0:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored_under, stored_at, value = entry
            if stored_under != stamp or time.monotonic() - stored_at > ttl:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, stamp: str | None, value: object) -> None:
        if stamp is None or value is None or ttl_s() <= 0:
            return
        with self._lock:
            self._entries[key] = (stamp, time.monotonic(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def get_or_load(self, key: Hashable, load: Callable[[], T]) -> T:
        """The cached value, else load() (cached unless None; an exception propagates and nothing is cached).
        The stamp is read before loading, so a change committed meanwhile invalidates what was loaded."""
        if ttl_s() <= 0:
            return load()
        stamp = current()
        value = self.get(key, stamp)
        if value is not None:
            return value  # type: ignore[return-value]
        # One load per key at a time: when an entry expires under load, the threads that miss it together wait for
        # the first one's answer instead of all querying the database (32 threads did, each every TTL).
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            value = self.get(key, stamp)
            if value is None:
                value = load()
                self.put(key, stamp, value)
        with self._lock:
            if self._loading.get(key) is loading and not loading.locked():
                del self._loading[key]
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def clear_all() -> None:
    for cache in _caches:
        cache.clear()
