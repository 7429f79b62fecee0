"""Native REST API: endpoint lifecycle, validation and permissions (no worker: endpoints wait in `pending`)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def repo(make_repo, alice):
    return make_repo(alice, "minilm", files={"config.json": b"{}"})


def test_create_get_list_scale_pause_resume_delete(alice_api, repo):
    created = alice_api.post(
        "/api/v1/endpoints",
        {"model": "alice/minilm", "task": "feature-extraction", "min_replicas": 0, "max_replicas": 2,
         "idle_timeout_s": 60, "max_batch_size": 16, "max_wait_ms": 3},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["name"] == "alice/minilm"
    assert body["commit"] == repo.head_sha
    assert body["state"] == "pending"
    assert body["queue"] == "inference.alice-minilm"
    assert body["url"].endswith("/endpoints/alice/minilm")
    assert body["events"][0]["message"].startswith("created for alice/minilm@")

    assert alice_api.get("/api/v1/endpoints").json()["results"][0]["name"] == "alice/minilm"
    detail = alice_api.get("/api/v1/endpoints/alice/minilm").json()
    assert detail["traffic"]["requests"] == 0

    scaled = alice_api.post(
        "/api/v1/endpoints/alice/minilm/scale", {"min_replicas": 1, "max_replicas": 3}, format="json"
    )
    assert scaled.status_code == 200
    assert (scaled.json()["min_replicas"], scaled.json()["max_replicas"]) == (1, 3)

    paused = alice_api.post("/api/v1/endpoints/alice/minilm/pause")
    assert paused.json()["state"] == "paused"
    resumed = alice_api.post("/api/v1/endpoints/alice/minilm/resume")
    assert resumed.json()["state"] == "pending"
    kinds = [e["message"] for e in alice_api.get("/api/v1/endpoints/alice/minilm/events").json()["results"]]
    assert "paused" in kinds and "resumed" in kinds

    assert alice_api.delete("/api/v1/endpoints/alice/minilm").status_code == 204
    assert alice_api.get("/api/v1/endpoints/alice/minilm").status_code == 404


def test_update_revision_of_an_idle_endpoint_switches_at_once(alice, alice_api, repo, make_endpoint):
    from hub.registry.services.commits import AddFile, create_commit

    endpoint = make_endpoint(alice, repo)
    old = endpoint.commit_sha
    create_commit(repo=repo, author=alice, operations=[AddFile(path="x.txt", content=b"x")], title="more")
    response = alice_api.patch("/api/v1/endpoints/alice/minilm", {"revision": "main"}, format="json")
    assert response.status_code == 200
    assert response.json()["commit"] != old
    assert response.json()["pending_commit"] is None


def test_rolling_update_waits_for_the_new_commit(alice, repo, make_endpoint):
    from hub.endpoints import services
    from hub.endpoints.models import State
    from hub.registry.services.commits import AddFile, create_commit

    endpoint = make_endpoint(alice, repo)
    endpoint.state = State.RUNNING
    endpoint.save()
    old = endpoint.commit_sha
    new = create_commit(repo=repo, author=alice, operations=[AddFile(path="y.txt", content=b"y")], title="y")
    services.update_revision(endpoint=endpoint, user=alice, revision="main")
    assert (endpoint.commit_sha, endpoint.pending_commit_sha) == (old, new.sha)
    services.finish_rolling_update(endpoint, new.sha, ok=True)
    endpoint.refresh_from_db()
    assert (endpoint.commit_sha, endpoint.pending_commit_sha) == (new.sha, "")


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"model": "alice/minilm", "task": "translation"}, "task must be one of"),
        ({"model": "alice/minilm", "task": "fill-mask", "min_replicas": 3, "max_replicas": 1}, "min_replicas"),
        ({"model": "alice/minilm", "task": "fill-mask", "max_replicas": 99}, "max_replicas"),
        ({"model": "alice/minilm", "task": "fill-mask", "max_batch_size": "x"}, "max_batch_size"),
        ({"model": "alice/minilm", "task": "fill-mask", "hardware": "tpu"}, "hardware"),
        ({"model": "alice/minilm", "task": "fill-mask", "name": "bad name"}, "endpoint name"),
        ({"model": "nope"}, "model"),
        ({"model": "alice/minilm"}, "'task' is required"),
    ],
)
def test_bad_fields_are_400(alice_api, repo, payload, message):
    response = alice_api.post("/api/v1/endpoints", payload, format="json")
    assert response.status_code == 400, response.json()
    assert message in response.json()["error"]


def test_unknown_revision_is_404(alice_api, repo):
    response = alice_api.post(
        "/api/v1/endpoints", {"model": "alice/minilm", "task": "fill-mask", "revision": "nope"}, format="json"
    )
    assert response.status_code == 404


def test_duplicate_name_is_409(alice_api, repo):
    payload = {"model": "alice/minilm", "task": "feature-extraction"}
    assert alice_api.post("/api/v1/endpoints", payload, format="json").status_code == 201
    assert alice_api.post("/api/v1/endpoints", payload, format="json").status_code == 409


def test_private_model_is_404_for_others(make_repo, alice, make_user, make_token, api, make_endpoint):
    private = make_repo(alice, "secret", files={"config.json": b"{}"}, private=True)
    make_endpoint(alice, private)
    bob = api(make_token(make_user("bob"), "write"))
    assert bob.get("/api/v1/endpoints/alice/secret").status_code == 404
    assert bob.post("/api/v1/endpoints/alice/secret/pause").status_code == 404
    assert (
        bob.post("/api/v1/endpoints", {"model": "alice/secret", "task": "fill-mask"}, format="json").status_code == 404
    )
    assert bob.get("/api/v1/endpoints").json()["results"] == []


def test_managing_needs_write_in_the_namespace_and_a_write_token(
    alice, repo, make_user, make_token, api, make_endpoint
):
    make_endpoint(alice, repo)
    bob = api(make_token(make_user("bob"), "write"))
    # bob may see alice's public endpoint (its model is public) but not change it, nor create one in her namespace.
    assert bob.get("/api/v1/endpoints/alice/minilm").status_code == 200
    assert bob.post("/api/v1/endpoints/alice/minilm/pause").status_code == 403
    assert bob.delete("/api/v1/endpoints/alice/minilm").status_code == 403
    created = bob.post(
        "/api/v1/endpoints", {"model": "alice/minilm", "task": "fill-mask", "namespace": "alice", "name": "x"},
        format="json",
    )  # fmt: skip
    assert created.status_code == 403
    # … but he may deploy alice's public model in his own namespace.
    mine = bob.post(
        "/api/v1/endpoints", {"model": "alice/minilm", "task": "fill-mask", "namespace": "bob"}, format="json"
    )
    assert mine.status_code == 201 and mine.json()["name"] == "bob/minilm"
    reader = api(make_token(alice, "read"))
    assert reader.post("/api/v1/endpoints/alice/minilm/pause").json()["code"] == "read_only_token"
    assert api().get("/api/v1/endpoints").status_code == 401


def test_state_machine_refuses_illegal_moves(alice, repo, make_endpoint):
    from hub.endpoints import services
    from hub.endpoints.models import State

    endpoint = make_endpoint(alice, repo)
    assert not services.transition(endpoint, State.RUNNING)  # pending → running skips initializing
    assert services.transition(endpoint, State.INITIALIZING)
    assert services.transition(endpoint, State.RUNNING)
    assert not services.transition(endpoint, State.PENDING)
    assert endpoint.events.filter(kind="state").count() == 3


def test_reconcile_scales_idle_endpoints_to_zero(alice, repo, make_endpoint):
    import time

    from hub.endpoints import services
    from hub.endpoints.models import State

    endpoint = make_endpoint(alice, repo, idle_timeout_s=60)
    services.transition(endpoint, State.INITIALIZING)
    services.transition(endpoint, State.RUNNING)
    services.reconcile(now=time.time() + 30)
    endpoint.refresh_from_db()
    assert endpoint.state == State.RUNNING
    stats = services.reconcile(now=time.time() + 61)
    endpoint.refresh_from_db()
    assert endpoint.state == State.SCALED_TO_ZERO and stats["scaled_to_zero"] == 1
