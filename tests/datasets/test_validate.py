"""validate_dataset_for_job: what a fine-tune job checks on its data before it is queued, and its messages."""

from __future__ import annotations

import pytest

from hub.core.errors import Invalid
from hub.datasets.selectors import validate_dataset_for_job
from tests.datasets.conftest import jsonl, reviews

pytestmark = pytest.mark.django_db


def check(repo, commit, **kw):
    kw.setdefault("required_columns", ["text", "label"])
    kw.setdefault("min_rows", 10)
    return validate_dataset_for_job(repo, commit, **kw)


def test_a_good_dataset(reviews_repo, head):
    commit = head(reviews_repo)
    assert check(reviews_repo, commit, eval_split="validation") == {
        "revision": commit.sha,
        "splits": {"train": ["train.jsonl"], "validation": ["validation.csv"]},
        "rows": {"train": 30, "validation": 6},
        "columns": ["text", "label"],
    }


def test_missing_column_names_the_columns_that_exist(reviews_repo, head):
    with pytest.raises(Invalid) as caught:
        check(reviews_repo, head(reviews_repo), required_columns=["prompt", "response"])
    assert (
        caught.value.message == "Column 'prompt' is missing from train.jsonl (split 'train'); its columns: text, label."
    )
    assert caught.value.code == "missing_column"


def test_too_few_rows(reviews_repo, head):
    with pytest.raises(Invalid, match=r"^Split 'train' of alice/reviews has 30 rows; at least 100 are needed\.$"):
        check(reviews_repo, head(reviews_repo), min_rows=100)


def test_missing_split_lists_the_splits(reviews_repo, head):
    with pytest.raises(Invalid, match=r"Split 'eval' not found .*; its splits: train, validation, test\."):
        check(reviews_repo, head(reviews_repo), eval_split="eval")


def test_file_missing_at_that_revision(reviews_repo, head):
    with pytest.raises(Invalid, match=r"File 'data/other.jsonl' is not a data file of alice/reviews at [0-9a-f]{12}"):
        check(reviews_repo, head(reviews_repo), split="data/other.jsonl")
    # the path of a file that is there works as a split
    assert check(reviews_repo, head(reviews_repo), split="train.jsonl")["rows"] == {"train.jsonl": 30}


def test_no_data_files(alice, make_dataset, head):
    repo = make_dataset(alice, "empty", files={"README.md": b"# Nothing yet\n"})
    with pytest.raises(Invalid, match=r"alice/empty at [0-9a-f]{12} has no data files \(looked for \.jsonl"):
        check(repo, head(repo))


def test_unreadable_file(alice, make_dataset, head):
    repo = make_dataset(alice, "broken", files={"train.jsonl": jsonl(reviews(20)) + b"{oops\n"})
    with pytest.raises(Invalid, match=r"^train\.jsonl: line 21: malformed JSON"):
        check(repo, head(repo))


def test_a_column_with_no_values(alice, make_dataset, head):
    repo = make_dataset(alice, "nulls", files={"train.jsonl": jsonl([{"text": "a", "label": None}] * 20)})
    with pytest.raises(Invalid, match=r"Column 'label' of train\.jsonl holds no values \(all null\)\."):
        check(repo, head(repo))


def test_every_file_of_the_split_must_have_the_columns(alice, make_dataset, head):
    repo = make_dataset(alice, "ragged", files={
        "train/a.jsonl": jsonl(reviews(10)),
        "train/b.jsonl": jsonl([{"text": "x"}] * 10),
    })  # fmt: skip
    with pytest.raises(
        Invalid, match=r"Column 'label' is missing from train/b\.jsonl \(split 'train'\); its columns: text\."
    ):
        check(repo, head(repo))


def test_an_empty_eval_split(alice, make_dataset, head):
    repo = make_dataset(alice, "noeval", files={"train.jsonl": jsonl(reviews(20)), "test.jsonl": b"\n"})
    with pytest.raises(Invalid, match=r"Split 'test' of alice/noeval has 0 rows; at least 1 is needed\."):
        check(repo, head(repo), eval_split="test")


def test_a_model_repo_is_not_a_dataset(alice, make_repo, head):
    repo = make_repo(alice, "bert", files={"train.jsonl": jsonl(reviews(20))})
    with pytest.raises(Invalid, match="alice/bert is a model repo; a dataset repo is needed."):
        check(repo, head(repo))
