"""The real seed models behind endpoints, through the real clients (slow: MiniLM and SmolLM2-135M on CPU)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _files(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def seeded(live_server, serving_worker, alice, make_repo, make_endpoint, make_token, tmp_path):
    from workers.seed import export_minilm, export_smollm

    serving_worker()
    minilm = make_repo(alice, "all-MiniLM-L6-v2", files=_files(export_minilm(tmp_path / "minilm")))
    smol = make_repo(alice, "SmolLM2-135M-Instruct", files=_files(export_smollm(tmp_path / "smol")))
    make_endpoint(alice, minilm, "feature-extraction", name="minilm")
    make_endpoint(alice, smol, "chat", name="smol")
    return {"url": live_server.url, "token": make_token(alice, "read")}


def test_seed_models_answer_through_openai_and_inference_client(seeded):
    import numpy as np
    from huggingface_hub import InferenceClient
    from openai import OpenAI

    client = OpenAI(base_url=f"{seeded['url']}/v1", api_key=seeded["token"], max_retries=0, timeout=300)
    texts = ["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell sharply."]
    vectors = np.array([d.embedding for d in client.embeddings.create(model="alice/minilm", input=texts).data])
    assert vectors.shape == (3, 384)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2

    stream = client.chat.completions.create(
        model="alice/smol", messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=24, temperature=0, stream=True,
    )  # fmt: skip
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert "Paris" in text

    hf = InferenceClient(model=f"{seeded['url']}/endpoints/alice/minilm", token=seeded["token"], timeout=300)
    assert hf.feature_extraction("hello").shape == (1, 384)
