"""Encoder tasks in batches: feature-extraction, text-classification, fill-mask, token-classification.

Outputs follow the HF inference API, one entry per input text (a single string counts as a list of one):
feature-extraction → [[float]] (a pooled vector per text: the sentence-transformers pooling and normalisation when
the repo has them, else mean pooling); text-classification → [[{label, score}]]; fill-mask → [[{score, token,
token_str, sequence}]]; token-classification → [[{entity_group, score, word, start, end}]].
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

MAX_TEXTS = 1024  # per request
CHUNK = 64  # texts per forward pass; the batch is sorted by length first, so chunks pad little
BATCH_DELAY_ENV = "HUB_INFERENCE_BATCH_DELAY_MS"  # tests only: makes a tiny model's batch slow enough to kill mid-way


@dataclass
class EncodeRequest:
    texts: list[str]
    parameters: dict


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def model_class(task: str):
    import transformers

    return {
        "feature-extraction": transformers.AutoModel,
        "text-classification": transformers.AutoModelForSequenceClassification,
        "fill-mask": transformers.AutoModelForMaskedLM,
        "token-classification": transformers.AutoModelForTokenClassification,
    }[task]


def model_info(model, tokenizer, folder: Path, task: str) -> dict:
    limits = [512, getattr(model.config, "max_position_embeddings", None) or 512]
    if isinstance(tokenizer.model_max_length, int) and tokenizer.model_max_length < 10**6:
        limits.append(tokenizer.model_max_length)
    info: dict[str, Any] = {"pooling": "mean", "normalize": False}
    modules = read_json(folder / "modules.json")
    if isinstance(modules, list):  # a sentence-transformers repo: its own pooling, normalisation and length
        types = {str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules if isinstance(m, dict)}
        info["normalize"] = "Normalize" in types
        pooling = next((m for m in modules if str(m.get("type", "")).endswith("Pooling")), None)
        if pooling:
            config = read_json(folder / pooling.get("path", "1_Pooling") / "config.json")
            if config.get("pooling_mode_cls_token"):
                info["pooling"] = "cls"
            elif config.get("pooling_mode_max_tokens"):
                info["pooling"] = "max"
        seq = read_json(folder / "sentence_bert_config.json").get("max_seq_length")
        if isinstance(seq, int) and seq > 0:
            limits.append(seq)
    info["max_length"] = min(limits)
    return info


def _texts(inputs: Any) -> list[str]:
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError("'inputs' must be a string or a non-empty list of strings")
    if len(texts) > MAX_TEXTS:
        raise ValueError(f"at most {MAX_TEXTS} inputs per request")
    return texts


def prepare(loaded, inputs: Any, parameters: dict) -> EncodeRequest:
    """Validate a request in the caller's thread (a bad one never reaches a batch)."""
    texts, task, tokenizer, params = _texts(inputs), loaded.task, loaded.tokenizer, {}
    if task == "text-classification":
        params["top_k"] = _top_k(parameters.get("top_k"), None, len(loaded.model.config.id2label))
        function = parameters.get("function_to_apply")
        if function is not None and function not in ("softmax", "sigmoid", "none"):
            raise ValueError("function_to_apply must be 'softmax', 'sigmoid' or 'none'")
        params["function_to_apply"] = function
    elif task == "fill-mask":
        mask = tokenizer.mask_token
        if mask is None:
            raise ValueError("this model has no mask token")
        for text in texts:
            if text.count(mask) != 1:
                raise ValueError(f"each input must hold the mask token {mask} exactly once")
        params["top_k"] = _top_k(parameters.get("top_k"), 5, 100)
    elif task == "token-classification":
        if not tokenizer.is_fast:
            raise ValueError("token-classification needs a fast tokenizer (tokenizer.json)")
        strategy = parameters.get("aggregation_strategy", "simple")
        if strategy not in ("simple", "none"):
            raise ValueError("aggregation_strategy must be 'simple' or 'none'")
        ignore = parameters.get("ignore_labels", ["O"])
        if not isinstance(ignore, list) or not all(isinstance(x, str) for x in ignore):
            raise ValueError("ignore_labels must be a list of strings")
        params.update(aggregation_strategy=strategy, ignore_labels=set(ignore))
    return EncodeRequest(texts=texts, parameters=params)


def _top_k(value: Any, default: int | None, high: int) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("top_k must be a positive integer")
    return min(value, high)


@torch.inference_mode()
def run_batch(loaded, items: Sequence) -> list:
    """One result per item: {"outputs", "usage", "batch_size"}."""
    started = time.perf_counter()
    delay = os.environ.get(BATCH_DELAY_ENV, "")
    if delay.isdigit():
        time.sleep(int(delay) / 1000)
    flat = [(i, j, text) for i, item in enumerate(items) for j, text in enumerate(item.payload.texts)]
    order = sorted(range(len(flat)), key=lambda k: len(flat[k][2]))
    per_text: list[Any] = [None] * len(flat)
    tokens: list[int] = [0] * len(flat)
    for start in range(0, len(order), CHUNK):
        chunk = order[start : start + CHUNK]
        texts = [flat[k][2] for k in chunk]
        params = [items[flat[k][0]].payload.parameters for k in chunk]
        results, counts = _forward(loaded, texts, params)
        for k, result, count in zip(chunk, results, counts, strict=True):
            per_text[k], tokens[k] = result, count
    elapsed_ms = (time.perf_counter() - started) * 1000
    total_tokens = max(1, sum(tokens))
    out = []
    for i, item in enumerate(items):
        mine = [k for k in range(len(flat)) if flat[k][0] == i]
        n = sum(tokens[k] for k in mine)
        usage = {"input_tokens": n, "output_tokens": 0, "compute_ms": round(elapsed_ms * n / total_tokens, 3)}
        out.append({"outputs": [per_text[k] for k in mine], "usage": usage, "batch_size": item.batch_size})
    return out


def _forward(loaded, texts: list[str], params: list[dict]) -> tuple[list, list[int]]:
    task, tokenizer = loaded.task, loaded.tokenizer
    batch = tokenizer(
        texts,
        padding=True,
        truncation=True,
        max_length=loaded.info["max_length"],
        return_tensors="pt",
        return_offsets_mapping=task == "token-classification",
    )
    offsets = batch.pop("offset_mapping", None)
    mask = batch["attention_mask"]
    counts = mask.sum(1).tolist()
    inputs = {k: v.to(loaded.device) for k, v in batch.items()}
    output = loaded.model(**inputs)
    if task == "feature-extraction":
        return _pool(loaded, output[0], inputs["attention_mask"]), counts
    logits = output.logits.float()
    if task == "text-classification":
        return [_classify(loaded.model.config, row, p) for row, p in zip(logits, params, strict=True)], counts
    if task == "fill-mask":
        return _fill(loaded, batch["input_ids"], logits, params), counts
    return [
        _entities(loaded.model.config, texts[r], batch, r, logits[r], offsets[r], params[r]) for r in range(len(texts))
    ], counts


def _pool(loaded, hidden: torch.Tensor, mask: torch.Tensor) -> list[list[float]]:
    hidden = hidden.float()
    pooling = loaded.info["pooling"]
    if pooling == "cls":
        vectors = hidden[:, 0]
    elif pooling == "max":
        vectors = hidden.masked_fill(mask.unsqueeze(-1) == 0, float("-inf")).max(1).values
    else:
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        vectors = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    if loaded.info["normalize"]:
        vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
    return vectors.cpu().tolist()


def _classify(config, row: torch.Tensor, params: dict) -> list[dict]:
    function = params.get("function_to_apply")
    if function is None:
        multi = config.problem_type == "multi_label_classification" or config.num_labels == 1
        function = "sigmoid" if multi else "softmax"
    scores = {"softmax": row.softmax(-1), "sigmoid": row.sigmoid(), "none": row}[function].tolist()
    ranked = sorted(range(len(scores)), key=lambda k: -scores[k])[: params.get("top_k") or len(scores)]
    return [{"label": config.id2label.get(k, f"LABEL_{k}"), "score": scores[k]} for k in ranked]


def _fill(loaded, input_ids: torch.Tensor, logits: torch.Tensor, params: list[dict]) -> list:
    tokenizer, results = loaded.tokenizer, []
    for r in range(len(params)):
        positions = (input_ids[r] == tokenizer.mask_token_id).nonzero().flatten()
        if len(positions) != 1:  # the mask was truncated away
            results.append([])
            continue
        position = int(positions[0])
        probs = logits[r, position].softmax(-1)
        top = probs.topk(params[r]["top_k"])
        candidates = []
        for score, token in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            ids = input_ids[r].clone()
            ids[position] = token
            ids = ids[ids != tokenizer.pad_token_id] if tokenizer.pad_token_id is not None else ids
            candidates.append(
                {
                    "score": score,
                    "token": token,
                    "token_str": tokenizer.decode([token]).strip(),
                    "sequence": tokenizer.decode(ids, skip_special_tokens=True),
                }
            )
        results.append(candidates)
    return results


def _entities(config, text: str, batch, r: int, logits: torch.Tensor, offsets, params: dict) -> list[dict]:
    probs = logits.softmax(-1)
    scores, labels = probs.max(-1)
    word_ids = batch.word_ids(r)
    tokens = []
    for t, word in enumerate(word_ids):
        if word is None:
            continue
        start, end = (int(x) for x in offsets[t])
        label = config.id2label.get(int(labels[t]), f"LABEL_{int(labels[t])}")
        tokens.append({"label": label, "score": float(scores[t]), "start": start, "end": end, "word_id": word})
    ignore = params["ignore_labels"]
    if params["aggregation_strategy"] == "none":
        return [
            {"entity": t["label"], "score": t["score"], "word": text[t["start"] : t["end"]], "start": t["start"],
             "end": t["end"]}
            for t in tokens if t["label"] not in ignore
        ]  # fmt: skip
    groups: list[dict] = []
    for t in tokens:
        label = t["label"]
        prefix, kind = (label[:2], label[2:]) if label[:2] in ("B-", "I-") else ("", label)
        last = groups[-1] if groups else None
        if last and last["entity_group"] == kind and prefix != "B-" and t["start"] <= last["end"] + 1:
            last["scores"].append(t["score"])
            last["end"] = t["end"]
        else:
            groups.append({"entity_group": kind, "scores": [t["score"]], "start": t["start"], "end": t["end"]})
    return [
        {"entity_group": g["entity_group"], "score": sum(g["scores"]) / len(g["scores"]),
         "word": text[g["start"] : g["end"]], "start": g["start"], "end": g["end"]}
        for g in groups if g["entity_group"] not in ignore
    ]  # fmt: skip
