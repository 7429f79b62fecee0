"""The jobs API: validation before anything is queued, permissions, listing, cancel and retry, events."""

import pytest

from tests.jobs.conftest import finetune_body, jsonl, sentiment_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def inputs(bert_repo, sentiment_dataset):
    return bert_repo, sentiment_dataset


def create(client, **overrides):
    return client.post("/api/v1/jobs", finetune_body(**overrides), format="json")


def test_create_pins_inputs_and_queues(inputs, alice_api, django_capture_on_commit_callbacks):
    from hub.jobs.models import Job

    with django_capture_on_commit_callbacks() as callbacks:
        response = create(alice_api)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "queued" and body["kind"] == "finetune"
    assert body["base_model"]["commit"] == inputs[0].head_sha
    assert body["dataset"]["commit"] == inputs[1].head_sha
    assert body["output"]["repo"] == "alice/tiny-bert-sentiment"
    assert body["queue_position"] == 1
    assert body["spec"]["hyperparameters"]["epochs"] == 2
    assert body["spec"]["hyperparameters"]["warmup_ratio"] == 0.06  # defaults filled in
    assert body["spec"]["labels"] == ["neg", "pos"]
    assert len(callbacks) == 1  # the message is sent once the row is committed
    job = Job.objects.get(pk=body["id"])
    assert job.events.filter(kind="status").count() == 1


@pytest.mark.parametrize(
    "overrides, status, needle",
    [
        ({"base_model": "alice/nope"}, 404, "base_model 'alice/nope' not found"),
        ({"base_model": "noslash"}, 400, "owner/name"),
        ({"base_revision": "v9"}, 400, "no revision 'v9'"),
        ({"dataset": "alice/nope"}, 404, "dataset 'alice/nope' not found"),
        ({"task": "translation"}, 400, "task"),
        ({"method": "qlora"}, 400, "method"),
        ({"hyperparameters": {"epochs": 0}}, 400, "epochs"),
        ({"hyperparameters": {"learning_rate": 5}}, 400, "learning_rate"),
        ({"hyperparameters": {"batch_size": 100000}}, 400, "batch_size"),
        ({"hyperparameters": {"epochz": 1}}, 400, "Unknown hyper-parameter(s): epochz"),
        ({"hyperparameters": "fast"}, 400, "hyperparameters must be an object"),
        ({"columns": {"label": "sentiment"}}, 400, "sentiment"),
        ({"train_split": "holdout"}, 400, "holdout"),
        ({"output": "alice/bad name!"}, 400, "name"),
        ({"output": "alice/tiny-bert"}, 400, "output must differ"),
        ({"merge_adapter": True}, 400, "merge_adapter applies to method 'lora'"),
        ({"hardware": "tpu"}, 400, "hardware"),
    ],
)
def test_bad_requests_are_refused_before_queueing(inputs, alice_api, overrides, status, needle):
    from hub.jobs.models import Job

    response = create(alice_api, **overrides)
    assert response.status_code == status, response.content
    assert needle in response.json()["error"], response.json()
    assert not Job.objects.exists()


def test_dataset_content_problems_are_400(alice, make_repo, bert_repo, alice_api):
    one_label = [{"text": f"row {i}", "label": "same"} for i in range(40)]
    make_repo(alice, "one-label", type="dataset", files={"train.jsonl": jsonl(one_label)})
    response = create(alice_api, dataset="alice/one-label")
    assert response.status_code == 400 and "label" in response.json()["error"]
    make_repo(alice, "tiny-data", type="dataset", files={"train.jsonl": jsonl(sentiment_rows(3))})
    response = create(alice_api, dataset="alice/tiny-data")
    assert response.status_code == 400 and "rows" in response.json()["error"]
    make_repo(alice, "no-data", type="dataset", files={"notes.txt": b"hello"})
    response = create(alice_api, dataset="alice/no-data")
    assert response.status_code == 400


def test_base_model_must_be_a_transformers_model(alice, make_repo, sentiment_dataset, alice_api):
    make_repo(alice, "not-a-model", files={"README.md": b"# hi"})
    response = create(alice_api, base_model="alice/not-a-model")
    assert response.status_code == 400 and "config.json" in response.json()["error"]


def test_inputs_are_read_with_the_callers_rights(make_user, make_token, api, make_repo, tiny_bert_files, alice,
                                                 sentiment_dataset):  # fmt: skip
    from hub.registry.models import Repo

    bob = make_user("bob")
    make_repo(bob, "secret-bert", files=tiny_bert_files, private=True)
    response = create(api(make_token(alice)), base_model="bob/secret-bert")
    assert response.status_code == 404 and "secret" in response.json()["error"]  # names only what alice typed
    # Bob cannot train alice's public model into alice's namespace, nor use a read token.
    Repo.objects.filter(full_name="alice/sentiment").update(private=False)
    make_repo(alice, "tiny-bert", files=tiny_bert_files)
    response = create(api(make_token(bob)), output="alice/stolen")
    assert response.status_code == 403
    response = create(api(make_token(alice, "read")))
    assert response.status_code == 403 and response.json()["code"] == "read_only_token"
    assert create(api()).status_code == 401


def test_only_owner_and_org_admins_see_and_cancel(inputs, alice, alice_api, make_user, make_token, api):
    from hub.accounts import services as accounts

    job = create(alice_api).json()
    bob = make_user("bob")
    bob_api = api(make_token(bob))
    assert bob_api.get(f"/api/v1/jobs/{job['id']}").status_code == 404
    assert bob_api.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 404
    assert bob_api.get(f"/api/v1/jobs/{job['id']}/events").status_code == 404
    assert bob_api.get("/api/v1/jobs").json()["count"] == 0
    # An org's admins see the jobs that write into the org; its writers don't.
    org = accounts.create_organisation(name="acme", creator=alice)
    accounts.set_membership(organisation=org, user=bob, role="write")
    org_job = create(alice_api, output="acme/tiny-bert-sentiment").json()
    assert bob_api.get(f"/api/v1/jobs/{org_job['id']}").status_code == 404
    accounts.set_membership(organisation=org, user=bob, role="admin")
    assert bob_api.get(f"/api/v1/jobs/{org_job['id']}").status_code == 200
    assert [j["id"] for j in bob_api.get("/api/v1/jobs").json()["results"]] == [org_job["id"]]
    assert bob_api.post(f"/api/v1/jobs/{org_job['id']}/cancel").json()["status"] == "cancelled"


def test_list_filters_and_queue_positions(inputs, alice_api):
    first = create(alice_api).json()
    second = create(alice_api, output="alice/second").json()
    assert second["queue_position"] == 2
    listing = alice_api.get("/api/v1/jobs?status=queued").json()
    assert [j["id"] for j in listing["results"]] == [second["id"], first["id"]]
    assert alice_api.get("/api/v1/jobs?status=running").json()["count"] == 0
    assert alice_api.get("/api/v1/jobs?status=bogus").status_code == 400
    assert alice_api.get("/api/v1/jobs?kind=finetune&output=alice/second").json()["count"] == 1
    # Two jobs may not write to one output at once.
    response = create(alice_api, output="alice/second")
    assert response.status_code == 409 and response.json()["code"] == "output_busy"


def test_cancel_a_queued_job_and_retry_it(inputs, alice_api):
    job = create(alice_api).json()
    cancelled = alice_api.post(f"/api/v1/jobs/{job['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert alice_api.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 409
    retried = alice_api.post(f"/api/v1/jobs/{job['id']}/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "queued"
    assert alice_api.post(f"/api/v1/jobs/{job['id']}/retry").status_code == 409
    events = alice_api.get(f"/api/v1/jobs/{job['id']}/events").json()["results"]
    assert [e["data"]["status"] for e in events if e["kind"] == "status"] == ["queued", "cancelled", "queued"]


def test_events_paginate_with_after(inputs, alice_api):
    from hub.jobs import services
    from hub.jobs.models import Job

    job_id = create(alice_api).json()["id"]
    services.append_log(job_id, [f"line {i}" for i in range(25)])
    page = alice_api.get(f"/api/v1/jobs/{job_id}/events?kind=log&limit=10").json()
    assert [e["data"]["message"] for e in page["results"]] == [f"line {i}" for i in range(10)]
    second = alice_api.get(page["next"]).json()
    assert second["results"][0]["data"]["message"] == "line 10"
    assert Job.objects.get(pk=job_id).log_tail[-1] == "line 24"
    assert alice_api.get(f"/api/v1/jobs/{job_id}/events?after=x").status_code == 400
    assert alice_api.get("/api/v1/jobs/99999").status_code == 404
    assert alice_api.get(f"/api/v1/jobs/{job_id}/metrics").json()["series"] == {}
