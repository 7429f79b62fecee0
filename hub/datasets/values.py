"""Table values as strict JSON (what Postgres, the API and HTML previews accept), and their type names."""

from __future__ import annotations

import datetime
import decimal
import math

PREVIEW_CHARS = 200  # longer strings are cut in previews
PREVIEW_ITEMS = 20  # longer lists are cut in previews


def value_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float | decimal.Decimal):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, bytes):
        return "binary"
    if isinstance(value, datetime.date | datetime.time | datetime.timedelta):
        return "datetime"
    return type(value).__name__


def clean_text(text: str) -> str:
    """Text that JSON, Postgres and HTML all accept: no NUL, no lone surrogates."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def jsonable(value: object, *, max_chars: int | None = None, max_items: int | None = None) -> object:
    """`value` as strict JSON: NaN and infinities become strings, bytes a '<N bytes>' note, dates ISO text;
    strings longer than `max_chars` and lists longer than `max_items` are cut (an ellipsis marks the cut)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value).replace("inf", "Infinity").replace("nan", "NaN")
    if isinstance(value, str):
        value = clean_text(value)
        return value if max_chars is None or len(value) <= max_chars else value[:max_chars] + "…"
    if isinstance(value, dict):
        return {clean_text(str(k)): jsonable(v, max_chars=max_chars, max_items=max_items) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [jsonable(v, max_chars=max_chars, max_items=max_items) for v in value[:max_items]]
        if max_items is not None and len(value) > max_items:
            items.append(f"… {len(value) - max_items} more")
        return items
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return jsonable(str(value), max_chars=max_chars)


def preview(row: dict) -> dict:
    return jsonable(row, max_chars=PREVIEW_CHARS, max_items=PREVIEW_ITEMS)
