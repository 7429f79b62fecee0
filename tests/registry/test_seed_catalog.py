"""`manage.py seed_catalog`: both seed models land in public repos once; a second run changes nothing."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client

from hub.accounts.models import Organisation
from hub.registry import selectors, storage
from hub.registry.models import Commit, Repo, RepoLink

pytestmark = pytest.mark.django_db

EXPECTED = {
    "sentence-transformers/all-MiniLM-L6-v2": ("sentence-similarity", "sentence-transformers"),
    "HuggingFaceTB/SmolLM2-135M-Instruct": ("text-generation", "transformers"),
}


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_catalog", *args, stdout=out, stderr=out)
    return out.getvalue()


def main_files(repo: Repo) -> dict:
    return selectors.snapshot(selectors.resolve_revision(repo, "main")).files


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.slow
def test_seed_catalog_imports_both_models_once(api):
    output = seed()
    assert "exporting" in output

    for full_name, (pipeline_tag, library_name) in EXPECTED.items():
        repo = Repo.objects.get(full_name=full_name)
        assert not repo.private
        assert repo.namespace.is_organisation
        files = main_files(repo)
        assert {"config.json", "README.md", "model.safetensors", "tokenizer.json", ".gitattributes"} <= files.keys()
        assert repo.pipeline_tag == pipeline_tag
        assert repo.library_name == library_name
        assert repo.license == "apache-2.0"
        assert "safetensors" in repo.tags and "language:en" in repo.tags
        assert repo.card_error == ""
        head = selectors.resolve_revision(repo, "main")
        assert head.title == f"Import {full_name}" and head.author is None
        assert repo.head_sha == head.sha
        assert Commit.objects.filter(repo=repo).count() == 2  # the initial commit, then the import
        # The stored content is the exported file, byte for byte.
        key = "minilm" if "MiniLM" in full_name else "smollm"
        cached = Path(settings.DATA_DIR) / "seed-cache" / key / "model.safetensors"
        assert files["model.safetensors"][0] == file_sha256(cached)
        assert storage.blob_storage().exists(storage.blob_key(files["model.safetensors"][0]))

    smol = Repo.objects.get(full_name="HuggingFaceTB/SmolLM2-135M-Instruct")
    assert {"generation_config.json", "chat_template.jinja", "tokenizer_config.json"} <= main_files(smol).keys()
    assert RepoLink.objects.filter(child=smol, parent_name="HuggingFaceTB/SmolLM2-135M").exists()
    assert "dataset:ms_marco" in Repo.objects.get(full_name="sentence-transformers/all-MiniLM-L6-v2").tags

    # Anonymous visitors see both in the catalog: the HF API, the native API and the web page.
    assert set(EXPECTED) <= {m["id"] for m in api().get("/api/models?limit=50").json()}
    assert set(EXPECTED) <= {m["id"] for m in api().get("/api/v1/models?limit=50").json()["results"]}
    page = Client().get("/models")
    assert page.status_code == 200
    assert all(name in page.content.decode() for name in EXPECTED)
    card = Client().get("/HuggingFaceTB/SmolLM2-135M-Instruct")
    assert card.status_code == 200 and "Q4_1" in card.content.decode()

    # A second run changes nothing.
    heads = {r.full_name: r.head_sha for r in Repo.objects.all()}
    commits = Commit.objects.count()
    output = seed()
    assert output.count("skipped") == 2 and "exporting" not in output
    assert {r.full_name: r.head_sha for r in Repo.objects.all()} == heads
    assert Commit.objects.count() == commits
    assert Organisation.objects.filter(name__in=["sentence-transformers", "HuggingFaceTB"]).count() == 2


def test_seed_catalog_reuses_the_cached_export_after_the_repo_is_gone():
    from hub.registry.services.repos import delete_repo

    seed("--only", "minilm")
    repo = Repo.objects.get(full_name="sentence-transformers/all-MiniLM-L6-v2")
    first_files = main_files(repo)
    delete_repo(repo=repo)

    output = seed("--only", "minilm")
    assert "using the export cached" in output and "exporting" not in output
    assert "created the organisation" not in output  # the organisation stayed
    repo = Repo.objects.get(full_name="sentence-transformers/all-MiniLM-L6-v2")
    assert not repo.private and main_files(repo) == first_files
    assert not Repo.objects.filter(full_name__startswith="HuggingFaceTB/").exists()


def test_seed_catalog_keeps_a_repo_without_config_and_completes_it(make_repo):
    from hub.accounts.services import create_organisation

    org = create_organisation(name="sentence-transformers")
    make_repo(org, "all-MiniLM-L6-v2", files={"notes.txt": b"placeholder"})
    seed("--only", "minilm")
    repo = Repo.objects.get(full_name="sentence-transformers/all-MiniLM-L6-v2")
    files = main_files(repo)
    assert {"notes.txt", "config.json", "model.safetensors"} <= files.keys()
    assert repo.pipeline_tag == "sentence-similarity"


def test_seed_catalog_refuses_a_user_namespace(make_user):
    make_user("sentence-transformers")
    with pytest.raises(CommandError, match="belongs to a user"):
        seed("--only", "minilm")
    assert not Repo.objects.filter(full_name__iexact="sentence-transformers/all-MiniLM-L6-v2").exists()
