"""GET /api/v1/datasets/{owner}/{name}/viewer and /rows: shapes, visibility, pagination and bad input."""

from __future__ import annotations

import pytest

from hub.registry.services.commits import AddFile, create_commit
from tests.datasets.conftest import jsonl, reviews

pytestmark = pytest.mark.django_db

BASE = "/api/v1/datasets/alice/reviews"


def test_viewer(reviews_repo, api, head):
    response = api().get(f"{BASE}/viewer")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["revision"] == head(reviews_repo).sha
    assert body["splits"]["train"] == ["train.jsonl"]
    train = next(f for f in body["files"] if f["path"] == "train.jsonl")
    assert {k: train[k] for k in ("split", "format", "rows", "error")} == {
        "split": "train", "format": "jsonl", "rows": 30, "error": None}  # fmt: skip
    assert train["columns"] == {"text": "string", "label": "int"} and train["preview"][0]["text"] == "review 0"


def test_viewer_at_a_revision(reviews_repo, api, alice, head):
    first = head(reviews_repo).sha
    create_commit(repo=reviews_repo, author=alice, title="drop test",
                  operations=[AddFile(path="train.jsonl", content=jsonl(reviews(3)))])  # fmt: skip
    assert api().get(f"{BASE}/viewer", {"revision": first[:10]}).json()["split_info"]["train"]["rows"] == 30
    assert api().get(f"{BASE}/viewer").json()["split_info"]["train"]["rows"] == 3
    missing = api().get(f"{BASE}/viewer", {"revision": "nope"})
    assert missing.status_code == 404 and missing.json()["code"] == "revision_not_found"


@pytest.mark.parametrize("route", ["viewer", "rows"])
def test_private_dataset_is_404_to_others(alice, make_user, make_token, api, make_dataset, route):
    make_dataset(alice, "secret", private=True, files={"train.jsonl": jsonl(reviews(3))})
    url = f"/api/v1/datasets/alice/secret/{route}"
    bob = make_user("bob")
    for client in (api(), api(make_token(bob, "read"))):
        response = client.get(url)
        assert response.status_code == 404
        assert response.json() == {"error": "Dataset repo alice/secret not found.", "code": "repo_not_found"}
    assert api(make_token(alice, "read")).get(url).status_code == 200


def test_a_model_repo_is_not_found_here(alice, make_repo, api):
    make_repo(alice, "bert", files={"train.jsonl": jsonl(reviews(3))})
    assert api().get("/api/v1/datasets/alice/bert/viewer").status_code == 404


def test_renamed_dataset_redirects(reviews_repo, alice, make_token, api):
    from hub.registry.services.repos import move_repo

    move_repo(repo=reviews_repo, namespace=alice.namespace, name="reviews-v2")
    response = api().get(f"{BASE}/rows?split=test")
    assert response.status_code == 307 and response["Location"] == "/api/v1/datasets/alice/reviews-v2/rows?split=test"


def test_rows_paginated(reviews_repo, api):
    response = api().get(f"{BASE}/rows", {"split": "train", "offset": 10, "limit": 5})
    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["text"] for r in body["rows"]] == [f"review {i}" for i in range(10, 15)]
    assert (body["total"], body["offset"], body["limit"], body["split"]) == (30, 10, 5, "train")
    assert body["columns"] == {"text": "string", "label": "int"}
    assert "offset=15" in body["next"] and response["Link"] == f'<{body["next"]}>; rel="next"'
    last = api().get(f"{BASE}/rows", {"split": "train", "offset": 25, "limit": 100}).json()
    assert len(last["rows"]) == 5 and last["next"] is None
    assert api().get(f"{BASE}/rows", {"split": "train", "offset": 500}).json()["rows"] == []


def test_rows_default_to_train_and_100(alice, make_dataset, api):
    make_dataset(alice, "big", files={"data.jsonl": jsonl(reviews(150))})  # no split name: all is train
    body = api().get("/api/v1/datasets/alice/big/rows").json()
    assert len(body["rows"]) == 100 and body["split"] == "train" and body["total"] == 150


def test_rows_of_parquet_and_csv_splits(reviews_repo, api):
    assert api().get(f"{BASE}/rows", {"split": "test", "limit": 2}).json()["rows"] == [
        {"text": "review 200", "label": 0}, {"text": "review 201", "label": 1}]  # fmt: skip
    assert api().get(f"{BASE}/rows", {"split": "validation", "limit": 1}).json()["rows"] == [
        {"text": "review 100", "label": "0"}]  # fmt: skip


@pytest.mark.parametrize(
    "params, message",
    [({"limit": 101}, "limit must be between 1 and 100."), ({"limit": 0}, "limit must be between 1 and 100."),
     ({"offset": -1}, "offset must be between 0"), ({"offset": "ten"}, "offset must be an integer."),
     ({"split": "dev"}, "Split 'dev' not found in alice/reviews at"),
     ({"split": "../../etc/passwd"}, "File '../../etc/passwd' is not a data file of alice/reviews")],
)  # fmt: skip
def test_rows_bad_input_is_400(reviews_repo, api, params, message):
    response = api().get(f"{BASE}/rows", params)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_unreadable_file_is_a_clear_error(alice, make_dataset, api):
    make_dataset(alice, "bad", files={"train.jsonl": b'{"a": 1}\n[1]\n'})
    viewer = api().get("/api/v1/datasets/alice/bad/viewer").json()
    assert viewer["files"][0]["error"] == "train.jsonl: line 2 is a list, not an object."
    rows = api().get("/api/v1/datasets/alice/bad/rows")
    assert rows.status_code == 400
    assert rows.json() == {"error": "train.jsonl: line 2 is a list, not an object.", "code": "unreadable_data"}


def test_hostile_values_come_back_as_strict_json(alice, make_dataset, api):
    make_dataset(alice, "odd", files={"train.jsonl": b'{"n": NaN, "i": Infinity, "z": "a\\u0000b"}\n'})
    response = api().get("/api/v1/datasets/alice/odd/rows")
    assert response.status_code == 200
    assert response.json()["rows"] == [{"n": "NaN", "i": "Infinity", "z": "a\ufffdb"}]


def test_openapi_schema_lists_the_routes(api):
    schema = api().get("/api/schema/", {"format": "json"}).json()
    assert "/api/v1/datasets/{owner}/{name}/viewer" in schema["paths"]
    assert "/api/v1/datasets/{owner}/{name}/rows" in schema["paths"]
