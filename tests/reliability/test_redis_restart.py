"""Fault (b): the Redis broker restarts (SIGKILL, no persistence) with one job running and others queued. The
queued messages are gone; the reconciler sends them again. The worker reconnects, the running job finishes on it,
and no job runs twice. A private redis-server of the test's own: the shared one on 6379 is left alone."""

from __future__ import annotations

import shutil
import signal
import subprocess

import pytest

from tests.jobs import conftest as jobs
from tests.reliability.conftest import _free_port, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# The builders and the worker fixture of tests/jobs, under the same names.
tiny_bert_files, bert_repo, sentiment_dataset = jobs.tiny_bert_files, jobs.bert_repo, jobs.sentiment_dataset
job_queue, start_worker = jobs.job_queue, jobs.start_worker


class PrivateRedis:
    """redis-server on a free port, keeping nothing on disk: a restart empties it."""

    def __init__(self, folder) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = folder
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        import redis

        self.folder.mkdir(exist_ok=True)
        with open(self.folder / "redis.log", "a") as log:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.folder), "--daemonize", "no"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

        def answers() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError("redis-server did not start:\n" + (self.folder / "redis.log").read_text()[-2000:])
            try:
                return redis.Redis.from_url(self.url, socket_timeout=2).ping()
            except redis.RedisError:
                return False

        wait_for(answers, timeout=20, what="redis-server to answer")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=5)


@pytest.fixture
def private_redis(tmp_path, monkeypatch):
    """A private broker and result backend; the test process sends job messages to it (hub.celery.app replaced by an
    app configured the same way, so the shared app's connection pools stay as they are)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    from celery import Celery

    import hub.celery

    server = PrivateRedis(tmp_path / "redis")
    server.start()
    app = Celery("hub", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    # The CELERY_BROKER_URL environment variable (tests/settings.py) outranks broker_url; these two outrank it.
    monkeypatch.delenv("CELERY_RESULT_BACKEND", raising=False)
    app.conf.update(broker_read_url=server.url, broker_write_url=server.url, result_backend=server.url)
    assert f":{server.port}/" in app.connection_for_write().as_uri()  # never the shared Redis
    monkeypatch.setattr(hub.celery, "app", app)
    try:
        yield server
    finally:
        app.close()
        if server.process.poll() is None:
            server.kill()


def submit(client, output: str, epochs: int) -> int:
    hyperparameters = {"epochs": epochs, "batch_size": 8, "max_length": 32, "learning_rate": 1e-3}
    response = client.post(
        "/api/v1/jobs", jobs.finetune_body(output=f"alice/{output}", hyperparameters=hyperparameters), format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def job_state(job_id: int):
    from hub.jobs.models import Job

    return Job.objects.get(pk=job_id)


def wait_until_final(job_id: int):
    return wait_for(lambda: (j := job_state(job_id)).is_final and j, timeout=120, what=f"job {job_id} to finish")


@pytest.mark.fault("b")
def test_redis_restart_loses_no_job_and_runs_none_twice(bert_repo, sentiment_dataset, alice_api, job_queue,
                                                         start_worker, private_redis, settings):  # fmt: skip
    from hub.jobs import services

    queue_key = f"{settings.CELERY_KEY_PREFIX}{job_queue}"
    broker = private_redis.client()
    # A lease long enough that a slow heartbeat on a busy machine never expires it: the reconciler must leave the
    # running job alone. The worker's broker and result backend: the private server.
    worker = start_worker(job_queue, HUB_JOB_STEP_DELAY_SECONDS=0.2, HUB_JOB_LEASE_SECONDS=30,
                          CELERY_BROKER_URL=private_redis.url, CELERY_RESULT_BACKEND=private_redis.url)  # fmt: skip
    running = submit(alice_api, "restart-running", epochs=5)  # 40 steps: still training at the restart
    wait_for(lambda: job_state(running).steps_done >= 2, timeout=120, what="the first job to train")
    queued = [submit(alice_api, f"restart-queued-{n}", epochs=1) for n in range(3)]
    # One worker slot, one prefetched message (acks_late): the other three wait in the broker's list.
    wait_for(lambda: broker.llen(queue_key) == 3, timeout=20, what="three messages in the queue")

    private_redis.kill()
    private_redis.start()  # same port, nothing kept: every queued message is gone
    assert broker.llen(queue_key) == 0
    job = job_state(running)
    assert job.status == "running" and job.steps_done < job.steps_total  # restarted mid-training

    settings.HUB_JOB_RESEND_SECONDS = 0
    resent = services.reconcile()["resent"]
    assert sorted(resent) == sorted(queued)  # the running job keeps its lease: its heartbeats go to Postgres

    # Its acks_late message went with the restart; the worker reconnects, the job finishes and records success.
    workers = set()
    for job_id in [running, *queued]:
        job = wait_until_final(job_id)
        assert job.status == "succeeded", (job_id, job.error, job.log_tail)
        assert job.attempts == 1  # claimed once: never ran twice
        runs = [e.data for e in job.events.filter(kind="status") if e.data["status"] == "running"]
        assert len(runs) == 1, runs
        workers.add(runs[0]["worker"])
        assert job.dispatches == (1 if job_id == running else 2)
        assert job.steps_done == job.steps_total
    # One worker ran all four: it survived the restart, reconnected and took the re-sent messages.
    assert len(workers) == 1 and worker.poll() is None
