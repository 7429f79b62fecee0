"""Builders for the catalog tests: a small hub with public and private repos, cards, history and lineage."""

from __future__ import annotations

import pytest


def card(body: str = "", **fields) -> bytes:
    lines = [f"{k}: {v}" for k, v in fields.items()]
    return ("---\n" + "\n".join(lines) + "\n---\n" + body).encode()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Facet counts and rendered cards are cached per process; every test starts from an empty cache."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def hub(alice, make_user, make_repo):
    """alice: sentiment-bert (public, with a history), a fine-tune and an adapter of it, a private model;
    bob: embedder, a private fine-tune of alice's model; a public dataset."""
    from hub.accounts import services
    from hub.registry.services import repos as repo_services
    from hub.registry.services.commits import AddFile, create_commit, create_tag

    bob = make_user("bob")
    base = make_repo(alice, "sentiment-bert", files={
        "README.md": card("# Sentiment BERT\n\nClassifies movie reviews.\n", license="mit",
                          pipeline_tag="text-classification", library_name="transformers", tags="[sentiment]"),
        "config.json": b'{"hidden_size": 8}\n',
    })  # fmt: skip
    create_tag(repo=base, name="v1")
    create_commit(repo=base, author=alice, title="Bigger model", operations=[
        AddFile(path="config.json", content=b'{"hidden_size": 16}\n'),
        AddFile(path="src/train.py", content=b"def train(steps):\n    return steps * 2\n"),
    ])  # fmt: skip
    make_repo(alice, "sentiment-bert-ft", files={"README.md": card(
        "A fine-tune.", license="apache-2.0", pipeline_tag="text-classification", library_name="transformers",
        base_model="alice/sentiment-bert")})  # fmt: skip
    make_repo(alice, "sentiment-lora", files={"README.md": card(
        "An adapter.", library_name="peft", base_model="alice/sentiment-bert")})  # fmt: skip
    make_repo(alice, "alice-secret", private=True, files={"README.md": card(
        "Hidden.", license="secret-license", pipeline_tag="secret-task", library_name="secret-lib",
        tags="[secret-tag]")})  # fmt: skip
    make_repo(bob, "embedder", files={"README.md": card(
        "Sentence embeddings.", license="apache-2.0", pipeline_tag="feature-extraction",
        library_name="sentence-transformers")})  # fmt: skip
    make_repo(bob, "bob-private-ft", private=True, files={"README.md": card(
        "Private fine-tune.", license="secret-license", pipeline_tag="text-classification",
        base_model="alice/sentiment-bert")})  # fmt: skip
    make_repo(alice, "reviews", type="dataset", files={"README.md": card("Movie reviews.", license="cc-by-4.0")})
    org = services.create_organisation(name="acme", creator=bob)
    make_repo(org, "acme-model", files={"README.md": card("Acme's model.", library_name="transformers")})
    embedder = base.__class__.objects.get(full_name="bob/embedder")
    repo_services.like(repo=embedder, user=alice)
    return {"alice": alice, "bob": bob, "base": base, "org": org}


@pytest.fixture
def client_for():
    """client_for(user) -> a Django test client signed in as that user (None: anonymous)."""
    from django.test import Client

    def make(user=None, **kwargs):
        client = Client(**kwargs)
        if user is not None:
            client.force_login(user)
        return client

    return make
