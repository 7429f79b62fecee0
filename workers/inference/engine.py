"""The serving engine: loaded models (an LRU by repo@commit/task, bounded by memory), per-task runners, batching.

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


def pick_device() -> tuple[torch.device, torch.dtype]:
    """CUDA in bfloat16 (float16 where bf16 is unsupported) when there is a GPU, else the CPU in float32."""
    if torch.cuda.is_available():
        return torch.device("cuda"), torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.device("cpu"), torch.float32


def load(folder: Path, task: str, *, key=("", "", ""), device: torch.device | None = None, dtype=None) -> Loaded:
    """Load the model in `folder` for `task`; ValueError (safe to show) when it does not fit the task."""
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
    model_class = generation.model_class() if task in GENERATIVE else encoders.model_class(task)
    try:
        model, loading = model_class.from_pretrained(
            folder, local_files_only=True, dtype=dtype, output_loading_info=True
        )
    except Exception as exc:
        raise ValueError(f"the model could not be loaded for {task}: {exc}") from None
    missing = [k for k in loading.get("missing_keys", ()) if not k.endswith(("position_ids", "lm_head.weight"))]
    if missing and task != "feature-extraction":
        raise ValueError(f"the model has no trained {task} head (missing weights such as {missing[0]})")
    model.to(device).eval()
    info = (
        generation.model_info(model, tokenizer, folder, task)
        if task in GENERATIVE
        else encoders.model_info(model, tokenizer, folder, task)
    )
    nbytes = sum(t.numel() * t.element_size() for t in model.parameters()) + sum(
        t.numel() * t.element_size() for t in model.buffers()
    )
    load_ms = (time.perf_counter() - started) * 1000
    return Loaded(key, task, model, tokenizer, device, nbytes, load_ms, info)


class ModelCache:
    """Loaded models by (repo_id, commit, task), least recently used evicted past `max_bytes` (parameter bytes).

    Loads of one key are serialised (concurrent first requests load once); loads of different keys run in parallel.
    The model just loaded is always kept, even alone over the bound.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._models: OrderedDict[tuple, Loaded] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple, threading.Lock] = {}

    def get(self, key: tuple, loader: Callable[[], Loaded]) -> tuple[Loaded, float]:
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
            if gone.batcher is not None:
                gone.batcher.close()  # its queued requests still run, then the model is freed
            log.info("evicted %s@%s (%s) from the model cache", gone.key[0], gone.key[1][:8], gone.task)

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
        key = (spec["repo_id"], spec["commit"], spec["task"])

        def loader() -> Loaded:
            loaded = load(self.resolve(spec), spec["task"], key=key, device=self.device, dtype=self.dtype)
            runner = generation.run_batch if spec["task"] in GENERATIVE else encoders.run_batch
            loaded.batcher = Batcher(
                lambda items, loaded=loaded: runner(loaded, items),
                max_batch_size=spec["max_batch_size"],
                max_wait_ms=spec["max_wait_ms"],
                name=f"{key[0]}@{key[1][:8]}",
            )
            return loaded

        loaded, load_ms = self.cache.get(key, loader)
        loaded.batcher.configure(max_batch_size=spec["max_batch_size"], max_wait_ms=spec["max_wait_ms"])
        return loaded, load_ms

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
        "deadline": float(deadline) if deadline is not None else None,
    }


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}")
    return value
