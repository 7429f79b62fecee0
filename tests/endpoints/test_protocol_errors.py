"""Bad requests answer 4xx in each protocol's own error format, and private models stay invisible (no worker)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoints(alice, make_repo, make_endpoint):
    public = make_repo(alice, "minilm", files={"config.json": b"{}"})
    private = make_repo(alice, "secret", files={"config.json": b"{}"}, private=True)
    llm = make_repo(alice, "smol", files={"config.json": b"{}"})
    return {
        "embed": make_endpoint(alice, public),
        "secret": make_endpoint(alice, private),
        "chat": make_endpoint(alice, llm, "chat"),
    }


@pytest.fixture
def bob_api(make_user, make_token, api):
    return api(make_token(make_user("bob"), "read"))


def openai_error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def hf_error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "error_type"} and isinstance(body["error"], str)
    return body


def test_openai_malformed_json_is_400(alice_api, endpoints):
    response = alice_api.post("/v1/chat/completions", data="{nope", content_type="application/json")
    assert openai_error(response, 400)["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "body, param",
    [
        ({"model": "alice/smol"}, "messages"),
        ({"model": "alice/smol", "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"model": "alice/smol", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"model": "alice/smol", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, "max_tokens"),
        ({"model": "alice/smol", "messages": [{"role": "user", "content": "hi"}], "temperature": 9}, "temperature"),
        ({"model": "alice/smol", "messages": [{"role": "user", "content": "hi"}], "stop": [1]}, "stop"),
        ({"model": "alice/smol", "messages": [{"role": "user", "content": "hi"}], "n": 3}, "n"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
    ],
)
def test_openai_bad_chat_fields_are_400_with_param(alice_api, endpoints, body, param):
    error = openai_error(alice_api.post("/v1/chat/completions", body, format="json"), 400)
    assert error["param"] == param


def test_openai_bad_embeddings_input_is_400(alice_api, endpoints):
    error = openai_error(
        alice_api.post("/v1/embeddings", {"model": "alice/minilm", "input": [1, 2]}, format="json"), 400
    )
    assert error["param"] == "input"


def test_openai_unknown_and_private_models_are_404(alice_api, bob_api, endpoints):
    assert (
        openai_error(alice_api.post("/v1/embeddings", {"model": "x/y", "input": "a"}, format="json"), 404)["code"]
        == "model_not_found"
    )
    secret = {"model": "alice/secret", "input": "a"}
    assert openai_error(bob_api.post("/v1/embeddings", secret, format="json"), 404)["code"] == "model_not_found"
    ids = {m["id"] for m in bob_api.get("/v1/models").json()["data"]}
    assert "alice/secret" not in ids and "alice/minilm" in ids
    assert bob_api.get("/v1/models/alice/secret").status_code == 404
    assert "alice/secret" in {m["id"] for m in alice_api.get("/v1/models").json()["data"]}


def test_openai_wrong_task_is_404(alice_api, endpoints):
    response = alice_api.post("/v1/embeddings", {"model": "alice/smol", "input": "a"}, format="json")
    assert "serves chat, not feature-extraction" in openai_error(response, 404)["message"]


def test_openai_anonymous_is_401(api, endpoints):
    response = api().post("/v1/embeddings", {"model": "alice/minilm", "input": "a"}, format="json")
    assert openai_error(response, 401)["type"] == "authentication_error"


def test_hf_malformed_json_is_400_and_bad_inputs_422(alice_api, endpoints):
    assert hf_error(alice_api.post("/endpoints/alice/minilm", data="{", content_type="application/json"), 400)
    assert (
        hf_error(alice_api.post("/endpoints/alice/minilm", {"parameters": {}}, format="json"), 422)["error_type"]
        == "validation"
    )
    assert hf_error(alice_api.post("/endpoints/alice/minilm", {"inputs": [1]}, format="json"), 422)
    bad = {"inputs": "hi", "parameters": {"max_new_tokens": "many"}}
    assert hf_error(alice_api.post("/endpoints/alice/smol", bad, format="json"), 422)
    assert hf_error(alice_api.post("/models/alice/minilm/pipeline/nope", {"inputs": "a"}, format="json"), 422)


def test_hf_private_model_is_404_for_others(bob_api, endpoints):
    assert hf_error(bob_api.post("/endpoints/alice/secret", {"inputs": "a"}, format="json"), 404)
    assert hf_error(bob_api.post("/models/alice/secret", {"inputs": "a"}, format="json"), 404)
    assert openai_error(bob_api.post("/endpoints/alice/secret/v1/chat/completions", {}, format="json"), 404)
    assert bob_api.get("/endpoints/alice/secret").status_code == 404


def test_paused_endpoint_is_503(alice, alice_api, endpoints):
    from hub.endpoints import services

    services.pause(endpoint=endpoints["embed"], user=alice)
    error = openai_error(alice_api.post("/v1/embeddings", {"model": "alice/minilm", "input": "a"}, format="json"), 503)
    assert error["type"] == "server_error" and "paused" in error["message"]
    assert hf_error(alice_api.post("/endpoints/alice/minilm", {"inputs": "a"}, format="json"), 503)


def test_no_serving_worker_is_503(alice_api, endpoints):
    response = alice_api.post("/endpoints/alice/minilm", {"inputs": "a"}, format="json")
    assert "No inference worker" in hf_error(response, 503)["error"]


def test_rate_limit_is_429_with_retry_after(alice, alice_api, endpoints, settings):
    from hub.endpoints import services

    settings.HUB_INFERENCE_RATE_LIMIT = "2/minute"
    services.pause(endpoint=endpoints["embed"], user=alice)
    body = {"model": "alice/minilm", "input": "a"}
    assert alice_api.post("/v1/embeddings", body, format="json").status_code == 503
    assert alice_api.post("/v1/embeddings", body, format="json").status_code == 503
    limited = alice_api.post("/v1/embeddings", body, format="json")
    assert openai_error(limited, 429)["code"] == "rate_limit_exceeded"
    assert 1 <= int(limited["Retry-After"]) <= 60
    hf = alice_api.post("/endpoints/alice/minilm", {"inputs": "a"}, format="json")
    assert hf_error(hf, 429)["error_type"] == "overloaded" and hf["Retry-After"]


def test_rate_limiter_counts_per_key():
    from hub.core import ratelimit

    assert ratelimit.parse_rate("600/minute") == (600, 60)
    assert ratelimit.parse_rate("10/5m") == (10, 300)
    assert ratelimit.parse_rate("") == (0, 0)
    with pytest.raises(ValueError):
        ratelimit.parse_rate("lots")
    key = "test:" + __name__
    ratelimit.check(key, 1, 3600)
    with pytest.raises(ratelimit.RateLimited) as caught:
        ratelimit.check(key, 1, 3600)
    assert caught.value.status == 429 and caught.value.retry_after >= 1
    ratelimit.check(key + ":other", 1, 3600)
