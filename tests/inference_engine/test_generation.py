"""Text generation and chat: sampling parameters, stop strings, streaming events, cancellation, batching."""

from __future__ import annotations

import threading
import time

import pytest

from tests.inference_engine.conftest import spec_for

HELLO = [{"role": "user", "content": "hello there"}]


def generate(engine, task="text-generation", inputs="once upon a time", parameters=None, **request):
    return engine.infer(spec_for(task), {"id": "g", "inputs": inputs, "parameters": parameters or {}, **request})


def test_greedy_is_deterministic_and_counts_tokens(engine):
    first = generate(engine, parameters={"max_new_tokens": 6})
    again = generate(engine, parameters={"max_new_tokens": 6})
    assert first["outputs"] == again["outputs"]
    assert first["outputs"][0]["generated_text"]
    assert first["usage"]["input_tokens"] == 6  # [CLS] once upon a time [SEP]
    assert first["usage"]["output_tokens"] <= 6
    assert first["finish_reason"] in ("length", "stop")


def test_max_tokens_ends_with_length(engine):
    reply = generate(engine, parameters={"max_tokens": 3, "temperature": 1.0, "seed": 1})
    assert reply["usage"]["output_tokens"] == 3 and reply["finish_reason"] == "length"


def test_a_seed_reproduces_a_sample_and_another_seed_differs(engine):
    params = {"max_new_tokens": 12, "temperature": 1.5, "top_p": 0.95, "seed": 7}
    a = generate(engine, parameters=params)["outputs"][0]["generated_text"]
    b = generate(engine, parameters=params)["outputs"][0]["generated_text"]
    c = generate(engine, parameters={**params, "seed": 8})["outputs"][0]["generated_text"]
    assert a == b and a != c


def test_return_full_text_prepends_the_prompt(engine):
    reply = generate(engine, parameters={"max_new_tokens": 2, "return_full_text": True})
    assert reply["outputs"][0]["generated_text"].startswith("once upon a time")


def test_a_stop_string_cuts_the_text_and_ends_with_stop(engine):
    text = generate(engine, parameters={"max_new_tokens": 8, "temperature": 1.0, "seed": 3})["outputs"][0]
    text = text["generated_text"]
    stop = text.strip().split(" ")[1][:3]  # a piece of the second word it would write
    reply = generate(engine, parameters={"max_new_tokens": 8, "temperature": 1.0, "seed": 3, "stop": [stop]})
    assert reply["finish_reason"] == "stop"
    assert reply["outputs"][0]["generated_text"] == text[: text.find(stop)]


def test_chat_applies_the_template_and_streams_tokens_then_done(engine):
    events = []
    reply = engine.infer(
        spec_for("chat"),
        {"id": "c", "inputs": HELLO, "parameters": {"max_tokens": 5}, "stream": True},
        emit=events.append,
    )
    assert reply["outputs"]["message"]["role"] == "assistant"
    tokens = [e for e in events if e["type"] == "token"]
    assert [e["type"] for e in events[len(tokens) :]] == ["done"]
    assert "".join(e["text"] for e in tokens) == reply["outputs"]["message"]["content"]
    assert events[-1]["usage"] == reply["usage"] and events[-1]["finish_reason"] in ("stop", "length")
    # [CLS] [ user ] hello there [ assistant ] [SEP]: the template's text, tokenised once.
    assert reply["usage"]["input_tokens"] > 5


def test_streaming_holds_back_a_possible_stop_string_and_never_sends_it(engine):
    plain = generate(engine, "chat", HELLO, {"max_tokens": 8, "temperature": 1.0, "seed": 5})
    content = plain["outputs"]["message"]["content"]
    stop = content[len(content) // 2 : len(content) // 2 + 2]
    events = []
    engine.infer(
        spec_for("chat"),
        {"inputs": HELLO, "parameters": {"max_tokens": 8, "temperature": 1.0, "seed": 5, "stop": stop},
         "stream": True, "id": "s"},
        emit=events.append,
    )  # fmt: skip
    streamed = "".join(e["text"] for e in events if e["type"] == "token")
    assert streamed == content[: content.find(stop)] and stop not in streamed


def test_a_cancelled_stream_stops_generating(engine, monkeypatch):
    from workers.inference import generation

    monkeypatch.setattr(generation, "CANCEL_CHECK_S", 0.0)
    events, cancelled = [], threading.Event()

    def emit(event):
        events.append(event)
        cancelled.set()  # the client goes away after the first token

    reply = engine.infer(
        spec_for("chat"),
        {"id": "x", "inputs": HELLO, "parameters": {"max_tokens": 200, "temperature": 1.0, "seed": 1}, "stream": True},
        emit=emit,
        is_cancelled=cancelled.is_set,
    )
    assert reply["finish_reason"] == "cancelled" and reply["usage"]["output_tokens"] < 5


def test_a_deadline_passing_mid_generation_is_an_error_event(engine):
    events = []
    with pytest.raises(TimeoutError):
        engine.infer(
            spec_for("chat"),
            {"id": "d", "inputs": HELLO, "parameters": {"max_tokens": 250, "temperature": 1.0, "seed": 1},
             "stream": True, "deadline": time.time() + 0.05},
            emit=lambda e: (events.append(e), time.sleep(0.01)),
        )  # fmt: skip
    assert events[-1]["type"] == "error" and "timed out" in events[-1]["message"]


@pytest.mark.parametrize(
    ("task", "inputs", "parameters", "message"),
    [
        ("chat", "not a list", {}, "list of messages"),
        ("chat", [{"role": "wizard", "content": "x"}], {}, "role"),
        ("chat", [{"role": "user", "content": 3}], {}, "content"),
        ("chat", HELLO, {"temperature": -1}, "temperature"),
        ("chat", HELLO, {"top_p": 0}, "top_p"),
        ("chat", HELLO, {"max_tokens": 0}, "max_tokens"),
        ("chat", HELLO, {"stop": [""]}, "stop"),
        ("chat", HELLO, {"seed": "abc"}, "seed"),
        ("text-generation", ["a list"], {}, "non-empty string"),
        ("text-generation", "x " * 400, {}, "context"),
    ],
)
def test_bad_generation_input_is_a_value_error(engine, task, inputs, parameters, message):
    with pytest.raises(ValueError, match=message):
        generate(engine, task, inputs, parameters)


def test_a_bad_streaming_request_ends_its_stream_with_an_error_event(engine):
    events = []
    with pytest.raises(ValueError):
        engine.infer(spec_for("chat"), {"id": "b", "inputs": "nope", "stream": True}, emit=events.append)
    assert events == [{"type": "error", "message": events[0]["message"]}] and "messages" in events[0]["message"]


def test_chat_needs_a_chat_template(engine):
    with pytest.raises(ValueError, match="chat template"):
        engine.infer(spec_for("chat", repo="llm-plain"), {"inputs": HELLO})


def test_concurrent_generations_are_batched_and_match_their_solo_output(engine):
    from concurrent.futures import ThreadPoolExecutor

    prompts = ["once upon a time", "the weather today", "a b c d e f g", "hello"]
    params = [{"max_new_tokens": 4 + i, "temperature": 1.0, "seed": i} for i in range(len(prompts))]
    solo = [generate(engine, inputs=p, parameters=q)["outputs"] for p, q in zip(prompts, params, strict=True)]
    blocker = threading.Event()
    # Hold the model busy so the four requests queue up and run as one batch.
    loaded, _ = engine.model_for(spec_for("text-generation"))
    hold = loaded.batcher.submit(_Hold(blocker))
    while not hold.running():
        time.sleep(0.001)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(generate, engine, "text-generation", p, q) for p, q in zip(prompts, params, strict=True)]
        time.sleep(0.3)
        blocker.set()
        replies = [f.result() for f in futures]
    hold.exception()
    assert [r["batch_size"] for r in replies] == [4] * 4
    assert [r["outputs"] for r in replies] == solo


class _Hold:
    """A payload that keeps the batcher thread busy until released (it fails: it is no real request)."""

    def __init__(self, event):
        self.event = event

    def __getattr__(self, name):
        self.event.wait(10)
        raise RuntimeError("hold")
