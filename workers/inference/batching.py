"""A dynamic batcher: requests for one loaded model, arriving from many threads, run as one forward pass.

Each loaded model owns one Batcher and one thread that runs its batches, so the model is never used by two threads
at once. While a batch runs, new requests queue up and form the next batch (up to max_batch_size): under load the
batches fill by themselves. When the model is idle, the first request waits at most max_wait_ms for company, and
only while requests have recently been arriving together: a lone client pays no batching delay.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Item:
    """One request in a batch: its prepared payload, and the future its caller waits on."""

    payload: Any
    deadline: float | None = None  # unix time; an item expired before its batch runs is dropped unrun
    future: Future = field(default_factory=Future)
    batch_size: int = 0  # set when it runs


class Expired(TimeoutError):
    """The request's deadline passed before a worker could run it."""


RunBatch = Callable[[Sequence[Item]], Sequence[Any]]


class Batcher:
    """`submit(payload)` returns a Future of `run_batch([items…])[i]`; a result may be an exception to raise."""

    def __init__(self, run_batch: RunBatch, *, max_batch_size: int = 32, max_wait_ms: float = 5, name: str = ""):
        self.run_batch = run_batch
        self.max_batch_size = max(1, int(max_batch_size))
        self.max_wait_s = max(0.0, float(max_wait_ms)) / 1000
        self._queue: queue.Queue[list[Item] | None] = queue.Queue()
        self._carry: list[Item] = []  # what did not fit in the last batch: it starts the next
        self._recent = 1.0  # moving average of the batch size: > 1 means clients arrive together
        self._idle_since = 0.0  # monotonic time the last batch ended
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=f"batcher {name}", daemon=True)
        self._thread.start()

    def configure(self, *, max_batch_size: int, max_wait_ms: float) -> None:
        self.max_batch_size = max(1, int(max_batch_size))
        self.max_wait_s = max(0.0, float(max_wait_ms)) / 1000

    def submit(self, payload: Any, *, deadline: float | None = None) -> Future:
        if self._closed:
            raise RuntimeError("this model was unloaded; retry the request")
        item = Item(payload=payload, deadline=deadline)
        self._queue.put([item])
        return item.future

    def submit_many(self, payloads: Sequence[Any], *, deadlines: Sequence[float | None]) -> list[Future]:
        """Several requests queued at once, so that they land in the same batch (as far as max_batch_size allows)."""
        if self._closed:
            raise RuntimeError("this model was unloaded; retry the request")
        items = [Item(payload=p, deadline=d) for p, d in zip(payloads, deadlines, strict=True)]
        if items:
            self._queue.put(items)
        return [item.future for item in items]

    def close(self) -> None:
        """Stop after the queued requests have run (the model is being evicted)."""
        self._closed = True
        self._queue.put(None)

    def _collect(self) -> list[Item] | None:
        batch, self._carry = self._carry, []
        if not batch:
            first = self._queue.get()
            if first is None:
                return None
            batch = list(first)
        # Wait for company only while requests keep arriving together: batches were recently larger than one and the
        # model has not been idle since the last one (after a burst, a lone client's requests find it idle).
        now = time.monotonic()
        together = self._recent > 1.2 and now - self._idle_since < self.max_wait_s
        wait_until = now + (self.max_wait_s if together else 0.0)
        while len(batch) < self.max_batch_size:
            try:
                remaining = wait_until - time.monotonic()
                items = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if items is None:
                self._queue.put(None)  # close after this batch
                break
            batch.extend(items)
        if len(batch) > self.max_batch_size:
            batch, self._carry = batch[: self.max_batch_size], batch[self.max_batch_size :]
        return batch

    def _loop(self) -> None:
        while True:
            batch = self._collect()
            if batch is None:
                return
            now = time.time()
            live = []
            for item in batch:
                if item.future.set_running_or_notify_cancel() is False:
                    continue
                if item.deadline is not None and now > item.deadline:
                    item.future.set_exception(Expired("the request timed out before it could run"))
                else:
                    live.append(item)
            if not live:
                continue
            self._recent = 0.7 * self._recent + 0.3 * len(live)
            for item in live:
                item.batch_size = len(live)
            try:
                results = self.run_batch(live)
            except BaseException as exc:  # the whole batch failed: each caller gets the error
                log.exception("inference batch of %d failed", len(live))
                results = [exc] * len(live)
            for item, result in zip(live, results, strict=True):
                if isinstance(result, BaseException):
                    item.future.set_exception(result)
                else:
                    item.future.set_result(result)
            self._idle_since = time.monotonic()
