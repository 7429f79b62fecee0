"""Searchable metadata of a repo, refreshed whenever main moves: card fields, tags, lineage edges."""

from __future__ import annotations

from hub.registry import storage, trees
from hub.registry.cards import MAX_CARD_BYTES, parse_card
from hub.registry.models import Commit, Repo, RepoLink, RepoTag

# File kinds that the public hub also turns into tags.
FILE_TAGS = {".safetensors": "safetensors", ".gguf": "gguf", ".onnx": "onnx", ".bin": "pytorch", ".parquet": "parquet"}
MAX_SEARCH_TEXT = 20_000


def file_tags(files: trees.Manifest) -> list[str]:
    found = []
    for suffix, tag in FILE_TAGS.items():
        if any(p.endswith(suffix) for p in files):
            found.append(tag)
    return found


def refresh_metadata(*, repo: Repo, files: trees.Manifest, commit: Commit, readme_changed: bool) -> None:
    """Called inside the commit's transaction when it lands on main."""
    fields = ["head_sha", "last_modified"]
    repo.head_sha = commit.sha
    repo.last_modified = commit.created_at
    if readme_changed:
        readme = files.get("README.md")
        card = parse_card(storage.read_blob(readme.sha256, limit=MAX_CARD_BYTES)) if readme else parse_card(b"")
        repo.card_data = card.data
        repo.card_error = card.error
        repo.license = card.license
        repo.pipeline_tag = card.pipeline_tag
        repo.library_name = card.library_name
        repo.search_text = card.body[:MAX_SEARCH_TEXT]
        card_tags = card.tags
        RepoLink.objects.filter(child=repo).delete()
        RepoLink.objects.bulk_create(
            [RepoLink(child=repo, parent_name=name, relation=card.relation) for name in card.base_models],
            ignore_conflicts=True,
        )
        fields += ["card_data", "card_error", "license", "pipeline_tag", "library_name", "search_text"]
    else:
        card_tags = [t for t in repo.tags if t not in FILE_TAGS.values()]
    tags = list(dict.fromkeys(card_tags + file_tags(files)))
    if tags != repo.tags:
        repo.tags = tags
        fields.append("tags")
        RepoTag.objects.filter(repo=repo).delete()
        RepoTag.objects.bulk_create([RepoTag(repo=repo, tag=t) for t in tags], ignore_conflicts=True)
    repo.save(update_fields=fields)
