"""Rows → model inputs: the cheap row checks run before queueing, labels, tokenisation, batching.

Only collate() needs torch, and imports it when called: validate_rows runs in the web process.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workers.training.finetune import FinetuneConfig

MAX_LABELS = 1000
ROLES = ("system", "user", "assistant", "tool")
IGNORE = -100  # label of the tokens that carry no loss (prompt, padding)


# --- checks ------------------------------------------------------------------------------------------------------


def validate_rows(config: FinetuneConfig, rows: list[dict], *, min_labels: int = 2) -> dict:
    """Checks the rows can train this task; returns {"rows", "labels", "format"} or raises ValueError naming the
    column and row (rows are numbered from 0) that cannot be used. min_labels=1 checks held-out rows."""
    config.validate()
    if not isinstance(rows, list) or not rows:
        raise ValueError("the dataset has no rows")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"row {i} is not a record of columns (got {type(row).__name__})")
    if config.task == "text-classification":
        labels = _check_classification(config, rows, min_labels)
        return {"rows": len(rows), "labels": labels, "format": "text-label"}
    fmt = lm_format(config, rows)
    if fmt == "messages":
        for i, row in enumerate(rows):
            check_messages(row.get(config.messages_column), where=f"row {i}, column '{config.messages_column}'")
    else:
        _require_columns(rows, [config.prompt_column, config.response_column], hint=_lm_hint(config))
        for i, row in enumerate(rows):
            _check_text(row, config.prompt_column, i, allow_empty=True)
            _check_text(row, config.response_column, i)
    return {"rows": len(rows), "labels": None, "format": fmt}


def lm_format(config: FinetuneConfig, rows: list[dict]) -> str:
    """ "messages" when the rows carry the messages column, else "prompt-response"."""
    with_messages = sum(1 for r in rows if r.get(config.messages_column) is not None)
    if with_messages == 0:
        return "prompt-response"
    if with_messages < len(rows):
        i = next(i for i, r in enumerate(rows) if r.get(config.messages_column) is None)
        raise ValueError(f"row {i} has no '{config.messages_column}' while other rows do: use one format for all rows")
    return "messages"


def check_messages(messages, *, where: str) -> None:
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"{where} must be a non-empty list of {{role, content}} messages")
    for j, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise ValueError(f"{where}: message {j} must be an object with 'role' and 'content'")
        if message["role"] not in ROLES:
            raise ValueError(f"{where}: message {j} has role {message['role']!r}; use one of {', '.join(ROLES)}")
        if not isinstance(message["content"], str):
            raise ValueError(f"{where}: message {j} content must be text (got {type(message['content']).__name__})")
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        raise ValueError(f"{where} has no non-empty assistant message to learn from")


def _lm_hint(config: FinetuneConfig) -> str:
    return f" (or a '{config.messages_column}' column of chat messages)"


def _require_columns(rows: list[dict], columns: list[str], hint: str = "") -> None:
    for column in columns:
        if not any(column in row for row in rows):
            seen = sorted({k for row in rows[:100] for k in row})
            raise ValueError(f"column '{column}' not found{hint}; the rows have: {', '.join(seen) or 'no columns'}")
        missing = next((i for i, row in enumerate(rows) if column not in row), None)
        if missing is not None:
            raise ValueError(f"row {missing} has no column '{column}'")


def _check_text(row: dict, column: str, i: int, *, allow_empty: bool = False) -> None:
    value = row.get(column)
    if not isinstance(value, str):
        raise ValueError(f"row {i}, column '{column}' must be text (got {_describe(value)})")
    if not allow_empty and not value.strip():
        raise ValueError(f"row {i}, column '{column}' is empty")


def _check_classification(config: FinetuneConfig, rows: list[dict], min_labels: int) -> list:
    columns = [config.text_column, config.label_column] + ([config.text_pair_column] if config.text_pair_column else [])
    _require_columns(rows, columns)
    kinds = set()
    for i, row in enumerate(rows):
        _check_text(row, config.text_column, i)
        if config.text_pair_column:
            _check_text(row, config.text_pair_column, i, allow_empty=True)
        label = row[config.label_column]
        if type(label) not in (str, int, bool):
            raise ValueError(
                f"row {i}, column '{config.label_column}': labels must be text, integers or booleans "
                f"(got {_describe(label)})"
            )
        if isinstance(label, str) and not label.strip():
            raise ValueError(f"row {i}, column '{config.label_column}' is empty")
        kinds.add(type(label))
    if len(kinds) > 1:
        names = " and ".join(sorted(k.__name__ for k in kinds))
        raise ValueError(f"column '{config.label_column}' mixes label types ({names}): use one type for every row")
    labels = sort_labels({row[config.label_column] for row in rows})
    if len(labels) < min_labels:
        raise ValueError(f"column '{config.label_column}' has a single label ({labels[0]!r}): classification needs ≥ 2")
    if len(labels) > MAX_LABELS:
        raise ValueError(
            f"column '{config.label_column}' has {len(labels)} distinct labels (at most {MAX_LABELS}): "
            "is it a numeric target rather than a class?"
        )
    return labels


def _describe(value) -> str:
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} {text[:40] + '…' if len(text) > 40 else text}"


# --- labels ------------------------------------------------------------------------------------------------------


def sort_labels(labels) -> list:
    return sorted(labels)


def label_maps(labels: list) -> tuple[dict[int, str], dict[str, int]]:
    """id2label / label2id as saved in config.json (label names are strings there)."""
    id2label = {i: str(label) for i, label in enumerate(labels)}
    return id2label, {name: i for i, name in id2label.items()}


def majority_baseline(train_labels: list[int], eval_labels: list[int]) -> dict[str, float]:
    """Accuracy and macro F1 on eval of always predicting the most frequent training label."""
    from workers.training.metrics import accuracy, macro_f1

    if not train_labels or not eval_labels:
        return {}
    counts: dict[int, int] = {}
    for label in train_labels:
        counts[label] = counts.get(label, 0) + 1
    majority = max(sorted(counts), key=lambda k: counts[k])
    predictions = [majority] * len(eval_labels)
    return {
        "majority_accuracy": accuracy(eval_labels, predictions),
        "majority_f1": macro_f1(eval_labels, predictions),
    }


# --- tokenisation ------------------------------------------------------------------------------------------------


def encode_classification(tokenizer, rows: list[dict], config: FinetuneConfig, label2id: dict) -> tuple[list, int]:
    """[{"input_ids", "label"}] for the rows whose label is known; also the number of rows dropped."""
    kept = [
        r for r in rows if str(r.get(config.label_column)) in label2id and isinstance(r.get(config.text_column), str)
    ]
    if not kept:
        return [], len(rows)
    texts = [r[config.text_column] for r in kept]
    pairs = [r.get(config.text_pair_column) or "" for r in kept] if config.text_pair_column else None
    encoded = tokenizer(texts, pairs, truncation=True, max_length=config.max_length)
    examples = []
    for i, row in enumerate(kept):
        example = {"input_ids": encoded["input_ids"][i], "label": label2id[str(row[config.label_column])]}
        if pairs is not None and "token_type_ids" in encoded:  # BERT-style segment ids tell the two texts apart
            example["token_type_ids"] = encoded["token_type_ids"][i]
        examples.append(example)
    return examples, len(rows) - len(kept)


def encode_causal_lm(tokenizer, rows: list[dict], config: FinetuneConfig) -> tuple[list, int]:
    """[{"input_ids", "labels"}] with labels = IGNORE outside the response / assistant turns, truncated to
    max_length; rows left with no response token after truncation are dropped (their count is returned)."""
    if not rows:
        return [], 0
    fmt = lm_format(config, rows)
    use_template = bool(getattr(tokenizer, "chat_template", None))
    examples, dropped = [], 0
    for row in rows:
        if fmt == "messages":
            messages = row[config.messages_column]
        else:
            messages = [
                {"role": "user", "content": row[config.prompt_column]},
                {"role": "assistant", "content": row[config.response_column]},
            ]
        if use_template:
            text, spans = _render_chat(tokenizer, messages)
        else:
            text, spans = _render_plain(tokenizer, messages)
        example = _tokenize_with_spans(tokenizer, text, spans, config.max_length, add_special=not use_template)
        if example is None:
            dropped += 1
        else:
            examples.append(example)
    return examples, dropped


def _render_chat(tokenizer, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """The conversation through the chat template, and the character spans of the assistant replies (each with
    its end-of-turn marker): every reply is found by rendering the conversation up to it."""
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans: list[tuple[int, int]] = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        through = tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
        before = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True) if i else None
        if before is not None and text.startswith(through) and through.startswith(before):
            spans.append((len(before), len(through)))
        else:  # a template that renders history differently: locate the reply's own text
            start = text.find(message["content"], spans[-1][1] if spans else 0)
            if start >= 0:
                spans.append((start, start + len(message["content"])))
    return text, spans


def _render_plain(tokenizer, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """No chat template: "prompt\\nresponse<eos>" (turns joined by newlines); loss on the assistant turns + eos."""
    eos = tokenizer.eos_token or ""
    text, spans = "", []
    for message in messages:
        if text:
            text += "\n"
        if message["role"] == "assistant":
            start = len(text)
            text += message["content"] + eos
            spans.append((start, len(text)))
        else:
            text += message["content"]
    return text, spans


def _tokenize_with_spans(tokenizer, text: str, spans, max_length: int, *, add_special: bool) -> dict | None:
    encoded = tokenizer(
        text, add_special_tokens=add_special, truncation=True, max_length=max_length, return_offsets_mapping=True
    )
    ids = encoded["input_ids"]
    labels = []
    for token, (start, end) in zip(ids, encoded["offset_mapping"], strict=True):
        inside = end > start and any(s <= start < e for s, e in spans)
        labels.append(token if inside else IGNORE)
    if all(label == IGNORE for label in labels[1:]):  # the first token is never predicted
        return None
    return {"input_ids": ids, "labels": labels}


# --- batching ----------------------------------------------------------------------------------------------------


def epoch_order(n: int, *, seed: int, epoch: int) -> list[int]:
    """The same permutation of range(n) for a (seed, epoch) on any machine: a resumed run sees the same batches."""
    order = list(range(n))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order


def collate(examples: list[dict], pad_id: int):
    """Pads on the right to the longest example: input_ids, attention_mask (token_type_ids for text pairs) and
    labels (class ids, or token labels with IGNORE on the padding)."""
    import torch

    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    token_labels = "labels" in examples[0]
    segments = "token_type_ids" in examples[0]
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long) if token_labels else None
    types = torch.zeros((len(examples), width), dtype=torch.long) if segments else None
    for i, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[i, :n] = torch.tensor(e["input_ids"], dtype=torch.long)
        mask[i, :n] = 1
        if token_labels:
            labels[i, :n] = torch.tensor(e["labels"], dtype=torch.long)
        if segments:
            types[i, :n] = torch.tensor(e["token_type_ids"], dtype=torch.long)
    if not token_labels:
        labels = torch.tensor([e["label"] for e in examples], dtype=torch.long)
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    if segments:
        batch["token_type_ids"] = types
    return batch


def eval_batches(examples: list[dict], batch_size: int) -> list[list[dict]]:
    """Held-out batches of similar lengths (less padding); metrics are sums, so the order does not matter."""
    ordered = sorted(examples, key=lambda e: len(e["input_ids"]))
    return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]
