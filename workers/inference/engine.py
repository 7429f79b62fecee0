"""The serving engine: loaded models (an LRU bounded by memory), per-task runners, batching.

The cache holds one copy of each model's weights, keyed by what was loaded (repo@commit, model class, dtype, device),
not by task: chat and text-generation endpoints on one model share a copy (and its memory is counted once); each
task keeps its own tokenizer settings and batcher over that copy.

Plain Python over torch and transformers; the Celery task (workers.inference.tasks) only adapts it. Use:

    engine = Engine(resolve=lambda spec: Path(...))      # spec -> the local folder of repo@commit
    reply = engine.infer(spec, request, emit=events.append, is_cancelled=lambda: False)

`reply` is the contract's {"outputs", "usage", "load_ms", "batch_size"}. Bad input raises ValueError (its message is
safe to show), an expired request raises TimeoutError. For a streaming request (text-generation or chat with
"stream": true) `emit` receives the token events, then one done or error event.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from workers.inference import encoders, generation
from workers.inference.batching import Batcher

log = logging.getLogger(__name__)

TASKS = ("feature-extraction", "text-classification", "fill-mask", "token-classification", "text-generation", "chat")
GENERATIVE = frozenset({"text-generation", "chat"})
DEFAULT_CACHE_BYTES = 4 * 1024**3


@dataclass
class Loaded:
    """A model ready to serve one task, with the batcher that owns its forward passes."""

    key: tuple[str, str, str]
    task: str
    model: Any
    tokenizer: Any
    device: torch.device
    nbytes: int
    load_ms: float
    info: dict = field(default_factory=dict)  # per task: pooling, max_length, eos ids…
    batcher: Batcher | None = None

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()  # its queued requests still run, then the model is freed


@dataclass
class Weights:
    """One copy of a model in memory, shared by the tasks that load it with the same class (a Loaded per task)."""

    key: tuple  # (repo_id, commit, model class, dtype, device): see weights_key()
    model: Any
    tokenizer: Any
    device: torch.device
    nbytes: int
    load_ms: float
    folder: Path
    tasks: dict[str, Loaded] = field(default_factory=dict)
    closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def serve(self, task: str, make: Callable[[Weights, str], Loaded]) -> Loaded | None:
        """This copy's Loaded for `task` (made on first use); None once the copy was evicted."""
        with self._lock:
            if self.closed:
                return None
            if task not in self.tasks:
                self.tasks[task] = make(self, task)
            return self.tasks[task]

    def close(self) -> None:
        with self._lock:
            self.closed = True
            for loaded in self.tasks.values():
                loaded.close()


def pick_device() -> tuple[torch.device, torch.dtype]:
    """CUDA in bfloat16 (float16 where bf16 is unsupported) when there is a GPU, else the CPU in float32."""
    if torch.cuda.is_available():
        return torch.device("cuda"), torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.device("cpu"), torch.float32


_IMPORTS = threading.Lock()


def model_class(task: str):
    """The transformers Auto class that loads a model for `task` (tasks sharing one share the loaded weights)."""
    with _IMPORTS:  # transformers' lazy imports are not thread-safe: a cold replica gets many first requests at once
        return generation.model_class() if task in GENERATIVE else encoders.model_class(task)


def weights_key(repo_id: str, commit: str, task: str, device: torch.device, dtype) -> tuple:
    """What identifies a copy of loaded weights: the task matters only through the model class it loads."""
    return (repo_id, commit, model_class(task).__name__, str(dtype), str(device))


def load(folder: Path, task: str, *, key=("", "", ""), device: torch.device | None = None, dtype=None) -> Loaded:
    """Load the model in `folder` for `task`; ValueError (safe to show) when it does not fit the task."""
    return for_task(load_weights(folder, task, key=key, device=device, dtype=dtype), task, key=key)


def for_task(weights: Weights, task: str, *, key=None) -> Loaded:
    """A Loaded serving `task` over `weights` (no copy); ValueError when the model does not fit the task."""
    model, tokenizer, folder = weights.model, weights.tokenizer, weights.folder
    info = (
        generation.model_info(model, tokenizer, folder, task)
        if task in GENERATIVE
        else encoders.model_info(model, tokenizer, folder, task)
    )
    key = key or (weights.key[0], weights.key[1], task)
    return Loaded(key, task, model, tokenizer, weights.device, weights.nbytes, weights.load_ms, info)


def load_weights(
    folder: Path, task: str, *, key=("", "", ""), device: torch.device | None = None, dtype=None
) -> Weights:
    """Load the tokenizer and weights in `folder` with `task`'s model class; ValueError (safe to show) on failure."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    if device is None:
        device, dtype = pick_device()
    dtype = dtype or torch.float32
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ValueError("the model has no config.json: it cannot be served with transformers")
    started = time.perf_counter()
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except Exception as exc:
        raise ValueError(f"the model's tokenizer could not be loaded: {exc}") from None
    try:
        model, loading = model_class(task).from_pretrained(
            folder, local_files_only=True, dtype=dtype, output_loading_info=True
        )
    except Exception as exc:
        raise ValueError(f"the model could not be loaded for {task}: {exc}") from None
    missing = [k for k in loading.get("missing_keys", ()) if not k.endswith(("position_ids", "lm_head.weight"))]
    if missing and task != "feature-extraction":
        raise ValueError(f"the model has no trained {task} head (missing weights such as {missing[0]})")
    model.to(device).eval()
    nbytes = sum(t.numel() * t.element_size() for t in model.parameters()) + sum(
        t.numel() * t.element_size() for t in model.buffers()
    )
    load_ms = (time.perf_counter() - started) * 1000
    return Weights(key, model, tokenizer, device, nbytes, load_ms, folder)


class ModelCache:
    """Loaded models by key (the engine's: weights_key()), least recently used evicted past `max_bytes` (parameter
    bytes). Entries are Weights (or Loaded): anything with nbytes, load_ms and close().

    Loads of one key are serialised (concurrent first requests load once); loads of different keys run in parallel.
    The model just loaded is always kept, even alone over the bound.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._models: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple, threading.Lock] = {}

    def get(self, key: tuple, loader: Callable[[], Any]) -> tuple[Any, float]:
        """(the loaded model, the load time in ms, 0 when it was already warm)."""
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key], 0.0
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._models:  # another thread loaded it while this one waited
                    self._models.move_to_end(key)
                    return self._models[key], 0.0
            loaded = loader()
            with self._lock:
                self._models[key] = loaded
                self._loading.pop(key, None)
                self._evict(keep=key)
            return loaded, loaded.load_ms

    def _evict(self, *, keep: tuple) -> None:
        total = sum(m.nbytes for m in self._models.values())
        for key in list(self._models):
            if total <= self.max_bytes:
                break
            if key == keep:
                continue
            gone = self._models.pop(key)
            total -= gone.nbytes
            gone.close()  # queued requests still run, then the model is freed
            log.info("evicted %s@%s (%s) from the model cache", gone.key[0], gone.key[1][:8], gone.key[2])

    def keys(self) -> list[tuple]:
        with self._lock:
            return list(self._models)

    def total_bytes(self) -> int:
        with self._lock:
            return sum(m.nbytes for m in self._models.values())


def _threads_from_env() -> None:
    threads = os.environ.get("HUB_INFERENCE_THREADS")
    if threads:
        torch.set_num_threads(max(1, int(threads)))


class Engine:
    """Serves inference requests: validates, loads (cached), batches, runs, meters."""

    def __init__(self, *, resolve: Callable[[dict], Path], cache_bytes: int | None = None, device=None, dtype=None):
        if cache_bytes is None:
            cache_bytes = int(os.environ.get("HUB_INFERENCE_CACHE_BYTES") or DEFAULT_CACHE_BYTES)
        self.resolve = resolve
        self.cache = ModelCache(cache_bytes)
        self.device, self.dtype = (device, dtype) if device is not None else pick_device()
        _threads_from_env()

    def model_for(self, spec: dict) -> tuple[Loaded, float]:
        spec = validate_spec(spec)
        task = spec["task"]
        key = weights_key(spec["repo_id"], spec["commit"], task, self.device, self.dtype)

        def loader() -> Weights:
            return load_weights(self.resolve(spec), task, key=key, device=self.device, dtype=self.dtype)

        def make(weights: Weights, task: str) -> Loaded:
            loaded = for_task(weights, task)
            runner = generation.run_batch if task in GENERATIVE else encoders.run_batch
            loaded.batcher = Batcher(
                lambda items, loaded=loaded: runner(loaded, items),
                max_batch_size=spec["max_batch_size"],
                max_wait_ms=spec["max_wait_ms"],
                name=f"{key[0]}@{key[1][:8]} {task}",
            )
            return loaded

        for _ in range(3):  # the copy may be evicted between the lookup and serve(): look again
            weights, load_ms = self.cache.get(key, loader)
            loaded = weights.serve(task, make)
            if loaded is not None:
                loaded.batcher.configure(max_batch_size=spec["max_batch_size"], max_wait_ms=spec["max_wait_ms"])
                return loaded, load_ms
        raise RuntimeError("the model cache is too small to keep this model loaded")

    def infer(
        self,
        spec: dict,
        request: dict,
        *,
        emit: Callable[[dict], None] | None = None,
        is_cancelled: Callable[[], bool] | None = None,
    ) -> dict:
        """Run one request to completion; the reply of the contract (see the module docstring)."""
        request = validate_request(request)
        deadline = request["deadline"]
        stream = request["stream"] and spec.get("task") in GENERATIVE
        try:
            if deadline is not None and time.time() > deadline:
                raise TimeoutError("the request timed out before it could run")
            loaded, load_ms = self.model_for(spec)
            if request["warmup"]:  # a rolling update's warm-up: the commit is loaded (or ValueError); no inference
                return {"outputs": None, "usage": {}, "load_ms": round(load_ms, 3), "batch_size": 0, "warmup": True}
            task = loaded.task
            prepare = generation.prepare if task in GENERATIVE else encoders.prepare
            payload = prepare(loaded, request["inputs"], request["parameters"])
            if task in GENERATIVE:
                payload.emit = emit if stream else None
                payload.is_cancelled = is_cancelled
                payload.deadline = deadline
            future = loaded.batcher.submit(payload, deadline=deadline)
            wait = None if deadline is None else max(0.0, deadline - time.time()) + 5.0
            try:
                result = future.result(timeout=wait)
            except TimeoutError:
                future.cancel()
                raise TimeoutError("the request timed out") from None
        except BaseException as exc:
            if stream and emit is not None:
                emit({"type": "error", "message": user_message(exc)})
            raise
        reply = {
            "outputs": result["outputs"],
            "usage": result["usage"],
            "load_ms": round(load_ms, 3),
            "batch_size": result["batch_size"],
        }
        if "finish_reason" in result:
            reply["finish_reason"] = result["finish_reason"]
            if stream and emit is not None:
                emit({"type": "done", "finish_reason": result["finish_reason"], "usage": result["usage"]})
        return reply

    def infer_many(self, spec: dict, requests: list) -> list[dict]:
        """Several non-streaming requests for one model, sent together by a web process (hub.endpoints.coalesce).

        All are submitted to the batcher before any is awaited, so they share forward passes. One result per
        request, in order: {"ok": <the reply infer() returns>} or {"error": {"type", "message"}}, so that one bad
        input fails alone. Streaming requests are refused here (they need their own task and event channel).
        """
        if not isinstance(requests, list) or not requests:
            raise ValueError("'requests' must be a non-empty list")
        try:
            loaded, load_ms = self.model_for(spec)
        except BaseException as exc:
            return [_failure(exc)] * len(requests)
        prepare = generation.prepare if loaded.task in GENERATIVE else encoders.prepare
        out: list[dict | None] = [None] * len(requests)
        payloads, deadlines, slots = [], [], []
        for i, raw in enumerate(requests):
            try:
                request = validate_request(raw)
                if request["stream"]:
                    raise ValueError("a streaming request cannot be sent in a group")
                if request["deadline"] is not None and time.time() > request["deadline"]:
                    raise TimeoutError("the request timed out before it could run")
                if request["warmup"]:
                    out[i] = {"ok": {"outputs": None, "usage": {}, "load_ms": round(load_ms, 3), "batch_size": 0}}
                    continue
                payload = prepare(loaded, request["inputs"], request["parameters"])
                if loaded.task in GENERATIVE:
                    payload.emit, payload.is_cancelled, payload.deadline = None, None, request["deadline"]
                payloads.append(payload)
                deadlines.append(request["deadline"])
                slots.append(i)
            except Exception as exc:
                out[i] = _failure(exc)
        futures = loaded.batcher.submit_many(payloads, deadlines=deadlines) if payloads else []
        for i, future, deadline in zip(slots, futures, deadlines, strict=True):
            wait = None if deadline is None else max(0.0, deadline - time.time()) + 5.0
            try:
                result = future.result(timeout=wait)
            except TimeoutError:
                future.cancel()
                out[i] = _failure(TimeoutError("the request timed out"))
                continue
            except Exception as exc:
                out[i] = _failure(exc)
                continue
            reply = {"outputs": result["outputs"], "usage": result["usage"], "load_ms": round(load_ms, 3),
                     "batch_size": result["batch_size"]}  # fmt: skip
            if "finish_reason" in result:
                reply["finish_reason"] = result["finish_reason"]
            out[i] = {"ok": reply}
        return out


def _failure(exc: BaseException) -> dict:
    """One request's error in infer_many's results: ValueError and TimeoutError keep their (safe) message."""
    kind = "ValueError" if isinstance(exc, ValueError) else "TimeoutError" if isinstance(exc, TimeoutError) else ""
    if not kind:
        log.error("inference failed", exc_info=exc)
    return {"error": {"type": kind or "RuntimeError", "message": user_message(exc)}}


def user_message(exc: BaseException) -> str:
    if isinstance(exc, ValueError | TimeoutError):
        return str(exc) or type(exc).__name__
    return "the model failed to run this request"


def validate_spec(spec: Any) -> dict:
    if not isinstance(spec, dict):
        raise ValueError("spec must be an object")
    out = dict(spec)
    for name in ("repo_id", "commit", "task"):
        if not isinstance(out.get(name), str) or not out[name]:
            raise ValueError(f"spec.{name} is required")
    if out["task"] not in TASKS:
        raise ValueError(f"unknown task {out['task']!r}; expected one of {', '.join(TASKS)}")
    out["max_batch_size"] = _int(out.get("max_batch_size", 32), "max_batch_size", 1, 1024)
    out["max_wait_ms"] = _int(out.get("max_wait_ms", 5), "max_wait_ms", 0, 10_000)
    return out


def validate_request(request: Any) -> dict:
    if not isinstance(request, dict):
        raise ValueError("the request must be an object")
    if "inputs" not in request:
        raise ValueError("'inputs' is required")
    parameters = request.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ValueError("'parameters' must be an object")
    deadline = request.get("deadline")
    if deadline is not None and not isinstance(deadline, int | float):
        raise ValueError("'deadline' must be a unix time")
    return {
        "id": str(request.get("id") or ""),
        "inputs": request["inputs"],
        "parameters": parameters,
        "stream": bool(request.get("stream", False)),
        "warmup": request.get("warmup") is True,
        "deadline": float(deadline) if deadline is not None else None,
    }


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}")
    return value
