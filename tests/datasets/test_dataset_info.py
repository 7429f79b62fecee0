"""dataset_info and read_split over real repos: formats, splits, caching per blob, rows across files."""

from __future__ import annotations

import gzip
from unittest import mock

import pytest

from hub.core.errors import Invalid
from hub.datasets import selectors
from hub.datasets.models import TableSummary
from hub.registry import storage
from hub.registry.services.commits import AddFile, create_commit
from tests.datasets.conftest import csv_bytes, jsonl, parquet, reviews

pytestmark = pytest.mark.django_db


def test_every_file_with_its_split_schema_rows_and_preview(reviews_repo, head):
    info = selectors.dataset_info(reviews_repo, head(reviews_repo))
    assert info["revision"] == head(reviews_repo).sha
    assert info["splits"] == {"train": ["train.jsonl"], "validation": ["validation.csv"],
                              "test": ["data/test-00000-of-00001.parquet"]}  # fmt: skip
    files = {f["path"]: f for f in info["files"]}
    assert set(files) == {"train.jsonl", "validation.csv", "data/test-00000-of-00001.parquet"}  # README ignored
    train = files["train.jsonl"]
    assert (train["split"], train["format"], train["rows"], train["error"]) == ("train", "jsonl", 30, None)
    assert train["columns"] == {"text": "string", "label": "int"}
    assert train["preview"][0] == {"text": "review 0", "label": 0} and len(train["preview"]) == 20
    assert files["validation.csv"]["columns"] == {"text": "string", "label": "string"}  # CSV cells are text
    assert files["data/test-00000-of-00001.parquet"]["rows"] == 4
    assert info["split_info"]["train"]["rows"] == 30


def test_second_view_reads_the_cache_not_the_blobs(reviews_repo, head, django_assert_max_num_queries):
    commit = head(reviews_repo)
    with mock.patch.object(storage, "open_blob", wraps=storage.open_blob) as opened:
        selectors.dataset_info(reviews_repo, commit)
        assert opened.call_count == 3
        opened.reset_mock()
        with django_assert_max_num_queries(1):
            again = selectors.dataset_info(reviews_repo, commit)
        assert opened.call_count == 0
    assert again["split_info"]["test"]["rows"] == 4
    assert TableSummary.objects.count() == 3


def test_same_content_under_two_names_is_summarised_once(alice, make_dataset, head):
    data = jsonl(reviews(5))
    repo = make_dataset(alice, "twins", files={"train.jsonl": data, "test.jsonl": data})
    info = selectors.dataset_info(repo, head(repo))
    assert [f["rows"] for f in info["files"]] == [5, 5]
    assert TableSummary.objects.count() == 1


def test_unreadable_file_reports_its_error_with_its_own_path(alice, make_dataset, head):
    bad = b'{"text": "ok"}\n{"text": \n'
    repo = make_dataset(alice, "broken", files={"train.jsonl": bad, "test.jsonl": bad})
    info = selectors.dataset_info(repo, head(repo))
    errors = {f["path"]: f["error"] for f in info["files"]}
    assert errors["train.jsonl"] == "train.jsonl: line 2: malformed JSON (Expecting value at column 10)."
    assert errors["test.jsonl"].startswith("test.jsonl: line 2")  # cached once, named per path
    assert info["split_info"]["train"]["errors"] == [errors["train.jsonl"]]


def test_hostile_values_are_stored_safely(alice, make_dataset, head):
    rows = b'{"t\\u0000x": "a\\u0000b", "s": "\\ud800", "n": NaN}\n'
    repo = make_dataset(alice, "odd", files={"train.jsonl": rows})
    info = selectors.dataset_info(repo, head(repo))  # Postgres refuses NUL and lone surrogates: must not raise
    assert info["files"][0]["preview"] == [{"t\ufffdx": "a\ufffdb", "s": "?", "n": "NaN"}]


def test_revisions_are_read_as_they_were(reviews_repo, head, alice):
    first = head(reviews_repo)
    create_commit(repo=reviews_repo, author=alice, title="more",
                  operations=[AddFile(path="train.jsonl", content=jsonl(reviews(50)))])  # fmt: skip
    assert selectors.dataset_info(reviews_repo, first)["split_info"]["train"]["rows"] == 30
    assert selectors.dataset_info(reviews_repo, head(reviews_repo))["split_info"]["train"]["rows"] == 50


def test_read_split_concatenates_files_and_pages_across_them(alice, make_dataset, head):
    repo = make_dataset(alice, "sharded", files={
        "data/train-00000-of-00003.parquet": parquet(reviews(10)),
        "data/train-00001-of-00003.parquet": parquet(reviews(10, 10)),
        "data/train-00002-of-00003.parquet": parquet(reviews(5, 20)),
    })  # fmt: skip
    commit = head(repo)
    rows = selectors.read_split(repo, commit, "train")
    assert [r["text"] for r in rows] == [f"review {i}" for i in range(25)]
    page = selectors.read_split(repo, commit, "train", offset=8, limit=5)
    assert [r["text"] for r in page] == [f"review {i}" for i in range(8, 13)]
    assert selectors.read_split(repo, commit, "train", offset=24, limit=5) == [{"text": "review 24", "label": 0}]
    assert selectors.read_split(repo, commit, "train", offset=99, limit=5) == []
    # a data file's path works as a split of one file
    assert len(selectors.read_split(repo, commit, "data/train-00002-of-00003.parquet")) == 5


def test_read_split_names_the_splits_that_exist(reviews_repo, head):
    with pytest.raises(Invalid, match=r"Split 'dev' not found in alice/reviews at [0-9a-f]{12}; "
                                      r"its splits: train, validation, test\."):  # fmt: skip
        selectors.read_split(reviews_repo, head(reviews_repo), "dev")


def test_read_split_of_an_unreadable_file_is_invalid(alice, make_dataset, head):
    repo = make_dataset(alice, "bad", files={"train.csv.gz": b"not gzip at all"})
    with pytest.raises(Invalid, match="train.csv.gz: not a valid gzip file"):
        selectors.read_split(repo, head(repo), "train")


def test_gzip_csv_and_tsv(alice, make_dataset, head):
    repo = make_dataset(alice, "mixed", files={
        "train.csv.gz": gzip.compress(csv_bytes(reviews(3))),
        "test.tsv": csv_bytes(reviews(2), delimiter="\t"),
    })  # fmt: skip
    info = selectors.dataset_info(repo, head(repo))
    assert {f["path"]: f["rows"] for f in info["files"]} == {"train.csv.gz": 3, "test.tsv": 2}
    assert selectors.read_split(repo, head(repo), "test")[1] == {"text": "review 1", "label": "1"}


def test_real_news_articles(alice, make_dataset, head):
    from workers.sample_data import bbc_news_rows, split

    train, test = split(bbc_news_rows(), test_fraction=0.2, seed=0, stratify="label")
    repo = make_dataset(alice, "bbc-news", files={"train.jsonl": jsonl(train), "test.parquet": parquet(test)})
    info = selectors.dataset_info(repo, head(repo))
    assert info["split_info"]["train"]["rows"] == len(train) > 1700
    assert info["split_info"]["test"]["rows"] == len(test) > 400
    assert info["split_info"]["train"]["columns"] == {"text": "string", "label": "string"}
    assert len(info["files"][0]["preview"][0]["text"]) <= 201  # long articles are cut in the preview
