"""Loading, building and saving the models compression works on (BERT-family encoders, Llama-family decoders)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import torch

from workers.compression import validation

LAYER_PREFIX = {  # state-dict prefix of the transformer blocks in the task model
    "bert": "bert.encoder.layer.",
    "roberta": "roberta.encoder.layer.",
    "xlm-roberta": "roberta.encoder.layer.",
    "llama": "model.layers.",
    "mistral": "model.layers.",
    "qwen2": "model.layers.",
}
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt",
    "tokenizer.model", "added_tokens.json", "chat_template.jinja", "generation_config.json",
)  # fmt: skip


def read_config(model_dir: str | Path) -> dict:
    return validation._read_config(model_dir)


def model_class(task: str):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    return AutoModelForSequenceClassification if task == "text-classification" else AutoModelForCausalLM


def load_model(model_dir: str | Path, task: str, *, labels: list[str] | None = None):
    """The task model in float32, eval mode; a base encoder (no head yet) gets a fresh head for `labels`."""
    config = read_config(model_dir)
    validation.check_architecture(config, task)
    kwargs = {"dtype": torch.float32}
    if task == "text-classification" and labels and not _has_labels(config, labels):
        kwargs.update(
            num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={v: i for i, v in enumerate(labels)}
        )
    model = model_class(task).from_pretrained(model_dir, **kwargs)
    return model.eval()


def _has_labels(config: dict, labels: list[str]) -> bool:
    id2label = config.get("id2label") or {}
    return set(map(str, id2label.values())) >= set(map(str, labels)) and not all(
        str(v).startswith("LABEL_") for v in id2label.values()
    )


def load_tokenizer(model_dir: str | Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def layer_subset(model, keep_layers: list[int]):
    """A new model of the same class holding only the blocks `keep_layers` (in order), the rest copied."""
    model_type = model.config.model_type
    prefix = LAYER_PREFIX[model_type]
    config = model.config.__class__.from_dict(model.config.to_dict())
    config.num_hidden_layers = len(keep_layers)
    if getattr(config, "layer_types", None):
        config.layer_types = [config.layer_types[i] for i in keep_layers]
    student = model.__class__(config)
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.(.*)")
    remap = {old: new for new, old in enumerate(keep_layers)}
    state = {}
    for key, value in model.state_dict().items():
        match = pattern.match(key)
        if match is None:
            state[key] = value.clone()
        elif int(match.group(1)) in remap:
            state[f"{prefix}{remap[int(match.group(1))]}.{match.group(2)}"] = value.clone()
    return load_student(student, state, what="layer subset")


def load_student(student, state: dict, *, what: str):
    """Load a derived model's weights strictly (buffers and a tied LM head aside), tie them, and return it in eval."""
    missing, unexpected = student.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith(("position_ids", "lm_head.weight"))]
    if missing or unexpected:
        raise RuntimeError(f"{what} lost weights: missing {missing[:5]}, unexpected {unexpected[:5]}")
    if getattr(student.config, "tie_word_embeddings", False):
        student.tie_weights()
    return student.eval()


def blocks(model):
    """The ModuleList of transformer blocks."""
    if model.config.model_type in validation.DECODERS:
        return model.model.layers
    return getattr(model, model.base_model_prefix).encoder.layer


def count_params(model) -> int:
    """Distinct parameters (tied weights once), plus the weights quantized Linear layers hold outside parameters."""
    total = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    for module in model.modules():
        if hasattr(module, "quantized_param_count"):
            total += module.quantized_param_count()
        elif type(module).__name__ == "Linear" and module.__module__.startswith("torch.ao.nn.quantized"):
            total += module.in_features * module.out_features + module.out_features
    return total


def save_model(model, tokenizer_dir: str | Path, output_dir: str | Path) -> Path:
    """The model as safetensors + config, and the tokenizer files copied from `tokenizer_dir`."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir, safe_serialization=True)
    copy_tokenizer(tokenizer_dir, output_dir)
    return output_dir


def copy_tokenizer(source: str | Path, target: str | Path) -> None:
    for name in TOKENIZER_FILES:
        path = Path(source) / name
        if path.is_file() and not (Path(target) / name).exists():
            shutil.copy2(path, Path(target) / name)


def weights_size(model_dir: str | Path) -> int:
    return sum(p.stat().st_size for p in Path(model_dir).glob("*.safetensors"))


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
