"""Jobs on real worker processes over the real Redis: train, publish, checkpoints, cancel, failures, and faults
(SIGKILL of a worker mid-training, lost broker messages). Tiny random models keep each run to seconds."""

import json
import os
import signal

import pytest

from tests.jobs.conftest import finetune_body, job_state, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def submit(client, **overrides) -> int:
    response = client.post("/api/v1/jobs", finetune_body(**overrides), format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def files_at(repo_name: str, revision: str = "main") -> dict:
    from hub.registry import selectors
    from hub.registry.models import Repo

    repo = Repo.objects.get(full_name=repo_name)
    return selectors.snapshot(selectors.resolve_revision(repo, revision)).files


def read_file(repo_name: str, path: str, revision: str = "main") -> bytes:
    from hub.registry import storage

    return storage.read_blob(files_at(repo_name, revision)[path].sha256)


def test_finetune_job_publishes_a_versioned_model(bert_repo, sentiment_dataset, alice_api, job_queue, start_worker):
    start_worker(job_queue)
    job_id = submit(alice_api, hyperparameters={"epochs": 3, "batch_size": 8, "max_length": 32, "learning_rate": 2e-3,
                                                "checkpoint_every": 10})  # fmt: skip
    job = wait_for(lambda: (j := job_state(job_id)).is_final and j, timeout=180, what="the job to finish")
    assert job.status == "succeeded", (job.error, job.log_tail)
    body = alice_api.get(f"/api/v1/jobs/{job_id}").json()
    assert body["progress"]["percent"] == 100.0 and body["progress"]["steps_total"] == 24
    assert body["output"]["commit"]
    # The model: weights, config with the labels, tokenizer, a card with lineage and metrics, the curve.
    files = files_at("alice/tiny-bert-sentiment")
    assert {"model.safetensors", "config.json", "README.md", "training_curve.svg", "tokenizer.json"} <= set(files)
    config = json.loads(read_file("alice/tiny-bert-sentiment", "config.json"))
    assert set(config["id2label"].values()) == {"neg", "pos"}
    card = read_file("alice/tiny-bert-sentiment", "README.md").decode()
    assert "base_model: alice/tiny-bert" in card and "alice/sentiment" in card
    from hub.registry import selectors
    from hub.registry.models import Repo

    output = Repo.objects.get(full_name="alice/tiny-bert-sentiment")
    assert [(n.repo.full_name, n.relation) for n in selectors.parents(output.namespace.user, output)] == [
        ("alice/tiny-bert", "finetune")
    ]
    # Checkpoints are commits on their own branch; main holds only the final model.
    assert job.checkpoint_step == 20
    assert "training_state.pt" in files_at("alice/tiny-bert-sentiment", "checkpoints")
    assert "training_state.pt" not in files
    # Metrics: a train-loss series, eval accuracy, the final figures against the majority baseline.
    metrics = alice_api.get(f"/api/v1/jobs/{job_id}/metrics").json()
    assert len(metrics["series"]["train"]) >= 3 and "loss" in metrics["series"]["train"][0]
    assert "accuracy" in metrics["series"]["eval"][-1]
    assert metrics["final"]["accuracy"] >= metrics["final"]["baseline_accuracy"]
    kinds = [e["kind"] for e in alice_api.get(f"/api/v1/jobs/{job_id}/events?limit=500").json()["results"]]
    assert {"status", "log", "metrics", "checkpoint"} <= set(kinds)


def test_events_stream_live_as_server_sent_events(bert_repo, sentiment_dataset, alice_api, job_queue, start_worker):
    start_worker(job_queue)
    job_id = submit(alice_api)
    response = alice_api.get(f"/api/v1/jobs/{job_id}/events/stream")
    assert response["Content-Type"] == "text/event-stream"
    text = b"".join(response.streaming_content).decode()  # ends when the job does
    assert "event: metrics" in text and "event: end" in text and '"succeeded"' in text
    last_id = max(int(line[4:]) for line in text.splitlines() if line.startswith("id: "))
    again = alice_api.get(f"/api/v1/jobs/{job_id}/events/stream", HTTP_LAST_EVENT_ID=str(last_id))
    replay = b"".join(again.streaming_content).decode()
    assert "event: metrics" not in replay and "event: end" in replay  # resumes after the last event seen


def test_cancel_stops_a_running_job_and_leaves_main_alone(bert_repo, sentiment_dataset, alice_api, job_queue,
                                                          start_worker):  # fmt: skip
    import time

    start_worker(job_queue, HUB_JOB_STEP_DELAY_SECONDS=0.3)
    job_id = submit(alice_api, hyperparameters={"epochs": 20, "batch_size": 8, "max_length": 32})
    wait_for(lambda: job_state(job_id).steps_done >= 3, timeout=120, what="training to start")
    asked = time.monotonic()
    assert alice_api.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 200
    job = wait_for(lambda: (j := job_state(job_id)).is_final and j, timeout=30, what="the cancel")
    assert job.status == "cancelled" and time.monotonic() - asked < 10
    assert set(files_at("alice/tiny-bert-sentiment")) == {".gitattributes"}  # main untouched


def test_a_failing_job_records_the_error_and_log(alice, make_repo, bert_repo, sentiment_dataset, alice_api, job_queue,
                                                 start_worker):  # fmt: skip
    from hub.registry import storage
    from hub.registry.models import Blob

    # Lose the base model's weights from storage (validation reads only config.json): the job must fail cleanly.
    sha = files_at("alice/tiny-bert")["model.safetensors"].sha256
    storage.blob_storage().delete(storage.blob_key(sha))
    start_worker(job_queue)
    job_id = submit(alice_api)
    job = wait_for(lambda: (j := job_state(job_id)).is_final and j, timeout=120, what="the failure")
    assert job.status == "failed" and job.error
    assert job.log_tail and any("error" in line for line in job.log_tail)
    assert Blob.objects.filter(sha256=sha).exists()


@pytest.mark.fault("a")
def test_sigkilled_worker_job_resumes_from_its_checkpoint(bert_repo, sentiment_dataset, alice_api, job_queue,
                                                          start_worker):  # fmt: skip
    """The whole worker (main process and child) dies mid-training; a new worker resumes the job and finishes it."""
    first = start_worker(job_queue, HUB_JOB_STEP_DELAY_SECONDS=0.15, CELERY_VISIBILITY_TIMEOUT=8)
    job_id = submit(alice_api, hyperparameters={"epochs": 4, "batch_size": 8, "max_length": 32, "checkpoint_every": 5})
    wait_for(lambda: job_state(job_id).checkpoint_step >= 10, timeout=120, what="a checkpoint")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    checkpoint_at_kill = job_state(job_id).checkpoint_step
    start_worker(job_queue, CELERY_VISIBILITY_TIMEOUT=8)  # Redis re-delivers the unacknowledged message
    job = wait_for(lambda: (j := job_state(job_id)).is_final and j, timeout=180, what="the resumed job")
    assert job.status == "succeeded", (job.error, job.log_tail)
    assert job.attempts == 2 and job.steps_done == job.steps_total == 32  # one more claim: the new worker's
    messages = [e.data.get("message", "") for e in job.events.filter(kind="status")]
    assert any("resuming from step" in m for m in messages), messages
    assert any(f"resuming from step {checkpoint_at_kill}" in m for m in messages), (checkpoint_at_kill, messages)


@pytest.mark.fault("b")
def test_a_lost_message_is_sent_again_by_the_reconciler(bert_repo, sentiment_dataset, alice_api, job_queue,
                                                        start_worker, settings):  # fmt: skip
    """A broker restart (Redis keeps nothing on disk here) loses the queued message; the reconciler re-sends it."""
    import redis

    job_id = submit(alice_api)
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    wait_for(lambda: client.llen(f"{settings.CELERY_KEY_PREFIX}{job_queue}") == 1, timeout=10, what="the message")
    client.delete(f"{settings.CELERY_KEY_PREFIX}{job_queue}")  # the message is gone, as after a restart
    start_worker(job_queue)
    from hub.jobs import services

    settings.HUB_JOB_RESEND_SECONDS = 0
    assert job_id in services.reconcile()["resent"]
    job = wait_for(lambda: (j := job_state(job_id)).is_final and j, timeout=120, what="the job")
    assert job.status == "succeeded" and job.dispatches == 2


def test_a_duplicate_message_never_runs_the_job_twice(bert_repo, sentiment_dataset, alice_api, job_queue,
                                                      start_worker):  # fmt: skip
    """Redis re-delivers unacknowledged messages after the visibility timeout, which a long job outlasts: the
    second delivery finds the lease alive and is dropped, while the first worker finishes the job."""
    from hub.jobs import services

    start_worker(job_queue, HUB_JOB_STEP_DELAY_SECONDS=0.1)
    start_worker(job_queue, HUB_JOB_STEP_DELAY_SECONDS=0.1)
    job_id = submit(alice_api, hyperparameters={"epochs": 4, "batch_size": 8, "max_length": 32})
    wait_for(lambda: job_state(job_id).steps_done >= 2, timeout=120, what="training to start")
    services.dispatch(job_id)  # as a re-delivery would
    services.dispatch(job_id)
    job = wait_for(lambda: (j := job_state(job_id)).is_final and j, timeout=180, what="the job")
    assert job.status == "succeeded" and job.attempts == 1 and job.dispatches == 3  # the copies waited, then dropped
    running = [e for e in job.events.filter(kind="status") if e.data["status"] == "running"]
    assert len(running) == 1
