"""Real clients (openai, huggingface_hub, raw HTTP) against a live server and a real serving worker process, with
tiny random models committed to the hub: embeddings, chat, streaming, metering, scale to zero, a killed worker."""

from __future__ import annotations

import json
import threading
import time

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hub(live_server, serving_worker, alice, make_token, model_repo, make_endpoint):
    worker = serving_worker()
    embed = make_endpoint(alice, model_repo(alice, "embed"), "feature-extraction", name="embed")
    chat = make_endpoint(alice, model_repo(alice, "llm"), "chat", name="chat")
    return {"url": live_server.url, "token": make_token(alice, "read"), "embed": embed, "chat": chat, "worker": worker}


def test_openai_client_embeddings_chat_and_streaming(hub):
    from openai import OpenAI

    client = OpenAI(base_url=f"{hub['url']}/v1", api_key=hub["token"], max_retries=0, timeout=60)
    floats = client.embeddings.create(model="alice/embed", input=["hello world", "a cat"], encoding_format="float")
    assert len(floats.data) == 2 and len(floats.data[0].embedding) == 32
    assert abs(sum(x * x for x in floats.data[0].embedding) - 1) < 1e-3  # normalised
    packed = client.embeddings.create(model="alice/embed", input="hello world")  # base64 on the wire
    assert packed.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-5)

    reply = client.chat.completions.create(
        model="alice/chat", messages=[{"role": "user", "content": "hi"}], max_tokens=5, temperature=0, seed=1
    )
    assert reply.object == "chat.completion" and reply.choices[0].message.role == "assistant"
    assert reply.usage.completion_tokens <= 5 and reply.usage.prompt_tokens > 0

    stream = client.chat.completions.create(
        model="alice/chat", messages=[{"role": "user", "content": "hi"}], max_tokens=6, temperature=0, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == reply.choices[0].message.content[: len(text)] or text  # greedy: same start
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    assert chunks[-1].usage.completion_tokens >= 1

    completion = client.completions.create(model="alice/chat", prompt="Once upon", max_tokens=4)
    assert completion.object == "text_completion" and completion.usage.completion_tokens <= 4
    assert {"alice/embed", "alice/chat"} <= {m.id for m in client.models.list().data}

    from hub.endpoints import metering
    from hub.endpoints.models import UsageRecord

    metering.flush()  # the live server's records wait in this process's buffer for up to HUB_USAGE_FLUSH_MS
    records = UsageRecord.objects.filter(endpoint=hub["chat"])
    assert records.count() == 3 and all(r.status == "ok" and r.output_tokens >= 1 for r in records)
    assert records.filter(stream=True).count() == 1


def test_inference_client_feature_extraction_chat_and_text_generation_streams(hub):
    from huggingface_hub import InferenceClient

    client = InferenceClient(model=f"{hub['url']}/endpoints/alice/embed", token=hub["token"], timeout=60)
    vector = client.feature_extraction("hello world")
    assert vector.shape == (1, 32)
    by_model = InferenceClient(model=f"{hub['url']}/models/alice/tiny-embed", token=hub["token"], timeout=60)
    assert by_model.feature_extraction(["a", "b"]).shape == (2, 32)

    chat = InferenceClient(model=f"{hub['url']}/endpoints/alice/chat", token=hub["token"], timeout=60)
    chunks = list(chat.chat_completion([{"role": "user", "content": "hi"}], max_tokens=5, stream=True))
    assert chunks and chunks[-1].choices[0].finish_reason in ("stop", "length")
    tokens = list(chat.text_generation("Once upon a time", max_new_tokens=5, stream=True))
    assert 1 <= len(tokens) <= 5
    details = list(chat.text_generation("Once upon a time", max_new_tokens=3, stream=True, details=True))
    assert details[-1].generated_text == "".join(t.token.text for t in details)
    assert chat.text_generation("Once upon a time", max_new_tokens=3) == details[-1].generated_text


def test_raw_http_sse_and_usage_api(hub, make_token, alice):
    import requests

    headers = {"Authorization": f"Bearer {hub['token']}"}
    body = {"model": "alice/chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "stream": True}
    with requests.post(f"{hub['url']}/v1/chat/completions", json=body, headers=headers, stream=True, timeout=60) as r:
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines(decode_unicode=True) if line]
    assert lines[-1] == "data: [DONE]"
    assert json.loads(lines[0][6:])["object"] == "chat.completion.chunk"
    bad = requests.post(f"{hub['url']}/endpoints/alice/chat", json={"inputs": ""}, headers=headers, timeout=30)
    assert bad.status_code == 422 and bad.json()["error_type"] == "validation"
    manager = {"Authorization": f"Bearer {make_token(alice, 'write')}"}
    usage = requests.get(f"{hub['url']}/api/v1/endpoints/alice/chat/usage", headers=manager, timeout=30).json()
    assert usage["totals"]["requests"] == 1 and usage["totals"]["output_tokens"] >= 1
    page = requests.get(f"{hub['url']}/endpoints/alice/chat", headers=manager, timeout=30)
    assert page.status_code == 200 and "Playground" in page.text


def test_scale_to_zero_then_cold_start_on_the_next_request(hub, settings):
    from openai import OpenAI

    from hub.endpoints import scaling, services
    from hub.endpoints.models import State

    client = OpenAI(base_url=f"{hub['url']}/v1", api_key=hub["token"], max_retries=0, timeout=60)
    client.embeddings.create(model="alice/embed", input="warm", encoding_format="float")
    endpoint = hub["embed"]
    endpoint.refresh_from_db()
    assert endpoint.state == State.RUNNING
    services.reconcile(now=time.time() + endpoint.idle_timeout_s + 1)
    endpoint.refresh_from_db()
    assert endpoint.state == State.SCALED_TO_ZERO
    assert scaling.replicas_of(endpoint.celery_queue, scaling.worker_queues()) == []
    started = time.monotonic()
    client.embeddings.create(model="alice/embed", input="cold", encoding_format="float")
    endpoint.refresh_from_db()
    assert endpoint.state == State.RUNNING and endpoint.cold_start_ms is not None
    assert endpoint.cold_start_ms <= (time.monotonic() - started) * 1000 + 50
    assert endpoint.events.filter(message__startswith="scaled to zero").exists()


def test_killed_worker_fails_the_request_cleanly(hub, settings, alice, model_repo, make_endpoint):
    import os
    import signal

    import requests

    settings.HUB_INFERENCE_TIMEOUT = 15
    headers = {"Authorization": f"Bearer {hub['token']}"}
    outcome = {}

    def call():
        started = time.monotonic()
        body = {"inputs": "Once upon a time", "parameters": {"max_new_tokens": 400}}
        r = requests.post(f"{hub['url']}/endpoints/alice/chat", json=body, headers=headers, timeout=60)
        outcome.update(status=r.status_code, body=r.json(), seconds=time.monotonic() - started)

    thread = threading.Thread(target=call)
    thread.start()
    time.sleep(1.0)  # the worker has the message (loading or generating)
    os.kill(hub["worker"].pid, signal.SIGKILL)
    thread.join(timeout=40)
    assert not thread.is_alive(), "the request hung"
    assert outcome["status"] in (200, 503, 504), outcome
    if outcome["status"] != 200:  # it may have finished before the kill
        assert outcome["body"]["error_type"] == "overloaded" and outcome["seconds"] < 20
