"""Fine-tuning the real seed models on real data (slow: minutes on two CPU cores). Figures are printed (-s)."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

import pytest
import torch

from tests.workers.training.conftest import minilm_dir
from workers import seed
from workers.reporting import RecordingReporter
from workers.sample_data import bbc_news_rows, chatterbot_rows, sample, split
from workers.training.finetune import FinetuneConfig, finetune

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def smollm_dir() -> Path:
    """SmolLM2-135M-Instruct as bf16 safetensors, exported once (~1 min) and cached under data/seed-cache/smollm
    (the folder `manage.py seed_catalog` uses with the default data directory; HUB_SEED_CACHE overrides it)."""
    root = Path(os.environ.get("HUB_SEED_CACHE") or ROOT / "data" / "seed-cache")
    cached = root / "smollm"
    if (cached / "config.json").is_file() and (cached / "model.safetensors").is_file():
        return cached
    root.mkdir(parents=True, exist_ok=True)
    scratch = root / f".smollm-{uuid.uuid4().hex[:8]}"
    try:
        seed.export_smollm(scratch)
        if not cached.exists():
            scratch.rename(cached)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return cached


def report(name: str, result, started: float) -> None:
    figures = {
        "metrics": {k: round(v, 4) for k, v in result.metrics.items()},
        "baseline": {k: round(v, 4) for k, v in result.baseline.items()},
        "steps": result.steps,
        "train_rows": result.train_rows,
        "eval_rows": result.eval_rows,
        "train_s": result.duration_s,
        "wall_s": round(time.monotonic() - started, 1),
    }
    print(f"\n{name}: {json.dumps(figures)}")


def test_minilm_fine_tuned_on_bbc_news_beats_the_majority_class(tmp_path):
    train, held_out = split(bbc_news_rows(), test_fraction=0.2, seed=0, stratify="label")
    train, held_out = train[:240], held_out[:120]  # both shuffled after a stratified cut: every topic in each
    config = FinetuneConfig(task="text-classification", epochs=1, batch_size=16, max_length=64, learning_rate=2e-4)
    started = time.monotonic()
    result = finetune(
        config,
        base_model_dir=minilm_dir(),
        train_rows=train,
        eval_rows=held_out,
        output_dir=tmp_path / "out",
        reporter=RecordingReporter(),
        device="cpu",
    )
    report("minilm/bbc-news", result, started)
    assert result.labels == ["business", "entertainment", "politics", "sports", "tech"]
    assert result.metrics["accuracy"] >= result.baseline["majority_accuracy"] + 0.3
    assert result.metrics["f1"] >= result.baseline["majority_f1"] + 0.3
    assert result.metrics["eval_loss"] < result.baseline["eval_loss"]


def test_smollm_lora_on_chatterbot_lowers_the_held_out_loss(smollm_dir, tmp_path):
    rows = sample(chatterbot_rows(), 224, seed=0)
    train, held_out = rows[:200], rows[200:]
    # A CPU step of the 135M model costs seconds: 16 steps of 4 replies already move the held-out loss clearly.
    config = FinetuneConfig(
        task="causal-lm", method="lora", epochs=1, max_steps=16, batch_size=4, max_length=64, learning_rate=1e-3
    )
    started = time.monotonic()
    result = finetune(
        config,
        base_model_dir=smollm_dir,
        train_rows=train,
        eval_rows=held_out,
        output_dir=tmp_path / "out",
        reporter=RecordingReporter(),
        device="cpu",
    )
    report("smollm2-135m/chatterbot (LoRA)", result, started)
    assert result.steps == 16
    assert result.metrics["eval_loss"] < result.baseline["eval_loss"]
    assert result.metrics["perplexity"] < result.baseline["perplexity"]
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()
