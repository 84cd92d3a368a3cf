"""Reading a folder in BEIR layout: the format retrieval benchmarks (BEIR, MTEB) ship their data in.

    corpus.jsonl     {"_id", "title", "text"} per line
    queries.jsonl    {"_id", "text"} per line
    qrels/SPLIT.tsv  header row, then query-id, corpus-id, score (tab-separated), SPLIT: train/dev/test

Plain json and csv readers: a corpus of tens of thousands of documents reads in well under a second.
Scores are relevance grades as BEIR keeps them: 0 is judged not relevant, 1 relevant, 2 more so.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sbft.errors import SbftError
from sbft.file_errors import encoding_error, visible

CORPUS, QUERIES, QRELS = "corpus.jsonl", "queries.jsonl", "qrels"
QRELS_HEADER = ("query-id", "corpus-id", "score")


@dataclass
class RetrievalSplit:
    """One split's judgements: the queries that have a relevant document, and every grade given."""

    queries: dict[str, str] = field(default_factory=dict)
    """Query id -> text, in qrels order; queries without a grade above 0 here are left out."""
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)
    """Query id -> {document id: grade} for those queries, grade-0 judgements included."""

    def relevant(self, query_id: str) -> list[str]:
        """The documents judged relevant (grade > 0) for a query, in qrels order."""
        return [doc for doc, grade in self.qrels[query_id].items() if grade > 0]

    def first(self, count: int) -> RetrievalSplit:
        """The first `count` queries only."""
        kept = list(self.queries)[:count]
        return RetrievalSplit({q: self.queries[q] for q in kept}, {q: self.qrels[q] for q in kept})


@dataclass
class BeirData:
    corpus: dict[str, str]
    """Document id -> text, the title (when there is one) before the text, as BEIR's models read it."""
    splits: dict[str, RetrievalSplit]


def qrels_path(folder: str | Path, split: str) -> Path:
    return Path(folder) / QRELS / f"{split}.tsv"


def beir_files(folder: str | Path | None) -> list[Path]:
    """The files a BEIR folder's reader opens (none for None): outputs must not replace them."""
    if not folder:
        return []
    folder = Path(folder)
    return [folder / CORPUS, folder / QUERIES, *sorted((folder / QRELS).glob("*.tsv"))]


def read_beir(folder: str | Path, splits: tuple[str, ...], where: str) -> BeirData:
    """The corpus, and the judged queries of each of `splits` that has a qrels file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SbftError(
            f"the BEIR folder '{folder}' does not exist",
            where=where,
            fix=f"Point it at a folder holding {CORPUS}, {QUERIES} and {QRELS}/.",
        )
    for name in (CORPUS, QUERIES):
        if not (folder / name).is_file():
            raise SbftError(
                f"the BEIR folder '{folder}' has no {name}",
                where=where,
                fix=f"A BEIR folder holds {CORPUS}, {QUERIES} and {QRELS}/{{train,dev,test}}.tsv.",
            )
    present = [split for split in splits if qrels_path(folder, split).is_file()]
    if not present:
        raise SbftError(
            f"the BEIR folder '{folder}' has none of {', '.join(f'{QRELS}/{s}.tsv' for s in splits)}",
            where=where,
            fix="Each split is a qrels file: query-id, corpus-id, score (tab-separated, header row).",
        )
    corpus = {
        row["_id"]: f"{row.get('title') or ''} {row['text']}".strip()
        for row in _jsonl(folder / CORPUS, ("_id", "text"), where)
    }
    queries = {row["_id"]: row["text"] for row in _jsonl(folder / QUERIES, ("_id", "text"), where)}
    return BeirData(
        corpus, {split: _split(qrels_path(folder, split), queries, corpus, where) for split in present}
    )


def _jsonl(path: Path, required: tuple[str, ...], where: str) -> list[dict[str, Any]]:
    """The rows of a BEIR .jsonl file, each `_id` once: a repeated id would silently replace the
    first copy (the last one wins), so two different rows under one id are refused."""
    rows: dict[str, dict[str, Any]] = {}
    lines_of: dict[str, list[int]] = {}
    for number, line in _lines(path, where):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SbftError(f"line {number} of '{path}' is not valid JSON ({exc.msg})", where=where) from None
        missing = [key for key in required if not isinstance(row, dict) or key not in row]
        if missing:
            raise SbftError(
                f"line {number} of '{path}' has no {', '.join(missing)}",
                where=where,
                fix=f"Each line of {path.name} is an object with {', '.join(required)}.",
            )
        row["_id"] = str(row["_id"])
        if not isinstance(row["text"], str):
            raise SbftError(f"line {number} of '{path}': 'text' is not text", where=where)
        lines_of.setdefault(row["_id"], []).append(number)
        rows.setdefault(row["_id"], row)
        if rows[row["_id"]] != row:
            rows[row["_id"]] = {"_conflict": True}
    _check_duplicates(path, rows, lines_of, where)
    return list(rows.values())


def _check_duplicates(
    path: Path, rows: dict[str, dict[str, Any]], lines_of: dict[str, list[int]], where: str
) -> None:
    """Refuse ids given twice with different content; say once that exact copies are read once."""
    repeated = {key: numbers for key, numbers in lines_of.items() if len(numbers) > 1}
    if not repeated:
        return
    shown = "; ".join(
        f"'{key}' on lines {', '.join(map(str, numbers[:5]))}{' ...' if len(numbers) > 5 else ''}"
        for key, numbers in list(repeated.items())[:5]
    )
    more = f" (and {len(repeated) - 5} more ids)" if len(repeated) > 5 else ""
    if any("_conflict" in rows[key] for key in repeated):
        raise SbftError(
            f"'{path}' gives {len(repeated)} _id(s) more than once with different content: {shown}{more}",
            where=where,
            fix="Each _id names one row: remove the extra lines or give them new ids "
            "(one copy would silently replace the other).",
        )
    print(
        f"warning: {where}: '{path}' repeats {len(repeated)} _id(s) with the same content, read once: "
        f"{shown}{more}",
        file=sys.stderr,
    )


def _lines(path: Path, where: str, newline: str | None = None) -> Iterator[tuple[int, str]]:
    """(number, line) of a UTF-8 text file; a byte-order mark is skipped, a byte that is not UTF-8
    is named with its line instead of a UnicodeDecodeError."""
    try:
        with path.open(encoding="utf-8-sig", newline=newline) as lines:
            yield from enumerate(lines, start=1)
    except UnicodeDecodeError:
        error = encoding_error(path, None, where, fix=_CONVERT.format(path=path))
        raise (error or SbftError(f"'{path}' is not UTF-8 text", where=where)) from None


_CONVERT = (
    "BEIR files are UTF-8: convert it (iconv -f latin1 -t utf-8 '{path}' > converted; mv converted '{path}')."
)


def _split(path: Path, queries: dict[str, str], corpus: dict[str, str], where: str) -> RetrievalSplit:
    qrels: dict[str, dict[str, int]] = {}
    first_line: dict[tuple[str, str], int] = {}
    reader = csv.reader((line for _, line in _lines(path, where, newline="")), delimiter="\t")
    header = tuple(cell.strip() for cell in next(reader, ()))
    if header != QRELS_HEADER:
        raise SbftError(
            f"'{path}' starts with {' '.join(map(visible, header)) or 'nothing'}, not the header "
            f"{' '.join(QRELS_HEADER)}",
            where=where,
            fix="Qrels files are tab-separated with a header row: query-id, corpus-id, score.",
        )
    for number, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != 3 or not row[2].strip().lstrip("-").isdigit():
            raise SbftError(
                f"line {number} of '{path}' is not query-id, corpus-id, an integer score: {row}",
                where=where,
            )
        query, doc, grade = row[0].strip(), row[1].strip(), int(row[2])
        for kind, known, key in (("query", queries, query), ("document", corpus, doc)):
            if key not in known:
                raise SbftError(
                    f"line {number} of '{path}' names the {kind} '{key}', which is not in the folder",
                    where=where,
                    fix="Every id in the qrels must be in queries.jsonl and corpus.jsonl.",
                )
        earlier = qrels.get(query, {}).get(doc)
        if earlier is not None and earlier != grade:
            raise SbftError(
                f"lines {first_line[query, doc]} and {number} of '{path}' grade the document '{doc}' for "
                f"the query '{query}' twice, {earlier} and {grade}",
                where=where,
                fix="Keep one line per query and document.",
            )
        first_line.setdefault((query, doc), number)
        qrels.setdefault(query, {})[doc] = grade
    judged = [query for query, grades in qrels.items() if any(grade > 0 for grade in grades.values())]
    return RetrievalSplit({q: queries[q] for q in judged}, {q: qrels[q] for q in judged})
