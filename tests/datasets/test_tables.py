"""Reading data files as tables: every format, schema inference, previews, limits and hostile input."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hub.datasets import tables, values
from hub.datasets.tables import TableError, detect_format, inspect, read_rows


def parquet_bytes(table: pa.Table, **kw) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **kw)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "path, fmt",
    [("train.jsonl", "jsonl"), ("a/b.JSON", "json"), ("x.ndjson", "jsonl"), ("t.csv", "csv"), ("t.tsv", "tsv"),
     ("d/train-00000-of-00001.parquet", "parquet"), ("t.jsonl.gz", "jsonl.gz"), ("t.csv.zst", "csv.zst"),
     ("README.md", None), (".gitattributes", None), ("model.safetensors", None), ("data.zip", None),
     ("archive.gz", None)],
)  # fmt: skip
def test_detect_format(path, fmt):
    assert detect_format(path) == fmt


def test_jsonl_schema_rows_and_preview():
    data = b'{"text": "hello", "label": 1, "score": 0.5}\n\n{"text": "bye", "label": 2, "score": 1, "tags": ["a"]}\n'
    info = inspect(io.BytesIO(data), "jsonl", name="train.jsonl")
    assert info.error is None and info.complete
    assert info.rows == 2
    assert info.columns == {"text": "string", "label": "int", "score": "float", "tags": "list"}
    assert info.preview[1] == {"text": "bye", "label": 2, "score": 1, "tags": ["a"]}


def test_types_null_mixed_object_bool():
    rows = [{"a": None, "b": 1, "c": {"k": 1}, "d": True}, {"a": None, "b": "x", "c": None, "d": False}]
    data = "\n".join(json.dumps(r) for r in rows).encode()
    info = inspect(io.BytesIO(data), "jsonl", name="x.jsonl")
    assert info.columns == {"a": "null", "b": "mixed", "c": "object", "d": "bool"}


def test_json_array_and_json_lines_named_json():
    assert read_rows(io.BytesIO(b' [{"a": 1}, {"a": 2}] '), "json") == [{"a": 1}, {"a": 2}]
    # The HF Hub reads a .json file of one object per line too.
    assert read_rows(io.BytesIO(b'{"a": 1}\n{"a": 2}\n'), "json") == [{"a": 1}, {"a": 2}]


def test_csv_with_bom_quoted_newlines_and_short_rows():
    data = '\ufefftext,label\n"two\nlines, and a comma",pos\nshort\n\n'.encode()
    info = inspect(io.BytesIO(data), "csv", name="t.csv")
    assert info.error is None
    assert info.columns == {"text": "string", "label": "string"} and info.rows == 2
    assert read_rows(io.BytesIO(data), "csv") == [
        {"text": "two\nlines, and a comma", "label": "pos"},
        {"text": "short", "label": None},
    ]


def test_csv_unnamed_index_column_like_pandas():
    assert read_rows(io.BytesIO(b",text\n0,a\n"), "csv") == [{"Unnamed: 0": "0", "text": "a"}]


def test_tsv():
    info = inspect(io.BytesIO(b"prompt\tresponse\nhi\thello\n"), "tsv", name="t.tsv")
    assert info.rows == 1 and info.preview == [{"prompt": "hi", "response": "hello"}]


def test_gzipped_jsonl():
    data = gzip.compress(b'{"a": 1}\n' * 50)
    info = inspect(io.BytesIO(data), "jsonl.gz", name="t.jsonl.gz")
    assert info.rows == 50 and info.columns == {"a": "int"}


def test_parquet_schema_rows_preview_and_offsets():
    n = 100
    table = pa.table({"x": list(range(n)), "s": [f"s{i}" for i in range(n)], "l": [[i] for i in range(n)],
                      "f": [0.5] * n, "b": [True] * n, "o": [{"k": 1}] * n, "bin": [b"\x00\x01"] * n})  # fmt: skip
    data = parquet_bytes(table, row_group_size=30)
    info = inspect(io.BytesIO(data), "parquet", name="p.parquet")
    assert info.rows == 100
    assert info.columns == {"x": "int", "s": "string", "l": "list", "f": "float", "b": "bool", "o": "object",
                            "bin": "binary"}  # fmt: skip
    assert len(info.preview) == tables.PREVIEW_ROWS
    assert info.preview[0]["bin"] == "<2 bytes>"
    rows = read_rows(io.BytesIO(data), "parquet", offset=55, limit=10)
    assert [r["x"] for r in rows] == list(range(55, 65))  # crosses a row group boundary
    assert [r["x"] for r in read_rows(io.BytesIO(data), "parquet", offset=95)] == [95, 96, 97, 98, 99]
    assert read_rows(io.BytesIO(data), "parquet", offset=100) == []


def test_read_rows_offset_and_limit_from_a_path(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps({"i": i}) + "\n" for i in range(10)))
    assert read_rows(path, "jsonl", offset=3, limit=2) == [{"i": 3}, {"i": 4}]
    assert len(read_rows(str(path), "jsonl")) == 10


def test_preview_cuts_long_values_and_makes_them_json_safe():
    row = {"long": "x" * 1000, "many": list(range(100)), "nan": float("nan"), "inf": float("-inf"), "nul": "a\x00b"}
    info = inspect(io.BytesIO(json.dumps(row).encode()), "jsonl", name="t.jsonl")
    cell = info.preview[0]
    assert cell["long"] == "x" * values.PREVIEW_CHARS + "…"
    assert cell["many"][-1] == f"… {100 - values.PREVIEW_ITEMS} more"
    assert cell["nan"] == "NaN" and cell["inf"] == "-Infinity"
    assert cell["nul"] == "a\ufffdb"
    json.dumps(info.preview, allow_nan=False)  # strict JSON


def test_large_file_parses_the_start_and_counts_the_rest():
    data = b"".join(b'{"i": %d}\n' % i for i in range(20_000))
    info = inspect(io.BytesIO(data), "jsonl", name="big.jsonl", parse_bytes=1000)
    assert info.rows == 20_000 and info.columns == {"i": "int"} and not info.complete
    csv_data = b"a,b\n" + b"1,2\n" * 5000
    assert inspect(io.BytesIO(csv_data), "csv", name="big.csv", parse_bytes=100).rows == 5000


def test_file_beyond_the_scan_limit_is_not_counted():
    info = inspect(io.BytesIO(b'{"a": 1}\n' * 10_000), "jsonl", name="huge.jsonl", parse_bytes=100, scan_bytes=5000)
    assert info.rows is None and info.error is None and not info.complete and info.columns == {"a": "int"}


# --- hostile input: each is a clear TableError naming the file and the line -----------------------------


def error_of(data: bytes, fmt: str, name: str = "bad.jsonl") -> str:
    with pytest.raises(TableError) as caught:
        read_rows(io.BytesIO(data), fmt, name=name)
    message = str(caught.value)
    assert message.startswith(f"{name}: ")
    assert inspect(io.BytesIO(data), fmt, name=name).error == message  # inspect reports, never raises
    return message


def test_invalid_utf8():
    assert "line 2 is not valid UTF-8" in error_of(b'{"a": 1}\n{"a": "\xff"}\n', "jsonl")
    assert "line 2 is not valid UTF-8" in error_of(b"a\n\xc3\x28\n", "csv", "bad.csv")


def test_malformed_json_line():
    assert "line 3: malformed JSON" in error_of(b'{"a": 1}\n\n{"a": \n', "jsonl")


def test_rows_that_are_not_objects():
    assert "line 1 is a list, not an object" in error_of(b"[1, 2]\n", "jsonl")
    assert "item 1 is a string, not an object" in error_of(b'[{"a": 1}, "x"]', "json", "bad.json")
    assert "line 1 is a string, not an object" in error_of(b'"just a string"', "json", "bad.json")
    assert "item 0 is a list, not an object" in error_of(b"[[1]]", "json", "bad.json")
    assert "malformed JSON (Extra data at line 1" in error_of(b'[{"a": 1}] {}', "json", "bad.json")


def test_deep_nesting():
    assert "nested deeper than" in error_of(b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}\n", "jsonl")
    assert "nested deeper than" in error_of(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", "jsonl")
    assert "nested deeper than" in error_of(b"[" * 100_000 + b"]" * 100_000, "json", "bad.json")


def test_huge_line(monkeypatch):
    monkeypatch.setattr(tables, "MAX_LINE_BYTES", 1000)
    assert "line 2 is longer than 1000 bytes" in error_of(b'{"a": 1}\n{"a": "' + b"x" * 5000 + b'"}\n', "jsonl")
    # a quoted CSV field running across many short lines is one row
    assert "is longer than 1000 bytes" in error_of(b'a\n"' + b"x\n" * 1000 + b'"\n', "csv", "bad.csv")


def test_gzip_bomb_is_capped():
    bomb = gzip.compress(b"\n" * 50_000_000)  # 50 MB of newlines in ~50 KB
    assert len(bomb) < 100_000
    with pytest.raises(TableError, match="decompresses to more than 1000000 bytes"):
        read_rows(io.BytesIO(bomb), "jsonl.gz", name="bomb.jsonl.gz", max_bytes=1_000_000)
    info = inspect(io.BytesIO(bomb), "jsonl.gz", name="bomb.jsonl.gz", scan_bytes=1_000_000)
    assert "decompresses to more than" in info.error


def test_not_gzip_and_unsupported_compression():
    assert "not a valid gzip file" in error_of(b"plain text", "jsonl.gz", "bad.jsonl.gz")
    assert "not a valid gzip file" in error_of(gzip.compress(b'{"a": 1}\n' * 100)[:-10], "jsonl.gz", "bad.jsonl.gz")
    assert ".zst compression is not supported" in error_of(b"x", "csv.zst", "bad.csv.zst")


def test_absurd_column_counts():
    wide = ",".join(f"c{i}" for i in range(5000)).encode() + b"\n"
    assert "the header has 5000 columns" in error_of(wide, "csv", "bad.csv")
    row = json.dumps({f"c{i}": i for i in range(5000)}).encode()
    assert "has 5000 columns" in error_of(row, "jsonl")
    many = b"".join(json.dumps({f"c{i}": i}).encode() + b"\n" for i in range(tables.MAX_COLUMNS + 1))
    assert "more than 1000 distinct columns" in inspect(io.BytesIO(many), "jsonl", name="bad.jsonl").error
    wide_parquet = parquet_bytes(pa.table({f"c{i}": [1] for i in range(tables.MAX_COLUMNS + 1)}))
    assert "1001 columns" in error_of(wide_parquet, "parquet", "bad.parquet")


def test_csv_row_with_too_many_fields_and_duplicate_header():
    assert "line 3 has 3 fields; the header has 2" in error_of(b"a,b\n1,2\n1,2,3\n", "csv", "bad.csv")
    assert "column 'a' appears twice" in error_of(b"a,a\n1,2\n", "csv", "bad.csv")


def test_corrupt_parquet():
    assert "not a readable Parquet file" in error_of(b"PAR1 not really", "parquet", "bad.parquet")
    data = parquet_bytes(pa.table({"x": list(range(1000))}))
    assert "not a readable Parquet file" in error_of(data[:100] + b"\0" * 50 + data[150:], "parquet", "bad.parquet")


def test_integer_too_long_for_python():
    assert "bad.jsonl: line 1:" in error_of(b'{"a": ' + b"9" * 5000 + b"}\n", "jsonl")
