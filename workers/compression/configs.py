"""Hyper-parameters of the compression methods: plain dataclasses, no torch, so the web process can validate them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

TASKS = ("text-classification", "causal-lm")


@dataclass
class _Columns:
    task: str = "text-classification"
    max_length: int = 128
    text_column: str = "text"
    label_column: str = "label"
    prompt_column: str = "prompt"
    response_column: str = "response"

    def needed_columns(self, rows: list[dict] | None = None) -> list[str]:
        """The columns a data set must hold for this task (causal LM: text, or prompt and response)."""
        if self.task == "text-classification":
            return [self.text_column, self.label_column]
        if rows and all(self.text_column in r for r in rows[:50]):
            return [self.text_column]
        return [self.prompt_column, self.response_column]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown parameter(s) for {cls.__name__}: {', '.join(unknown)}")
        config = cls(**data)
        config.validate()
        return config

    def validate(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)} (got {self.task!r})")
        if not 8 <= int(self.max_length) <= 8192:
            raise ValueError("max_length must be between 8 and 8192")


@dataclass
class DistillConfig(_Columns):
    """Knowledge distillation: loss = α·T²·KL(teacher‖student at T) + (1−α)·task loss (+ hidden_weight·MSE)."""

    # "layers": built from the teacher (every k-th layer kept, optionally narrower); "existing": student_dir
    student: str = "layers"
    keep_layers: list[int] | None = None
    num_student_layers: int = 3
    intermediate_size: int | None = None  # a narrower student: its FFN neurons per layer (the teacher's best kept)
    num_heads: int | None = None  # a narrower student: its attention heads per layer (Llama family only)
    alpha: float = 0.5
    temperature: float = 2.0
    hidden_weight: float = 0.0
    epochs: float = 1.0
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.0
    batch_size: int = 32
    seed: int = 42
    checkpoint_every: int = 0
    max_steps: int | None = None
    eval_every: int = 0

    @property
    def narrower(self) -> bool:
        """Whether the student is narrower than the teacher (fewer FFN neurons or heads), not only shallower."""
        return self.intermediate_size is not None or self.num_heads is not None

    def validate(self) -> None:
        super().validate()
        if self.student not in ("layers", "existing"):
            raise ValueError(
                "student must be 'layers' (built from the teacher: a subset of its layers, optionally narrower) or "
                "'existing' (a smaller model)"
            )
        for name in ("intermediate_size", "num_heads"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer")
            if value is not None and self.student != "layers":
                raise ValueError(f"{name} narrows a student built from the teacher: use it with student='layers'")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError("alpha must be between 0 and 1")
        if not 0.0 < self.temperature <= 100:
            raise ValueError("temperature must be positive (typically 1-5)")
        if self.hidden_weight < 0:
            raise ValueError("hidden_weight must be ≥ 0")
        if self.student == "layers" and self.keep_layers is None and self.num_student_layers < 1:
            raise ValueError("num_student_layers must be ≥ 1")
        if self.keep_layers is not None:
            if not self.keep_layers or len(set(self.keep_layers)) != len(self.keep_layers):
                raise ValueError("keep_layers must be a non-empty list of distinct layer indices")
            if any(not isinstance(i, int) or i < 0 for i in self.keep_layers):
                raise ValueError("keep_layers must hold layer indices ≥ 0")
        _check_training(self)


@dataclass
class QuantizeConfig(_Columns):
    """Post-training quantization of the Linear layers (embeddings and norms stay in float)."""

    method: str = "dynamic-int8"  # "dynamic-int8" | "weight-int8" | "weight-int4"
    per_channel: bool = True
    group_size: int = 32  # weight-int4: one scale per group of input features
    skip_modules: list[str] = field(default_factory=list)  # names (suffixes) of Linear layers left in float

    def validate(self) -> None:
        super().validate()
        if self.method not in QUANT_METHODS:
            raise ValueError(f"method must be one of {', '.join(QUANT_METHODS)} (got {self.method!r})")
        if self.group_size < 8 or self.group_size & (self.group_size - 1):
            raise ValueError("group_size must be a power of two ≥ 8")


QUANT_METHODS = ("dynamic-int8", "weight-int8", "weight-int4")
PRUNE_METHODS = ("magnitude", "heads", "layers", "ffn")


@dataclass
class PruneConfig(_Columns):
    """magnitude: unstructured, smallest |w| of the Linear layers zeroed; heads / layers / ffn: structured, removed
    (heads of BERT-family encoders are zeroed instead: their stock config cannot hold fewer heads)."""

    method: str = "magnitude"
    target_sparsity: float = 0.5  # fraction of the prunable weights (magnitude), heads, layers or FFN neurons
    recovery_steps: int = 0
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    batch_size: int = 32
    seed: int = 42

    def validate(self) -> None:
        super().validate()
        if self.method not in PRUNE_METHODS:
            raise ValueError(f"method must be one of {', '.join(PRUNE_METHODS)} (got {self.method!r})")
        if not 0.0 < self.target_sparsity < 1.0:
            raise ValueError("target_sparsity must be between 0 and 1 (exclusive)")
        if self.recovery_steps < 0:
            raise ValueError("recovery_steps must be ≥ 0")
        if self.recovery_steps:
            _check_training(self)


def _check_training(config) -> None:
    if not 0 < config.learning_rate < 1:
        raise ValueError("learning_rate must be between 0 and 1")
    if not 1 <= config.batch_size <= 1024:
        raise ValueError("batch_size must be between 1 and 1024")
    if getattr(config, "epochs", 1) <= 0:
        raise ValueError("epochs must be positive")
    if getattr(config, "max_steps", None) is not None and config.max_steps < 1:
        raise ValueError("max_steps must be ≥ 1")
