"""Texts to embed, read as a stream: a text file (one per line), stdin, or a column of a data file.

Text input is split on '\\n' only ('\\r\\n' endings are stripped): row i is line i + 1 as
`sed -n` or an editor counts it. Blank lines are read as the empty string and never skipped, so
no row is ever dropped or merged.
"""

from __future__ import annotations

import codecs
import csv
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sbft.errors import SbftError, did_you_mean
from sbft.file_errors import repeated_columns
from sbft.files import STDIN

WINDOW = 8192
"""Texts read, length-sorted and held at once: big enough that padding costs under 1%."""
STRUCTURED_INPUTS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
}


@dataclass
class TextSource:
    """Texts to embed: a text file (one per line), stdin ('-'), or a column of jsonl/csv/tsv/parquet."""

    path: str
    column: str | None = None
    replace_errors: bool = False
    """Replace bytes that are not UTF-8 with U+FFFD instead of stopping with an error."""

    @property
    def kind(self) -> str:
        if self.path == STDIN:
            return "text"
        return STRUCTURED_INPUTS.get(Path(self.path).suffix.lower(), "text")

    @property
    def label(self) -> str:
        return "stdin" if self.path == STDIN else self.path

    def check(self) -> None:
        if self.path != STDIN:
            path = Path(self.path)
            if not path.exists():
                raise SbftError(f"the input file '{self.path}' does not exist", fix="Check the path.")
            if path.is_dir():
                raise SbftError(f"'{self.path}' is a folder, not a file", fix="Name a file of texts.")
            if path.suffix.lower() == ".json":
                raise SbftError(
                    "a .json file cannot be streamed",
                    where=self.path,
                    fix="Write one JSON object per line to a .jsonl file and pass --column.",
                )
        if self.column is not None and self.kind == "text":
            raise SbftError(
                "--column applies to jsonl, csv, tsv and parquet input; a text file has one text per line",
                where=self.label,
            )

    def texts(self, stdin: IO[bytes] | None = None) -> Iterator[str]:
        """Every text, in order: one per line, or one per record for structured files."""
        self.check()
        if self.kind == "parquet":
            yield from self._parquet()
            return
        if self.path == STDIN:
            yield from self._read(stdin or sys.stdin.buffer)
            return
        with open(self.path, "rb") as stream:
            yield from self._read(stream)

    def _read(self, stream: IO[bytes]) -> Iterator[str]:
        lines = decoded_lines(stream, self.label, self.replace_errors)
        if self.kind == "text":
            for _, text in lines:
                yield text
        elif self.kind == "jsonl":
            yield from self._jsonl(lines)
        else:
            yield from self._csv(lines, "\t" if self.kind == "tsv" else ",")

    def _jsonl(self, lines: Iterable[tuple[int, str]]) -> Iterator[str]:
        for number, line in lines:
            if not line.strip():
                continue  # not a record (JSON Lines has none on a blank line)
            where = f"{self.label}, line {number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SbftError(f"this line is not JSON ({exc.msg})", where=where) from None
            if not isinstance(record, dict):
                raise SbftError("each line must be a JSON object", where=where)
            yield self._text(record, list(record), where)

    def _csv(self, lines: Iterable[tuple[int, str]], delimiter: str) -> Iterator[str]:
        reader = csv.reader((line + "\n" for _, line in lines), delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            return
        if (repeated := repeated_columns(header, self.path, self.label)) is not None:
            raise repeated  # a dict of the row would keep the last copy silently
        for row in reader:
            where = f"{self.label}, line {reader.line_num}"
            if len(row) != len(header):
                raise SbftError(
                    f"this row has {len(row)} fields, the header has {len(header)}",
                    where=where,
                    fix="Quote fields that contain the delimiter, or check the file's delimiter.",
                )
            yield self._text(dict(zip(header, row, strict=True)), header, where)

    def _parquet(self) -> Iterator[str]:
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(self.path)
        except Exception as exc:  # pyarrow raises several types for unreadable files
            raise SbftError(f"cannot read it as parquet: {exc}", where=self.path) from None
        column = self._column(parquet.schema_arrow.names, self.path)
        row = 0
        for batch in parquet.iter_batches(batch_size=WINDOW, columns=[column]):
            for value in batch.column(0).to_pylist():
                row += 1
                yield self._check_text(value, f"{self.path}, row {row}")

    def _text(self, record: dict[str, Any], columns: list[str], where: str) -> str:
        return self._check_text(record[self._column(columns, where)], where)

    def _column(self, columns: list[str], where: str) -> str:
        if self.column is None:
            if len(columns) == 1:
                return columns[0]
            raise SbftError(
                f"which column holds the texts? The data has {', '.join(columns)}",
                where=where,
                fix="Name it with --column.",
            )
        if self.column not in columns:
            raise SbftError(
                f"there is no column '{self.column}' (columns: {', '.join(columns)})",
                where=where,
                fix=did_you_mean(self.column, columns),
            )
        return self.column

    def _check_text(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise SbftError(
                f"column '{self.column}' holds {value!r} here, not text",
                where=where,
                fix="Fill or drop rows without text: a row is never skipped, so output rows stay aligned.",
            )
        return value


def decoded_lines(stream: IO[bytes], label: str, replace_errors: bool) -> Iterator[tuple[int, str]]:
    """(line number, text) for each line, split on '\\n' only, without its '\\n' or '\\r\\n'.

    Invalid UTF-8 is an error that names the line, unless `replace_errors`. A UTF-8 byte-order
    mark at the start is dropped; a last line without a newline is still a line.
    """
    for number, raw in enumerate(stream, start=1):
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if not replace_errors:
                raise SbftError(
                    f"line {number} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte "
                    f"{exc.start + 1} of the line)",
                    where=label,
                    fix="Convert the input to UTF-8 (e.g. iconv -f latin1 -t utf-8), or pass "
                    "--replace-errors to replace invalid bytes with U+FFFD.",
                ) from None
            text = raw.decode("utf-8", errors="replace")
        yield number, text


def windows(texts: Iterable[str], size: int = WINDOW) -> Iterator[list[str]]:
    """Consecutive lists of at most `size` texts."""
    window: list[str] = []
    for text in texts:
        window.append(text)
        if len(window) == size:
            yield window
            window = []
    if window:
        yield window
