"""Model cards: README.md's YAML front matter parsed into searchable fields and lineage edges."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from hub.registry.models import Relation

MAX_CARD_BYTES = 1024 * 1024


class _CardLoader(yaml.SafeLoader):
    """safe_load without aliases: `*name` repeated through nested anchors expands exponentially when the data is
    copied out ("billion laughs": a 1 KB card became GBs in the web process). Cards do not need them."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a card's front matter", event.start_mark
            )
        return super().compose_node(parent, index)


_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)(?:\r?\n)?^---[ \t]*$\r?\n?", re.DOTALL | re.MULTILINE)
RELATIONS = {r.value for r in Relation}
# Tags that make a plain fine-tune a more specific relation in the hub's own lineage.
TAG_RELATIONS = {"distillation": Relation.DISTILLATION, "pruned": Relation.PRUNED, "pruning": Relation.PRUNED}


@dataclass
class Card:
    data: dict = field(default_factory=dict)
    error: str = ""
    body: str = ""
    license: str = ""
    pipeline_tag: str = ""
    library_name: str = ""
    tags: list[str] = field(default_factory=list)
    base_models: list[str] = field(default_factory=list)
    relation: str = ""


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | int | float):
        return [str(value)]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int | float)]
    return []


def _as_str(value: object) -> str:
    return str(value)[:100] if isinstance(value, str | int | float) else ""


def parse_card(raw: bytes) -> Card:
    """Parse a README.md. Never raises: a malformed front matter is reported in `error`."""
    text = raw[:MAX_CARD_BYTES].decode("utf-8", errors="replace")
    match = _FRONT_MATTER.match(text)
    if match is None:
        return Card(body=text)
    card = Card(body=text[match.end() :])
    try:
        data = yaml.load(match.group(1), Loader=_CardLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        card.error = f"Invalid YAML in the card's front matter: {str(exc).splitlines()[0]}"
        return card
    if data is None:
        data = {}
    if not isinstance(data, dict):
        card.error = "The card's front matter must be a YAML mapping."
        return card
    # Keep what JSON can hold (YAML dates and such become strings).
    card.data = _jsonable(data)
    card.license = _as_str(data.get("license"))
    card.pipeline_tag = _as_str(data.get("pipeline_tag"))
    card.library_name = _as_str(data.get("library_name"))
    card.base_models = [b.strip() for b in _as_list(data.get("base_model")) if b.strip()][:20]
    user_tags = _as_list(data.get("tags"))
    relation = _as_str(data.get("base_model_relation"))
    if card.base_models:
        if relation not in RELATIONS:
            relation = _infer_relation(card, user_tags)
        for tag in user_tags:
            if relation == Relation.FINETUNE and tag in TAG_RELATIONS:
                relation = TAG_RELATIONS[tag]
        card.relation = relation
    tags = list(user_tags)
    for key in ("datasets", "language"):
        prefix = "dataset" if key == "datasets" else "language"
        tags += [f"{prefix}:{v}" for v in _as_list(data.get(key))]
    if card.license:
        tags.append(f"license:{card.license}")
    if card.library_name:
        tags.append(card.library_name)
    if card.pipeline_tag:
        tags.append(card.pipeline_tag)
    tags += [f"base_model:{b}" for b in card.base_models]
    if card.relation:
        tags += [f"base_model:{card.relation}:{b}" for b in card.base_models]
    card.tags = list(dict.fromkeys(t[:200] for t in tags if t))[:200]
    return card


def _infer_relation(card: Card, tags: list[str]) -> str:
    if len(card.base_models) > 1 or "merge" in tags:
        return Relation.MERGE
    if card.library_name == "peft" or "lora" in tags or "peft" in tags:
        return Relation.ADAPTER
    if card.library_name == "gguf" or "gguf" in tags or "quantized" in tags:
        return Relation.QUANTIZED
    return Relation.FINETUNE


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
