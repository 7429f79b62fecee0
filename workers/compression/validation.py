"""Checks a compression request can run, from config.json and tokenizer files alone (no torch).

Every check raises ValueError with a message meant for the user; the job API turns it into a 400 before queueing.
The *_configs variants take parsed JSON so a caller holding the files in a registry needs no local folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from workers.compression.configs import DistillConfig, PruneConfig, QuantizeConfig

# model_type -> where its transformer blocks live (attribute path from the task model)
ENCODERS = {"bert": "bert", "roberta": "roberta", "xlm-roberta": "roberta"}
DECODERS = {"llama": "model", "mistral": "model", "qwen2": "model"}
SUPPORTED = {"text-classification": ENCODERS, "causal-lm": DECODERS}


def check_architecture(model_config: dict, task: str) -> str:
    """The model_type when it is supported for the task, else ValueError naming the supported ones."""
    model_type = model_config.get("model_type")
    supported = SUPPORTED.get(task)
    if supported is None:
        raise ValueError(f"unsupported task {task!r}: use one of {', '.join(SUPPORTED)}")
    if model_type not in supported:
        raise ValueError(
            f"unsupported architecture {model_type!r} for {task}: supported are {', '.join(sorted(supported))}"
        )
    return model_type


def num_layers(model_config: dict) -> int:
    return int(model_config.get("num_hidden_layers") or 0)


def default_keep_layers(teacher_layers: int, student_layers: int) -> list[int]:
    """Every k-th layer from the first, k = teacher_layers // student_layers (6 → 3 keeps 0, 2, 4)."""
    if not 1 <= student_layers < teacher_layers:
        raise ValueError(
            f"num_student_layers must be between 1 and {teacher_layers - 1} for a teacher with {teacher_layers} layers"
        )
    step = teacher_layers // student_layers
    return [i * step for i in range(student_layers)]


def check_keep_layers(keep_layers: list[int], teacher_layers: int, *, allow_all: bool = False) -> list[int]:
    """Sorted layer indices, all in range and fewer than the teacher's (all of them when `allow_all`: a narrower
    student is smaller anyway)."""
    bad = [i for i in keep_layers if not 0 <= i < teacher_layers]
    if bad:
        raise ValueError(f"keep_layers {bad} out of range: the teacher has layers 0-{teacher_layers - 1}")
    if len(set(keep_layers)) >= teacher_layers and not allow_all:
        raise ValueError(f"keep_layers must keep fewer than the teacher's {teacher_layers} layers")
    return sorted(set(keep_layers))


def student_layers(config: DistillConfig, teacher_layers: int) -> list[int]:
    """The teacher's layers a student='layers' student keeps: keep_layers, or every k-th of num_student_layers.
    A narrower student (intermediate_size / num_heads) may keep all of them."""
    narrower = config.narrower
    if config.keep_layers is not None:
        return check_keep_layers(config.keep_layers, teacher_layers, allow_all=narrower)
    if narrower and config.num_student_layers == teacher_layers:
        return list(range(teacher_layers))
    if narrower and not 1 <= config.num_student_layers <= teacher_layers:
        raise ValueError(
            f"num_student_layers must be between 1 and {teacher_layers} for a teacher with {teacher_layers} layers"
        )
    return default_keep_layers(teacher_layers, config.num_student_layers)


def check_narrowing(
    model_config: dict, *, intermediate_size: int | None, num_heads: int | None, allow_same: bool = False
) -> None:
    """A narrower student of this model can have `intermediate_size` FFN neurons and `num_heads` query heads per
    layer: fewer than the model's (or as many, with `allow_same`), and a head count its family can express."""
    model_type = model_config.get("model_type")
    if intermediate_size is not None:
        teacher_ff = int(model_config.get("intermediate_size") or 0)
        top = teacher_ff if allow_same else teacher_ff - 1
        if not 1 <= intermediate_size <= top:
            raise ValueError(
                f"intermediate_size must be between 1 and {top}: the teacher's feed-forward layers have "
                f"{teacher_ff} neurons"
            )
    if num_heads is None:
        return
    if model_type not in DECODERS:
        raise ValueError(
            f"num_heads: a {model_type} model cannot have fewer attention heads than its teacher with stock "
            "transformers (its head size is hidden_size / num_attention_heads, which must stay): narrow the "
            "feed-forward width (intermediate_size) and/or drop layers instead"
        )
    heads = int(model_config.get("num_attention_heads") or 0)
    kv = int(model_config.get("num_key_value_heads") or heads)
    hidden = int(model_config.get("hidden_size") or 0)
    top = heads if allow_same else heads - 1
    # Grouped-query attention keeps the same number of query heads in every key/value group (without groups, heads
    # go with their keys and values), and transformers' Llama config insists hidden_size % num_attention_heads == 0.
    valid = [n for n in range(1, top + 1) if (n % kv == 0 or kv == heads) and hidden % n == 0]
    if num_heads not in valid:
        raise ValueError(
            f"num_heads {num_heads} is not possible for this teacher ({heads} attention heads, {kv} key/value heads, "
            f"hidden_size {hidden}): it must be fewer than the teacher's, a multiple of its key/value heads and a "
            f"divisor of hidden_size; possible: {', '.join(map(str, valid)) or 'none'}"
        )


def estimate_params(model_config: dict) -> int:
    """Parameter count from a BERT- or Llama-style config (embeddings, blocks, ties ignored in the head)."""
    h = int(model_config.get("hidden_size") or 0)
    ff = int(model_config.get("intermediate_size") or 4 * h)
    layers = num_layers(model_config)
    vocab = int(model_config.get("vocab_size") or 0)
    heads = int(model_config.get("num_attention_heads") or 1)
    head_dim = int(model_config.get("head_dim") or (h // max(heads, 1)))
    kv = int(model_config.get("num_key_value_heads") or heads)
    if model_config.get("model_type") in DECODERS:
        attention = h * heads * head_dim * 2 + h * kv * head_dim * 2
        block = attention + 3 * h * ff
        head = 0 if model_config.get("tie_word_embeddings", True) else vocab * h
        return vocab * h + layers * block + head
    positions = int(model_config.get("max_position_embeddings") or 0)
    block = 4 * h * h + 2 * h * ff
    return (vocab + positions) * h + layers * block


def check_student_smaller(teacher_config: dict, student_config: dict) -> None:
    teacher, student = estimate_params(teacher_config), estimate_params(student_config)
    if student >= teacher:
        raise ValueError(
            f"the student is not smaller than the teacher (about {student / 1e6:.1f}M vs {teacher / 1e6:.1f}M "
            "parameters): pick a smaller student or use student='layers'"
        )


def vocab_fingerprint(files: dict[str, bytes]) -> str:
    """A hash of the tokenizer's vocabulary from tokenizer.json (model.vocab, merges) or vocab.txt / vocab.json."""
    if "tokenizer.json" in files:
        data = json.loads(files["tokenizer.json"])
        model = data.get("model") or {}
        payload = json.dumps(
            [model.get("type"), model.get("vocab"), model.get("merges"), data.get("added_tokens")], sort_keys=True
        )
        return hashlib.sha256(payload.encode()).hexdigest()
    for name in ("vocab.txt", "vocab.json", "tokenizer.model", "spiece.model"):
        if name in files:
            return hashlib.sha256(files[name]).hexdigest()
    raise ValueError("no tokenizer found (tokenizer.json, vocab.txt, vocab.json or tokenizer.model)")


TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model", "spiece.model")


def read_tokenizer_files(folder: str | Path) -> dict[str, bytes]:
    folder = Path(folder)
    return {name: (folder / name).read_bytes() for name in TOKENIZER_FILES if (folder / name).is_file()}


def check_tokenizers(teacher_files: dict[str, bytes], student_files: dict[str, bytes]) -> None:
    try:
        same = vocab_fingerprint(teacher_files) == vocab_fingerprint(student_files)
    except ValueError as exc:
        raise ValueError(f"cannot compare tokenizers: {exc}") from None
    if not same:
        raise ValueError(
            "the teacher and the student use different tokenizers (vocabularies differ): logit distillation needs "
            "the same vocabulary; pick a student of the same family"
        )


def check_columns(columns, config) -> None:
    """`columns`: the data set's column names (or rows). Raises when the task's columns are missing."""
    rows = columns if columns and isinstance(next(iter(columns)), dict) else None
    names = set(rows[0]) if rows else set(columns or ())
    if not names:
        raise ValueError("the data set is empty")
    needed = config.needed_columns(rows)
    if config.task == "causal-lm" and config.text_column in names:
        needed = [config.text_column]
    missing = [c for c in needed if c not in names]
    if missing:
        have = ", ".join(sorted(names))
        if config.task == "causal-lm":
            raise ValueError(
                f"the data set needs a '{config.text_column}' column, or '{config.prompt_column}' and "
                f"'{config.response_column}' columns (it has: {have})"
            )
        raise ValueError(f"the data set lacks the column(s) {', '.join(missing)} (it has: {have})")


def check_compatible_configs(
    config: DistillConfig | QuantizeConfig | PruneConfig,
    *,
    teacher_config: dict,
    student_config: dict | None = None,
    teacher_tokenizer: dict[str, bytes] | None = None,
    student_tokenizer: dict[str, bytes] | None = None,
    columns=None,
) -> None:
    """Every check a request needs before it is queued, on parsed config.json files and tokenizer files."""
    config.validate()
    check_architecture(teacher_config, config.task)
    if columns is not None:
        check_columns(columns, config)
    if isinstance(config, DistillConfig):
        if config.student == "layers":
            if student_config is not None:
                raise ValueError("student='layers' builds the student from the teacher: do not pass a student model")
            student_layers(config, num_layers(teacher_config))
            check_narrowing(teacher_config, intermediate_size=config.intermediate_size, num_heads=config.num_heads)
        else:
            if student_config is None:
                raise ValueError("student='existing' needs a student model")
            check_architecture(student_config, config.task)
            check_student_smaller(teacher_config, student_config)
            if teacher_tokenizer is not None and student_tokenizer is not None:
                check_tokenizers(teacher_tokenizer, student_tokenizer)
            if config.hidden_weight and student_config.get("hidden_size") != teacher_config.get("hidden_size"):
                raise ValueError(
                    "hidden-state matching needs the same hidden_size in teacher and student "
                    f"({teacher_config.get('hidden_size')} vs {student_config.get('hidden_size')}): set hidden_weight=0"
                )
    if isinstance(config, PruneConfig):
        layers = num_layers(teacher_config)
        if config.method == "layers" and layers - round(layers * config.target_sparsity) < 1:
            raise ValueError(f"target_sparsity {config.target_sparsity} would remove all {layers} layers")
        if config.method == "ffn":
            neurons = int(teacher_config.get("intermediate_size") or 0)
            if not 0 < round(neurons * config.target_sparsity) < neurons:
                raise ValueError(
                    f"target_sparsity {config.target_sparsity} removes no neuron or every neuron of the "
                    f"{neurons}-wide feed-forward layers"
                )
        if config.method == "heads":
            heads = int(teacher_config.get("num_attention_heads") or 0)
            per_group = heads // int(teacher_config.get("num_key_value_heads") or heads)  # encoders: 1 group each
            unit = per_group if per_group > 1 else heads
            if not 0 < round(unit * config.target_sparsity) < unit:
                raise ValueError(
                    f"target_sparsity {config.target_sparsity} removes no head or every head "
                    f"({unit} {'query heads per key/value group' if per_group > 1 else 'heads per layer'})"
                )
            if teacher_config.get("model_type") in DECODERS:  # removed, not zeroed: the config must hold the rest
                kept = (unit - round(unit * config.target_sparsity)) * (heads // unit)
                check_narrowing(teacher_config, intermediate_size=None, num_heads=kept)


def _read_config(folder: str | Path) -> dict:
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise ValueError(f"{Path(folder).name}: no config.json, so not a transformers model")
    return json.loads(path.read_text())


def check_compatible(config, *, teacher_dir: str | Path, student_dir: str | Path | None = None, rows=None) -> None:
    """check_compatible_configs on local folders."""
    check_compatible_configs(
        config,
        teacher_config=_read_config(teacher_dir),
        student_config=_read_config(student_dir) if student_dir else None,
        teacher_tokenizer=read_tokenizer_files(teacher_dir) if student_dir else None,
        student_tokenizer=read_tokenizer_files(student_dir) if student_dir else None,
        columns=rows,
    )
