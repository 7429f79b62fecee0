"""Rows → token batches for classification and causal-LM training and evaluation."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch


def label_list(model_config, rows: list[dict] | None, label_column: str) -> list[str]:
    """The model's labels in id order when it has real ones, else the sorted labels of `rows`."""
    id2label = getattr(model_config, "id2label", None) or {}
    names = [str(id2label[i]) for i in sorted(id2label, key=int)]
    if names and not all(n.startswith("LABEL_") for n in names):
        return names
    return sorted({str(r[label_column]) for r in rows or []}, key=_natural)


def _natural(value: str):
    return (0, int(value)) if value.lstrip("-").isdigit() else (1, value)


@dataclass
class Encoded:
    """Token ids per row, and per row a label id (classification) or a per-token label list (causal LM)."""

    input_ids: list[list[int]]
    labels: list
    pad_id: int
    task: str

    def __len__(self) -> int:
        return len(self.input_ids)

    def batch(self, indices: list[int]) -> dict[str, torch.Tensor]:
        ids = [self.input_ids[i] for i in indices]
        width = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, seq in enumerate(ids):
            input_ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        out = {"input_ids": input_ids, "attention_mask": mask}
        if self.task == "text-classification":
            out["labels"] = torch.tensor([self.labels[i] for i in indices], dtype=torch.long)
        else:
            labels = torch.full((len(ids), width), -100, dtype=torch.long)
            for row, i in enumerate(indices):
                labels[row, : len(self.labels[i])] = torch.tensor(self.labels[i])
            out["labels"] = labels
        return out

    def batches(self, batch_size: int, *, shuffle_seed: int | None = None):
        order = list(range(len(self)))
        if shuffle_seed is not None:
            random.Random(shuffle_seed).shuffle(order)
        for start in range(0, len(order), batch_size):
            yield self.batch(order[start : start + batch_size])


def encode(rows: list[dict], tokenizer, config, *, labels: list[str] | None = None) -> Encoded:
    """Tokenize `rows` for `config.task` (truncated to config.max_length)."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    if not rows:
        raise ValueError("no rows to encode: the data set is empty")
    if config.task == "text-classification":
        index = {name: i for i, name in enumerate(labels or [])}
        label_ids = []
        for row in rows:
            value = str(row[config.label_column])
            if value not in index:
                raise ValueError(f"label {value!r} is not one of the model's labels ({', '.join(index)})")
            label_ids.append(index[value])
        texts = [str(r[config.text_column]) for r in rows]
        ids = tokenizer(texts, truncation=True, max_length=config.max_length)["input_ids"]
        return Encoded(ids, label_ids, pad_id, config.task)
    ids, token_labels = [], []
    for row in rows:
        if config.text_column in row:
            seq = tokenizer(str(row[config.text_column]), truncation=True, max_length=config.max_length)["input_ids"]
            if tokenizer.eos_token_id is not None and len(seq) < config.max_length:
                seq = seq + [tokenizer.eos_token_id]
            ids.append(seq)
            token_labels.append(list(seq))
            continue
        prompt, full = _chat(tokenizer, str(row[config.prompt_column]), str(row[config.response_column]))
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        seq = tokenizer(full, add_special_tokens=False)["input_ids"][: config.max_length]
        keep = min(len(prompt_ids), len(seq) - 1)  # at least one response token is scored
        ids.append(seq)
        token_labels.append([-100] * keep + seq[keep:])
    return Encoded(ids, token_labels, pad_id, config.task)


def _chat(tokenizer, prompt: str, response: str) -> tuple[str, str]:
    """(prompt text, prompt + response text): the chat template when the tokenizer has one."""
    if getattr(tokenizer, "chat_template", None):
        user = [{"role": "user", "content": prompt}]
        head = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(user + [{"role": "assistant", "content": response}], tokenize=False)
        if full.startswith(head):
            return head, full
    eos = tokenizer.eos_token or ""
    return f"{prompt}\n", f"{prompt}\n{response}{eos}"
