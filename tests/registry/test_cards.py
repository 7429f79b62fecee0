import pytest

from hub.registry.cards import parse_card

pytestmark = pytest.mark.django_db

CARD = b"""---
license: mit
pipeline_tag: text-classification
library_name: transformers
tags: [sentiment, distillation]
base_model: alice/teacher
datasets: [imdb]
language: en
metrics: [accuracy]
---
# Student
A distilled sentiment model.
"""


def test_front_matter_becomes_searchable_fields(alice_api, alice, make_repo):
    make_repo(alice, "student", files={"README.md": CARD, "model.safetensors": b"w"})
    repo = alice_api.get("/api/v1/models/alice/student").json()
    assert repo["license"] == "mit" and repo["pipeline_tag"] == "text-classification"
    assert repo["library_name"] == "transformers"
    assert {"sentiment", "license:mit", "dataset:imdb", "language:en", "safetensors"} <= set(repo["tags"])
    assert repo["base_models"] == ["alice/teacher"]
    assert repo["card_error"] == ""
    assert repo["card_data"]["metrics"] == ["accuracy"]


@pytest.mark.parametrize(
    "raw",
    [b"---\nlicense: [unclosed\n---\n# x", b"---\n- a list\n---\n", b"---\nfoo: !!python/object:os.system x\n---\n"],
)
def test_malformed_front_matter_is_stored_and_reported(alice_api, alice, make_repo, raw):
    make_repo(alice, "m")
    ops = [{"op": "add", "path": "README.md", "content_base64": __import__("base64").b64encode(raw).decode()}]
    assert alice_api.post("/api/v1/models/alice/m/commits", {"operations": ops}, format="json").status_code == 201
    repo = alice_api.get("/api/v1/models/alice/m").json()
    assert repo["card_error"]
    assert alice_api.get("/api/v1/models/alice/m/files/README.md").status_code == 200


def test_card_without_front_matter():
    card = parse_card(b"# Just markdown\n")
    assert card.error == "" and card.data == {} and card.body.startswith("# Just")


def test_invalid_utf8_card_does_not_fail():
    assert parse_card(b"---\nlicense: mit\n---\n\xff\xfe").license == "mit"


@pytest.mark.parametrize(
    ("front", "relation"),
    [
        ("base_model: a/b", "finetune"),
        ("base_model: a/b\nlibrary_name: peft", "adapter"),
        ("base_model: a/b\ntags: [gguf]", "quantized"),
        ("base_model: [a/b, c/d]", "merge"),
        ("base_model: a/b\ntags: [distillation]", "distillation"),
        ("base_model: a/b\ntags: [pruned]", "pruned"),
        ("base_model: a/b\nbase_model_relation: quantized", "quantized"),
    ],
)
def test_lineage_relation(front, relation):
    assert parse_card(f"---\n{front}\n---\n".encode()).relation == relation


def test_lineage_both_ways_and_private_children_hidden(alice_api, alice, make_repo, make_user, make_token, api):
    make_repo(alice, "base", files={"README.md": b"# base"})
    make_repo(alice, "ft", files={"README.md": b"---\nbase_model: alice/base\n---\n"})
    make_repo(alice, "q", files={"README.md": b"---\nbase_model: alice/base\nbase_model_relation: quantized\n---\n"})
    make_repo(alice, "hidden", private=True, files={"README.md": b"---\nbase_model: alice/base\n---\n"})
    make_repo(alice, "ext", files={"README.md": b"---\nbase_model: google/bert-base-uncased\n---\n"})
    lineage = alice_api.get("/api/v1/models/alice/base/lineage").json()
    assert {(c["id"], c["relation"]) for c in lineage["children"]} == {
        ("alice/ft", "finetune"), ("alice/q", "quantized"), ("alice/hidden", "finetune"),
    }  # fmt: skip
    eve = api(make_token(make_user("eve")))
    public = eve.get("/api/v1/models/alice/base/lineage").json()
    assert {c["id"] for c in public["children"]} == {"alice/ft", "alice/q"}
    assert public["children_counts"] == {"finetune": 1, "quantized": 1}
    up = alice_api.get("/api/v1/models/alice/ft/lineage").json()["parents"]
    assert up == [{"id": "alice/base", "relation": "finetune", "in_hub": True}]
    ext = alice_api.get("/api/v1/models/alice/ext/lineage").json()["parents"]
    assert ext == [{"id": "google/bert-base-uncased", "relation": "finetune", "in_hub": False}]


def test_lineage_follows_a_rename(alice_api, alice, make_repo):
    make_repo(alice, "base")
    make_repo(alice, "ft", files={"README.md": b"---\nbase_model: alice/base\n---\n"})
    alice_api.post("/api/v1/models/alice/base/move", {"to": "alice/base2"}, format="json")
    assert [c["id"] for c in alice_api.get("/api/v1/models/alice/base2/lineage").json()["children"]] == ["alice/ft"]
