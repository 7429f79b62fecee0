"""Engine.infer_many: a group of requests sent by one web process runs together, each with its own result."""

from __future__ import annotations

import time

from tests.inference_engine.conftest import spec_for


def test_a_group_shares_forward_passes_and_matches_single_requests(engine):
    texts = ["a short sentence", "another, somewhat longer sentence here", "third"]
    group = engine.infer_many(
        spec_for("feature-extraction"), [{"id": str(i), "inputs": t} for i, t in enumerate(texts)]
    )
    assert [sorted(r) for r in group] == [["ok"]] * 3
    assert {r["ok"]["batch_size"] for r in group} == {3}
    for text, reply in zip(texts, group, strict=True):
        alone = engine.infer(spec_for("feature-extraction"), {"id": "x", "inputs": text})
        assert len(reply["ok"]["outputs"]) == 1
        assert max(abs(a - b) for a, b in zip(reply["ok"]["outputs"][0], alone["outputs"][0], strict=True)) < 1e-5
        assert reply["ok"]["usage"]["input_tokens"] == alone["usage"]["input_tokens"]


def test_a_bad_or_expired_request_fails_alone(engine):
    requests = [
        {"id": "good", "inputs": "paris is the [MASK] of france."},
        {"id": "no-mask", "inputs": "no mask here"},
        {"id": "expired", "inputs": "the [MASK] sat.", "deadline": time.time() - 1},
        {"id": "streamed", "inputs": "the [MASK] sat.", "stream": True},
        "not an object",
    ]
    good, no_mask, expired, streamed, garbage = engine.infer_many(spec_for("fill-mask"), requests)
    assert len(good["ok"]["outputs"][0]) == 5
    assert no_mask["error"]["type"] == "ValueError" and "mask" in no_mask["error"]["message"]
    assert expired["error"]["type"] == "TimeoutError"
    assert streamed["error"]["type"] == "ValueError"
    assert garbage["error"]["type"] == "ValueError"


def test_a_model_that_cannot_load_fails_every_request_with_its_message(engine):
    replies = engine.infer_many(spec_for("feature-extraction", repo="missing"), [{"inputs": "a"}, {"inputs": "b"}])
    assert [sorted(r) for r in replies] == [["error"], ["error"]]
    assert replies[0]["error"]["message"] == "the model failed to run this request"  # no internals shown
