"""Knowledge distillation of a teacher into a smaller student (classification or causal LM)."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
import torch.nn.functional as F

from workers.compression import loop, modeling, narrowing, validation
from workers.compression.configs import DistillConfig
from workers.compression.data import encode, label_list
from workers.compression.evaluation import quality


def distill(
    config: DistillConfig,
    *,
    teacher_dir: str | Path,
    train_rows: list[dict],
    eval_rows: list[dict],
    output_dir: str | Path,
    reporter,
    student_dir: str | Path | None = None,
    resume_from: str | Path | None = None,
) -> dict:
    """Train a student on `train_rows` against the teacher; write it (safetensors, config, tokenizer) to output_dir.

    Returns the student's layers, steps, and teacher and student quality on `eval_rows` (no timing: see compare()).
    """
    config.validate()
    validation.check_compatible(config, teacher_dir=teacher_dir, student_dir=student_dir, rows=train_rows)
    validation.check_columns(eval_rows, config)
    output_dir = Path(output_dir)
    tokenizer = modeling.load_tokenizer(teacher_dir)
    teacher = modeling.load_model(teacher_dir, config.task)
    labels = None
    if config.task == "text-classification":
        labels = label_list(teacher.config, None, config.label_column)
        if not labels:
            raise ValueError("the teacher has no labels (id2label): distil from a fine-tuned classifier")
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)

    keep_layers, shape = None, None
    if config.student == "layers":
        teacher_layers = teacher.config.num_hidden_layers
        keep_layers = validation.student_layers(config, teacher_layers)
        student = modeling.layer_subset(teacher, keep_layers) if len(keep_layers) < teacher_layers else teacher
        if config.narrower:
            student = narrowing.narrow(student, intermediate_size=config.intermediate_size, num_heads=config.num_heads)
        shape = narrowing.describe(student.config.to_dict(), teacher.config.to_dict())
        reporter.log(f"student: layers {keep_layers} of the teacher's {teacher_layers} ({shape})")
    else:
        student = modeling.load_model(student_dir, config.task, labels=labels)
        if labels is not None:
            student.config.id2label = dict(enumerate(labels))
            student.config.label2id = {v: i for i, v in enumerate(labels)}
        reporter.log(f"student: {modeling.read_config(student_dir).get('_name_or_path') or Path(student_dir).name}")
    if resume_from is not None:
        student.load_state_dict(modeling.model_class(config.task).from_pretrained(resume_from).state_dict())
    layer_map = _layer_map(teacher, student, keep_layers) if config.hidden_weight else None

    encoded = encode(train_rows, tokenizer, config, labels=labels)
    _, total = loop.planned_steps(len(encoded), config.batch_size, config.epochs, config.max_steps)
    reporter.log(f"distilling on {len(encoded)} rows: {total} steps of {config.batch_size}")

    def loss_fn(batch):
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        hidden = layer_map is not None
        with torch.no_grad():
            t_out = teacher(**inputs, output_hidden_states=hidden)
        s_out = student(**inputs, labels=batch["labels"], output_hidden_states=hidden)
        kl = _kl(s_out.logits, t_out.logits, batch["labels"], config.temperature, config.task)
        loss = config.alpha * kl + (1 - config.alpha) * s_out.loss
        logs = {"kl": kl.item(), "task_loss": s_out.loss.item()}
        if hidden:
            mse = _hidden_mse(s_out.hidden_states, t_out.hidden_states, layer_map, batch["attention_mask"])
            loss = loss + config.hidden_weight * mse
            logs["hidden_mse"] = mse.item()
        return loss, logs

    checkpoint_dir = output_dir / ".checkpoints"
    result = loop.train(
        student,
        encoded=encoded,
        loss_fn=loss_fn,
        reporter=reporter,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_ratio=config.warmup_ratio,
        total_steps=total,
        seed=config.seed,
        checkpoint_every=config.checkpoint_every,
        checkpoint_dir=checkpoint_dir,
        save_checkpoint=lambda folder: modeling.save_model(student, teacher_dir, folder),
        resume_from=Path(resume_from) if resume_from else None,
    )
    reporter.check_cancelled()
    modeling.save_model(student, teacher_dir, output_dir)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    teacher_metrics = quality(teacher, tokenizer, eval_rows, config, labels=labels)
    student_metrics = quality(student, tokenizer, eval_rows, config, labels=labels)
    reporter.metrics(result["steps"], student_metrics, split="eval")
    reporter.log(f"teacher {_short(teacher_metrics)} · student {_short(student_metrics)}")
    return {
        "method": "distillation",
        "output_dir": str(output_dir),
        "keep_layers": keep_layers,
        "student_layers": student.config.num_hidden_layers,
        "teacher_layers": teacher.config.num_hidden_layers,
        **_widths(student.config, "student_"),
        **_widths(teacher.config, "teacher_"),
        **({"notes": f"student: {shape}"} if shape else {}),
        "params": modeling.count_params(student),
        "teacher_params": modeling.count_params(teacher),
        **result,
        "teacher_metrics": teacher_metrics,
        "student_metrics": student_metrics,
        "config": config.to_dict(),
    }


def _widths(config, prefix: str) -> dict:
    return {
        f"{prefix}intermediate_size": getattr(config, "intermediate_size", None),
        f"{prefix}num_heads": config.num_attention_heads,
    }


def _short(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k in ("accuracy", "f1", "perplexity"))


def _kl(student_logits, teacher_logits, labels, temperature: float, task: str) -> torch.Tensor:
    """T²·KL(teacher ‖ student) at temperature T, averaged over rows (classification) or scored tokens (LM)."""
    if task != "text-classification":  # next-token logits at positions whose next token is scored
        mask = labels[:, 1:] != -100
        student_logits = student_logits[:, :-1][mask]
        teacher_logits = teacher_logits[:, :-1][mask]
    s = F.log_softmax(student_logits / temperature, dim=-1)
    t = F.log_softmax(teacher_logits / temperature, dim=-1)
    return F.kl_div(s, t, log_target=True, reduction="batchmean") * temperature**2


def _layer_map(teacher, student, keep_layers) -> list[tuple[int, int]]:
    """(student hidden-state index, teacher hidden-state index) pairs; index 0 is the embeddings' output."""
    if student.config.hidden_size != teacher.config.hidden_size:
        raise ValueError("hidden-state matching needs the same hidden_size in teacher and student: set hidden_weight=0")
    n_s, n_t = student.config.num_hidden_layers, teacher.config.num_hidden_layers
    if keep_layers is None:
        keep_layers = [round((j + 1) * n_t / n_s) - 1 for j in range(n_s)]
    return [(0, 0)] + [(j + 1, t + 1) for j, t in enumerate(keep_layers)]


def _hidden_mse(student_states, teacher_states, layer_map, attention_mask) -> torch.Tensor:
    mask = attention_mask.unsqueeze(-1).to(student_states[0].dtype)
    total = 0.0
    for s, t in layer_map:
        total = total + (((student_states[s] - teacher_states[t]) ** 2) * mask).sum() / (
            mask.sum() * student_states[s].shape[-1]
        )
    return total / len(layer_map)
