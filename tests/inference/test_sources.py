"""sbft.inference.sources: texts read as a stream from text files, stdin and data files."""

from __future__ import annotations

import io
import re

import pytest

from sbft.errors import SbftError
from sbft.inference.sources import TextSource, decoded_lines, windows
from tests.helpers import write_jsonl


def lines(data: bytes, replace: bool = False) -> list[tuple[int, str]]:
    return list(decoded_lines(io.BytesIO(data), "input", replace))


def test_lines_split_on_newline_only():
    data = "\ufeffone\r\n\r\ntwo\x0bstill two\u2028and this\rtoo\nthree".encode()
    assert lines(data) == [(1, "one"), (2, ""), (3, "two\x0bstill two\u2028and this\rtoo"), (4, "three")]
    assert lines(b"a\n") == [(1, "a")]  # a final newline ends a line, it does not start one
    assert lines(b"") == []
    assert lines(b"\n\n") == [(1, ""), (2, "")]


def test_invalid_utf8_names_the_line_or_is_replaced():
    with pytest.raises(SbftError, match=r"line 3 is not valid UTF-8 \(byte 0xff at byte 5") as error:
        lines(b"ok\nfine\nabc \xff\n")
    assert "--replace-errors" in str(error.value)
    assert lines(b"ok\nabc \xff\n", replace=True) == [(1, "ok"), (2, "abc \ufffd")]


def test_structured_sources(tmp_path):
    write_jsonl(tmp_path / "t.jsonl", [{"id": 1, "text": "a b"}, {"id": 2, "text": "c\nd"}])
    (tmp_path / "t.jsonl").write_text((tmp_path / "t.jsonl").read_text() + "\n\n", encoding="utf-8")
    assert list(TextSource(str(tmp_path / "t.jsonl"), "text").texts()) == ["a b", "c\nd"]

    (tmp_path / "t.csv").write_text('id,text\n1,"x, y"\n2,"multi\nline"\n3,\n', encoding="utf-8")
    assert list(TextSource(str(tmp_path / "t.csv"), "text").texts()) == ["x, y", "multi\nline", ""]
    (tmp_path / "t.tsv").write_text("text\nonly one column\n", encoding="utf-8")
    assert list(TextSource(str(tmp_path / "t.tsv")).texts()) == ["only one column"]  # the only column

    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"n": [1, 2], "body": ["p", "q"]}), tmp_path / "t.parquet")
    assert list(TextSource(str(tmp_path / "t.parquet"), "body").texts()) == ["p", "q"]


@pytest.mark.parametrize(
    ("name", "content", "column", "message"),
    [
        ("a.jsonl", '{"text": "x"}\n{"other": "y"}\n', "text", "line 2: there is no column 'text'"),
        ("a.jsonl", '{"text": "x"}\n{"text": null}\n', "text", "line 2: column 'text' holds None"),
        ("a.jsonl", '{"text": "x"}\nnot json\n', "text", "line 2: this line is not JSON"),
        ("a.jsonl", '{"a": "x", "b": "y"}\n', None, "which column holds the texts"),
        ("a.csv", "a,b\nx,y\n", "c", "there is no column 'c'"),
        ("a.csv", "a,b\nx,y,z\n", "a", "line 2: this row has 3 fields"),
        ("a.txt", "x\n", "text", "--column applies to jsonl"),
        ("a.json", "[]", "text", "cannot be streamed"),
    ],
)
def test_source_errors(tmp_path, name, content, column, message):
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(SbftError, match=re.escape(message)):
        list(TextSource(str(tmp_path / name), column).texts())


def test_missing_input(tmp_path):
    with pytest.raises(SbftError, match="does not exist"):
        TextSource(str(tmp_path / "nope.txt")).check()


def test_stdin_is_read_as_text(tmp_path):
    source = TextSource("-")
    assert source.kind == "text" and source.label == "stdin"
    assert list(source.texts(io.BytesIO(b"a\r\nb\n"))) == ["a", "b"]


def test_windows():
    assert list(windows(iter("abcde"), 2)) == [["a", "b"], ["c", "d"], ["e"]]
    assert list(windows(iter(""), 2)) == []
