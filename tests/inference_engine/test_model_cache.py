"""The engine's model cache holds loaded weights, not tasks: tasks loading the same model class share one copy."""

from __future__ import annotations

import pytest

from tests.inference_engine.conftest import spec_for

HELLO = [{"role": "user", "content": "hello"}]


def cached(engine) -> list[tuple]:
    """The cache's keys, least recently used first: (repo_id, commit, model class, dtype, device)."""
    return engine.cache.keys()


@pytest.fixture
def counting_engine(tiny_models):
    """A fresh engine (own cache) whose resolver records every load: engine(cache_bytes=…) → (engine, loads)."""
    import torch

    from workers.inference.engine import Engine

    def make(cache_bytes: int | None = None):
        loads: list[str] = []

        def resolve(spec):
            loads.append(spec["repo_id"])
            return tiny_models[spec["repo_id"].split("/", 1)[1]]

        engine = Engine(resolve=resolve, device=torch.device("cpu"), cache_bytes=cache_bytes or 4 * 1024**3)
        return engine, loads

    return make


def test_chat_and_text_generation_on_one_model_share_one_copy(counting_engine):
    engine, loads = counting_engine()
    generated = engine.infer(spec_for("text-generation"), {"inputs": "hello", "parameters": {"max_new_tokens": 3}})
    chatted = engine.infer(spec_for("chat"), {"inputs": HELLO, "parameters": {"max_new_tokens": 3}})
    assert loads == ["tiny/llm"]
    assert generated["load_ms"] > 0 and chatted["load_ms"] == 0  # the second task found the weights warm
    text, _ = engine.model_for(spec_for("text-generation"))
    chat, _ = engine.model_for(spec_for("chat"))
    assert text.model is chat.model and text.batcher is not chat.batcher
    assert chat.info["eos"] >= text.info["eos"]  # each task keeps its own settings (chat adds its end tokens)
    assert len(engine.cache.keys()) == 1 and engine.cache.total_bytes() == text.nbytes  # counted once


def test_tasks_with_different_model_classes_load_their_own_copies(counting_engine):
    engine, loads = counting_engine()
    engine.infer(spec_for("feature-extraction", repo="llm"), {"inputs": "hello"})
    engine.infer(spec_for("text-generation"), {"inputs": "hello", "parameters": {"max_new_tokens": 2}})
    assert loads == ["tiny/llm", "tiny/llm"] and len(engine.cache.keys()) == 2
    assert {key[2] for key in cached(engine)} == {"AutoModel", "AutoModelForCausalLM"}


def test_a_task_the_model_cannot_serve_fails_without_breaking_the_shared_copy(counting_engine):
    engine, loads = counting_engine()
    engine.infer(spec_for("text-generation", repo="llm-plain"), {"inputs": "hi", "parameters": {"max_new_tokens": 2}})
    with pytest.raises(ValueError, match="chat template"):
        engine.infer(spec_for("chat", repo="llm-plain"), {"inputs": HELLO})
    reply = engine.infer(
        spec_for("text-generation", repo="llm-plain"), {"inputs": "hi", "parameters": {"max_new_tokens": 2}}
    )
    assert reply["usage"]["output_tokens"] >= 1 and loads == ["tiny/llm-plain"]


def test_eviction_unloads_the_shared_copy_for_every_task_and_reloads_on_demand(counting_engine):
    probe, _ = counting_engine()
    llm_bytes = probe.model_for(spec_for("chat"))[0].nbytes
    embed_bytes = probe.model_for(spec_for("feature-extraction"))[0].nbytes
    engine, loads = counting_engine(cache_bytes=llm_bytes + embed_bytes - 1)  # room for one model at a time
    text, _ = engine.model_for(spec_for("text-generation"))
    chat, _ = engine.model_for(spec_for("chat"))
    engine.model_for(spec_for("feature-extraction"))  # the llm copy, least recently used, goes
    assert [key[0] for key in cached(engine)] == ["tiny/embed"]
    with pytest.raises(RuntimeError, match="unloaded"):
        text.batcher.submit(object())
    with pytest.raises(RuntimeError, match="unloaded"):
        chat.batcher.submit(object())
    reply = engine.infer(spec_for("chat"), {"inputs": HELLO, "parameters": {"max_new_tokens": 2}})
    assert reply["load_ms"] > 0 and loads == ["tiny/llm", "tiny/embed", "tiny/llm"]
    assert [key[0] for key in cached(engine)] == ["tiny/llm"]
    assert engine.cache.total_bytes() == llm_bytes
