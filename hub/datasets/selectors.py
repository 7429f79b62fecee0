"""Reads over dataset repos as tables: per-file summaries (cached per blob), splits, rows, and the checks a job runs
on its data before it is queued."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError

from hub.core.errors import Invalid
from hub.datasets import tables
from hub.datasets.models import TableSummary
from hub.datasets.splits import is_data_file, resolve_splits
from hub.datasets.values import clean_text
from hub.registry import selectors as registry
from hub.registry import storage
from hub.registry.models import Commit, Repo, RepoType
from hub.registry.trees import Snapshot

log = logging.getLogger(__name__)

READER_VERSION = 1  # bump when tables.py reads differently: older summaries are then recomputed
MAX_FILES_SHOWN = 50  # files summarised for the viewer; a job's checks summarise every file of its splits
_KNOWN = ".jsonl, .json, .csv, .tsv, .parquet (optionally .gz)"


@dataclass
class FileTable:
    path: str
    split: str | None
    format: str
    size: int
    columns: dict[str, str]
    rows: int | None
    preview: list[dict]
    error: str | None
    complete: bool
    inspected: bool = True

    def as_dict(self) -> dict:
        return self.__dict__.copy()


# --- summaries ---------------------------------------------------------------------------------------------


def _inspect(sha256: str, fmt: str, path: str) -> TableSummary:
    try:
        with storage.open_blob(sha256) as f:
            info = tables.inspect(f, fmt, name=path)
    except OSError:
        log.exception("blob %s could not be read", sha256)
        # Not cached: a storage hiccup is not a property of the content.
        return TableSummary(sha256=sha256, format=fmt, error="The file's content could not be read.", rows=None)
    error = info.error or ""
    if error.startswith(f"{path}: "):  # cached per content: the same bytes may live under another path
        error = error[len(path) + 2 :]
    fields = {
        "version": READER_VERSION,
        "columns": {clean_text(k): v for k, v in info.columns.items()},
        "rows": info.rows,
        "complete": info.complete,
        "preview": info.preview,
        "error": clean_text(error),
    }
    try:
        summary, _ = TableSummary.objects.update_or_create(sha256=sha256, format=fmt, defaults=fields)
    except IntegrityError:  # a concurrent view stored it first
        summary = TableSummary.objects.get(sha256=sha256, format=fmt)
    return summary


def summaries(snap: Snapshot, paths: list[str]) -> dict[str, TableSummary]:
    """path → summary of each data file, read from the cache in one query; missing ones are computed and stored."""
    wanted = {path: (snap.files[path].sha256, tables.detect_format(path)) for path in paths}
    cached = {
        (s.sha256, s.format): s
        for s in TableSummary.objects.filter(sha256__in={sha for sha, _ in wanted.values()}, version=READER_VERSION)
    }
    result = {}
    for path, key in wanted.items():
        summary = cached.get(key)
        if summary is None:
            summary = cached[key] = _inspect(*key, path)
        result[path] = summary
    return result


def _file_table(snap: Snapshot, path: str, split: str | None, summary: TableSummary | None) -> FileTable:
    fmt = tables.detect_format(path) or ""
    if summary is None:
        return FileTable(path, split, fmt, snap.files[path].size, {}, None, [], None, False, inspected=False)
    error = f"{path}: {summary.error}" if summary.error else None
    return FileTable(
        path, split, fmt, snap.files[path].size, summary.columns, summary.rows, summary.preview, error, summary.complete
    )


def _merge(files: list[FileTable]) -> dict:
    """One split's table: its files' rows added up (None if any is unknown) and their columns merged."""
    columns: dict[str, str] = {}
    for f in files:
        for column, kind in f.columns.items():
            columns[column] = _join_types(columns.get(column), kind)
    counts = [f.rows for f in files]
    preview = [row for f in files for row in f.preview][: tables.PREVIEW_ROWS]
    return {
        "files": len(files),
        "rows": None if None in counts else sum(counts),
        "columns": columns,
        "preview": preview,
        "errors": [f.error for f in files if f.error],
        "complete": all(f.complete for f in files),
    }


def _join_types(known: str | None, kind: str) -> str:
    if known in (None, "null", kind):
        return kind
    if kind == "null":
        return known
    return "float" if {known, kind} == {"int", "float"} else "mixed"


def dataset_info(repo: Repo, commit: Commit) -> dict:
    """The data files of `repo` at `commit`: format, columns, rows and preview of each, their splits, and each
    split merged. Summaries are cached per blob, so a second view reads them in one query."""
    snap = registry.snapshot(commit)
    splits = resolve_splits(list(snap.paths))
    split_of = {path: split for split, paths in splits.items() for path in paths}
    order = {split: i for i, split in enumerate(splits)}
    data = sorted((p for p in snap.paths if is_data_file(p)), key=lambda p: (order.get(split_of.get(p), len(order)), p))
    shown = summaries(snap, data[:MAX_FILES_SHOWN])
    files = [_file_table(snap, path, split_of.get(path), shown.get(path)) for path in data]
    by_split = {split: [f for f in files if f.split == split] for split in splits}
    return {
        "revision": commit.sha,
        "splits": splits,
        "files": [f.as_dict() for f in files],
        "split_info": {split: _merge(split_files) for split, split_files in by_split.items()},
    }


# --- splits and rows ---------------------------------------------------------------------------------------


def split_files(repo: Repo, commit: Commit, split: str) -> list[str]:
    """The data files of `split` (a split name, or the path of one data file) at `commit`, or Invalid saying
    which splits exist."""
    snap = registry.snapshot(commit)
    splits = resolve_splits(list(snap.paths))
    if split in splits:
        return splits[split]
    if split in snap.files and is_data_file(split):
        return [split]
    where = f"{repo.full_name} at {commit.sha[:12]}"
    if "/" in split or tables.detect_format(split):
        raise Invalid(f"File '{split}' is not a data file of {where}.", code="data_file_not_found")
    if not splits:
        raise Invalid(f"{where} has no data files (looked for {_KNOWN}).", code="no_data_files")
    raise Invalid(f"Split '{split}' not found in {where}; its splits: {', '.join(splits)}.", code="split_not_found")


def split_table(repo: Repo, commit: Commit, split: str) -> dict:
    """One split merged: files, rows (None if unknown), columns, preview, errors."""
    paths = split_files(repo, commit, split)
    snap = registry.snapshot(commit)
    found = summaries(snap, paths)
    return {"paths": paths} | _merge([_file_table(snap, p, split, found[p]) for p in paths])


def read_split(
    repo: Repo, commit: Commit, split: str, *, offset: int = 0, limit: int | None = None, max_bytes: int | None = None
) -> list[dict]:
    """Rows of a split (its files one after another) from `offset`, at most `limit` of them (all when None).

    Files wholly before `offset` are skipped by their cached row counts, without being read."""
    paths = split_files(repo, commit, split)
    snap = registry.snapshot(commit)
    counts = summaries(snap, paths) if offset else {}
    rows: list[dict] = []
    for path in paths:
        if limit is not None and len(rows) >= limit:
            break
        summary = counts.get(path)
        if summary is not None and summary.error:
            raise Invalid(f"{path}: {summary.error}", code="unreadable_data")
        if summary is not None and summary.rows is not None and offset >= summary.rows:
            offset -= summary.rows
            continue
        wanted = None if limit is None else limit - len(rows)
        try:
            with storage.open_blob(snap.files[path].sha256) as f:
                fmt = tables.detect_format(path) or ""
                rows += tables.read_rows(f, fmt, name=path, offset=offset, limit=wanted, max_bytes=max_bytes)
        except tables.TableError as exc:
            raise Invalid(clean_text(str(exc)), code="unreadable_data") from None
        except OSError:
            log.exception("blob of %s could not be read", path)
            raise Invalid(f"{path}: the file's content could not be read.", code="unreadable_data") from None
        offset = 0
    return rows


# --- checks for jobs ---------------------------------------------------------------------------------------


def validate_dataset_for_job(
    repo: Repo,
    commit: Commit,
    *,
    split: str = "train",
    eval_split: str | None = None,
    required_columns: list[str],
    min_rows: int,
) -> dict:
    """Check that a job can train on `split` (and evaluate on `eval_split`) of `repo` at `commit`: the files exist
    and parse, every file holds `required_columns` with values, and there are enough rows (`min_rows` for
    training, one for evaluation). Raises Invalid with a precise message; returns
    {"revision", "splits": {split: [paths]}, "rows": {split: n | None}, "columns": [training columns]}."""
    if repo.type != RepoType.DATASET:
        raise Invalid(f"{repo.full_name} is a {repo.type} repo; a dataset repo is needed.", code="not_a_dataset")
    result: dict = {"revision": commit.sha, "splits": {}, "rows": {}, "columns": []}
    for name, minimum in ((split, min_rows), (eval_split, 1)):
        if name is None:
            continue
        table = split_table(repo, commit, name)
        if table["errors"]:
            raise Invalid(table["errors"][0], code="unreadable_data")
        rows = table["rows"]
        if rows is not None and rows < minimum:
            raise Invalid(
                f"Split '{name}' of {repo.full_name} has {rows} row{'s' if rows != 1 else ''}; "
                f"at least {minimum} {'are' if minimum != 1 else 'is'} needed.",
                code="too_few_rows",
            )
        snap = registry.snapshot(commit)
        for path, summary in summaries(snap, table["paths"]).items():
            for column in required_columns:
                kind = summary.columns.get(column)
                if kind is None:
                    existing = ", ".join(summary.columns) or "none"
                    raise Invalid(
                        f"Column '{column}' is missing from {path} (split '{name}'); its columns: {existing}.",
                        code="missing_column",
                    )
                if kind == "null":
                    raise Invalid(f"Column '{column}' of {path} holds no values (all null).", code="empty_column")
        result["splits"][name] = table["paths"]
        result["rows"][name] = rows
        if name == split:
            result["columns"] = list(table["columns"])
    return result
