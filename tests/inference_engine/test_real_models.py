"""The seed models through the engine (slow: real weights on the CPU)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm_folder(tmp_path_factory):
    from workers.seed import export_smollm

    return export_smollm(tmp_path_factory.mktemp("smollm") / "out")


@pytest.fixture(scope="module")
def real_engine(smollm_folder):
    import torch

    from workers.inference.engine import Engine
    from workers.seed import minilm_source

    torch.set_num_threads(2)
    folders = {"minilm": minilm_source(), "smollm": smollm_folder}
    return Engine(resolve=lambda spec: folders[spec["repo_id"]], device=torch.device("cpu"))


def spec(repo: str, task: str) -> dict:
    return {"endpoint_id": 1, "repo_id": repo, "commit": "0" * 40, "task": task, "owner_id": 1,
            "max_batch_size": 32, "max_wait_ms": 5}  # fmt: skip


def test_minilm_embeddings_rank_similar_sentences_together(real_engine):
    reply = real_engine.infer(
        spec("minilm", "feature-extraction"),
        {"inputs": ["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell today."]},
    )
    a, b, c = reply["outputs"]
    assert len(a) == 384

    def cosine(x, y):
        return sum(i * j for i, j in zip(x, y, strict=True))

    assert cosine(a, b) > 0.6 > cosine(a, c)


def test_smollm_chat_answers_and_streams(real_engine):
    events = []
    reply = real_engine.infer(
        spec("smollm", "chat"),
        {"inputs": [{"role": "user", "content": "What is the capital of France?"}], "parameters": {"max_tokens": 24},
         "stream": True},
        emit=events.append,
    )  # fmt: skip
    content = reply["outputs"]["message"]["content"]
    assert "Paris" in content
    assert "".join(e["text"] for e in events if e["type"] == "token") == content
    assert events[-1]["type"] == "done" and reply["usage"]["input_tokens"] > 20
