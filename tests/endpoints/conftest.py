"""Builders for endpoint tests: tiny random models committed as hub repos, endpoints, a serving worker process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fast_control(settings):
    settings.HUB_ENDPOINT_CONTROL_TIMEOUT = 0.3
    settings.HUB_INFERENCE_RATE_LIMIT = "1000/minute"


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory) -> dict[str, Path]:
    """A tiny sentence-transformers-style BERT ("embed") and a tiny Llama with a chat template ("llm")."""
    import json

    import torch
    from transformers import BertModel, LlamaConfig, LlamaForCausalLM

    from tests.inference_engine.conftest import CHAT_TEMPLATE, _bert, _tokenizer

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("endpoint-models")
    embed, llm = root / "embed", root / "llm"
    embed.mkdir()
    llm.mkdir()
    _bert(BertModel, embed)
    (embed / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]))  # fmt: skip
    (embed / "1_Pooling").mkdir()
    (embed / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=512, eos_token_id=102, bos_token_id=101, pad_token_id=0,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(llm)
    _tokenizer(llm, eos_token="[SEP]", chat_template=CHAT_TEMPLATE)
    return {"embed": embed, "llm": llm}


@pytest.fixture
def model_repo(make_repo, tiny_folders):
    """model_repo(owner, kind="embed"|"llm", name=…, private=False) → a Repo holding the tiny model's files."""

    def make(owner, kind: str = "embed", name: str | None = None, private: bool = False):
        folder = tiny_folders[kind]
        files = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        return make_repo(owner, name or f"tiny-{kind}", files=files, private=private)

    return make


@pytest.fixture
def make_endpoint(db):
    from hub.endpoints import services

    def make(user, repo, task: str = "feature-extraction", *, name: str | None = None, namespace=None, **kw):
        return services.create_endpoint(
            user=user, namespace=namespace or user.namespace, name=name or repo.name, repo=repo, task=task, **kw
        )

    return make


def serving_worker_env(database_name: str) -> dict[str, str]:
    from tests.conftest import worker_env

    env = worker_env(database_name)
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.fixture
def serving_worker(transactional_db, live_server):
    """A real serving worker process (threads pool, the `inference` queue only) on this test's database."""
    from django.db import connection

    from hub.celery import app

    processes = []

    def start(name: str = "serve") -> subprocess.Popen:
        host = f"{name}-{os.getpid()}-{len(processes)}@test"
        log = open(ROOT / "test-output" / f"{host}.log", "w") if (ROOT / "test-output").is_dir() else None
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "hub", "worker", "-P", "threads", "-c", "8", "-Q", "inference",
             "--loglevel", "INFO", "-n", host, "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=serving_worker_env(connection.settings_dict["NAME"]),
            stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        processes.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("the serving worker exited")
            replies = app.control.ping(destination=[host], timeout=0.5)
            if replies:
                process.hostname = host
                return process
        raise RuntimeError("the serving worker did not start")

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
