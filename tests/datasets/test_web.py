"""The dataset viewer on a dataset repo's page: per split the schema, row count, a preview table and errors."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.datasets.conftest import jsonl, reviews

pytestmark = pytest.mark.django_db


def page(url: str, user=None) -> str:
    client = Client()
    if user is not None:
        client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_dataset_page_shows_each_split(reviews_repo):
    html = page("/datasets/alice/reviews")
    assert 'id="dataset-viewer"' in html
    for split, rows in (("train", 30), ("validation", 6), ("test", 4)):
        assert f'id="split-{split}"' in html
        assert f"{rows} rows" in html
    assert "<strong>text</strong>: string" in html and "<strong>label</strong>: int" in html
    assert '<th scope="col">text</th>' in html and "<td>review 0</td>" in html
    assert "First 20 rows" in html and "First 4 rows" in html
    assert "Movie reviews." in html  # the card still renders below


def test_cells_are_escaped_and_cut(alice, make_dataset):
    rows = [{"text": "<script>alert(1)</script>", "meta": {"k": "<b>"}, "long": "y" * 5000}]
    make_dataset(alice, "evil", files={"train.jsonl": jsonl(rows)})
    html = page("/datasets/alice/evil")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{&quot;k&quot;: &quot;&lt;b&gt;&quot;}" in html
    assert "y" * 200 + "…" in html and "y" * 201 not in html


def test_parse_error_is_shown(alice, make_dataset):
    make_dataset(alice, "broken", files={"train.jsonl": jsonl(reviews(3)) + b"{nope\n"})
    html = page("/datasets/alice/broken")
    assert "train.jsonl: line 4: malformed JSON" in html
    assert "rows not counted" in html
    assert "<td>review 0</td>" in html  # the rows read before the error still show


def test_dataset_without_data_files(alice, make_dataset):
    make_dataset(alice, "empty", files={"README.md": b"# Soon\n"})
    assert "No data files yet" in page("/datasets/alice/empty")


def test_files_outside_every_split_are_listed(alice, make_dataset):
    make_dataset(alice, "extra", files={"train.csv": b"a\n1\n", "test.csv": b"a\n2\n", "notes.csv": b"a\n3\n"})
    assert "Not in any split: notes.csv" in page("/datasets/alice/extra")


def test_model_pages_have_no_viewer(alice, make_repo):
    make_repo(alice, "bert", files={"train.jsonl": jsonl(reviews(3))})
    assert "dataset-viewer" not in page("/alice/bert")


def test_private_dataset_page_is_404_to_others(alice, make_user, make_dataset):
    make_dataset(alice, "secret", private=True, files={"train.jsonl": jsonl(reviews(3))})
    client = Client()
    client.force_login(make_user("bob"))
    assert client.get("/datasets/alice/secret").status_code == 404
    assert "3 rows" in page("/datasets/alice/secret", alice)
