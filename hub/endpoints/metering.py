"""Usage metering in batches: one multi-row INSERT per flush instead of one INSERT per inference request.

`record(usage)` queues an unsaved UsageRecord in a per-process buffer; a daemon thread writes the buffer every
HUB_USAGE_FLUSH_MS (default 200) or as soon as HUB_USAGE_BATCH (default 256) records wait. `flush()` writes
everything pending now; readers that show usage or drive autoscaling call it first, so this process's records are
always visible to them, while other processes' records appear within their flush interval. A web process that is
SIGKILLed loses at most HUB_USAGE_FLUSH_MS of usage (a clean exit flushes through atexit).

Rules that keep users' view of usage correct:
- `created_at` is the time of the request, not of the write (a raw insert: auto_now_add would stamp write time).
- HUB_USAGE_FLUSH_MS=0 writes at once, as before batching. So does a caller inside a transaction (`atomic`, and the
  tests' `db` fixture), on its own connection in a savepoint: the record commits or rolls back with the caller's
  work and may refer to rows only that transaction can see yet (a background connection would fail their foreign
  keys, and would never see a test's rolled-back rows at all).
- A write that fails for the database's sake (down, restarting) keeps its records pending and is retried with a
  growing pause; past MAX_PENDING records the oldest are dropped, with one warning. A record that the database
  refuses (its endpoint deleted meanwhile) is dropped alone, as one synchronous INSERT would have failed alone.
- Metering never raises into a request and never makes a request wait on the database.
- After a fork the child starts with an empty buffer and its own thread: the parent's records are the parent's.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, close_old_connections, connection, transaction
from django.utils import timezone

from hub.endpoints.models import UsageRecord
from hub.env import envint

log = logging.getLogger(__name__)
MAX_PENDING = 10_000
RETRY_MAX_S = 30.0
TRANSIENT = (OperationalError, InterfaceError)  # the database is unreachable: the records are fine, retry later


def _setting(name: str, default: int) -> int:
    value = getattr(settings, name, None)
    return envint(name, default) if value is None else int(value)


def flush_ms() -> int:
    return max(_setting("HUB_USAGE_FLUSH_MS", 200), 0)


def batch_size() -> int:
    return min(max(_setting("HUB_USAGE_BATCH", 256), 1), 4096)  # 12 columns a row: within Postgres' 65,535 params


class _Buffer:
    """This process's pending records, the lock over them, and the thread that writes them."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()  # guards pending
        self.writing = threading.Lock()  # one writer at a time, so a flush() that returns has written its records
        self.wake = threading.Event()
        self.pending: list[UsageRecord] = []
        self.thread: threading.Thread | None = None
        self.overflowed = False
        self.failing = False


_buffer = _Buffer()


def _current() -> _Buffer:
    global _buffer
    if _buffer.pid != os.getpid():  # forked without the at-fork hook (it normally resets first)
        _buffer = _Buffer()
    return _buffer


def _after_fork() -> None:
    global _buffer
    _buffer = _Buffer()  # the parent's locks may be held by threads that do not exist here


os.register_at_fork(after_in_child=_after_fork)


def record(usage: UsageRecord) -> UsageRecord:
    """Queue `usage` for the next batch (or write it now: see the module docstring). Never raises for the database's
    sake when batching; the record gets its primary key once written."""
    if usage.created_at is None:
        usage.created_at = timezone.now()
    if connection.in_atomic_block:
        with transaction.atomic():  # a savepoint: a refused record must not break the caller's transaction
            _insert([usage])
        return usage
    if flush_ms() == 0:
        _insert([usage])
        return usage
    usage._metering_db = connection.settings_dict["NAME"]
    buffer = _current()
    with buffer.lock:
        buffer.pending.append(usage)
        _bound(buffer)
        full = len(buffer.pending) >= batch_size()
    if buffer.thread is None or not buffer.thread.is_alive():
        _start(buffer)
    if full:
        buffer.wake.set()
    return usage


def pending() -> int:
    """How many records of this process wait to be written."""
    return len(_current().pending)


def flush(timeout: float = 10.0) -> None:
    """Write every record pending in this process now. Safe from any thread; never raises.

    Inside a transaction the records go through a short-lived thread of their own: they belong to requests that
    are over and must not roll back with the caller's work. It waits at most `timeout` seconds for it, and not at
    all on SQLite, where the caller's transaction holds the one write lock until it ends."""
    buffer = _current()
    if not buffer.pending and not buffer.writing.locked():  # in that order: a writer swaps pending under `writing`
        return
    if connection.in_atomic_block:
        helper = threading.Thread(target=_flush_and_close, args=(buffer,), name="usage-flush", daemon=True)
        helper.start()
        if connection.vendor != "sqlite":
            helper.join(timeout)
        return
    _write_pending(buffer)


def _flush_and_close(buffer: _Buffer) -> None:
    try:
        _write_pending(buffer)
    finally:
        connection.close()


def _start(buffer: _Buffer) -> None:
    with buffer.lock:
        if buffer.thread is not None and buffer.thread.is_alive():
            return
        buffer.thread = threading.Thread(target=_run, args=(buffer,), name="usage-flusher", daemon=True)
        buffer.thread.start()


def _run(buffer: _Buffer) -> None:
    """The flusher: write what is pending every interval (sooner when a batch is full), pause longer after
    failures, and give the connection back after each write so that it never outlives CONN_MAX_AGE or a test."""
    retry_s = 0.0
    while buffer is _buffer:  # replaced (tests reset it): let this thread end
        if retry_s:
            time.sleep(retry_s)  # the database failed: no early wake-ups for full batches meanwhile
        else:
            buffer.wake.wait(flush_ms() / 1000 or 1.0)  # 0: records are written synchronously; idle here
        buffer.wake.clear()
        try:
            if not buffer.pending:
                connection.close()  # idle: hold no connection
                continue
            close_old_connections()
            ok = _write_pending(buffer)
            close_old_connections()  # with CONN_MAX_AGE=0 (or a pool) this gives the connection back now
        except Exception:  # never let the thread die (record() would start another one anyway)
            log.exception("usage flusher failed")
            ok = False
            with contextlib.suppress(Exception):
                connection.close()
        retry_s = 0.0 if ok else min(max(retry_s * 2, 1.0), RETRY_MAX_S)


def _write_pending(buffer: _Buffer) -> bool:
    """Write everything pending, in batches; what the database could not take now goes back to the front of the
    queue. True when all was written (or dropped as refused)."""
    with buffer.writing:
        with buffer.lock:
            todo, buffer.pending = buffer.pending, []
        database = connection.settings_dict["NAME"]
        stale = [r for r in todo if getattr(r, "_metering_db", database) != database]
        if stale:  # recorded against another database (tests: the test database is gone at exit)
            todo = [r for r in todo if getattr(r, "_metering_db", database) == database]
        size = batch_size()
        for start in range(0, len(todo), size):
            try:
                _write_batch(todo[start : start + size])
            except Exception as exc:
                with buffer.lock:  # not those the row-by-row fallback wrote before the database went away
                    buffer.pending[:0] = [r for r in todo[start:] if r._state.adding]
                    _bound(buffer)
                if not buffer.failing:
                    buffer.failing = True
                    log.warning("could not write %d usage records; retrying later: %s", len(todo) - start, exc)
                return False
        if buffer.failing:
            buffer.failing = False
            log.info("usage records are being written again")
        return True


def _write_batch(batch: list[UsageRecord]) -> None:
    """One INSERT; if the database refuses a row (a deleted endpoint, a value out of range), each row alone, dropping
    the refused ones. Raises when the database cannot be reached (the caller keeps the records)."""
    try:
        _insert(batch)
        return
    except TRANSIENT:
        raise
    except Exception:  # anything else is about some row: find it rather than retry the batch forever
        pass
    refused = 0
    for usage in batch:
        try:
            _insert([usage])
        except TRANSIENT:
            raise
        except Exception:
            log.debug("usage record refused", exc_info=True)
            refused += 1
    if refused:
        log.warning("dropped %d usage records that the database refused", refused)


def _insert(batch: list[UsageRecord]) -> None:
    """One multi-row INSERT. Raw, unlike bulk_create, so that auto_now_add keeps the request's `created_at`."""
    fields = [f for f in UsageRecord._meta.concrete_fields if not f.primary_key]
    size = max(min(len(batch), connection.ops.bulk_batch_size(fields, batch)), 1)  # SQLite's variable limit
    returning = UsageRecord._meta.db_returning_fields if connection.features.can_return_rows_from_bulk_insert else None
    for start in range(0, len(batch), size):
        chunk = batch[start : start + size]
        rows = UsageRecord.objects._insert(chunk, fields=fields, returning_fields=returning, raw=True)
        for usage, row in zip(chunk, rows or [], strict=False):
            usage.pk = row[0]
        for usage in chunk:
            usage._state.adding, usage._state.db = False, DEFAULT_DB_ALIAS


def _bound(buffer: _Buffer) -> None:
    """Caller holds buffer.lock. Keep at most MAX_PENDING records, dropping the oldest (warned once per episode)."""
    excess = len(buffer.pending) - MAX_PENDING
    if excess > 0:
        del buffer.pending[:excess]
        if not buffer.overflowed:
            buffer.overflowed = True
            log.warning("more than %d usage records pending: dropping the oldest", MAX_PENDING)
    elif buffer.overflowed and len(buffer.pending) < MAX_PENDING // 2:
        buffer.overflowed = False


atexit.register(flush)
