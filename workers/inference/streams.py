"""Token streams between an inference worker and the web process that waits for them (no torch, no Celery).

The worker publishes events for one request id; the web subscribes and relays them as SSE:
    {"type": "token", "text": "<delta>"} … then exactly one {"type": "done", "finish_reason", "usage"}
    or {"type": "error", "message"}.
The web calls cancel(request_id) when its client goes away; the worker checks is_cancelled() between tokens.
A subscriber may ask for heartbeats (None after each idle interval) to check meanwhile that the worker still lives.

Transport: a Redis stream per request when the Celery broker is Redis (key names honour CELERY_KEY_PREFIX, and
every key expires, so an abandoned request leaves nothing behind); with the embedded broker (no server), an
append-only file per request under DATA_DIR, which works because the embedded web and worker share one machine.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

TTL_S = 600  # a stream or a cancel flag outlives any request; then Redis drops it
POLL_S = 0.02  # the file transport's polling interval
TERMINAL = frozenset({"done", "error"})


def _setting(name: str, default=None):
    try:
        from django.conf import settings

        if settings.configured:
            return getattr(settings, name, default)
    except ImportError:  # plain Python (a worker script without Django)
        pass
    return os.environ.get(name, default)


class _Idle:
    """When a subscriber asked for heartbeats: is one due (no event for `every` seconds since the last event or
    heartbeat)?"""

    def __init__(self, every: float | None):
        self.every = every
        self.since = time.monotonic()

    def reset(self) -> None:
        self.since = time.monotonic()

    def due_in(self) -> float:
        return float("inf") if self.every is None else max(0.0, self.since + self.every - time.monotonic())

    def due(self) -> bool:
        if self.every is None or time.monotonic() < self.since + self.every:
            return False
        self.since = time.monotonic()
        return True


class _Redis:
    def __init__(self, url: str, prefix: str):
        import redis

        self.client = redis.Redis.from_url(url)
        self.prefix = prefix

    def _key(self, request_id: str) -> str:
        return f"{self.prefix}inference:stream:{request_id}"

    def _cancel_key(self, request_id: str) -> str:
        return f"{self.prefix}inference:cancel:{request_id}"

    def publish(self, request_id: str, event: dict) -> None:
        key = self._key(request_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.xadd(key, {"e": json.dumps(event)})
        pipe.expire(key, TTL_S)
        pipe.execute()

    def subscribe(self, request_id: str, timeout_s: float, idle_s: float | None = None) -> Iterator[dict | None]:
        key, last = self._key(request_id), "0-0"
        deadline = time.monotonic() + timeout_s
        idle = _Idle(idle_s)
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    yield {"type": "error", "message": f"no answer from the model within {timeout_s:g}s"}
                    return
                # Block at most 1 s at a time (less when a heartbeat is due), so a closed client (GeneratorExit) is
                # noticed soon.
                block = min(remaining, 1.0, idle.due_in())
                reply = self.client.xread({key: last}, count=256, block=max(1, int(block * 1000)))
                for _stream, entries in reply or ():
                    for entry_id, fields in entries:
                        last = entry_id
                        event = json.loads(fields[b"e"])
                        idle.reset()
                        yield event
                        if event.get("type") in TERMINAL:
                            return
                if idle.due():
                    yield None
        finally:
            self.client.delete(key)

    def has_events(self, request_id: str) -> bool:
        return bool(self.client.exists(self._key(request_id)))

    def cancel(self, request_id: str) -> None:
        self.client.set(self._cancel_key(request_id), b"1", ex=TTL_S)

    def is_cancelled(self, request_id: str) -> bool:
        return bool(self.client.exists(self._cancel_key(request_id)))


class _Files:
    """One JSON line per event in <root>/<request id>.jsonl; a <request id>.cancel file marks a cancellation."""

    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, request_id: str, suffix: str) -> Path:
        if not request_id or not all(c.isalnum() or c in "-_" for c in request_id):
            raise ValueError("a request id is letters, digits, '-' and '_'")
        return self.root / f"{request_id}{suffix}"

    def publish(self, request_id: str, event: dict) -> None:
        line = (json.dumps(event) + "\n").encode()
        # One write() of a line on an O_APPEND file: a reader never sees half of someone else's line.
        fd = os.open(self._path(request_id, ".jsonl"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def subscribe(self, request_id: str, timeout_s: float, idle_s: float | None = None) -> Iterator[dict | None]:
        path = self._path(request_id, ".jsonl")
        deadline, offset, pending = time.monotonic() + timeout_s, 0, b""
        idle = _Idle(idle_s)
        try:
            while True:
                if path.exists():
                    with open(path, "rb") as f:
                        f.seek(offset)
                        chunk = f.read()
                    offset += len(chunk)
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        event = json.loads(line)
                        idle.reset()
                        yield event
                        if event.get("type") in TERMINAL:
                            return
                if time.monotonic() > deadline:
                    yield {"type": "error", "message": f"no answer from the model within {timeout_s:g}s"}
                    return
                if idle.due():
                    yield None
                time.sleep(POLL_S)
        finally:
            path.unlink(missing_ok=True)
            self._path(request_id, ".cancel").unlink(missing_ok=True)

    def has_events(self, request_id: str) -> bool:
        return self._path(request_id, ".jsonl").exists()

    def cancel(self, request_id: str) -> None:
        self._path(request_id, ".cancel").touch()

    def is_cancelled(self, request_id: str) -> bool:
        return self._path(request_id, ".cancel").exists()


_transport = None
_transport_key = None
_lock = threading.Lock()


def _get():
    global _transport, _transport_key
    url = str(_setting("CELERY_BROKER_URL", "") or "")
    prefix = str(_setting("CELERY_KEY_PREFIX", "") or "")
    data_dir = str(_setting("DATA_DIR", "") or _setting("HUB_DATA_DIR", "") or "data")
    key = (url, prefix, data_dir)
    with _lock:
        if _transport is None or _transport_key != key:
            if url.startswith(("redis://", "rediss://")):
                _transport = _Redis(url, prefix)
            else:
                _transport = _Files(Path(data_dir) / "inference-streams")
            _transport_key = key
        return _transport


def publish(request_id: str, event: dict) -> None:
    """Append one event to the request's stream (worker side)."""
    _get().publish(request_id, event)


def subscribe(request_id: str, timeout_s: float, idle_s: float | None = None) -> Iterator[dict | None]:
    """The request's events in order, ending after a done or error event; an error event after `timeout_s`.

    With `idle_s`, None comes in between whenever no event arrived for that long: the subscriber gets control back
    to check on the worker (dispatch's liveness pings). The stream is deleted when the iterator ends or is closed
    (web side).
    """
    return _get().subscribe(request_id, timeout_s, idle_s)


def has_events(request_id: str) -> bool:
    """Whether anything was published for this request (a re-delivered streaming request must not start over)."""
    return _get().has_events(request_id)


def cancel(request_id: str) -> None:
    """Ask the worker to stop generating for this request (the client went away)."""
    _get().cancel(request_id)


def is_cancelled(request_id: str) -> bool:
    return _get().is_cancelled(request_id)
