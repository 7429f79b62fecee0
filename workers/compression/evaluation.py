"""Held-out quality and CPU (and GPU) speed of a model, the same way for a teacher and each of its students."""

from __future__ import annotations

import math
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

from workers.compression import modeling
from workers.compression.configs import DistillConfig
from workers.compression.data import encode, label_list

METRIC = {"text-classification": "accuracy", "causal-lm": "perplexity"}
LOWER_IS_BETTER = {"perplexity", "eval_loss"}


@torch.inference_mode()
def quality(model, tokenizer, rows: list[dict], config, *, labels: list[str] | None = None, batch_size: int = 32):
    """accuracy, macro F1 and eval_loss (classification) or eval_loss and perplexity (causal LM) on `rows`."""
    if config.task == "text-classification" and labels is None:
        labels = label_list(model.config, rows, config.label_column)
    encoded = encode(rows, tokenizer, config, labels=labels)
    model.eval()
    if config.task == "text-classification":
        predictions, gold, loss = [], [], 0.0
        for batch in encoded.batches(batch_size):
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
            loss += float(F.cross_entropy(logits, batch["labels"], reduction="sum"))
            predictions += logits.argmax(-1).tolist()
            gold += batch["labels"].tolist()
        return {
            "accuracy": sum(p == g for p, g in zip(predictions, gold, strict=True)) / len(gold),
            "f1": _macro_f1(predictions, gold, len(labels)),
            "eval_loss": loss / len(gold),
        }
    total, tokens = 0.0, 0
    for batch in encoded.batches(max(1, batch_size // 4)):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        target = batch["labels"][:, 1:]
        n = int((target != -100).sum())
        if n:
            flat = logits[:, :-1].reshape(-1, logits.shape[-1])
            total += float(F.cross_entropy(flat, target.reshape(-1), ignore_index=-100, reduction="sum"))
            tokens += n
    eval_loss = total / max(tokens, 1)
    return {"eval_loss": eval_loss, "perplexity": math.exp(min(eval_loss, 50.0))}


def _macro_f1(predictions: list[int], gold: list[int], n_labels: int) -> float:
    scores = []
    for label in range(n_labels):
        tp = sum(p == label and g == label for p, g in zip(predictions, gold, strict=True))
        fp = sum(p == label and g != label for p, g in zip(predictions, gold, strict=True))
        fn = sum(p != label and g == label for p, g in zip(predictions, gold, strict=True))
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else 0.0


@contextmanager
def num_threads(n: int | None):
    previous = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@torch.inference_mode()
def speed(model, encoded, *, device: str = "cpu", latency_rows: int = 32, throughput_batches: int = 3) -> dict:
    """Median latency of single-row forward passes (ms) and rows/s over batches of 32 (padded to the longest)."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    n = min(latency_rows, len(encoded))
    singles = [{k: v.to(device) for k, v in encoded.batch([i]).items() if k != "labels"} for i in range(n)]
    for inputs in singles[:2]:
        model(**inputs)
    timings = []
    for inputs in singles:
        sync()
        start = time.perf_counter()
        model(**inputs)
        sync()
        timings.append((time.perf_counter() - start) * 1000)
    order = list(range(len(encoded)))
    batches = [order[i : i + 32] for i in range(0, len(order), 32)][:throughput_batches] or [order]
    prepared = [{k: v.to(device) for k, v in encoded.batch(b).items() if k != "labels"} for b in batches]
    model(**prepared[0])
    sync()
    start = time.perf_counter()
    for inputs in prepared:
        model(**inputs)
    sync()
    elapsed = time.perf_counter() - start
    return {
        "latency_p50_ms_b1": statistics.median(timings),
        "throughput_b32": sum(len(b) for b in batches) / elapsed,
    }


def load_any(model_dir: str | Path, task: str):
    """A saved model, quantized (hub_quantization.json) or not."""
    from workers.compression.quantization import QUANT_FILE, load_quantized

    if (Path(model_dir) / QUANT_FILE).is_file():
        return load_quantized(model_dir)
    return modeling.load_model(model_dir, task)


def evaluate(
    model_dir_or_model,
    *,
    task: str,
    eval_rows: list[dict],
    tokenizer_dir: str | Path | None = None,
    max_length: int = 128,
    text_column: str = "text",
    label_column: str = "label",
    prompt_column: str = "prompt",
    response_column: str = "response",
    threads: int | None = None,
    timing: bool = True,
    latency_rows: int = 32,
    throughput_batches: int = 3,
    gpu: bool = True,
) -> dict:
    """Quality (accuracy/f1/eval_loss or eval_loss/perplexity), params, file_size_bytes and speed of one model.

    `model_dir_or_model`: a saved folder (plain or quantized) or a loaded model (then pass tokenizer_dir; the file
    size is that of the state dict). GPU figures (gpu_latency_p50_ms_b1, gpu_throughput_b32) are added when CUDA is
    available and the model is not CPU-only (dynamic int8).
    """
    config = DistillConfig(
        task=task, max_length=max_length, text_column=text_column, label_column=label_column,
        prompt_column=prompt_column, response_column=response_column,
    )  # fmt: skip
    if isinstance(model_dir_or_model, (str, Path)):
        model_dir = Path(model_dir_or_model)
        model = load_any(model_dir, task)
        size = modeling.weights_size(model_dir)
        tokenizer_dir = tokenizer_dir or model_dir
    else:
        model, model_dir = model_dir_or_model, None
        size = sum(t.numel() * t.element_size() for t in model.state_dict().values() if isinstance(t, torch.Tensor))
        if tokenizer_dir is None:
            raise ValueError("pass tokenizer_dir with an in-memory model")
    tokenizer = modeling.load_tokenizer(tokenizer_dir)
    labels = label_list(model.config, eval_rows, label_column) if task == "text-classification" else None
    with num_threads(threads):
        result = quality(model, tokenizer, eval_rows, config, labels=labels)
        result.update(params=modeling.count_params(model), file_size_bytes=size, metric=METRIC[task])
        if timing:
            encoded = encode(eval_rows, tokenizer, config, labels=labels)
            result.update(speed(model, encoded, latency_rows=latency_rows, throughput_batches=throughput_batches))
            if gpu and torch.cuda.is_available() and not _cpu_only(model):
                model.to("cuda")
                fast = speed(model, encoded, device="cuda", latency_rows=latency_rows, throughput_batches=8)
                model.to("cpu")
                result.update(
                    gpu_latency_p50_ms_b1=fast["latency_p50_ms_b1"], gpu_throughput_b32=fast["throughput_b32"]
                )
    return result


def _cpu_only(model) -> bool:
    return any(m.__module__.startswith("torch.ao.nn.quantized") for m in model.modules())


def compare(
    teacher_dir: str | Path,
    students: dict[str, str | Path],
    *,
    task: str,
    eval_rows: list[dict],
    rounds: int = 3,
    threads: int | None = None,
    latency_rows: int = 32,
    throughput_batches: int = 3,
    max_length: int = 128,
    aggregate: str = "median",
    **columns,
) -> dict:
    """evaluate() the teacher and each student, timing them interleaved over `rounds`, then report().

    Interleaving makes the speed-ups fair on a shared machine: each round times every model once, in turn. Rounds
    are combined by `aggregate`: "median", or "best" (lowest latency, highest throughput: like timeit's minimum,
    the estimate least disturbed by other processes on a busy machine).
    """
    if aggregate not in ("median", "best"):
        raise ValueError("aggregate must be 'median' or 'best'")
    from workers.compression.reports import report

    folders = {"teacher": Path(teacher_dir), **{name: Path(p) for name, p in students.items()}}
    results = {
        name: evaluate(folder, task=task, eval_rows=eval_rows, max_length=max_length, threads=threads,
                       timing=False, **columns)
        for name, folder in folders.items()
    }  # fmt: skip
    config = DistillConfig(task=task, max_length=max_length, **columns)
    tokenizer = modeling.load_tokenizer(teacher_dir)
    teacher = load_any(folders["teacher"], task)
    labels = label_list(teacher.config, eval_rows, config.label_column) if task == "text-classification" else None
    encoded = encode(eval_rows, tokenizer, config, labels=labels)
    models = {"teacher": teacher, **{name: load_any(folders[name], task) for name in students}}
    timings: dict[str, list[dict]] = {name: [] for name in models}
    with num_threads(threads):
        for _ in range(rounds):
            for name, model in models.items():
                timings[name].append(
                    speed(model, encoded, latency_rows=latency_rows, throughput_batches=throughput_batches)
                )
    for name, runs in timings.items():
        latency, throughput = [r["latency_p50_ms_b1"] for r in runs], [r["throughput_b32"] for r in runs]
        best = aggregate == "best"
        results[name]["latency_p50_ms_b1"] = min(latency) if best else statistics.median(latency)
        results[name]["throughput_b32"] = max(throughput) if best else statistics.median(throughput)
    if torch.cuda.is_available():
        for name, model in models.items():
            if not _cpu_only(model):
                model.to("cuda")
                fast = speed(model, encoded, device="cuda", latency_rows=latency_rows, throughput_batches=8)
                model.to("cpu")
                results[name].update(
                    gpu_latency_p50_ms_b1=fast["latency_p50_ms_b1"], gpu_throughput_b32=fast["throughput_b32"]
                )
    data = report(results.pop("teacher"), results)
    data["rounds"] = rounds
    data["aggregate"] = aggregate
    data["threads"] = threads or torch.get_num_threads()
    return data
