"""The task `workers.inference.run` on a real Celery worker process (-P threads) consuming an endpoint's queue."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import ROOT, worker_env

QUEUE = f"inference.test-{uuid.uuid4().hex[:8]}"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def inference_worker(django_db_setup, django_db_blocker):
    from django.db import connection

    from hub.celery import app

    env = worker_env(connection.settings_dict["NAME"])
    env["HUB_INFERENCE_THREADS"] = "1"
    log = open(ROOT / "test-output" / "inference-worker.log", "w") if (ROOT / "test-output").is_dir() else None
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "hub", "worker", "-P", "threads", "-c", "16", "-Q", QUEUE,
         "--loglevel", "INFO", "-n", f"inference-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                app.send_task("workers.health.ping", args=["ready"], queue=QUEUE).get(timeout=5)
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the inference worker did not start") from None
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        if log:
            log.close()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def served(alice, make_repo, tiny_models):
    """spec(task) for alice's tiny models, committed to the hub (the worker fetches them like any snapshot)."""
    repos = {
        "embed": make_repo(alice, "tiny-embed", files=_files(tiny_models["embed"])),
        "llm": make_repo(alice, "tiny-llm", files=_files(tiny_models["llm"]), private=True),
    }

    def spec(task: str, repo: str) -> dict:
        return {
            "endpoint_id": 1, "repo_id": repos[repo].full_name, "commit": repos[repo].head_sha, "task": task,
            "owner_id": alice.id, "max_batch_size": 16, "max_wait_ms": 20,
        }  # fmt: skip

    return spec


def send(spec: dict, inputs, parameters=None, **request):
    from hub.celery import app

    req = {"id": uuid.uuid4().hex, "inputs": inputs, "parameters": parameters or {}, "stream": False,
           "deadline": time.time() + 60, **request}  # fmt: skip
    return req, app.send_task("workers.inference.run", kwargs={"spec": spec, "request": req}, queue=QUEUE)


def test_concurrent_requests_are_batched_by_the_worker(inference_worker, served):
    spec = served("feature-extraction", "embed")
    send(spec, "warm up")[1].get(timeout=60)
    # Requests big enough that the next ones arrive while a batch runs (a lone tiny one would finish first).
    inputs = [[f"text {i} " + "word " * 100] * 16 for i in range(16)]
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda texts: send(spec, texts)[1].get(timeout=120), inputs))
    assert all(len(r["outputs"]) == 16 and len(r["outputs"][0]) == 32 for r in replies)
    assert all(r["load_ms"] == 0 for r in replies)
    assert max(r["batch_size"] for r in replies) > 1


def test_streaming_chat_through_the_worker(inference_worker, served):
    from workers.inference import streams

    req, result = send(served("chat", "llm"), [{"role": "user", "content": "hi"}], {"max_tokens": 5}, stream=True)
    events = list(streams.subscribe(req["id"], timeout_s=60))
    reply = result.get(timeout=60)
    assert events[-1]["type"] == "done" and events[-1]["usage"] == reply["usage"]
    text = "".join(e["text"] for e in events if e["type"] == "token")
    assert text == reply["outputs"]["message"]["content"]


def test_bad_input_fails_the_task_with_a_value_error(inference_worker, served):
    with pytest.raises(ValueError, match="list of messages"):
        send(served("chat", "llm"), "not messages")[1].get(timeout=60)


def test_an_expired_request_is_not_run(inference_worker, served):
    with pytest.raises(TimeoutError):
        send(served("feature-extraction", "embed"), "late", deadline=time.time() - 1)[1].get(timeout=60)


def test_a_redelivered_streaming_request_fails_cleanly_instead_of_starting_over(inference_worker, served):
    from workers.inference import streams

    request_id = uuid.uuid4().hex
    streams.publish(request_id, {"type": "token", "text": "partial"})  # what the lost worker had sent
    _, result = send(served("chat", "llm"), [{"role": "user", "content": "hi"}], stream=True, id=request_id)
    events = list(streams.subscribe(request_id, timeout_s=60))
    assert [e["type"] for e in events] == ["token", "error"] and "lost" in events[-1]["message"]
    with pytest.raises(RuntimeError):
        result.get(timeout=60)
