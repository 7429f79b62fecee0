"""The dynamic batcher and the model cache, without models."""

from __future__ import annotations

import threading
import time

import pytest

from workers.inference.batching import Batcher, Expired


def echo_batcher(log: list, gate: threading.Event | None = None, **kw) -> Batcher:
    def run(items):
        if gate is not None:
            gate.wait(5)
        log.append(len(items))
        return [(item.payload, item.batch_size) for item in items]

    return Batcher(run, **kw)


def test_requests_queued_while_the_model_is_busy_form_one_batch_up_to_the_maximum():
    log, gate = [], threading.Event()
    batcher = echo_batcher(log, gate, max_batch_size=4, max_wait_ms=0)
    first = batcher.submit("first")
    while not first.running():
        time.sleep(0.001)
    rest = [batcher.submit(i) for i in range(6)]
    gate.set()
    assert first.result(5) == ("first", 1)
    assert [f.result(5) for f in rest] == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 2), (5, 2)]
    assert log == [1, 4, 2]


def test_a_lone_request_does_not_wait_for_company():
    batcher = echo_batcher([], max_batch_size=32, max_wait_ms=500)
    started = time.perf_counter()
    batcher.submit("alone").result(5)
    assert time.perf_counter() - started < 0.25


def test_after_concurrent_traffic_the_batcher_waits_up_to_max_wait_for_more():
    log, gate = [], threading.Event()
    batcher = echo_batcher(log, gate, max_batch_size=8, max_wait_ms=150)
    batcher._recent = 4.0  # requests have been arriving together…
    batcher._idle_since = time.monotonic()  # …and a batch just ended
    gate.set()
    first = batcher.submit("a")
    time.sleep(0.05)
    second = batcher.submit("b")
    assert first.result(5) == ("a", 2) and second.result(5) == ("b", 2)


def test_after_a_burst_a_lone_client_finds_the_model_idle_and_does_not_wait():
    batcher = echo_batcher([], max_batch_size=8, max_wait_ms=300)
    batcher._recent = 8.0  # the burst's batches were large
    batcher._idle_since = time.monotonic() - 1.0  # but nothing ran for a second
    started = time.perf_counter()
    assert batcher.submit("alone").result(5) == ("alone", 1)
    assert time.perf_counter() - started < 0.2


def test_an_expired_request_is_dropped_before_it_runs():
    log = []
    batcher = echo_batcher(log)
    with pytest.raises(Expired):
        batcher.submit("late", deadline=time.time() - 1).result(5)
    assert log == []


def test_a_failing_batch_fails_each_of_its_requests_and_the_batcher_goes_on():
    calls = []

    def run(items):
        calls.append(len(items))
        if len(calls) == 1:
            raise RuntimeError("boom")
        return [item.payload for item in items]

    batcher = Batcher(run)
    with pytest.raises(RuntimeError, match="boom"):
        batcher.submit(1).result(5)
    assert batcher.submit(2).result(5) == 2


def test_a_closed_batcher_finishes_its_queue_then_refuses_new_work():
    log, gate = [], threading.Event()
    batcher = echo_batcher(log, gate)
    queued = [batcher.submit(i) for i in range(3)]
    batcher.close()
    gate.set()
    assert [f.result(5)[0] for f in queued] == [0, 1, 2]
    with pytest.raises(RuntimeError, match="unloaded"):
        batcher.submit(4)


def test_the_model_cache_evicts_the_least_recently_used_past_its_byte_bound():
    from workers.inference.engine import Loaded, ModelCache

    loads = []

    def loader(name, nbytes):
        def load():
            loads.append(name)
            return Loaded((name, "c", "t"), "t", None, None, None, nbytes, 12.5)

        return load

    cache = ModelCache(max_bytes=250)
    assert cache.get("a", loader("a", 100))[1] == 12.5
    assert cache.get("b", loader("b", 100))[1] == 12.5
    assert cache.get("a", loader("a", 100))[1] == 0.0  # warm, and now the most recent
    cache.get("c", loader("c", 100))  # 300 > 250: b, the least recently used, goes
    assert cache.keys() == ["a", "c"] and cache.total_bytes() == 200
    cache.get("huge", loader("huge", 1000))  # always kept, alone
    assert cache.keys() == ["huge"] and loads == ["a", "b", "c", "huge"]


def test_concurrent_first_requests_load_a_model_once():
    from concurrent.futures import ThreadPoolExecutor

    from workers.inference.engine import Loaded, ModelCache

    loads = []

    def load():
        loads.append(1)
        time.sleep(0.1)
        return Loaded(("m", "c", "t"), "t", None, None, None, 1, 100.0)

    cache = ModelCache(max_bytes=10)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: cache.get("m", load), range(8)))
    assert len(loads) == 1 and sorted(r[1] for r in results) == [0.0] * 7 + [100.0]


def test_requests_submitted_together_share_a_batch_and_the_rest_carries_over():
    log, gate = [], threading.Event()
    batcher = echo_batcher(log, gate, max_batch_size=4, max_wait_ms=0)
    busy = batcher.submit("busy")
    while not busy.running():
        time.sleep(0.001)
    group = batcher.submit_many(list("abcdef"), deadlines=[None] * 6)
    late = batcher.submit("late")
    gate.set()
    assert [f.result(5) for f in group] == [("a", 4), ("b", 4), ("c", 4), ("d", 4), ("e", 3), ("f", 3)]
    assert late.result(5) == ("late", 3)  # the carried-over two start the next batch, then the late one joins
    assert log == [1, 4, 3]
