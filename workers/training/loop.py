"""The training loop behind finetune(): AdamW, linear warm-up and decay, gradient clipping, autocast on CUDA,
seeded per-epoch shuffling, evaluation, checkpoints that resume to the same step and data order."""

from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from workers.reporting import Reporter
from workers.training import data, models
from workers.training.finetune import FinetuneConfig, FinetuneResult, choose_device
from workers.training.metrics import accuracy, macro_f1, perplexity

TRAIN_POINTS = 50  # train-loss reports per run
STATE_FILE = "training_state.pt"
TRAINER_FILE = "trainer_state.json"
METRICS_FILE = "training_metrics.json"


@dataclass
class Plan:
    rows: int
    batch_size: int
    steps_per_epoch: int
    total: int
    warmup: int
    log_every: int

    @classmethod
    def make(cls, config: FinetuneConfig, rows: int) -> Plan:
        per_epoch = math.ceil(rows / config.batch_size)
        total = max(1, math.ceil(config.epochs * per_epoch))
        if config.max_steps:
            total = min(total, config.max_steps)
        return cls(
            rows, config.batch_size, per_epoch, total, int(config.warmup_ratio * total), max(1, total // TRAIN_POINTS)
        )

    def epoch(self, step: int) -> float:
        return round(step / self.steps_per_epoch, 4)

    def lr_factor(self, step: int) -> float:
        """Linear warm-up then linear decay to (almost) zero; never exactly 0, so no step is wasted."""
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        return max(0.0, (self.total - step) / max(1, self.total - self.warmup))


@dataclass
class Session:
    """What the loop carries around: the model, its inputs and what it reported."""

    config: FinetuneConfig
    reporter: Reporter
    model: torch.nn.Module
    tokenizer: object
    device: str
    amp_dtype: torch.dtype | None
    train: list[dict]
    eval: list[dict]
    plan: Plan
    history: list[dict] = field(default_factory=list)

    def report(self, step: int, values: dict[str, float], *, split: str) -> None:
        values = {k: float(v) for k, v in values.items()}
        epoch = self.plan.epoch(step)
        self.reporter.metrics(step, values, epoch=epoch, split=split)
        self.history.append({"step": step, "epoch": epoch, "split": split, **values})

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    def batch(self, examples: list[dict]) -> dict:
        return {k: v.to(self.device) for k, v in data.collate(examples, self.tokenizer.pad_token_id).items()}


def run(
    config: FinetuneConfig,
    *,
    base_model_dir: Path,
    train_rows: list[dict],
    eval_rows: list[dict],
    output_dir: Path,
    reporter: Reporter,
    resume_from: Path | None,
    merged_dir: Path | None,
    device: str | None,
) -> FinetuneResult:
    started = time.monotonic()
    data.validate_rows(config, train_rows)
    if eval_rows:
        data.validate_rows(config, eval_rows, min_labels=1)
    if output_dir.exists() and any(output_dir.iterdir()):
        raise ValueError(f"{output_dir} is not empty")
    device, amp_dtype = choose_device(device)
    dtype_name = str(amp_dtype or torch.float32).removeprefix("torch.")
    reporter.log(f"device: {device}, {dtype_name}{' autocast' if amp_dtype else ''} (torch {torch.__version__})")
    saved = read_checkpoint(resume_from) if resume_from else None
    random.seed(config.seed)
    torch.manual_seed(config.seed)  # the new head, the LoRA matrices and dropout start from the seed

    tokenizer = models.load_tokenizer(base_model_dir)
    labels = _labels(config, train_rows, saved)
    train, eval_set = _encode(config, tokenizer, train_rows, eval_rows, labels, reporter)
    plan = Plan.make(config, len(train))

    full_checkpoint = resume_from if saved and config.method == "full" else None
    model = models.load_model(config, base_model_dir, labels=labels, tokenizer=tokenizer, weights_dir=full_checkpoint)
    if config.method == "lora":
        model = models.wrap_lora(config, model, adapter_dir=resume_from if saved else None)
    model.to(device)
    trainable, total_params = models.count_parameters(model)
    reporter.log(
        f"model: {model.config.model_type} {config.task}, {config.method}: {trainable / 1e6:.2f} M trainable of "
        f"{total_params / 1e6:.1f} M parameters"
    )
    reporter.log(
        f"plan: {plan.total} steps ({plan.total / plan.steps_per_epoch:.2f} epochs × {plan.steps_per_epoch} steps of "
        f"{plan.batch_size} rows), learning rate {config.lr:g}, warm-up {plan.warmup} steps"
    )
    session = Session(config, reporter, model, tokenizer, device, amp_dtype, train, eval_set, plan)

    optimizer = _optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, plan.lr_factor)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    previous_s = 0.0
    if saved:
        start, baseline, session.history, previous_s = _restore(saved, plan, optimizer, scheduler, scaler, reporter)
    else:
        start, baseline = 0, _baseline(session)

    metrics = _train(
        session,
        optimizer,
        scheduler,
        scaler,
        start=start,
        baseline=baseline,
        previous_s=previous_s,
        output_dir=output_dir,
    )
    duration = previous_s + time.monotonic() - started
    result = FinetuneResult(
        metrics=metrics,
        baseline=baseline,
        steps=plan.total,
        epochs=plan.epoch(plan.total),
        duration_s=round(duration, 2),
        device=device,
        dtype=dtype_name,
        train_rows=len(train),
        eval_rows=len(eval_set),
        labels=[str(label) for label in labels] if labels is not None else None,
        history=session.history,
    )
    _publish(session, result, base_model_dir, output_dir, merged_dir)
    reporter.log(f"done: {plan.total} steps in {duration:.0f}s; {_describe(metrics)}")
    return result


# --- setup -------------------------------------------------------------------------------------------------------


def _labels(config: FinetuneConfig, train_rows: list[dict], saved: dict | None) -> list | None:
    if config.task != "text-classification":
        return None
    labels = data.sort_labels({row[config.label_column] for row in train_rows})
    if saved and saved["trainer"].get("labels") not in (None, [str(label) for label in labels]):
        raise ValueError("the checkpoint was trained with other labels than these rows have; start a new job")
    return labels


def _encode(config, tokenizer, train_rows, eval_rows, labels, reporter) -> tuple[list, list]:
    if config.task == "text-classification":
        _, label2id = data.label_maps(labels)
        train, dropped = data.encode_classification(tokenizer, train_rows, config, label2id)
        eval_set, eval_dropped = data.encode_classification(tokenizer, eval_rows, config, label2id)
        reporter.log(f"labels ({len(labels)}): {', '.join(str(label) for label in labels)}")
        if eval_dropped:
            reporter.log(f"{eval_dropped} held-out rows skipped: their label does not occur in the training rows")
    else:
        train, dropped = data.encode_causal_lm(tokenizer, train_rows, config)
        eval_set, eval_dropped = data.encode_causal_lm(tokenizer, eval_rows, config)
        if dropped or eval_dropped:
            reporter.log(
                f"{dropped} training and {eval_dropped} held-out rows skipped: no response token is left within "
                f"max_length {config.max_length}"
            )
        template = "the chat template" if getattr(tokenizer, "chat_template", None) else "prompt\\nresponse<eos>"
        reporter.log(f"format: {data.lm_format(config, train_rows)} rendered with {template}; loss on the replies")
    if not train:
        raise ValueError("no training row is usable (see the log)")
    reporter.log(f"data: {len(train)} training rows, {len(eval_set)} held-out rows, max_length {config.max_length}")
    return train, eval_set


def _optimizer(model, config: FinetuneConfig) -> torch.optim.Optimizer:
    """AdamW; biases and norm weights (1-d parameters) get no weight decay."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr)


# --- training ----------------------------------------------------------------------------------------------------


def _train(session: Session, optimizer, scheduler, scaler, *, start, baseline, previous_s, output_dir) -> dict:
    config, plan, reporter = session.config, session.plan, session.reporter
    model = session.model
    model.train()
    reporter.progress(start, plan.total)
    step, running, final = start, [], {}
    started = time.monotonic()
    while step < plan.total:
        epoch_index, position = divmod(step, plan.steps_per_epoch)
        order = data.epoch_order(plan.rows, seed=config.seed, epoch=epoch_index)
        for b in range(position, plan.steps_per_epoch):
            if step >= plan.total:
                break
            reporter.check_cancelled()
            lr = optimizer.param_groups[0]["lr"]
            examples = [session.train[i] for i in order[b * plan.batch_size : (b + 1) * plan.batch_size]]
            running.append(_train_step(session, examples, optimizer, scaler))
            scheduler.step()
            step += 1
            reporter.progress(step, plan.total)
            if step % plan.log_every == 0 or step == plan.total:
                session.report(step, {"loss": sum(running) / len(running), "learning_rate": lr}, split="train")
                final["train_loss"] = sum(running) / len(running)
                running = []
            epoch_end = step % plan.steps_per_epoch == 0
            if (
                (config.eval_every and step % config.eval_every == 0)
                or (not config.eval_every and epoch_end)
                or (step == plan.total)
            ):
                final.update(_eval_and_report(session, step))
            if epoch_end:
                reporter.log(
                    f"epoch {step // plan.steps_per_epoch}/{math.ceil(plan.total / plan.steps_per_epoch)} done "
                    f"(step {step}/{plan.total}, {time.monotonic() - started:.0f}s)"
                )
            if config.checkpoint_every and step % config.checkpoint_every == 0 and step < plan.total:
                elapsed = previous_s + time.monotonic() - started
                _checkpoint(session, step, optimizer, scheduler, scaler, baseline, elapsed, output_dir)
    if not any(k != "train_loss" for k in final) and session.eval:  # resumed at the very end
        final.update(_eval_and_report(session, step))
    return final


def _train_step(session: Session, examples: list[dict], optimizer, scaler) -> float:
    batch = session.batch(examples)
    with session.autocast():
        logits = session.model(**_inputs(batch)).logits
    loss, count = _loss(session.config.task, logits, batch["labels"])
    loss = loss / max(count, 1)
    if not torch.isfinite(loss):
        raise ValueError("the training loss is not finite: lower the learning rate")
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    torch.nn.utils.clip_grad_norm_(params, session.config.max_grad_norm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def _inputs(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if k != "labels"}


def _loss(task: str, logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Summed loss and the number of items it sums over (rows, or predicted tokens for a causal LM)."""
    if task == "text-classification":
        return F.cross_entropy(logits.float(), labels, reduction="sum"), labels.numel()
    shifted = labels[:, 1:]
    loss = F.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]),
        shifted.reshape(-1),
        ignore_index=data.IGNORE,
        reduction="sum",
    )
    return loss, int((shifted != data.IGNORE).sum())


@torch.no_grad()
def evaluate(session: Session) -> dict[str, float]:
    """cls: loss (mean per row), accuracy, macro f1; lm: loss (mean per predicted token) and perplexity."""
    model = session.model
    model.eval()
    total, count, y_true, y_pred = 0.0, 0, [], []
    try:
        for examples in data.eval_batches(session.eval, session.config.batch_size * 2):
            session.reporter.check_cancelled()  # a long evaluation still stops promptly
            batch = session.batch(examples)
            with session.autocast():
                logits = model(**_inputs(batch)).logits
            loss, n = _loss(session.config.task, logits, batch["labels"])
            total, count = total + loss.item(), count + n
            if session.config.task == "text-classification":
                y_true += batch["labels"].tolist()
                y_pred += logits.argmax(-1).tolist()
    finally:
        model.train()
    loss = total / max(count, 1)
    if session.config.task == "text-classification":
        return {"loss": loss, "accuracy": accuracy(y_true, y_pred), "f1": macro_f1(y_true, y_pred)}
    return {"loss": loss, "perplexity": perplexity(loss)}


def _eval_and_report(session: Session, step: int) -> dict[str, float]:
    """Evaluates, reports with split="eval" and returns the values as result metrics (loss → eval_loss)."""
    if not session.eval:
        return {}
    values = evaluate(session)
    session.report(step, values, split="eval")
    session.reporter.log(
        f"step {step}/{session.plan.total} (epoch {session.plan.epoch(step):.2f}): {_describe(values)}"
    )
    return _as_result(values)


def _as_result(values: dict[str, float]) -> dict[str, float]:
    return {("eval_loss" if k == "loss" else k): v for k, v in values.items()}


def _baseline(session: Session) -> dict[str, float]:
    """The model before training on the held-out rows (+ the majority class for classification)."""
    if not session.eval:
        return {}
    values = evaluate(session)
    session.report(0, values, split="eval")
    baseline = _as_result(values)
    if session.config.task == "text-classification":
        baseline.update(data.majority_baseline([e["label"] for e in session.train], [e["label"] for e in session.eval]))
    session.reporter.log(f"before training: {_describe(baseline)}")
    return baseline


def _describe(values: dict[str, float]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v:.4g}" for k, v in values.items())


# --- checkpoints -------------------------------------------------------------------------------------------------


def _checkpoint(session: Session, step, optimizer, scheduler, scaler, baseline, elapsed_s, output_dir) -> None:
    """Weights (the adapter for LoRA), tokenizer, optimizer/scheduler/RNG state and the history so far, in a fresh
    folder handed to reporter.checkpoint() and deleted when it returns."""
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"checkpoint-{step}-", dir=output_dir.parent))
    try:
        session.reporter.log(f"checkpoint at step {step}/{session.plan.total}")
        models.save_weights(session.model, folder)
        session.tokenizer.save_pretrained(folder)
        state = {
            "step": step,
            "total_steps": session.plan.total,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else {},
            "rng": {
                "python": random.getstate(),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            },
        }
        torch.save(state, folder / STATE_FILE)
        labels = session.model.config.id2label if session.config.task == "text-classification" else None
        trainer = {
            "step": step,
            "epoch": session.plan.epoch(step),
            "total_steps": session.plan.total,
            "steps_per_epoch": session.plan.steps_per_epoch,
            "train_rows": session.plan.rows,
            "labels": [labels[i] for i in sorted(labels)] if labels else None,
            "elapsed_s": round(elapsed_s, 2),
            "baseline": baseline,
            "history": session.history,
            "config": session.config.to_dict(),
        }
        (folder / TRAINER_FILE).write_text(json.dumps(trainer, indent=2))
        session.reporter.checkpoint(step, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def read_checkpoint(folder: Path) -> dict:
    state_path, trainer_path = folder / STATE_FILE, folder / TRAINER_FILE
    if not state_path.is_file() or not trainer_path.is_file():
        raise ValueError(f"{folder} is not a training checkpoint (no {STATE_FILE} / {TRAINER_FILE})")
    return {
        "state": torch.load(state_path, map_location="cpu", weights_only=True),
        "trainer": json.loads(trainer_path.read_text()),
    }


def _restore(saved: dict, plan: Plan, optimizer, scheduler, scaler, reporter) -> tuple[int, dict, list, float]:
    state, trainer = saved["state"], saved["trainer"]
    if trainer["total_steps"] != plan.total or trainer.get("train_rows", plan.rows) != plan.rows:
        reporter.log(
            f"warning: the checkpoint planned {trainer['total_steps']} steps over {trainer.get('train_rows')} rows, "
            f"this run {plan.total} over {plan.rows}: the data or settings changed"
        )
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    rng = state["rng"]
    random.setstate(_as_tuple(rng["python"]))
    torch.set_rng_state(rng["torch"])
    if rng.get("cuda") and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(rng["cuda"])
    step = min(int(state["step"]), plan.total)
    reporter.log(f"resuming at step {step}/{plan.total} (epoch {plan.epoch(step):.2f})")
    return step, trainer.get("baseline") or {}, list(trainer.get("history") or []), float(trainer.get("elapsed_s", 0))


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list | tuple) else value


# --- output ------------------------------------------------------------------------------------------------------


def _publish(session: Session, result: FinetuneResult, base_model_dir, output_dir: Path, merged_dir) -> None:
    """output_dir: the model (or adapter) + tokenizer + training_metrics.json; merged_dir: the merged model."""
    output_dir.mkdir(parents=True, exist_ok=True)
    dtype = models.base_dtype(base_model_dir)
    model = session.model
    if models.is_peft(model):
        models.save_weights(model, output_dir)
        if session.config.merge_adapter and merged_dir is not None:
            models.save_merged(model, merged_dir, session.tokenizer, dtype=dtype)
            session.reporter.log(f"merged the adapter into the base weights ({str(dtype).removeprefix('torch.')})")
    else:
        models.save_weights(model, output_dir, dtype=dtype)
    session.tokenizer.save_pretrained(output_dir)
    (output_dir / METRICS_FILE).write_text(json.dumps(result.to_dict(), indent=2))
