"""Loading the base model and tokenizer, wrapping it with LoRA, and saving what gets published."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from workers.training.finetune import FinetuneConfig

TASK_MODELS = {"text-classification": AutoModelForSequenceClassification, "causal-lm": AutoModelForCausalLM}


def load_tokenizer(base_model_dir: Path):
    try:
        tokenizer = AutoTokenizer.from_pretrained(base_model_dir, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ValueError(f"the base model has no usable tokenizer: {exc}") from None
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError("the base model's tokenizer has neither a padding nor an end-of-sequence token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def base_dtype(base_model_dir: Path) -> torch.dtype:
    """The dtype the base weights were saved in (config.json), kept for the published model."""
    try:
        config = json.loads((base_model_dir / "config.json").read_text())
    except (OSError, ValueError):
        return torch.float32
    name = config.get("dtype") or config.get("torch_dtype") or "float32"
    dtype = getattr(torch, str(name), None)
    return dtype if isinstance(dtype, torch.dtype) and dtype.is_floating_point else torch.float32


def load_model(config: FinetuneConfig, base_model_dir: Path, *, labels: list | None, tokenizer, weights_dir=None):
    """The task model in float32 (master weights; autocast does the mixed precision). weights_dir: a full
    fine-tune's checkpoint to resume from instead of the base weights."""
    from workers.training.data import label_maps

    kwargs: dict = {"dtype": torch.float32, "local_files_only": True}
    if config.task == "text-classification":
        id2label, label2id = label_maps(labels or [])
        kwargs.update(num_labels=len(id2label), id2label=id2label, label2id=label2id, ignore_mismatched_sizes=True)
    source = weights_dir or base_model_dir
    try:
        model = TASK_MODELS[config.task].from_pretrained(source, **kwargs)
    except ValueError as exc:  # e.g. "Unrecognized configuration class …" for an architecture without this head
        raise ValueError(f"the base model cannot be loaded for {config.task}: {exc}") from None
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model


def lora_targets(config: FinetuneConfig, model) -> list[str]:
    if config.lora_target_modules:
        return list(config.lora_target_modules)
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

    model_type = model.config.model_type
    if model_type not in DEFAULTS:
        raise ValueError(f"no default LoRA target modules for model type '{model_type}': set lora_target_modules")
    return list(DEFAULTS[model_type])


def wrap_lora(config: FinetuneConfig, model, *, adapter_dir: Path | None = None):
    """A new adapter (or the one in adapter_dir, to resume); classification heads stay fully trainable."""
    from peft import LoraConfig, PeftModel, TaskType, get_peft_model

    if adapter_dir is not None:
        return PeftModel.from_pretrained(model, adapter_dir, is_trainable=True)
    task_type = TaskType.SEQ_CLS if config.task == "text-classification" else TaskType.CAUSAL_LM
    targets = lora_targets(config, model)
    lora = LoraConfig(
        task_type=task_type,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        modules_to_save=head_modules(model) if task_type == TaskType.SEQ_CLS else None,
    )
    try:
        return get_peft_model(model, lora)
    except ValueError as exc:  # "Target modules {...} not found in the base model"
        raise ValueError(f"LoRA target modules {targets} do not fit this model: {exc}") from None


def head_modules(model) -> list[str]:
    """The classification head's module names (peft's SEQ_CLS defaults cover classifier/score; others too)."""
    names = {name.split(".")[-1] for name, _ in model.named_children()}
    return [n for n in ("classifier", "score", "classification_head") if n in names] or ["classifier", "score"]


def count_parameters(model) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def save_weights(model, folder: Path, *, dtype: torch.dtype | None = None) -> None:
    """A full model as safetensors + config, cast in place to `dtype` (only for the final save: the base's dtype),
    or a peft model's adapter (adapter_model.safetensors + adapter_config.json, without peft's generated README)."""
    folder.mkdir(parents=True, exist_ok=True)
    if dtype is not None and dtype != torch.float32:
        model.to(dtype)
    model.save_pretrained(folder)
    if is_peft(model):
        readme = folder / "README.md"
        if readme.exists():
            readme.unlink()


def save_merged(model, folder: Path, tokenizer, *, dtype: torch.dtype) -> None:
    """The adapter merged into the base weights: a plain transformers model."""
    merged = model.merge_and_unload()
    save_weights(merged, folder, dtype=dtype)
    tokenizer.save_pretrained(folder)


def is_peft(model) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)
