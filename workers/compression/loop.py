"""The training loop shared by distillation and pruning's recovery fine-tune: AdamW, linear decay, checkpoints."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from workers.compression.data import Encoded

STATE_FILE = "compression_state.json"
OPTIMIZER_FILE = "optimizer.pt"


def planned_steps(n_rows: int, batch_size: int, epochs: float, max_steps: int | None) -> tuple[int, int]:
    """(steps per epoch, total steps)."""
    per_epoch = max(1, math.ceil(n_rows / batch_size))
    total = max(1, math.ceil(per_epoch * epochs))
    return per_epoch, min(total, max_steps) if max_steps else total


def train(
    model,
    *,
    encoded: Encoded,
    loss_fn: Callable[[dict], tuple[torch.Tensor, dict[str, float]]],
    reporter,
    batch_size: int,
    learning_rate: float,
    weight_decay: float,
    total_steps: int,
    seed: int,
    warmup_ratio: float = 0.0,
    checkpoint_every: int = 0,
    checkpoint_dir: Path | None = None,
    save_checkpoint: Callable[[Path], None] | None = None,
    resume_from: Path | None = None,
    after_step: Callable[[], None] | None = None,
    log_every: int = 10,
) -> dict:
    """Run `total_steps` optimizer steps over `encoded` (reshuffled each epoch with seed + epoch)."""
    torch.manual_seed(seed)
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=learning_rate
    )
    warmup = int(total_steps * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    step = 0
    if resume_from is not None:
        state = json.loads((Path(resume_from) / STATE_FILE).read_text())
        step = int(state["step"])
        optimizer.load_state_dict(torch.load(Path(resume_from) / OPTIMIZER_FILE, weights_only=True))
        reporter.log(f"resumed from step {step}")
    start = step
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: factor(s + start))
    per_epoch = math.ceil(len(encoded) / batch_size)
    model.train()
    losses: list[float] = []
    while step < total_steps:
        epoch, skip = divmod(step, per_epoch)
        for index, batch in enumerate(encoded.batches(batch_size, shuffle_seed=seed + epoch)):
            if index < skip:
                continue
            if step >= total_steps:
                break
            reporter.check_cancelled()
            loss, logs = loss_fn(batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if after_step is not None:
                after_step()
            step += 1
            losses.append(loss.item())
            reporter.progress(step, total_steps)
            if step % log_every == 0 or step == total_steps:
                values = {"loss": sum(losses[-log_every:]) / len(losses[-log_every:]), **logs}
                values["learning_rate"] = scheduler.get_last_lr()[0]
                reporter.metrics(step, values, epoch=round(step / per_epoch, 4), split="train")
            if checkpoint_every and save_checkpoint and step % checkpoint_every == 0 and step < total_steps:
                _checkpoint(model, optimizer, step, checkpoint_dir, save_checkpoint, reporter)
                model.train()
    model.eval()
    return {"steps": step, "train_loss": sum(losses[-log_every:]) / max(1, len(losses[-log_every:]))}


def _checkpoint(model, optimizer, step: int, checkpoint_dir: Path, save: Callable[[Path], None], reporter) -> None:
    folder = checkpoint_dir / f"step-{step}"
    if folder.exists():
        shutil.rmtree(folder)
    save(folder)
    torch.save(optimizer.state_dict(), folder / OPTIMIZER_FILE)
    (folder / STATE_FILE).write_text(json.dumps({"step": step}) + "\n")
    reporter.checkpoint(step, folder)
    for old in checkpoint_dir.glob("step-*"):  # keep only the newest on local disk; the reporter published it
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)
