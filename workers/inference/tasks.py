"""The Celery task `workers.inference.run`: one request for one endpoint, served by this process's engine.

Start a worker for an endpoint with many threads, so that concurrent requests wait in the batcher together:

    celery -A hub worker -P threads -c 32 -Q inference.<endpoint queue> -n <endpoint>-%h

Replicas are more such workers on the same queue (or `celery control add_consumer inference.<queue>`).
"""

from __future__ import annotations

import threading

from hub.celery import app

_engine = None
_engine_lock = threading.Lock()


def engine():
    """This process's engine (models stay loaded between requests); torch is imported on first use only."""
    global _engine
    with _engine_lock:
        if _engine is None:
            from workers.hubclient import fetch_snapshot
            from workers.inference.engine import Engine

            def resolve(spec: dict):
                return fetch_snapshot(spec["repo_id"], spec["commit"], repo_type="model", user_id=spec.get("owner_id"))

            _engine = Engine(resolve=resolve)
        return _engine


@app.task(name="workers.inference.run")
def run(spec: dict, request: dict) -> dict:
    """Serve one request (the contract's spec and request); returns {"outputs", "usage", "load_ms", "batch_size"}.

    A streaming request publishes its tokens and a final done/error event to workers.inference.streams as well.
    Bad input raises ValueError, an expired request TimeoutError; both messages are safe to show.
    """
    from workers.inference import streams

    request_id = str((request or {}).get("id") or "") if isinstance(request, dict) else ""
    stream = bool(isinstance(request, dict) and request.get("stream") and request_id)
    if stream and streams.has_events(request_id):
        # A re-delivered message (its worker died mid-stream): the client already has part of an answer, so fail
        # the stream cleanly rather than start it over.
        message = "the worker serving this request was lost; please retry"
        streams.publish(request_id, {"type": "error", "message": message})
        raise RuntimeError(message)
    emit = (lambda event: streams.publish(request_id, event)) if stream else None
    cancelled = (lambda: streams.is_cancelled(request_id)) if request_id else None
    try:
        return engine().infer(spec, request, emit=emit, is_cancelled=cancelled)
    except ValueError as exc:  # from torch or transformers too: keep the type and the message, never a traceback
        raise ValueError(str(exc)) from None


@app.task(name="workers.inference.run_many")
def run_many(spec: dict, requests: list) -> list:
    """Several non-streaming requests for one endpoint, grouped by a web process (hub.endpoints.coalesce): they are
    batched together; one {"ok": reply} or {"error": {"type", "message"}} per request, in order."""
    if not isinstance(requests, list) or not requests or len(requests) > 1024:
        raise ValueError("'requests' must be a list of 1 to 1024 requests")
    return engine().infer_many(spec, requests)
