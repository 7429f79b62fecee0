"""Text generation and chat, batched, streamed token by token.

A batch of prompts is left-padded and decoded together with one KV cache; each row keeps its own sampling
parameters (temperature, top_p, top_k, seed), stop strings, token budget, deadline and cancellation. Token deltas
go to the row's `emit` as soon as they are final (text that could still become a stop string is held back).

Parameters (HF and OpenAI names both accepted): max_new_tokens | max_tokens (default 256), temperature (0 or
absent = greedy, unless do_sample), do_sample, top_p, top_k, seed, stop | stop_sequences (a string or a list),
return_full_text (text-generation only, default false).
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

DEFAULT_MAX_NEW_TOKENS = 256
MAX_STOPS = 16
CANCEL_CHECK_S = 0.2  # how often a row asks whether its client went away
ROLES = ("system", "user", "assistant", "tool")
# Fault tests and demos only: a pause after each decoding step, so a tiny model streams for seconds.
TOKEN_DELAY_ENV = "HUB_INFERENCE_TOKEN_DELAY_MS"
CHAT_END_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>")


@dataclass
class GenerateRequest:
    prompt_ids: list[int]
    prompt_text: str
    chat: bool
    max_new_tokens: int
    temperature: float  # 0 = greedy
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    return_full_text: bool = False
    emit: Callable[[dict], None] | None = None
    is_cancelled: Callable[[], bool] | None = None
    deadline: float | None = None


def model_class():
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM


def model_info(model, tokenizer, folder: Path, task: str) -> dict:
    eos: set[int] = set()
    for source in (getattr(model, "generation_config", None), model.config):
        value = getattr(source, "eos_token_id", None)
        eos.update(value if isinstance(value, list) else [value] if value is not None else [])
    if tokenizer.eos_token_id is not None:
        eos.add(tokenizer.eos_token_id)
    if task == "chat":
        vocab = tokenizer.get_vocab()
        eos.update(vocab[t] for t in CHAT_END_TOKENS if t in vocab)
        if not tokenizer.chat_template:
            raise ValueError("the model has no chat template: serve it for text-generation instead")
    context = getattr(model.config, "max_position_embeddings", None) or 2048
    if isinstance(tokenizer.model_max_length, int) and tokenizer.model_max_length < 10**6:
        context = min(context, tokenizer.model_max_length)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos) if eos else 0
    arguments = inspect.signature(model.forward).parameters
    cache_arg = "cache" if "cache" in arguments else "past_key_values"  # renamed in transformers 5
    keeps_logits = "logits_to_keep" in arguments
    return {"eos": eos, "context": context, "pad": pad, "logits_to_keep": keeps_logits, "cache_arg": cache_arg}


def _messages(inputs: Any) -> list[dict]:
    if not isinstance(inputs, list) or not inputs:
        raise ValueError("chat 'inputs' must be a non-empty list of messages {role, content}")
    messages = []
    for m in inputs:
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise ValueError(f"each message needs a role among {', '.join(ROLES)}")
        content = m.get("content")
        if isinstance(content, list):  # OpenAI's content parts: only text is understood
            if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                       for p in content):  # fmt: skip
                raise ValueError("only text content parts are supported")
            content = "".join(p["text"] for p in content)
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise ValueError("a message's content must be a string")
        messages.append({"role": m["role"], "content": content})
    return messages


def prepare(loaded, inputs: Any, parameters: dict) -> GenerateRequest:
    """Validate and tokenise in the caller's thread; ValueError on bad input."""
    tokenizer, info = loaded.tokenizer, loaded.info
    chat = loaded.task == "chat"
    if chat:
        prompt_text = tokenizer.apply_chat_template(_messages(inputs), add_generation_prompt=True, tokenize=False)
        prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    else:
        if not isinstance(inputs, str) or not inputs:
            raise ValueError("text-generation 'inputs' must be a non-empty string")
        prompt_text = inputs
        prompt_ids = tokenizer(inputs)["input_ids"]
    if not prompt_ids:
        raise ValueError("the prompt is empty after tokenisation")
    room = info["context"] - len(prompt_ids)
    if room < 1:
        raise ValueError(f"the prompt is {len(prompt_ids)} tokens; the model's context is {info['context']}")
    p = parameters
    max_new = p.get("max_new_tokens", p.get("max_tokens"))
    max_new = DEFAULT_MAX_NEW_TOKENS if max_new is None else _number(max_new, "max_tokens", 1, 10**6, integer=True)
    temperature = p.get("temperature")
    temperature = None if temperature is None else _number(temperature, "temperature", 0, 100)
    do_sample = p.get("do_sample")
    if do_sample is not None and not isinstance(do_sample, bool):
        raise ValueError("do_sample must be a boolean")
    if do_sample is False:
        temperature = 0.0
    elif temperature is None:
        temperature = 1.0 if do_sample else 0.0
    stop = p.get("stop", p.get("stop_sequences")) or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or len(stop) > MAX_STOPS or not all(isinstance(s, str) and s for s in stop):
        raise ValueError(f"stop must be a string or a list of at most {MAX_STOPS} non-empty strings")
    seed = p.get("seed")
    if seed is not None:
        seed = _number(seed, "seed", -(2**63), 2**63 - 1, integer=True)
    full = p.get("return_full_text", False)
    if not isinstance(full, bool):
        raise ValueError("return_full_text must be a boolean")
    return GenerateRequest(
        prompt_ids=prompt_ids,
        prompt_text=prompt_text,
        chat=chat,
        max_new_tokens=min(max_new, room),
        temperature=temperature,
        top_p=_number(p.get("top_p", 1.0) if p.get("top_p") is not None else 1.0, "top_p", 0, 1),
        top_k=_number(p.get("top_k") or 0, "top_k", 0, 10**6, integer=True),
        seed=seed,
        stop=stop,
        return_full_text=full and not chat,
    )


def _number(value: Any, name: str, low: float, high: float, *, integer: bool = False):
    kinds = int if integer else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        raise ValueError(f"{name} must be {'an integer' if integer else 'a number'} from {low:g} to {high:g}")
    if name == "top_p" and value == 0:
        raise ValueError("top_p must be above 0")
    return value


def sample(logits: torch.Tensor, request: GenerateRequest, generator: torch.Generator | None) -> int:
    if request.temperature <= 0:
        return int(logits.argmax())
    logits = logits.float() / request.temperature
    if request.top_k and request.top_k < logits.shape[-1]:
        kth = logits.topk(request.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(-1)
    if request.top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        outside = sorted_probs.cumsum(-1) - sorted_probs > request.top_p  # keep the smallest set reaching top_p
        sorted_probs[outside] = 0
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))


class _Row:
    """One request's progress through a batch."""

    def __init__(self, item, device: torch.device, started: float):
        self.item, self.request = item, item.payload
        self.tokens: list[int] = []
        self.text, self.sent = "", 0
        self.finish: str | None = None
        self.error: BaseException | None = None
        self.compute_ms = 0.0
        self.started, self.checked = started, started
        self.generator = None
        if self.request.seed is not None:
            self.generator = torch.Generator(device=device)
            self.generator.manual_seed(self.request.seed % 2**63)
        self.holdback = max((len(s) for s in self.request.stop), default=1) - 1

    def done(self, reason: str | None = None, error: BaseException | None = None) -> None:
        self.finish, self.error = reason, error
        self.compute_ms = (time.perf_counter() - self.started) * 1000

    def emit(self, final: bool) -> None:
        """Send the text that can no longer change (all of it once the row is finished)."""
        end = len(self.text) if final else len(self.text) - self.holdback
        while end > self.sent and self.text[end - 1] == "\ufffd":  # half of a multi-byte character
            end -= 1
        if end > self.sent and self.request.emit is not None:
            self.request.emit({"type": "token", "text": self.text[self.sent : end]})
            self.sent = end

    def add(self, token: int, tokenizer) -> None:
        self.tokens.append(token)
        self.text = tokenizer.decode(self.tokens, skip_special_tokens=True)
        stops = [i for i in (self.text.find(s, max(0, self.sent - len(s))) for s in self.request.stop) if i >= 0]
        if stops:
            self.text = self.text[: min(stops)]
            self.done("stop")
        elif len(self.tokens) >= self.request.max_new_tokens:
            self.done("length")

    def check(self) -> None:
        now = time.perf_counter()
        if self.request.deadline is not None and time.time() > self.request.deadline:
            self.done(error=TimeoutError("the request timed out while generating"))
        elif self.request.is_cancelled is not None and now - self.checked > CANCEL_CHECK_S:
            self.checked = now
            if self.request.is_cancelled():
                self.done("cancelled")

    def result(self, batch_size: int) -> Any:
        if self.error is not None:
            return self.error
        r = self.request
        if r.chat:
            outputs: Any = {"message": {"role": "assistant", "content": self.text}, "finish_reason": self.finish}
        else:
            outputs = [{"generated_text": (r.prompt_text + self.text) if r.return_full_text else self.text}]
        usage = {
            "input_tokens": len(r.prompt_ids),
            "output_tokens": len(self.tokens),
            "compute_ms": round(self.compute_ms / batch_size, 3),
        }
        return {"outputs": outputs, "usage": usage, "batch_size": batch_size, "finish_reason": self.finish}


@torch.inference_mode()
def run_batch(loaded, items: Sequence) -> list:
    """Generate for every item at once; one result dict (or exception) per item."""
    model, tokenizer, info, device = loaded.model, loaded.tokenizer, loaded.info, loaded.device
    started = time.perf_counter()
    rows = [_Row(item, device, started) for item in items]
    width = max(len(r.request.prompt_ids) for r in rows)
    ids = torch.full((len(rows), width), info["pad"], dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):  # left padding: every row's next token is in the last column
        n = len(row.request.prompt_ids)
        ids[i, width - n :] = torch.tensor(row.request.prompt_ids)
        mask[i, width - n :] = 1
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    extra = {"logits_to_keep": 1} if info["logits_to_keep"] else {}
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, **extra)
    delay_s = _token_delay_s()
    while True:
        logits, cache = out.logits[:, -1, :], out[info["cache_arg"]]
        next_tokens = []
        for i, row in enumerate(rows):
            if row.finish is None and row.error is None:
                try:
                    token = sample(logits[i], row.request, row.generator)
                    if token in info["eos"]:
                        row.done("stop")
                    else:
                        row.add(token, tokenizer)
                        row.check()
                    row.emit(final=row.finish is not None)
                except Exception as exc:  # this row's stream failed (e.g. the broker went away): only it stops
                    row.done(error=exc)
                next_tokens.append(token if row.finish is None and row.error is None else info["pad"])
            else:
                next_tokens.append(info["pad"])
        if all(r.finish is not None or r.error is not None for r in rows):
            break
        if delay_s:
            time.sleep(delay_s)
        ids = torch.tensor(next_tokens, device=device).unsqueeze(1)
        mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
        positions = positions[:, -1:] + 1
        out = model(
            input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, **{info["cache_arg"]: cache}
        )
    return [row.result(len(rows)) for row in rows]


def _token_delay_s() -> float:
    try:
        return max(0.0, float(os.environ.get(TOKEN_DELAY_ENV) or 0)) / 1000
    except ValueError:
        return 0.0
