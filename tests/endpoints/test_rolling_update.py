"""Rolling revision updates with real workers: the new commit is warmed by a worker (workers.endpoints.roll) while
requests keep being answered at the old one, then served; a revision that cannot load leaves the old one serving."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from tests.endpoints.conftest import ROOT, serving_worker_env


@pytest.fixture(scope="module")
def classifier_files(tmp_path_factory) -> dict[str, bytes]:
    from transformers import BertForSequenceClassification

    from tests.inference_engine.conftest import _bert

    folder = tmp_path_factory.mktemp("classifier")
    _bert(BertForSequenceClassification, folder, num_labels=2, id2label={0: "old-neg", 1: "old-pos"})
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.fixture
def cpu_worker(transactional_db, live_server):
    """A worker for the `cpu` queue (where workers.endpoints.roll goes), on this test's database."""
    from django.db import connection

    from hub.celery import app

    host = f"cpu-{time.monotonic_ns()}@test"
    log = open(ROOT / "test-output" / f"{host}.log", "w") if (ROOT / "test-output").is_dir() else None
    args = f"-m celery -A hub worker -P threads -c 2 -Q cpu --loglevel INFO -n {host} --without-gossip"
    process = subprocess.Popen(
        [sys.executable, *args.split(), "--without-mingle", "--without-heartbeat"],
        cwd=ROOT,
        env=serving_worker_env(connection.settings_dict["NAME"]),
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[host], timeout=0.5):
            assert process.poll() is None and time.monotonic() < deadline, "the cpu worker did not start"
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def test_a_warmup_request_loads_the_commit_and_answers_without_inference(classifier_files, tmp_path):
    import torch

    from workers.inference.engine import Engine

    good, broken = tmp_path / "good", tmp_path / "broken"
    for folder in (good, broken):
        folder.mkdir()
        for name, content in classifier_files.items():
            (folder / name).write_bytes(content)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    engine = Engine(resolve=lambda spec: {"good": good, "broken": broken}[spec["commit"]], device=torch.device("cpu"))
    spec = {"repo_id": "alice/clf", "commit": "good", "task": "text-classification"}
    reply = engine.infer(spec, {"warmup": True, "inputs": None})
    assert reply["outputs"] is None and reply["warmup"] is True and reply["load_ms"] > 0
    assert engine.infer(spec, {"warmup": True, "inputs": None})["load_ms"] == 0  # now warm
    assert engine.infer(spec, {"inputs": "hello"})["outputs"][0][0]["label"].startswith("old-")
    with pytest.raises(ValueError, match="could not be loaded"):
        engine.infer({**spec, "commit": "broken"}, {"warmup": True, "inputs": None})


def _commit(repo, user, files: dict[str, bytes], title: str) -> str:
    from hub.registry.services.commits import AddFile, create_commit

    return create_commit(
        repo=repo, author=user, operations=[AddFile(path=p, content=c) for p, c in files.items()], title=title
    ).sha


def _wait_for(predicate, seconds: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.django_db(transaction=True)
def test_rolling_update_serves_throughout_then_switches_and_a_broken_revision_keeps_the_old(
    settings, live_server, serving_worker, cpu_worker, alice, make_token, make_repo, classifier_files, make_endpoint
):
    import requests

    from hub.endpoints import services
    from hub.endpoints.models import Endpoint, EndpointEvent

    settings.HUB_INFERENCE_RATE_LIMIT = ""
    serving_worker()
    repo = make_repo(alice, "clf", files=classifier_files)
    endpoint = make_endpoint(alice, repo, "text-classification", name="clf", min_replicas=1)
    old_sha = endpoint.commit_sha
    headers = {"Authorization": f"Bearer {make_token(alice)}"}
    url = f"{live_server.url}/endpoints/alice/clf"
    answers: list[tuple[int, str]] = []
    stop = threading.Event()

    def client():
        while not stop.is_set():
            r = requests.post(url, json={"inputs": "hello world"}, headers=headers, timeout=120)
            label = r.json()[0][0]["label"] if r.status_code == 200 else r.text
            answers.append((r.status_code, label))

    thread = threading.Thread(target=client)
    thread.start()
    try:
        _wait_for(lambda: answers, what="the first answer")
        assert answers[0] == (200, "old-pos") or answers[0] == (200, "old-neg"), answers[0]

        config = json.loads(classifier_files["config.json"])
        config["id2label"] = {"0": "new-neg", "1": "new-pos"}
        new_sha = _commit(repo, alice, {"config.json": json.dumps(config).encode()}, "rename the labels")
        r = requests.patch(
            f"{live_server.url}/api/v1/endpoints/alice/clf", json={"revision": "main"}, headers=headers, timeout=30
        )
        # The web request did not wait for the warm-up: it answers with the update still pending.
        assert r.status_code == 200 and r.json()["pending_commit"] == new_sha and r.json()["commit"] == old_sha
        _wait_for(lambda: endpoint.refresh_from_db() or endpoint.commit_sha == new_sha, what="the switch")
        seen = len(answers)
        _wait_for(lambda: len(answers) > seen + 2, what="answers at the new commit")
        assert answers[-1][1].startswith("new-"), answers[-3:]
        assert endpoint.pending_commit_sha == "" and endpoint.last_error == ""

        broken = _commit(repo, alice, {"model.safetensors": b"not a safetensors file"}, "break the weights")
        r = requests.patch(
            f"{live_server.url}/api/v1/endpoints/alice/clf", json={"revision": "main"}, headers=headers, timeout=30
        )
        assert r.status_code == 200 and r.json()["pending_commit"] == broken
        _wait_for(lambda: endpoint.refresh_from_db() or not endpoint.pending_commit_sha, what="the failed warm-up")
        seen = len(answers)
        _wait_for(lambda: len(answers) > seen + 2, what="answers after the failed update")
        assert endpoint.commit_sha == new_sha and "could not be loaded" in endpoint.last_error

        # A lost message: the update is pending (as update_revision leaves it) but no worker ever heard of it.
        fixed = _commit(repo, alice, {"model.safetensors": classifier_files["model.safetensors"]}, "fix the weights")
        Endpoint.objects.filter(pk=endpoint.pk).update(pending_commit_sha=fixed)
        services.add_event(endpoint, EndpointEvent.REVISION, f"rolling update to {fixed[:12]} started", commit=fixed)
        assert services.reconcile()["rolls_resent"] == 0  # recent: its warm-up may still be running
        bound = settings.HUB_ENDPOINT_ROLL_RESEND_SECONDS
        assert services.reconcile(now=time.time() + bound + 1)["rolls_resent"] == 1
        _wait_for(lambda: endpoint.refresh_from_db() or endpoint.commit_sha == fixed, what="the re-sent update")
    finally:
        stop.set()
        thread.join(timeout=120)
    statuses = {status for status, _ in answers}
    assert statuses == {200}, [a for a in answers if a[0] != 200][:3]
    labels = [label for _, label in answers]
    first_new = next(i for i, label in enumerate(labels) if label.startswith("new-"))
    assert first_new > 0 and all(label.startswith("old-") for label in labels[:first_new])
    assert all(label.startswith("new-") for label in labels[first_new:])  # the broken revision never served
    assert endpoint.events.filter(message=f"re-sending the rolling update to {fixed[:12]}").exists()
    events = list(endpoint.events.order_by("id").values_list("kind", "message"))
    messages = [m for _, m in events]
    started_at = messages.index(f"rolling update to {new_sha[:12]} started")
    assert messages.index(f"now serving {new_sha[:12]}") > started_at
    failed = [m for kind, m in events if kind == EndpointEvent.ERROR]
    assert messages[-1] == f"now serving {fixed[:12]}"
    assert len(failed) == 1 and failed[0].startswith(f"rolling update to {broken[:12]} failed, still serving")
