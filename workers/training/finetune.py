"""The fine-tuning API the job runner calls. Importing this module does not import torch (the web process uses
FinetuneConfig and validate_rows); finetune() and choose_device() import it when called.

    result = finetune(FinetuneConfig(task="text-classification"), base_model_dir=..., train_rows=..., eval_rows=...,
                      output_dir=..., reporter=RecordingReporter())
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from workers.reporting import Reporter
from workers.training.data import validate_rows  # noqa: F401  (part of this module's API)

if TYPE_CHECKING:
    import torch

TASKS = ("text-classification", "causal-lm")
METHODS = ("full", "lora")


@dataclass
class FinetuneConfig:
    task: str  # "text-classification" | "causal-lm"
    method: str = "full"  # "full" | "lora"
    epochs: float = 3.0
    learning_rate: float | None = None  # None: default_learning_rate()
    batch_size: int = 16
    max_length: int = 128
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: list[str] | None = None  # None: peft's defaults for the architecture (bert: query, value)
    seed: int = 42
    checkpoint_every: int = 0  # optimizer steps between checkpoints; 0: none
    eval_every: int = 0  # optimizer steps between evaluations; 0: at each epoch end (and always at the end)
    max_steps: int | None = None  # caps the total number of steps
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    prompt_column: str = "prompt"
    response_column: str = "response"
    messages_column: str = "messages"
    merge_adapter: bool = False  # LoRA: also write the merged full model to merged_dir
    max_grad_norm: float = 1.0

    def default_learning_rate(self) -> float:
        if self.method == "lora":
            return 2e-4
        return 5e-5 if self.task == "text-classification" else 2e-5

    @property
    def lr(self) -> float:
        return self.learning_rate if self.learning_rate is not None else self.default_learning_rate()

    def validate(self) -> None:
        """ValueError with a message for the user when a value cannot work (the API also bounds each one)."""
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)} (got {self.task!r})")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)} (got {self.method!r})")
        if self.merge_adapter and self.method != "lora":
            raise ValueError("merge_adapter applies to method 'lora' only")
        if not self.epochs > 0:
            raise ValueError("epochs must be positive")
        if self.learning_rate is not None and not 0 < self.learning_rate < 1:
            raise ValueError("learning_rate must be between 0 and 1")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.max_length < 8:
            raise ValueError("max_length must be at least 8")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError("warmup_ratio must be in [0, 1)")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        if self.checkpoint_every < 0 or self.eval_every < 0:
            raise ValueError("checkpoint_every and eval_every must be ≥ 0")
        if self.method == "lora" and (self.lora_r < 1 or self.lora_alpha < 1 or not 0 <= self.lora_dropout < 1):
            raise ValueError("lora_r and lora_alpha must be ≥ 1 and lora_dropout in [0, 1)")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FinetuneResult:
    metrics: dict[str, float]  # held-out, at the end: cls → eval_loss, accuracy, f1 (macro); lm → eval_loss, perplexity
    baseline: dict[str, float]  # before training: the base model's eval metrics (+ majority_accuracy/f1 for cls)
    steps: int
    epochs: float
    duration_s: float
    device: str
    dtype: str
    train_rows: int
    eval_rows: int
    labels: list[str] | None
    history: list[dict] = field(default_factory=list)  # every metrics point reported: step, epoch, split, values

    def to_dict(self) -> dict:
        return asdict(self)


def choose_device(preferred: str | None = None) -> tuple[str, torch.dtype | None]:
    """(device, autocast dtype): CUDA with bfloat16 where supported, else float16 (with a GradScaler), else CPU fp32.

    `preferred` "cpu" forces the CPU; "cuda" (or "cuda:N") fails when no GPU is visible.
    """
    import torch

    if preferred and not preferred.startswith(("cpu", "cuda")):
        raise ValueError(f"device must be 'cpu' or 'cuda' (got {preferred!r})")
    if preferred and preferred.startswith("cpu"):
        return "cpu", None
    if not torch.cuda.is_available():
        if preferred:
            raise ValueError(f"device {preferred!r} requested but no CUDA GPU is available")
        return "cpu", None
    device = preferred or "cuda"
    return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def finetune(
    config: FinetuneConfig,
    *,
    base_model_dir: Path,
    train_rows: list[dict],
    eval_rows: list[dict],
    output_dir: Path,
    reporter: Reporter,
    resume_from: Path | None = None,
    merged_dir: Path | None = None,
    device: str | None = None,
) -> FinetuneResult:
    """Fine-tune the model in base_model_dir and write what to publish into output_dir.

    full: model weights, config and tokenizer; lora: adapter_model.safetensors, adapter_config.json and tokenizer
    (and the merged model in merged_dir when config.merge_adapter). Both get training_metrics.json. Checkpoints go
    to reporter.checkpoint(); resume_from is such a checkpoint folder. Raises ValueError on unusable data or
    config, workers.reporting.Cancelled when the reporter says the job was cancelled.
    """
    from workers.training.loop import run

    return run(
        config,
        base_model_dir=Path(base_model_dir),
        train_rows=train_rows,
        eval_rows=eval_rows,
        output_dir=Path(output_dir),
        reporter=reporter,
        resume_from=Path(resume_from) if resume_from else None,
        merged_dir=Path(merged_dir) if merged_dir else None,
        device=device,
    )
