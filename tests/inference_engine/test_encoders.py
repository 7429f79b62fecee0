"""Encoder tasks through the engine, in the HF inference API shapes, with their usage."""

from __future__ import annotations

import math
import time

import pytest

from tests.inference_engine.conftest import spec_for


def infer(engine, task, inputs, parameters=None, **kw):
    return engine.infer(spec_for(task, **kw), {"id": "r", "inputs": inputs, "parameters": parameters or {}})


def test_feature_extraction_returns_one_unit_vector_per_input(engine, tiny_models):
    import torch
    from transformers import AutoModel, AutoTokenizer

    reply = infer(engine, "feature-extraction", ["a short sentence", "another, somewhat longer sentence here"])
    vectors = reply["outputs"]
    assert len(vectors) == 2 and len(vectors[0]) == 32
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-4) for v in vectors)
    # The same as the sentence-transformers recipe (mean over real tokens, then L2), padding notwithstanding.
    tokenizer = AutoTokenizer.from_pretrained(tiny_models["embed"])
    model = AutoModel.from_pretrained(tiny_models["embed"]).eval()
    with torch.no_grad():
        alone = model(**tokenizer(["a short sentence"], return_tensors="pt")).last_hidden_state.mean(1)
    expected = torch.nn.functional.normalize(alone, dim=1)[0]
    assert torch.allclose(torch.tensor(vectors[0]), expected, atol=1e-5)
    assert reply["usage"]["input_tokens"] == 5 + 8 and reply["usage"]["output_tokens"] == 0
    assert reply["usage"]["compute_ms"] > 0 and reply["batch_size"] == 1


def test_a_single_string_is_a_list_of_one(engine):
    assert len(infer(engine, "feature-extraction", "hello")["outputs"]) == 1


def test_first_request_reports_load_time_then_warm(tiny_models):
    import torch

    from workers.inference.engine import Engine

    cold = Engine(resolve=lambda spec: tiny_models["embed"], device=torch.device("cpu"))
    first = cold.infer(spec_for("feature-extraction"), {"inputs": "x"})
    second = cold.infer(spec_for("feature-extraction"), {"inputs": "x"})
    assert first["load_ms"] > 0 and second["load_ms"] == 0


def test_text_classification_ranks_every_label(engine):
    reply = infer(engine, "text-classification", ["I love it", "I hate it"])
    for ranking in reply["outputs"]:
        assert {r["label"] for r in ranking} == {"negative", "neutral", "positive"}
        assert math.isclose(sum(r["score"] for r in ranking), 1.0, rel_tol=1e-5)
        assert ranking == sorted(ranking, key=lambda r: -r["score"])
    top = infer(engine, "text-classification", "fine", {"top_k": 1})["outputs"][0]
    assert len(top) == 1


def test_fill_mask_offers_top_k_tokens_in_the_sentence(engine):
    reply = infer(engine, "fill-mask", "paris is the [MASK] of france.", {"top_k": 3})
    candidates = reply["outputs"][0]
    assert len(candidates) == 3
    for c in candidates:
        assert set(c) == {"score", "token", "token_str", "sequence"}
        assert c["sequence"].startswith("paris is the") and "[MASK]" not in c["sequence"]


def test_fill_mask_needs_exactly_one_mask(engine):
    with pytest.raises(ValueError, match="exactly once"):
        infer(engine, "fill-mask", "no mask here")


def test_token_classification_groups_entities_with_offsets(engine):
    text = "alice lives in paris"
    entities = infer(engine, "token-classification", text, {"ignore_labels": []})["outputs"][0]
    assert entities, "with no label ignored every token belongs to a group"
    for e in entities:
        assert set(e) == {"entity_group", "score", "word", "start", "end"}
        assert e["word"] == text[e["start"] : e["end"]]
        assert e["entity_group"] in {"O", "PER", "LOC"}


@pytest.mark.parametrize(
    ("task", "inputs", "parameters", "message"),
    [
        ("feature-extraction", 42, {}, "string or a non-empty list"),
        ("feature-extraction", [], {}, "string or a non-empty list"),
        ("feature-extraction", ["ok", None], {}, "string or a non-empty list"),
        ("text-classification", "x", {"top_k": 0}, "top_k"),
        ("text-classification", "x", {"function_to_apply": "tanh"}, "function_to_apply"),
        ("token-classification", "x", {"aggregation_strategy": "max"}, "aggregation_strategy"),
    ],
)
def test_bad_input_is_a_value_error_with_a_message(engine, task, inputs, parameters, message):
    with pytest.raises(ValueError, match=message):
        infer(engine, task, inputs, parameters)


def test_bad_spec_and_request_are_value_errors(engine):
    with pytest.raises(ValueError, match="unknown task"):
        engine.infer({**spec_for("feature-extraction"), "task": "summarization"}, {"inputs": "x"})
    with pytest.raises(ValueError, match="inputs"):
        engine.infer(spec_for("feature-extraction"), {"parameters": {}})
    with pytest.raises(ValueError, match="parameters"):
        engine.infer(spec_for("feature-extraction"), {"inputs": "x", "parameters": [1]})


def test_a_model_without_the_task_head_is_refused(engine):
    with pytest.raises(ValueError, match="no trained text-classification head"):
        infer(engine, "text-classification", "x", repo="embed")


def test_an_expired_request_is_dropped_unrun(engine):
    with pytest.raises(TimeoutError):
        engine.infer(spec_for("feature-extraction"), {"inputs": "x", "deadline": time.time() - 1})


def test_concurrent_requests_share_a_forward_pass_and_get_their_own_answers(engine):
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"sentence number {i} " + "word " * i for i in range(16)]
    alone = [infer(engine, "feature-extraction", t)["outputs"][0] for t in texts]
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda t: infer(engine, "feature-extraction", t, max_batch_size=16), texts))
    assert max(r["batch_size"] for r in replies) > 1
    for reply, expected in zip(replies, alone, strict=True):
        assert all(abs(a - b) < 1e-5 for a, b in zip(reply["outputs"][0], expected, strict=True))
