"""Data files as tables, in plain Python (no Django): JSON Lines, JSON, CSV/TSV (optionally gzipped) and Parquet.

Every reader streams and every limit is a module constant that callers may override per call, so a hostile file
(invalid UTF-8, a malformed line, a 1 GB line, JSON nested 10,000 deep, a gzip bomb, 100,000 columns) ends in a
`TableError` naming the file and the line or row, never in an exhausted process.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import zlib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

from hub.datasets.values import preview, value_type

FORMATS = ("jsonl", "json", "csv", "tsv", "parquet")
_EXTENSIONS = {"jsonl": "jsonl", "ndjson": "jsonl", "json": "json", "csv": "csv", "tsv": "tsv", "parquet": "parquet"}
_COMPRESSIONS = {"gz"}  # read through a capped decompressor
_UNSUPPORTED_COMPRESSIONS = {"zst", "zstd", "bz2", "xz", "zip", "lz4"}  # recognised, answered with a clear error

MAX_BYTES = 256 * 1024**2  # read_rows: decompressed bytes a caller may load into memory
SCAN_BYTES = 4 * 1024**3  # inspect: decompressed bytes streamed to count rows; beyond, the count is unknown
PARSE_BYTES = 32 * 1024**2  # inspect: bytes fully parsed for the schema; past them rows are only counted
MAX_JSON_BYTES = 64 * 1024**2  # a JSON array is parsed whole, so it must fit this
MAX_LINE_BYTES = 16 * 1024**2  # one JSON line, or one CSV row across its quoted line breaks
MAX_DEPTH = 32  # nesting of objects and lists within a row
MAX_COLUMNS = 1000
PREVIEW_ROWS = 20
_CHUNK = 1024 * 1024
_BOM = b"\xef\xbb\xbf"


class TableError(ValueError):
    """A data file that cannot be read as a table; the message names the file and where it went wrong."""


class _LimitReached(TableError):
    pass


@dataclass
class TableInfo:
    format: str
    columns: dict[str, str] = field(default_factory=dict)
    rows: int | None = None  # None: not counted (unreadable, or larger than the scan limit)
    preview: list[dict] = field(default_factory=list)
    error: str | None = None
    complete: bool = True  # False when the schema comes from the first PARSE_BYTES only or rows were not counted


# --- formats -----------------------------------------------------------------------------------------------


def detect_format(path: str) -> str | None:
    """'jsonl', 'csv', 'parquet'… for a data file, with '.gz' (or an unsupported compression) appended; else None."""
    name = path.rsplit("/", 1)[-1].lower()
    parts = name.split(".")
    if len(parts) < 2 or not parts[0]:
        return None
    if parts[-1] in _COMPRESSIONS | _UNSUPPORTED_COMPRESSIONS and len(parts) >= 3 and parts[-2] in _EXTENSIONS:
        return f"{_EXTENSIONS[parts[-2]]}.{parts[-1]}"
    return _EXTENSIONS.get(parts[-1])


def _split_format(fmt: str, name: str) -> tuple[str, str | None]:
    base, _, compression = fmt.partition(".")
    if base not in FORMATS:
        raise TableError(f"{name}: unknown format '{fmt}'; known: {', '.join(FORMATS)}.")
    if compression and compression not in _COMPRESSIONS:
        raise TableError(f"{name}: .{compression} compression is not supported; use gzip (.gz) or none.")
    if compression and base == "parquet":
        raise TableError(f"{name}: Parquet compresses its own pages; a compressed .parquet.{compression} is not read.")
    return base, compression or None


# --- byte streams ------------------------------------------------------------------------------------------


class _Counted(io.RawIOBase):
    """Counts the (decompressed) bytes read and stops at a limit: the guard against bombs and endless files."""

    def __init__(self, raw: BinaryIO, limit: int, message: str) -> None:
        self.raw, self.limit, self.message, self.count = raw, limit, message, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        room = self.limit - self.count
        if room <= 0:
            if self.raw.read(1):  # more than the limit: stop here
                raise _LimitReached(self.message)
            return 0
        data = self.raw.read(min(len(buffer), _CHUNK, room))
        self.count += len(data)
        buffer[: len(data)] = data
        return len(data)


@contextmanager
def _source(source, name: str | None) -> Iterator[tuple[BinaryIO, str]]:
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as f:
            yield f, name or str(source)
    else:
        yield source, name or str(getattr(source, "name", "") or "data file")


@contextmanager
def _stream(raw: BinaryIO, name: str, compression: str | None, limit: int) -> Iterator[_Counted]:
    if compression == "gz":
        inner = gzip.GzipFile(fileobj=raw, mode="rb")
        message = f"{name}: decompresses to more than {limit} bytes (the limit)."
    else:
        inner = raw
        message = f"{name}: larger than the limit of {limit} bytes."
    counted = _Counted(inner, limit, message)
    try:
        yield counted
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise TableError(f"{name}: not a valid gzip file ({exc or 'truncated'}).") from None
    except OSError as exc:  # e.g. a gzip header error surfaces as a bare OSError
        raise TableError(f"{name}: could not be read ({exc}).") from None


def _lines(stream: io.BufferedReader, name: str, max_line: int) -> Iterator[tuple[int, str]]:
    number = 0
    while True:
        line = stream.readline(max_line + 1)
        if not line:
            return
        number += 1
        if len(line) > max_line and not line.endswith(b"\n"):
            raise TableError(f"{name}: line {number} is longer than {max_line} bytes.")
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        try:
            yield number, line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TableError(f"{name}: line {number} is not valid UTF-8 (byte {exc.start + 1}).") from None


# --- JSON --------------------------------------------------------------------------------------------------


def _too_deep(value: object, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _check_row(value: object, name: str, where: str) -> dict:
    if not isinstance(value, dict):
        raise TableError(f"{name}: {where} is {_kind(value)}, not an object.")
    if len(value) > MAX_COLUMNS:
        raise TableError(f"{name}: {where} has {len(value)} columns; the limit is {MAX_COLUMNS}.")
    if _too_deep(value, MAX_DEPTH):
        raise TableError(f"{name}: {where} is nested deeper than {MAX_DEPTH} levels.")
    return value


def _kind(value: object) -> str:
    return {list: "a list", str: "a string", type(None): "null", bool: "a boolean"}.get(type(value), "a number")


def _loads(text: str, name: str, where: str) -> object:
    try:
        return json.loads(text)
    except RecursionError:
        raise TableError(f"{name}: {where} is nested deeper than {MAX_DEPTH} levels.") from None
    except json.JSONDecodeError as exc:
        raise TableError(f"{name}: {where}: malformed JSON ({exc.msg} at column {exc.colno}).") from None
    except ValueError as exc:  # e.g. an integer longer than Python converts
        raise TableError(f"{name}: {where}: {exc}.") from None


def _jsonl_rows(stream: io.BufferedReader, name: str) -> Iterator[dict]:
    for number, text in _lines(stream, name, MAX_LINE_BYTES):
        if text.strip():
            yield _check_row(_loads(text.rstrip("\r\n"), name, f"line {number}"), name, f"line {number}")


def _count_lines(stream: io.BufferedReader) -> int:
    """Non-blank lines left, without parsing them (a GB a second or so)."""
    count, content = 0, False
    while chunk := stream.readline(_CHUNK):
        content = content or bool(chunk.strip())
        if chunk.endswith(b"\n"):
            count += content
            content = False
    return count + content


def _is_json_array(stream: io.BufferedReader) -> bool:
    """A .json file holds a JSON array, or (as on the HF Hub) JSON Lines."""
    head = stream.peek(64 * 1024)[: 64 * 1024]
    return head.removeprefix(_BOM).lstrip()[:1] == b"["


def _json_array_rows(stream: io.BufferedReader, name: str) -> Iterator[dict]:
    data = stream.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise TableError(f"{name}: a JSON array is parsed whole and this one is larger than {MAX_JSON_BYTES} bytes; "
                         "store it as JSON Lines or Parquet.")  # fmt: skip
    try:
        text = data.removeprefix(_BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TableError(f"{name}: not valid UTF-8 (byte {exc.start + 1}).") from None
    try:
        items = json.loads(text)
    except RecursionError:
        raise TableError(f"{name}: nested deeper than {MAX_DEPTH} levels.") from None
    except json.JSONDecodeError as exc:
        raise TableError(f"{name}: malformed JSON ({exc.msg} at line {exc.lineno} column {exc.colno}).") from None
    except ValueError as exc:
        raise TableError(f"{name}: {exc}.") from None
    if not isinstance(items, list):
        raise TableError(f"{name}: a JSON file must hold a list of objects (or one object per line).")
    for index, item in enumerate(items):
        yield _check_row(item, name, f"item {index}")


# --- CSV ---------------------------------------------------------------------------------------------------


def _csv_rows(stream: io.BufferedReader, name: str, delimiter: str) -> Iterator[dict]:
    where = {"line": 0, "bytes": 0}

    def feed() -> Iterator[str]:
        for number, text in _lines(stream, name, MAX_LINE_BYTES):
            where["line"] = number
            where["bytes"] += len(text)
            if where["bytes"] > MAX_LINE_BYTES:  # a quoted field running over many lines
                raise TableError(f"{name}: the row ending on line {number} is longer than {MAX_LINE_BYTES} bytes.")
            yield text

    reader = csv.reader(feed(), delimiter=delimiter)
    header: list[str] | None = None
    try:
        for fields in reader:
            where["bytes"] = 0
            if not fields:
                continue  # a blank line
            if header is None:
                header = _header(fields, name)
                continue
            if len(fields) > len(header):
                raise TableError(
                    f"{name}: line {where['line']} has {len(fields)} fields; the header has {len(header)}."
                )
            if len(fields) < len(header):
                fields = fields + [None] * (len(header) - len(fields))
            yield dict(zip(header, fields, strict=True))
    except csv.Error as exc:
        raise TableError(f"{name}: line {where['line']}: {exc}.") from None


def _header(fields: list[str], name: str) -> list[str]:
    if len(fields) > MAX_COLUMNS:
        raise TableError(f"{name}: the header has {len(fields)} columns; the limit is {MAX_COLUMNS}.")
    header = [f or f"Unnamed: {i}" for i, f in enumerate(fields)]  # pandas' name for an index column
    seen: set[str] = set()
    for column in header:
        if column in seen:
            raise TableError(f"{name}: column '{column[:100]}' appears twice in the header.")
        seen.add(column)
    return header


# --- Parquet -----------------------------------------------------------------------------------------------


def _parquet(raw: BinaryIO, name: str):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(raw)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise TableError(f"{name}: not a readable Parquet file ({exc}).") from None
    if len(parquet.schema_arrow) > MAX_COLUMNS:
        raise TableError(f"{name}: {len(parquet.schema_arrow)} columns; the limit is {MAX_COLUMNS}.")
    return parquet


def _arrow_type(t) -> str:
    import pyarrow.types as pt

    if pt.is_dictionary(t):
        return _arrow_type(t.value_type)
    checks = [
        ("bool", pt.is_boolean), ("int", pt.is_integer), ("float", pt.is_floating), ("float", pt.is_decimal),
        ("string", pt.is_string), ("string", pt.is_large_string), ("list", pt.is_list), ("list", pt.is_large_list),
        ("list", pt.is_fixed_size_list), ("object", pt.is_struct), ("object", pt.is_map), ("null", pt.is_null),
        ("binary", pt.is_binary), ("binary", pt.is_large_binary), ("binary", pt.is_fixed_size_binary),
        ("datetime", pt.is_temporal),
    ]  # fmt: skip
    return next((label for label, check in checks if check(t)), str(t))


def _parquet_rows(parquet, name: str, *, offset: int, limit: int | None, max_bytes: int) -> list[dict]:
    import pyarrow as pa

    meta = parquet.metadata
    groups, skip, wanted, size = [], offset, limit, 0
    for index in range(meta.num_row_groups):
        group = meta.row_group(index)
        if skip >= group.num_rows:
            skip -= group.num_rows
            continue
        groups.append(index)
        size += group.total_byte_size
        if size > max_bytes:
            raise TableError(f"{name}: the rows asked for take more than {max_bytes} bytes uncompressed.")
        if wanted is not None:
            wanted -= group.num_rows - (skip if len(groups) == 1 else 0)
            if wanted <= 0:
                break
    rows: list[dict] = []
    if not groups:
        return rows
    try:
        for batch in parquet.iter_batches(batch_size=1024, row_groups=groups):
            rows.extend(batch.to_pylist())
            if limit is not None and len(rows) >= skip + limit:
                break
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise TableError(f"{name}: not a readable Parquet file ({exc}).") from None
    return rows[skip:] if limit is None else rows[skip : skip + limit]


# --- public API --------------------------------------------------------------------------------------------


def iter_rows(source, fmt: str, *, name: str | None = None, max_bytes: int | None = None) -> Iterator[dict]:
    """Rows of a JSON Lines, JSON or CSV/TSV file one at a time, reading at most `max_bytes` decompressed bytes."""
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    with _source(source, name) as (raw, name):
        base, compression = _split_format(fmt, name)
        if base == "parquet":
            yield from _parquet_rows(_parquet(raw, name), name, offset=0, limit=None, max_bytes=max_bytes)
            return
        with _stream(raw, name, compression, max_bytes) as counted:
            yield from _rows(io.BufferedReader(counted, _CHUNK), base, name)


def _rows(stream: io.BufferedReader, base: str, name: str) -> Iterator[dict]:
    if base == "json":
        return _json_array_rows(stream, name) if _is_json_array(stream) else _jsonl_rows(stream, name)
    if base == "jsonl":
        return _jsonl_rows(stream, name)
    return _csv_rows(stream, name, "\t" if base == "tsv" else ",")


def read_rows(
    source,
    fmt: str,
    *,
    name: str | None = None,
    offset: int = 0,
    limit: int | None = None,
    max_bytes: int | None = None,
) -> list[dict]:
    """Rows `offset`…`offset+limit` (all when `limit` is None) as dicts of plain Python values.

    `source` is a path or a binary file object (seekable for Parquet); `fmt` comes from `detect_format`.
    Raises TableError when the file is unreadable or the rows asked for lie beyond `max_bytes`.
    """
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    if offset < 0 or (limit is not None and limit < 0):
        raise TableError("offset and limit must not be negative.")
    if fmt == "parquet":
        with _source(source, name) as (raw, name):
            return _parquet_rows(_parquet(raw, name), name, offset=offset, limit=limit, max_bytes=max_bytes)
    rows: list[dict] = []
    if limit == 0:
        return rows
    with closing(iter_rows(source, fmt, name=name, max_bytes=max_bytes)) as all_rows:
        for index, row in enumerate(all_rows):
            if index >= offset:
                rows.append(row)
                if limit is not None and len(rows) >= limit:
                    break
    return rows


class _Schema:
    def __init__(self, name: str) -> None:
        self.name = name
        self.types: dict[str, set[str]] = {}

    def add(self, row: dict) -> None:
        for column, value in row.items():
            seen = self.types.get(column)
            if seen is None:
                if len(self.types) >= MAX_COLUMNS:
                    raise TableError(f"{self.name}: more than {MAX_COLUMNS} distinct columns.")
                seen = self.types[column] = set()
            seen.add(value_type(value))

    def columns(self) -> dict[str, str]:
        result = {}
        for column, seen in self.types.items():
            kinds = seen - {"null"}
            if not kinds:
                result[column] = "null"
            elif len(kinds) == 1:
                result[column] = kinds.pop()
            else:
                result[column] = "float" if kinds == {"int", "float"} else "mixed"
        return result


def inspect(
    source,
    fmt: str,
    *,
    name: str | None = None,
    preview_rows: int | None = None,
    parse_bytes: int | None = None,
    scan_bytes: int | None = None,
) -> TableInfo:
    """Schema, row count and a preview (first rows, long values cut) of one data file. Never raises TableError:
    an unreadable file gives `error` (with whatever was learnt before it went wrong)."""
    preview_rows = PREVIEW_ROWS if preview_rows is None else preview_rows
    parse_bytes = PARSE_BYTES if parse_bytes is None else parse_bytes
    scan_bytes = SCAN_BYTES if scan_bytes is None else scan_bytes
    info = TableInfo(format=fmt)
    base, compression = None, None
    with _source(source, name) as (raw, name):
        schema = _Schema(name)
        try:
            base, compression = _split_format(fmt, name)
            if base == "parquet":
                parquet = _parquet(raw, name)
                info.columns = {f.name: _arrow_type(f.type) for f in parquet.schema_arrow}
                info.rows = parquet.metadata.num_rows
                rows = _parquet_rows(parquet, name, offset=0, limit=preview_rows, max_bytes=MAX_BYTES)
                info.preview = [preview(row) for row in rows]
                return info
            info.rows = 0
            with _stream(raw, name, compression, scan_bytes) as counted:
                stream = io.BufferedReader(counted, _CHUNK)
                rows = _rows(stream, base, name)
                for row in rows:
                    info.rows += 1
                    schema.add(row)
                    if len(info.preview) < preview_rows:
                        info.preview.append(preview(row))
                    if counted.count > parse_bytes:
                        info.complete = False
                        break
                if not info.complete:  # count the rest: lines fast, CSV rows through the parser
                    info.rows += _count_lines(stream) if base == "jsonl" else sum(1 for _ in rows)
        except _LimitReached as exc:
            if compression:
                info.error, info.rows = str(exc), None
            else:
                info.complete, info.rows = False, None
        except TableError as exc:
            info.error, info.rows = str(exc), None
        if base != "parquet":
            info.columns = schema.columns()
    return info
