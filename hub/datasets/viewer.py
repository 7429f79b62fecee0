"""The dataset viewer of a dataset repo's page: per split, its schema, row count and a preview table of text cells."""

from __future__ import annotations

import json

from hub.datasets.selectors import dataset_info
from hub.datasets.values import PREVIEW_CHARS
from hub.registry.models import Commit, Repo

MAX_COLUMNS_SHOWN = 30


def cell(value: object) -> str:
    """A preview value as display text (the template escapes it); structures as compact JSON, cut when long."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


def dataset_viewer(repo: Repo, commit: Commit) -> dict:
    info = dataset_info(repo, commit)
    splits = []
    for name, table in info["split_info"].items():
        header = list(table["columns"])[:MAX_COLUMNS_SHOWN]
        splits.append({
            "name": name,
            "rows": table["rows"],
            "files": table["files"],
            "complete": table["complete"],
            "columns": list(table["columns"].items()),
            "header": header,
            "hidden_columns": max(len(table["columns"]) - len(header), 0),
            "preview": [[cell(row.get(column)) for column in header] for row in table["preview"]],
            "errors": table["errors"],
        })  # fmt: skip
    outside = [f["path"] for f in info["files"] if f["split"] is None]
    return {"revision": info["revision"], "splits": splits, "outside": outside, "file_count": len(info["files"])}
