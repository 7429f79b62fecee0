"""Which data files of a dataset repo form which split, by the HF Hub's naming conventions. Pure Python."""

from __future__ import annotations

import re

from hub.datasets.tables import detect_format

SPLIT_KEYWORDS = {
    "train": ("train", "training"),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test", "testing", "eval", "evaluation"),
}
_ALIASES = {word: split for split, words in SPLIT_KEYWORDS.items() for word in words}
_SHARD = re.compile(r"^(?P<split>[A-Za-z][A-Za-z0-9_]*?)-\d{5}-of-\d{5}")
_METADATA_FILES = {"dataset_info.json", "dataset_infos.json", "dataset_dict.json", "state.json"}
_SPLIT_ORDER = {"train": 0, "validation": 1, "test": 2}


def is_data_file(path: str) -> bool:
    parts = path.split("/")
    if any(p.startswith(".") or p.startswith("__") for p in parts) or parts[-1].lower() in _METADATA_FILES:
        return False
    return detect_format(path) is not None


def split_of(path: str) -> str | None:
    """The split a data file belongs to by the HF Hub's naming conventions, or None when its name says none."""
    *folders, filename = path.split("/")
    shard = _SHARD.match(filename)
    if shard:  # data/train-00000-of-00003.parquet; any split name is allowed here
        word = shard["split"]
        return _ALIASES.get(word.lower(), word)
    for name in [*folders, filename]:  # a folder's name wins over the file's (train/test_part.csv is train)
        words = set(re.split(r"[^a-z]+", name.lower()))
        split = next((split for split, keys in SPLIT_KEYWORDS.items() if words & set(keys)), None)
        if split is not None:
            return split
    return None


def resolve_splits(paths: list[str]) -> dict[str, list[str]]:
    """split → its data files (sorted). Files named by no split are left out, unless no file names one: then
    every data file is 'train' (as on the HF Hub). README.md, dot files and other non-data files are ignored."""
    data = sorted(p for p in paths if is_data_file(p))
    splits: dict[str, list[str]] = {}
    for path in data:
        split = split_of(path)
        if split is not None:
            splits.setdefault(split, []).append(path)
    if not splits and data:
        splits["train"] = data
    return dict(sorted(splits.items(), key=lambda item: (_SPLIT_ORDER.get(item[0], 3), item[0])))
