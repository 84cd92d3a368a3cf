"""Why a data file cannot be read, in the user's terms rather than the reader's.

Readers report a folder or a symlink loop as a missing file, a Latin-1 file as "Invalid UTF8
sequence at string index 2", and bad JSON Lines as "Trailing data at position 119", after
logging a line of their own. These helpers name the folder, the loop, the encoding and the
line, and keep the readers' own error lines off the terminal.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from sbft.errors import SbftError, did_you_mean_path
from sbft.files import FILE_FORMATS, format_of


def data_format(path: str | Path, explicit: str | None, where: str | None, fix: str) -> str:
    """The datasets builder that reads `path` (`explicit` when given), or an error saying so."""
    file_format = format_of(path, explicit)
    if file_format is None:
        raise SbftError(f"cannot tell the format of '{path}' from its extension", where=where, fix=fix)
    return file_format


def check_data_file(path: str | Path, what: str, where: str) -> None:
    """`path` is a file that can be opened; a folder or a symlink loop is named for what it is.

    `what` says which file in messages ("the train file").
    """
    file = Path(path)
    if file.is_file():
        return
    if file.is_dir():
        inside = sorted(p.name for p in file.iterdir() if p.suffix.lower() in FILE_FORMATS)
        example = f", e.g. '{file / inside[0]}'" if inside else ""
        raise SbftError(
            f"{what} '{path}' is a folder, not a file",
            where=where,
            fix=f"Name a data file inside it{example} ({', '.join(s[1:] for s in FILE_FORMATS)}).",
        )
    try:
        os.stat(file)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SbftError(
                f"{what} '{path}' is a symbolic link that leads back to itself (a link loop)",
                where=where,
                fix="Point the link, or the path given here, at the real file.",
            ) from None
    target = f" (a link to '{os.readlink(file)}')" if file.is_symlink() else ""
    raise SbftError(
        f"{what} '{path}'{target} does not exist",
        where=where,
        fix=" ".join(
            part
            for part in (
                did_you_mean_path(file),
                "Check the path; relative paths are relative to the recipe's folder.",
            )
            if part
        ),
    )


@contextlib.contextmanager
def reader_logs_silenced() -> Iterator[None]:
    """No error lines from the datasets readers: sbft reports a read failure itself, once."""
    readers = logging.getLogger("datasets.packaged_modules")
    level = readers.level
    readers.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        readers.setLevel(level)


def encoding_error(
    path: str | Path, encoding: str | None, where: str, fix: str | None = None
) -> SbftError | None:
    """The error for a text file that is not in `encoding` (UTF-8 when None); None when it is.

    `fix` replaces the default advice, for readers that take no loader_args (BEIR folders).
    """
    try:
        bad = _undecodable(path, encoding or "utf-8")
    except LookupError:
        return SbftError(
            f"'{encoding}' is not an encoding Python knows",
            where=where,
            fix="Name one such as utf-8, latin-1 or cp1252 in loader_args.encoding.",
        )
    if bad is None:
        return None
    line, byte = bad
    name = encoding or "UTF-8"
    if fix is None and encoding is None:
        fix = (
            f"Convert it to UTF-8 (iconv -f latin1 -t utf-8 '{path}' > converted{Path(path).suffix}), "
            "or read it as it is with loader_args: {encoding: latin-1} (cp1252 for Windows files)."
        )
    elif fix is None:
        fix = f"Check loader_args.encoding ('{encoding}'); remove it for a UTF-8 file."
    return SbftError(f"'{path}' is not {name} text (byte {byte} on line {line})", where=where, fix=fix)


def read_error(path: str | Path, file_format: str, where: str | None, fix: str) -> SbftError | None:
    """Why a reader failed on a text data file, said in the user's terms: the first byte that is not
    UTF-8, or the first line that is not JSON (with its line number), instead of the reader's
    own words. None when neither explains it. `fix` is the advice for a file that is not UTF-8."""
    if file_format == "parquet":
        return None
    error = encoding_error(path, None, where or "", fix=fix.format(path=path, suffix=Path(path).suffix))
    if error is None and file_format == "json":
        error = json_error(path, None, where or "")
    if error is not None and where is None:
        error.where = None
    return error


def repeated_columns(header: list[str], path: str | Path, where: str | None) -> SbftError | None:
    """A header that names a column twice; None when every name is its own. Readers keep one copy
    silently (the last one), or rename the other ('text.1'), so the wrong texts would be read."""
    places: dict[str, list[int]] = {}
    for number, name in enumerate(header, start=1):
        places.setdefault(name.strip(), []).append(number)
    twice = {name: numbers for name, numbers in places.items() if len(numbers) > 1}
    if not twice:
        return None
    shown = "; ".join(f"{visible(name)} (columns {', '.join(map(str, at))})" for name, at in twice.items())
    return SbftError(
        f"the header of '{path}' names a column more than once: {shown}",
        where=where,
        fix="Give each column its own name in the header row.",
    )


def csv_header_error(path: str | Path, separator: str, where: str | None) -> SbftError | None:
    """repeated_columns for the header row of a csv/tsv file (a byte-order mark is no part of it)."""
    import csv

    with open(path, encoding="utf-8-sig", errors="replace", newline="") as stream:
        header = next(csv.reader(stream, delimiter=separator), [])
    return repeated_columns(header, path, where)


def visible(text: str) -> str:
    """`text` as it reads, or its repr when it holds characters a terminal does not show (a
    byte-order mark, a zero-width space, a tab): "'\\ufeffquery-id'" instead of "query-id"."""
    return text if text.isprintable() and text.strip() == text else repr(text)


def _undecodable(path: str | Path, encoding: str) -> tuple[int, str] | None:
    """(line, byte) where `path` stops decoding as `encoding`, reading it in chunks."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with open(path, "rb") as stream:
        while True:
            chunk = stream.read(1 << 20)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                bad = exc.object[exc.start : exc.start + 1]
                return line + exc.object[: exc.start].count(b"\n"), f"0x{bad.hex() or '??'}"
            if not chunk:
                return None
            line += chunk.count(b"\n")


def json_error(path: str | Path, encoding: str | None, where: str) -> SbftError | None:
    """The error naming the first invalid line of a JSON Lines (or JSON) file; None when all parse."""
    line = _bad_json_line(path, encoding or "utf-8")
    if line is None:
        return None
    return SbftError(
        f"line {line} of '{path}' is not valid JSON",
        where=where,
        fix='Each line of a .jsonl file holds one complete JSON object ({"column": value, ...}); '
        "check that line for a missing comma, quote or brace.",
    )


def _bad_json_line(path: str | Path, encoding: str) -> int | None:
    """The first line that is not JSON; a file whose first line is not JSON alone is one document."""
    parsed = 0
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"  # a byte-order mark is no part of line 1
    with open(path, encoding=encoding, errors="replace") as stream:
        for number, text in enumerate(stream, start=1):
            if not text.strip():
                continue
            try:
                json.loads(text)
            except ValueError:
                if parsed:
                    return number
                break
            parsed += 1
        else:
            return None
    try:
        with open(path, encoding=encoding, errors="replace") as stream:
            json.load(stream)
    except json.JSONDecodeError as exc:
        return exc.lineno
    return None
