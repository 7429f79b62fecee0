"""Send one inference request to an endpoint's warm workers and bring the answer back, whatever the protocol.

Web → worker: `workers.inference.run` on the endpoint's queue with {spec, request}; the reply is the task's return
value, or for streams the events published under the request id (workers.inference.streams). Every request is
rate limited per token, metered (UsageRecord) and bounded by a deadline: 504 past it, 503 when no worker can take
it or the worker serving it died. An endpoint scaled to zero is woken and the request waits for its cold start.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from hub.accounts.models import ApiToken, User
from hub.celery import app
from hub.core import ratelimit
from hub.core.errors import HubError, Invalid, Unauthenticated
from hub.endpoints import coalesce, scaling, services
from hub.endpoints.models import Endpoint, UsageRecord
from hub.endpoints.services import Unavailable

log = logging.getLogger(__name__)
TASK_NAME = "workers.inference.run"
LIVENESS_EVERY_S = 2.0
LIVENESS_MISSES = 3
WORKER_LOST = "The worker serving this request stopped; retry."


class Timeout(HubError):
    status = 504
    code = "timeout"


class InferenceFailed(HubError):
    status = 500
    code = "inference_error"


@dataclass
class Caller:
    user: User | AnonymousUser
    token: ApiToken | None
    route: str

    @classmethod
    def of(cls, request, route: str) -> Caller:
        return cls(user=request.user, token=getattr(request, "api_token", None), route=route)


@dataclass
class Reply:
    outputs: object
    usage: dict = field(default_factory=dict)
    load_ms: float = 0.0
    batch_size: int = 0
    latency_ms: float = 0.0


def request_timeout() -> float:
    return float(getattr(settings, "HUB_INFERENCE_TIMEOUT", 120))


def admit(caller: Caller) -> None:
    """Authentication and the per-token (or per-user for sessions) rate limit; raises before any work is done."""
    if not caller.user.is_authenticated:
        raise Unauthenticated("Authentication required: send 'Authorization: Bearer <token>'.")
    limit, window = ratelimit.parse_rate(getattr(settings, "HUB_INFERENCE_RATE_LIMIT", "600/minute"))
    key = f"inference:token:{caller.token.pk}" if caller.token else f"inference:user:{caller.user.pk}"
    ratelimit.check(key, limit, window)


def _spec(endpoint: Endpoint, task: str, commit: str | None = None) -> dict:
    return {
        "endpoint_id": endpoint.pk,
        "repo_id": endpoint.repo.full_name,
        "commit": commit or endpoint.commit_sha,
        "task": task,
        "owner_id": endpoint.repo.namespace.user_id or endpoint.created_by_id,
        "max_batch_size": endpoint.max_batch_size,
        "max_wait_ms": endpoint.max_wait_ms,
    }


def _request(inputs: object, parameters: dict, stream: bool, deadline: float) -> dict:
    return {"id": uuid.uuid4().hex, "inputs": inputs, "parameters": parameters, "stream": stream, "deadline": deadline}


def _send(endpoint: Endpoint, task: str, inputs: object, parameters: dict, *, stream: bool, deadline: float):
    request = _request(inputs, parameters, stream, deadline)
    result = app.send_task(
        TASK_NAME,
        kwargs={"spec": _spec(endpoint, task), "request": request},
        queue=scaling.request_queue(endpoint.celery_queue),
        expires=max(deadline - time.time(), 1.0),
    )
    return request["id"], result


def _worker_alive(result) -> bool:
    """False only when the worker that started the task (track_started) no longer answers a ping."""
    if not scaling.has_remote_control():  # the embedded broker cannot ping: nothing to go on
        return True
    try:
        info = result.info if result.state == "STARTED" else None
    except Exception:
        return True
    host = info.get("hostname") if isinstance(info, dict) else None
    if not host:
        return True
    return bool(app.control.ping(destination=[host], timeout=1.0))


def _alive(result, queue: str) -> bool:
    """For a request (or stream) that went quiet: False when its worker stopped answering, when the task ended
    without an answer arriving, or when nobody started it and no worker consumes its queue any more."""
    if not scaling.has_remote_control():
        return True
    try:
        state = result.state
    except Exception:  # the result backend hiccuped: no evidence either way
        return True
    if state in ("SUCCESS", "FAILURE", "REVOKED"):
        return False  # its answer (or done/error event) would have arrived by now
    if state == "PENDING":
        return _consumed(queue)
    return _worker_alive(result)


_queues_seen: tuple[float, dict] = (0.0, {})
_queues_lock = threading.Lock()
QUEUES_FRESH_S = 1.5


def _consumed(queue: str) -> bool:
    """Whether some worker consumes `queue`. One remote-control round per process per QUEUES_FRESH_S, however many
    requests ask (a round per waiting request would exhaust the broker's connections under load)."""
    global _queues_seen
    with _queues_lock:
        at, queues = _queues_seen
        if time.monotonic() - at > QUEUES_FRESH_S:
            queues = scaling.worker_queues()
            _queues_seen = (time.monotonic(), queues)
    return bool(scaling.replicas_of(queue, queues))


def _wait(result, deadline: float, queue: str | None = None):
    silent = 0  # consecutive quiet intervals with no sign of a live worker: one busy loading a model may miss a ping
    while True:
        remaining = deadline - time.time()
        if remaining <= 0:
            result.revoke()
            raise Timeout("The inference request timed out.", code="timeout")
        try:
            return result.get(timeout=min(remaining, LIVENESS_EVERY_S), propagate=True, disable_sync_subtasks=False)
        except CeleryTimeout:
            alive = _alive(result, queue) if queue else _worker_alive(result)
            silent = 0 if alive else silent + 1
            if silent >= LIVENESS_MISSES:
                raise Unavailable(WORKER_LOST, code="worker_lost") from None


def _task_error(exc: Exception) -> HubError:
    message = str(exc) or exc.__class__.__name__
    if isinstance(exc, ValueError | TypeError | KeyError):
        return Invalid(message, code="invalid_input")
    if exc.__class__.__name__ in ("WorkerLostError", "Terminated", "TimeLimitExceeded"):
        return Unavailable(WORKER_LOST, code="worker_lost")
    return InferenceFailed(f"Inference failed: {message}", code="inference_error")


def run(
    endpoint: Endpoint, *, caller: Caller, task: str, inputs: object, parameters: dict, timeout: float | None = None
) -> Reply:
    """One request, answered in full; raises HubError subclasses (Invalid, Unavailable, Timeout, …) on failure."""
    started = time.monotonic()
    deadline = time.time() + (timeout or request_timeout())
    status = UsageRecord.ERROR
    body: dict = {}
    try:
        services.ensure_awake(endpoint)
        try:
            if coalesce.enabled(task):  # sent together with this process's concurrent requests for the endpoint
                queue = scaling.request_queue(endpoint.celery_queue)
                body = coalesce.call(
                    queue, _spec(endpoint, task), _request(inputs, parameters, False, deadline), deadline
                )
            else:
                _, result = _send(endpoint, task, inputs, parameters, stream=False, deadline=deadline)
                try:
                    body = _wait(result, deadline, scaling.request_queue(endpoint.celery_queue)) or {}
                finally:
                    coalesce._forget(result)
        except HubError as exc:
            status = UsageRecord.TIMEOUT if isinstance(exc, Timeout) else UsageRecord.ERROR
            raise
        except Exception as exc:
            raise _task_error(exc) from None
        status = UsageRecord.OK
        services.note_answer(endpoint)
        return Reply(
            outputs=body.get("outputs"),
            usage=body.get("usage") or {},
            load_ms=float(body.get("load_ms") or 0.0),
            batch_size=int(body.get("batch_size") or 0),
            latency_ms=services.monotonic_ms(started),
        )
    finally:
        _meter(endpoint, caller, status, body.get("usage") if isinstance(body, dict) else None, started, body)


def _meter(endpoint, caller, status, usage, started, body=None, stream=False) -> None:
    try:
        body = body if isinstance(body, dict) else {}
        services.record_usage(
            endpoint=endpoint, user=caller.user, token=caller.token, route=caller.route, status=status,
            stream=stream, usage=usage, latency_ms=services.monotonic_ms(started),
            load_ms=float(body.get("load_ms") or 0.0), batch_size=int(body.get("batch_size") or 0),
        )  # fmt: skip
    except Exception:  # metering never turns an answer into an error
        log.exception("could not record usage")


def stream(
    endpoint: Endpoint, *, caller: Caller, task: str, inputs: object, parameters: dict, timeout: float | None = None
) -> Iterator[dict]:
    """Start a streamed generation and return its events: {"type": "token", "text"}…, then one "done" or "error".

    Errors before the first token (paused endpoint, no worker) raise at once, so the view can still answer with
    a status code; later ones arrive as an "error" event. Closing the iterator (client gone) cancels the request.
    While no event comes, the worker is checked every LIVENESS_EVERY_S as in run(); after LIVENESS_MISSES misses the
    stream ends with an error event, code "worker_lost".
    """
    import workers.inference.streams as streams  # the stream transport only: no torch, no models

    started = time.monotonic()
    deadline = time.time() + (timeout or request_timeout())
    services.ensure_awake(endpoint)
    request_id, result = _send(endpoint, task, inputs, parameters, stream=True, deadline=deadline)
    events = streams.subscribe(request_id, max(deadline - time.time(), 1.0), idle_s=LIVENESS_EVERY_S)
    queue = scaling.request_queue(endpoint.celery_queue)

    def generate() -> Iterator[dict]:
        status, usage, finished = UsageRecord.CANCELLED, None, False
        silent = 0  # consecutive quiet intervals with no sign of a live worker (as in _wait)
        try:
            for event in events:
                if event is None:  # nothing for LIVENESS_EVERY_S: is anyone still generating?
                    silent = 0 if _alive(result, queue) else silent + 1
                    if silent >= LIVENESS_MISSES:
                        status = UsageRecord.ERROR
                        yield {"type": "error", "message": WORKER_LOST, "code": "worker_lost"}
                        return  # not finished: the finally below cancels and revokes it
                    continue
                silent = 0
                kind = event.get("type")
                if kind == "token":
                    yield event
                elif kind == "done":
                    status, usage, finished = UsageRecord.OK, event.get("usage"), True
                    services.note_answer(endpoint)
                    yield event
                    return
                elif kind == "error":
                    status, finished = UsageRecord.ERROR, True
                    yield event
                    return
            status, finished = UsageRecord.TIMEOUT, True
            result.revoke()
            yield {"type": "error", "message": "The inference request timed out.", "code": "timeout"}
        finally:
            if not finished:
                streams.cancel(request_id)
                result.revoke()
            _meter(endpoint, caller, status, usage, started, stream=True)

    return generate()
