"""Builders for the dataset tests: dataset repos from rows in any format."""

from __future__ import annotations

import csv
import io
import json

import pytest


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def csv_bytes(rows: list[dict], delimiter: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=delimiter)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def parquet(rows: list[dict]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), out)
    return out.getvalue()


def reviews(n: int, start: int = 0) -> list[dict]:
    return [{"text": f"review {i}", "label": i % 2} for i in range(start, start + n)]


@pytest.fixture
def make_dataset(make_repo):
    """make_dataset(owner, name, files={path: bytes}, private=False) -> a dataset Repo."""

    def make(owner, name: str = "reviews", *, files: dict[str, bytes] | None = None, private: bool = False):
        return make_repo(owner, name, files=files, private=private, type="dataset")

    return make


@pytest.fixture
def reviews_repo(alice, make_dataset):
    """alice/reviews: train.jsonl (30 rows), validation.csv (6), data/test-00000-of-00001.parquet (4), a README."""
    return make_dataset(alice, "reviews", files={
        "README.md": b"---\nlicense: mit\n---\nMovie reviews.\n",
        "train.jsonl": jsonl(reviews(30)),
        "validation.csv": csv_bytes(reviews(6, 100)),
        "data/test-00000-of-00001.parquet": parquet(reviews(4, 200)),
    })  # fmt: skip


@pytest.fixture
def head():
    from hub.registry.selectors import resolve_revision

    return lambda repo, revision="main": resolve_revision(repo, revision)
