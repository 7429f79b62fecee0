"""Request coalescing at the gateway: concurrent non-streaming requests for one endpoint, arriving on many threads of
one web process, travel to the worker as one Celery task (`workers.inference.run_many`) and come back as one result.

Why: with one task per request, the broker publish, the worker's task bookkeeping, the result write and the wait
for it cost more CPU than a small encoder's forward pass per text. Grouped, those costs are paid once per group.

How: each endpoint (its spec: repo@commit, task, batching) has a group of at most `lanes` sender threads
(HUB_INFERENCE_COALESCE_LANES, default 2). A request joins the group's queue; an idle lane takes everything queued
(up to the endpoint's max_batch_size), sends it as one task and hands each caller its own result. A lone request
finds a lane idle and leaves at once: no waiting for company, so the latency at batch 1 is what it was. Under load
the lanes are busy, requests pile up meanwhile and leave together: the groups grow with the load by themselves (the
same rule as the worker's batcher, which then merges the groups of every web process into forward passes).

Each request keeps its own deadline and its own error (a bad input fails alone); a worker that dies fails the group
with worker_lost (dispatch's liveness check), never a hang. Lanes exit after LANE_IDLE_S without work.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings

from hub.celery import app
from hub.core.errors import HubError, Invalid

TASK_NAME = "workers.inference.run_many"
LANE_IDLE_S = 30.0
MAX_GROUP = 256
# Encoder tasks: short, batchable, never streamed. Generation keeps one task per request (long, streamed, cancelled
# one by one).
TASKS = frozenset({"feature-extraction", "text-classification", "fill-mask", "token-classification"})


def enabled(task: str) -> bool:
    return task in TASKS and lanes() > 0


def lanes() -> int:
    return int(getattr(settings, "HUB_INFERENCE_COALESCE_LANES", 2))


class _Call:
    __slots__ = ("request", "future", "deadline")

    def __init__(self, request: dict, deadline: float):
        self.request, self.deadline, self.future = request, deadline, Future()


class _Group:
    """The queue and lanes of one (queue, spec)."""

    def __init__(self, queue: str, spec: dict):
        self.queue, self.spec = queue, spec
        self.calls: deque[_Call] = deque()
        self.cond = threading.Condition()
        self.lanes = 0  # lane threads alive
        self.idle = 0  # lanes waiting for work

    def submit(self, call: _Call) -> None:
        with self.cond:
            self.calls.append(call)
            if self.idle:
                self.cond.notify()
            elif self.lanes < max(1, lanes()):
                self.lanes += 1
                threading.Thread(target=self._lane, name=f"coalesce {self.queue}", daemon=True).start()

    def _take(self) -> list[_Call] | None:
        """Everything queued (up to the batch size), waiting for the first; None when idle for LANE_IDLE_S."""
        limit = max(1, min(int(self.spec.get("max_batch_size") or 32), MAX_GROUP))
        with self.cond:
            idle_until = time.monotonic() + LANE_IDLE_S
            while not self.calls:
                remaining = idle_until - time.monotonic()
                if remaining <= 0:
                    self.lanes -= 1
                    return None
                self.idle += 1
                try:
                    self.cond.wait(remaining)
                finally:
                    self.idle -= 1
            taken = []
            while self.calls and len(taken) < limit:
                taken.append(self.calls.popleft())
            return taken

    def _lane(self) -> None:
        while True:
            calls = self._take()
            if calls is None:
                return
            try:
                self._send(calls)
            except BaseException as exc:  # the lane survives anything; each caller gets the error
                for call in calls:
                    _settle(call.future, error=exc if isinstance(exc, HubError) else _failed(exc))

    def _send(self, calls: list[_Call]) -> None:
        from hub.endpoints import dispatch

        now = time.time()
        live = []
        for call in calls:
            if call.future.cancelled():
                continue
            if call.deadline <= now:
                _settle(call.future, error=dispatch.Timeout("The inference request timed out.", code="timeout"))
                continue
            live.append(call)
        if not live:
            return
        deadline = max(call.deadline for call in live)
        result = app.send_task(
            TASK_NAME,
            kwargs={"spec": self.spec, "requests": [call.request for call in live]},
            queue=self.queue,
            expires=max(deadline - now, 1.0),
        )
        try:
            replies = dispatch._wait(result, deadline, self.queue)
        except HubError:
            _forget(result)
            raise
        except Exception as exc:  # the task itself failed (not one request): the same mapping as a single request
            _forget(result)
            raise dispatch._task_error(exc) from None
        try:
            self._hand_out(live, replies)
        finally:
            _forget(result)  # after the callers have their answers: off their critical path

    def _hand_out(self, live: list[_Call], replies: object) -> None:
        if not isinstance(replies, list) or len(replies) != len(live):
            raise _failed(RuntimeError("the worker's answer did not match the requests sent"))
        for call, reply in zip(live, replies, strict=True):
            if isinstance(reply, dict) and isinstance(reply.get("ok"), dict):
                _settle(call.future, result=reply["ok"])
            else:
                error = reply.get("error") if isinstance(reply, dict) else None
                _settle(call.future, error=_error(error if isinstance(error, dict) else {}))


def _settle(future: Future, *, result: object = None, error: BaseException | None = None) -> None:
    """Give a caller its answer unless it already has one or gave up (its own timeout cancelled the future, possibly
    between a check and the set): a lane must never die of that race, or its group would lose a sender for good."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass


def _forget(result) -> None:
    """The reply was read (or given up on): drop it from the result backend now rather than after result_expires."""
    try:
        result.forget()
    except Exception:  # the backend may not support it, or be briefly away: it expires anyway
        pass


def _failed(exc: BaseException) -> HubError:
    from hub.endpoints.dispatch import InferenceFailed

    return InferenceFailed(f"Inference failed: {exc or exc.__class__.__name__}", code="inference_error")


def _error(error: dict) -> HubError:
    from hub.endpoints.dispatch import InferenceFailed, Timeout

    message = str(error.get("message") or "Inference failed.")
    kind = error.get("type")
    if kind == "ValueError":
        return Invalid(message, code="invalid_input")
    if kind == "TimeoutError":
        return Timeout("The inference request timed out.", code="timeout")
    return InferenceFailed(f"Inference failed: {message}", code="inference_error")


_groups: dict[tuple, _Group] = {}
_groups_lock = threading.Lock()


def call(queue: str, spec: dict, request: dict, deadline: float) -> dict:
    """Send `request` with whatever else is waiting for the same endpoint; its reply ({"outputs", "usage", …}).
    Raises the HubError of this request alone (Invalid, Timeout, Unavailable, InferenceFailed)."""
    from hub.endpoints.dispatch import Timeout

    key = (queue, json.dumps(spec, sort_keys=True, default=str))
    with _groups_lock:
        group = _groups.get(key)
        if group is None:
            group = _groups[key] = _Group(queue, spec)
    item = _Call(request, deadline)
    group.submit(item)
    try:
        return item.future.result(timeout=max(deadline - time.time(), 0.0) + 1.0)
    except FutureTimeout:
        item.future.cancel()
        raise Timeout("The inference request timed out.", code="timeout") from None
