"""Turning a job request into a job: every check that can fail runs here, before anything is queued."""

from __future__ import annotations

import json

from django.db import transaction

from hub.core.errors import Invalid
from hub.jobs import services
from hub.jobs.models import Job, JobKind
from hub.registry import selectors as registry
from hub.registry.models import RepoType

MIN_TRAIN_ROWS = 8
SAMPLE_ROWS = 2000


def base_model_config(repo, commit_sha: str, *, what: str = "base_model") -> dict:
    """The model's config.json at that commit; 400 when it is not a transformers model."""
    from hub.registry import storage

    commit = registry.resolve_revision(repo, commit_sha)
    files = registry.snapshot(commit).files
    if "config.json" not in files:
        raise Invalid(
            f"{what} '{repo.full_name}' has no config.json at {commit_sha[:12]}: it is not a transformers model.",
            code="unsupported_model",
        )
    if not any(p.endswith((".safetensors", ".bin")) for p in files):
        raise Invalid(f"{what} '{repo.full_name}' has no weights at {commit_sha[:12]}.", code="unsupported_model")
    try:
        config = json.loads(storage.read_blob(files["config.json"].sha256, limit=1 << 20))
    except (ValueError, UnicodeDecodeError):
        raise Invalid(f"{what} '{repo.full_name}': config.json is not valid JSON.", code="unsupported_model") from None
    if not isinstance(config, dict) or not config.get("model_type"):
        raise Invalid(f"{what} '{repo.full_name}': config.json has no model_type.", code="unsupported_model")
    return config


def dataset_rows(
    repo, commit: str, *, split: str, validation_split: str | None, columns: list[str]
) -> tuple[list, dict]:
    """A sample of the training rows (for the row checks) and the dataset summary; 400 on a missing split/column."""
    from hub.datasets.selectors import read_split, validate_dataset_for_job

    summary = validate_dataset_for_job(
        repo,
        registry.resolve_revision(repo, commit),
        split=split,
        eval_split=validation_split,
        required_columns=columns,
        min_rows=MIN_TRAIN_ROWS,
    )
    rows = read_split(repo, registry.resolve_revision(repo, commit), split, limit=SAMPLE_ROWS)
    return rows, summary


def finetune_config(data: dict):
    from workers.training.finetune import FinetuneConfig

    hp = data["hyperparameters"]
    cols = data["columns"]
    return FinetuneConfig(
        task=data["task"],
        method=data["method"],
        merge_adapter=data["merge_adapter"],
        text_column=cols["text"],
        text_pair_column=cols.get("text_pair"),
        label_column=cols["label"],
        prompt_column=cols["prompt"],
        response_column=cols["response"],
        messages_column=cols["messages"],
        **{k: v for k, v in hp.items()},
    )


def required_columns(data: dict, sample_columns: set[str] | None = None) -> list[str]:
    cols = data["columns"]
    if data["task"] == "text-classification":
        return [cols["text"], cols["label"]] + ([cols["text_pair"]] if cols.get("text_pair") else [])
    if sample_columns is not None and cols["messages"] in sample_columns:
        return [cols["messages"]]
    return [cols["prompt"], cols["response"]]


def create_finetune(user, data: dict, *, token_role: str) -> Job:
    from workers.training.finetune import validate_rows

    if data["method"] != "lora" and data["merge_adapter"]:
        raise Invalid("merge_adapter applies to method 'lora' only.", code="invalid")
    base, base_commit = services.pin(user, RepoType.MODEL, data["base_model"], data["base_revision"], what="base_model")
    dataset, dataset_commit = services.pin(
        user, RepoType.DATASET, data["dataset"], data["dataset_revision"], what="dataset"
    )
    output, namespace, existing = services.output_target(user, data["output"], token_role=token_role)
    if existing is not None and existing.pk == base.pk:
        raise Invalid("output must differ from base_model (publish fine-tunes to a new repo).", code="invalid_output")
    model_config = base_model_config(base, base_commit)
    # Which columns does the data have? Read a sample first so chat-style rows ("messages") are recognised.
    from hub.datasets.selectors import read_split

    probe = read_split(dataset, registry.resolve_revision(dataset, dataset_commit), data["train_split"], limit=5)
    names = set().union(*(row.keys() for row in probe)) if probe else set()
    rows, summary = dataset_rows(
        dataset,
        dataset_commit,
        split=data["train_split"],
        validation_split=data["validation_split"],
        columns=required_columns(data, names),
    )
    config = finetune_config(data)
    try:
        stats = validate_rows(config, rows)
    except ValueError as exc:
        raise Invalid(f"dataset '{dataset.full_name}': {exc}", code="invalid_dataset") from None
    spec = {
        "task": data["task"],
        "method": data["method"],
        "hyperparameters": data["hyperparameters"],
        "columns": data["columns"],
        "merge_adapter": data["merge_adapter"],
        "train_split": data["train_split"],
        "validation_split": data["validation_split"],
        "validation_fraction": data["validation_fraction"],
        "private": data["private"],
        "base_model_type": model_config.get("model_type"),
        "dataset_summary": _jsonable(summary),
        "labels": stats.get("labels"),
    }
    with transaction.atomic():
        return services.create_job(
            owner=user,
            namespace=namespace,
            kind=JobKind.FINETUNE,
            hardware=data["hardware"],
            spec=spec,
            output_repo=output,
            base=(base.full_name, base_commit),
            dataset=(dataset.full_name, dataset_commit),
        )


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))
