"""A serving worker killed in the middle of a streamed generation: the stream ends with a worker_lost error soon
after (liveness pings while the stream is quiet), not at the request timeout, and the request is metered as an error.

Real processes: a live server, a real serving worker slowed by HUB_INFERENCE_TOKEN_DELAY_MS so that a tiny model
streams for many seconds, and the openai and huggingface_hub clients."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

pytestmark = pytest.mark.django_db(transaction=True)
MESSAGES = [{"role": "user", "content": "Tell me a long story."}]
LONG = 400  # tokens: 20 s at 50 ms each, far longer than the test waits


@pytest.fixture
def slow_hub(live_server, serving_worker, alice, make_token, model_repo, make_endpoint, settings, monkeypatch):
    monkeypatch.setenv("HUB_INFERENCE_TOKEN_DELAY_MS", "50")  # the worker inherits the test's environment
    settings.HUB_INFERENCE_TIMEOUT = 90  # far past the bounded waits below: only liveness can end the stream in time
    worker = serving_worker()
    chat = make_endpoint(alice, model_repo(alice, "llm"), "chat", name="chat")
    pin(chat, worker)
    return {"url": live_server.url, "token": make_token(alice, "read"), "chat": chat, "worker": worker}


def pin(endpoint, worker) -> None:
    """Make `worker` the endpoint's only replica: another serving worker of the session (tests/conftest.py's
    celery_worker consumes `inference` too) may have been picked, and it has no token delay and is not killed."""
    from hub.celery import app
    from hub.endpoints import scaling

    queue = endpoint.celery_queue
    deadline = time.monotonic() + 60  # a busy machine: workers may miss a remote-control round
    while True:
        replicas = scaling.replicas_of(queue, scaling.worker_queues(patience=5))
        if replicas == [worker.hostname]:
            return
        assert time.monotonic() < deadline, f"could not pin {queue} to {worker.hostname}: {replicas}"
        if worker.hostname not in replicas:
            app.control.add_consumer(
                queue, exchange=queue, routing_key=queue, destination=[worker.hostname], reply=True, timeout=5
            )
        others = [h for h in replicas if h != worker.hostname]
        if others:
            app.control.cancel_consumer(queue, destination=others, reply=True, timeout=5)


def openai_stream(hub):
    """(chunks, has_text) for a streamed OpenAI chat completion."""
    from openai import OpenAI

    client = OpenAI(base_url=f"{hub['url']}/v1", api_key=hub["token"], max_retries=0, timeout=120)
    chunks = client.chat.completions.create(
        model="alice/chat", messages=MESSAGES, max_tokens=LONG, temperature=1.0, seed=7, stream=True
    )
    return chunks, lambda chunk: bool(chunk.choices and chunk.choices[0].delta.content)


def tgi_stream(hub):
    """(chunks, has_text) for a streamed HF text_generation (TGI's SSE format)."""
    from huggingface_hub import InferenceClient

    client = InferenceClient(model=f"{hub['url']}/endpoints/alice/chat", token=hub["token"], timeout=120)
    hub["client"] = client  # its HTTP session closes (and the stream with it) when the client is collected
    chunks = client.text_generation("Once upon a time", max_new_tokens=LONG, temperature=1.0, seed=7, stream=True)
    return chunks, bool


def lost_error(route: str, exc: BaseException) -> bool:
    if route == "openai":
        import openai

        return isinstance(exc, openai.APIError) and exc.code == "worker_lost" and "stopped" in exc.message
    from huggingface_hub.errors import OverloadedError

    return isinstance(exc, OverloadedError) and "stopped" in str(exc)


@pytest.mark.parametrize("route, start", [("openai", openai_stream), ("hf", tgi_stream)])
def test_a_stream_whose_worker_is_killed_ends_with_worker_lost(slow_hub, route, start):
    from hub.endpoints.models import UsageRecord

    chunks, has_text = start(slow_hub)
    outcome: dict = {"texts": 0}
    first_text = threading.Event()

    def consume():
        try:
            for chunk in chunks:
                if has_text(chunk):
                    outcome["texts"] += 1
                    first_text.set()
            outcome["finished"] = True
        except Exception as exc:  # what the client raised for the stream's error event
            outcome["error"] = exc
        finally:
            first_text.set()

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    assert first_text.wait(60), "no token arrived"
    assert outcome["texts"] >= 1 and "finished" not in outcome, outcome
    os.kill(slow_hub["worker"].pid, signal.SIGKILL)
    slow_hub["worker"].wait(timeout=10)

    # Liveness: LIVENESS_MISSES quiet intervals of LIVENESS_EVERY_S (+ a 1 s ping each), about 9 s, well inside this.
    reader.join(timeout=30)
    assert not reader.is_alive(), "the stream did not end after its worker was killed"
    assert "error" in outcome and lost_error(route, outcome["error"]), outcome

    deadline = time.monotonic() + 15  # the server meters when its response generator closes
    records = UsageRecord.objects.filter(endpoint=slow_hub["chat"], stream=True)
    while not records.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [r.status for r in records] == [UsageRecord.ERROR]


@pytest.mark.parametrize(
    "state, consumers, alive",
    [
        ("PENDING", {"w1@host": {"inference", "inference.q"}}, True),  # queued behind others: wait
        ("PENDING", {"w1@host": {"inference"}}, False),  # nobody started it and nobody consumes its queue
        ("SUCCESS", {}, False),  # the task ended without ending the stream
        ("FAILURE", {}, False),
    ],
)
def test_a_quiet_request_counts_as_lost_when_no_worker_can_still_serve_it(monkeypatch, state, consumers, alive):
    from hub.endpoints import dispatch, scaling

    class Result:
        pass

    result = Result()
    result.state = state
    monkeypatch.setattr(scaling, "has_remote_control", lambda: True)
    monkeypatch.setattr(scaling, "worker_queues", lambda **kw: consumers)
    monkeypatch.setattr(dispatch, "_queues_seen", (0.0, {}))  # no answer remembered from an earlier round
    assert dispatch._alive(result, "inference.q") is alive


@pytest.mark.parametrize("broker", ["redis", "files"])
def test_a_quiet_subscription_yields_heartbeats_between_events(broker, tmp_path, settings):
    import uuid

    from workers.inference import streams

    if broker == "files":  # the embedded broker's transport
        settings.CELERY_BROKER_URL = "sqla+sqlite:///" + str(tmp_path / "broker.sqlite3")
        settings.DATA_DIR = tmp_path
    rid = uuid.uuid4().hex
    streams.publish(rid, {"type": "token", "text": "a"})

    def later():
        time.sleep(0.8)
        streams.publish(rid, {"type": "done", "finish_reason": "stop", "usage": {}})

    threading.Thread(target=later).start()
    events = list(streams.subscribe(rid, timeout_s=10, idle_s=0.2))
    assert events[0] == {"type": "token", "text": "a"} and events[-1]["type"] == "done"
    assert set(map(type, events[1:-1])) == {type(None)}  # one None per quiet interval (timing decides how many)


def test_a_client_that_disconnects_mid_stream_stops_the_generation(slow_hub):
    """Closing the connection mid-stream cancels the request: the worker's decoding loop stops (its model is free
    for the next request long before the abandoned generation would have ended) and the usage says cancelled."""
    import json
    import socket
    from urllib.parse import urlsplit

    from hub.endpoints.models import UsageRecord

    abandoned = 1000  # tokens: 50 s at 50 ms each if nothing stopped it
    host = urlsplit(slow_hub["url"])
    body = json.dumps(
        {"model": "alice/chat", "messages": MESSAGES, "max_tokens": abandoned, "temperature": 1.0, "stream": True}
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host.netloc}\r\nAuthorization: Bearer {slow_hub['token']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = socket.create_connection((host.hostname, host.port), timeout=60)
    sock.sendall(head + body)
    seen = b""
    while seen.count(b"data:") < 4:  # a few chunks: the worker is generating
        chunk = sock.recv(4096)
        assert chunk, seen
        seen += chunk
    assert seen.startswith(b"HTTP/1.1 200"), seen[:200]
    sock.shutdown(socket.SHUT_RDWR)  # the client goes away
    sock.close()

    records = UsageRecord.objects.filter(endpoint=slow_hub["chat"], stream=True)
    deadline = time.monotonic() + 30
    while not records.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [r.status for r in records] == [UsageRecord.CANCELLED]

    # The same model serves a short request next; had the abandoned generation kept running, its batcher would hold
    # the model for the rest of its ~50 s.
    from openai import OpenAI

    client = OpenAI(base_url=f"{slow_hub['url']}/v1", api_key=slow_hub["token"], max_retries=0, timeout=120)
    started = time.monotonic()
    reply = client.chat.completions.create(model="alice/chat", messages=MESSAGES, max_tokens=5, seed=1)
    assert reply.choices[0].message.content is not None
    assert time.monotonic() - started < 30, "the abandoned generation kept the model busy"
