"""Gateway coalescing (hub.endpoints.coalesce): concurrent non-streaming requests of one web process travel to the
worker as one task, and every caller still gets its own answer and its own error. Live server, real worker."""

from __future__ import annotations

import threading

import pytest
import requests

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent_groups(monkeypatch):
    """The size of every group the live server sends (it runs in this process)."""
    from hub.endpoints import coalesce

    sizes: list[int] = []
    real = coalesce.app

    class Spy:
        def send_task(self, name, kwargs=None, **options):
            sizes.append(len(kwargs["requests"]))
            return real.send_task(name, kwargs=kwargs, **options)

    monkeypatch.setattr(coalesce, "app", Spy())
    return sizes


@pytest.fixture
def embed_hub(live_server, serving_worker, alice, make_token, model_repo, make_endpoint, settings):
    settings.HUB_INFERENCE_COALESCE_LANES = 1  # one group in flight: the others pile up behind it
    serving_worker()
    make_endpoint(alice, model_repo(alice, "embed"), "feature-extraction", name="embed", max_batch_size=64)
    return {"url": live_server.url, "headers": {"Authorization": f"Bearer {make_token(alice, 'read')}"}}


def _embed(hub, text):
    body = {"model": "alice/embed", "input": text}
    return requests.post(f"{hub['url']}/v1/embeddings", json=body, headers=hub["headers"], timeout=60)


def test_concurrent_requests_travel_together_and_each_gets_its_own_vector(embed_hub, sent_groups):
    texts = [f"sentence number {i} about {'cats' if i % 2 else 'the weather'}" for i in range(16)]
    alone = {}
    for text in texts[:4]:  # the cold start, and answers to compare with
        response = _embed(embed_hub, text)
        assert response.status_code == 200, response.text
        alone[text] = response.json()["data"][0]["embedding"]
    sent_groups.clear()
    barrier, replies = threading.Barrier(16), {}

    def call(text):
        barrier.wait()
        replies[text] = _embed(embed_hub, text)

    threads = [threading.Thread(target=call, args=(t,)) for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(r.status_code == 200 for r in replies.values()), [r.text for r in replies.values()]
    assert sum(sent_groups) == 16 and len(sent_groups) < 16 and max(sent_groups) > 1, sent_groups
    for text, vector in alone.items():
        got = replies[text].json()["data"][0]["embedding"]
        assert max(abs(a - b) for a, b in zip(got, vector, strict=True)) < 1e-4


def test_a_bad_request_in_a_group_fails_alone_in_its_protocol_format(embed_hub, sent_groups):
    assert _embed(embed_hub, "warm up").status_code == 200
    too_many = ["x"] * 1025  # the web accepts up to 2048 strings; the worker's limit is 1024 per request
    barrier, replies = threading.Barrier(6), []

    def call(payload):
        barrier.wait()
        replies.append(_embed(embed_hub, payload))

    threads = [threading.Thread(target=call, args=(p,)) for p in [too_many] + [f"fine {i}" for i in range(5)]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = sorted(r.status_code for r in replies)
    assert statuses == [200] * 5 + [400], [r.text for r in replies]
    bad = next(r for r in replies if r.status_code == 400).json()
    assert bad["error"]["type"] == "invalid_request_error" and "1024" in bad["error"]["message"]


def test_coalescing_can_be_switched_off(embed_hub, sent_groups, settings):
    settings.HUB_INFERENCE_COALESCE_LANES = 0
    response = _embed(embed_hub, "one task per request")
    assert response.status_code == 200 and sent_groups == []


def test_a_worker_killed_mid_group_fails_every_caller_cleanly(
    live_server, serving_worker, alice, make_token, model_repo, make_endpoint, settings, monkeypatch, sent_groups
):
    import os
    import signal
    import time

    from tests.endpoints.test_stream_faults import pin

    settings.HUB_INFERENCE_COALESCE_LANES = 1
    settings.HUB_INFERENCE_TIMEOUT = 90  # far past the wait below: only the liveness check can end it in time
    monkeypatch.setenv("HUB_INFERENCE_BATCH_DELAY_MS", "60000")  # the worker inherits it: every batch hangs
    worker = serving_worker("slow-encoder")
    endpoint = make_endpoint(alice, model_repo(alice, "embed"), "feature-extraction", name="embed")
    pin(endpoint, worker)
    hub = {"url": live_server.url, "headers": {"Authorization": f"Bearer {make_token(alice, 'read')}"}}
    replies, took = [], []

    def call(text):
        started = time.monotonic()
        replies.append(_embed(hub, text))
        took.append(time.monotonic() - started)

    threads = [threading.Thread(target=call, args=(f"text {i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
        time.sleep(0.2)  # the first goes alone, the other three pile up behind it as one group
    time.sleep(2.0)  # the worker started the first group (track_started): it is in the hanging batch
    os.kill(worker.pid, signal.SIGKILL)
    for thread in threads:
        thread.join(60)
    assert len(replies) == 4, "a request hung"
    assert {r.status_code for r in replies} == {503}, [r.text for r in replies]
    assert all(r.json()["error"]["code"] == "worker_lost" for r in replies)
    assert max(took) < 45  # liveness (3 missed pings, 2 s apart) plus the groups queued behind, not the 90 s deadline


def test_a_caller_that_gave_up_does_not_break_the_lane():
    from concurrent.futures import Future

    from hub.endpoints import coalesce

    gone, answered = Future(), Future()
    assert gone.cancel()  # its request timed out and cancelled while the group was in flight
    coalesce._settle(gone, result={"outputs": []})
    coalesce._settle(gone, error=RuntimeError("late"))
    coalesce._settle(answered, result={"outputs": [1]})
    coalesce._settle(answered, error=RuntimeError("second answer"))  # already answered: kept
    assert gone.cancelled() and answered.result(0) == {"outputs": [1]}
