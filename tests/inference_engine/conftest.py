"""Tiny random models for each task (built once per session, offline) and an engine that serves them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

CHAT_TEMPLATE = (
    "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}[assistant]{% endif %}"
)
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def minilm_folder() -> Path:
    from workers.seed import minilm_source

    return minilm_source()


def _tokenizer(folder: Path, **config) -> None:
    """The MiniLM WordPiece tokenizer (30,522 tokens), with extra tokenizer_config entries."""
    source = minilm_folder()
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copyfile(source / name, folder / name)
    if config:
        path = folder / "tokenizer_config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **config}))


def _bert(model_class, folder: Path, **extra):
    import torch
    from transformers import BertConfig

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=128, **extra,
    )  # fmt: skip
    model_class(config).save_pretrained(folder)
    _tokenizer(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """{task: folder}: feature-extraction is a sentence-transformers layout (mean pooling, normalised)."""
    import torch
    from transformers import (
        BertForMaskedLM,
        BertForSequenceClassification,
        BertForTokenClassification,
        BertModel,
        LlamaConfig,
        LlamaForCausalLM,
    )

    root = tmp_path_factory.mktemp("tiny-models")
    folders = {name: root / name for name in ("embed", "classify", "fill", "ner", "llm", "llm-plain")}
    for folder in folders.values():
        folder.mkdir()
    _bert(BertModel, folders["embed"])
    (folders["embed"] / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]))  # fmt: skip
    (folders["embed"] / "1_Pooling").mkdir()
    (folders["embed"] / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    labels = {"id2label": {0: "negative", 1: "neutral", 2: "positive"}, "label2id": {"negative": 0, "neutral": 1,
              "positive": 2}}  # fmt: skip
    _bert(BertForSequenceClassification, folders["classify"], **labels)
    _bert(BertForMaskedLM, folders["fill"])
    _bert(
        BertForTokenClassification, folders["ner"], id2label=dict(enumerate(NER_LABELS)),
        label2id={label: i for i, label in enumerate(NER_LABELS)},
    )  # fmt: skip
    for name, template in (("llm", CHAT_TEMPLATE), ("llm-plain", None)):
        torch.manual_seed(0)
        config = LlamaConfig(
            vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=1, max_position_embeddings=256, eos_token_id=102, bos_token_id=101, pad_token_id=0,
        )  # fmt: skip
        LlamaForCausalLM(config).save_pretrained(folders[name])
        extra = {"chat_template": template} if template else {}
        _tokenizer(folders[name], eos_token="[SEP]", **extra)
    return folders


TASK_FOLDER = {
    "feature-extraction": "embed",
    "text-classification": "classify",
    "fill-mask": "fill",
    "token-classification": "ner",
    "text-generation": "llm",
    "chat": "llm",
}


def spec_for(task: str, repo: str | None = None, **kw) -> dict:
    """A contract spec; the repo id names the tiny model folder (see the engine fixture's resolver)."""
    return {
        "endpoint_id": 1, "repo_id": f"tiny/{repo or TASK_FOLDER[task]}", "commit": "0" * 40, "task": task,
        "owner_id": 1, "max_batch_size": kw.pop("max_batch_size", 8), "max_wait_ms": kw.pop("max_wait_ms", 5), **kw,
    }  # fmt: skip


@pytest.fixture(scope="session")
def engine(tiny_models):
    import torch

    from workers.inference.engine import Engine

    torch.set_num_threads(1)
    return Engine(resolve=lambda spec: tiny_models[spec["repo_id"].split("/", 1)[1]], device=torch.device("cpu"))
