"""What a data file holds: a sample read as the recipe will read it, and each column's kind.

Reading a sample with pandas, using the very reader options the recipe will pass to
`datasets.load_dataset` (sep, header, names, quoting), keeps what was inspected and what trains
the same. Each column gets a kind (text, score, binary, classes, other), from its values and,
where values are ambiguous, its name; identifiers (QuestionID, 'Q17') are never text. `sbft init`
proposes a task from the kinds (sbft.proposal), and `sbft eval` reads a file without named columns
the same way. A folder in BEIR layout (corpus, queries, qrels) is recognised and counted.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sbft.beir import CORPUS, QRELS, QUERIES, read_beir
from sbft.columns import ID_NAME, looks_like_ids
from sbft.errors import SbftError
from sbft.file_errors import check_data_file, csv_header_error, data_format, read_error
from sbft.files import FILE_FORMATS, reader_options
from sbft.recipe import SPLITS

if TYPE_CHECKING:
    import pandas as pd

_CONVERT = (
    "Convert it to UTF-8: iconv -f latin1 -t utf-8 '{path}' > converted{suffix} (cp1252 for Windows files)."
)
SAMPLE_ROWS = 2000
_SCAN_BYTES = 200_000_000
"""CSV files are scanned up to this size for quotes and the widest row."""
MAX_CLASSES = 20
"""More distinct values than this: an ID or a measurement, not a class label."""
_SCORE_NAME = re.compile(r"score|similarity|relevance|rating|(^|_)sim$", re.I)


@dataclass
class Column:
    name: str
    kind: str
    """text, score (float), binary (0/1), classes (a few ints or strings), or other."""
    detail: str = ""
    low: float | None = None
    high: float | None = None
    classes: list[Any] = field(default_factory=list)
    distinct: int = 0
    """Distinct values in the sample (text columns): few per row means texts that repeat."""

    def describe(self) -> str:
        return f"{self.name} ({self.kind}{', ' + self.detail if self.detail else ''})"


@dataclass
class Inspection:
    """What one data file holds, and how to read it."""

    path: Path
    format: str
    loader_args: dict[str, Any]
    columns: list[Column]
    rows: int
    """Rows in the sample (at most SAMPLE_ROWS)."""

    def of_kind(self, *kinds: str) -> list[Column]:
        return [c for c in self.columns if c.kind in kinds]


BEIR_LAYOUT = f"A folder in BEIR layout ({CORPUS}, {QUERIES}, {QRELS}/{{train,dev,test}}.tsv) also works."


@dataclass
class BeirInspection:
    """What a BEIR folder holds: its documents, and per qrels split its judged queries."""

    path: Path
    documents: int
    splits: dict[str, tuple[int, int]]
    """split -> (queries with a relevant document, (query, relevant document) pairs)."""

    def describe(self) -> str:
        """'18,821 documents; train: 714 queries (855 pairs), dev: 159 queries (186 pairs)'."""
        splits = ", ".join(f"{s}: {q:,} queries ({p:,} pairs)" for s, (q, p) in self.splits.items())
        return f"{self.documents:,} documents; {splits}"


def is_beir_folder(path: Path) -> bool:
    """A folder with any part of the BEIR layout (inspect_beir names the parts it lacks)."""
    return path.is_dir() and any((path / name).exists() for name in (CORPUS, QUERIES, QRELS))


def inspect_beir(folder: Path) -> BeirInspection:
    """Read a BEIR folder as training will (every id checked) and count what it holds."""
    data = read_beir(folder, SPLITS, "data")
    if "train" not in data.splits:
        raise SbftError(
            f"the BEIR folder '{folder}' has no {QRELS}/train.tsv, so nothing to train on",
            where="data",
            fix=f"Judge some queries in {QRELS}/train.tsv (query-id, corpus-id, score); to score a "
            "model on the folder as it is, use sbft eval MODEL FOLDER.",
        )
    counts = {
        split: (len(judged.queries), sum(len(judged.relevant(q)) for q in judged.queries))
        for split, judged in data.splits.items()
    }
    return BeirInspection(folder, len(data.corpus), counts)


def inspect_file(path: Path) -> Inspection:
    """Read a sample of a csv/tsv/json(l)/parquet file and tell each column's kind."""
    check_data_file(path, "the data file", "data")
    file_format = data_format(path, None, "data", fix=f"sbft reads {', '.join(FILE_FORMATS)} files.")
    loader_args = _csv_options(path) if file_format == "csv" else {}
    if file_format == "csv" and "names" not in loader_args:
        separator = reader_options(path, loader_args).get("sep", ",")
        if (repeated := csv_header_error(path, separator, "data")) is not None:
            raise repeated  # pandas would read the second copy as 'name.1'
    try:
        frame = _read_sample(path, file_format, loader_args)
    except Exception as exc:
        raise read_error(path, file_format, "data", _CONVERT) or SbftError(
            f"cannot read '{path}': {str(exc).splitlines()[0]}", where="data"
        ) from None
    if frame.empty:
        raise SbftError(f"'{path}' holds no rows", where="data")
    columns = [_classify(str(name), frame[name]) for name in frame.columns]
    return Inspection(path, file_format, loader_args, columns, len(frame))


def _csv_options(path: Path) -> dict[str, Any]:
    """Separator, header and quoting, as datasets' csv reader takes them.

    The separator comes from the first lines; quotes and the widest row need the whole file
    (raw STSb has a few rows with extra columns far down).
    """
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as file:
        text = file.read(_SCAN_BYTES)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return {}
    implied = reader_options(path, {}).get("sep", ",")
    try:
        sep = csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=",\t;|").delimiter
    except csv.Error:
        sep = implied
    options: dict[str, Any] = {} if sep == implied else {"sep": sep}
    if sep == "\t" and '"' in text:
        options["quoting"] = csv.QUOTE_NONE  # tab-separated text: quotes are part of the sentences
    rows = csv.reader(lines, delimiter=sep, quoting=options.get("quoting", csv.QUOTE_MINIMAL))
    first = next(rows)
    if not any(_is_number(cell) or len(cell.split()) > 4 for cell in first):
        return options  # the first row reads as column names
    width = max(len(first), *(len(row) for row in rows))  # some rows may carry optional columns
    return {**options, "header": None, "names": [f"column{i}" for i in range(1, width + 1)]}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_sample(path: Path, file_format: str, loader_args: dict[str, Any]) -> pd.DataFrame:
    import pandas as pd

    if file_format == "csv":
        return pd.read_csv(path, **reader_options(path, loader_args), nrows=SAMPLE_ROWS)
    if file_format == "parquet":
        import pyarrow.parquet as pq

        batches = pq.ParquetFile(path).iter_batches(batch_size=SAMPLE_ROWS)
        return next(batches).to_pandas()
    try:  # utf-8-sig: a byte-order mark (Windows tools write one) is no part of the first row
        return pd.read_json(path, lines=True, nrows=SAMPLE_ROWS, encoding="utf-8-sig")
    except ValueError:
        return pd.read_json(path, encoding="utf-8-sig").head(SAMPLE_ROWS)  # a JSON array, not JSON lines


def _free_text(values: set[str]) -> bool:
    """Sentences rather than class names: a question asked of several candidates repeats like a
    label (WikiQA), but labels are a word or two ('entailment', 'not similar')."""
    words = [len(value.split()) for value in values]
    return sum(words) / len(words) > 3 or max(words) > 5


def _classify(name: str, values: pd.Series) -> Column:
    """A column's kind, from its sampled values (and its name, where values are ambiguous)."""
    import pandas as pd

    present = values.dropna()
    if present.empty or len(present) < len(values) / 2:
        return Column(name, "other", "mostly empty")
    if ID_NAME.search(name):  # before classes: a few question ids repeat like class labels
        return Column(name, "other", "identifiers")
    if pd.api.types.is_bool_dtype(values):
        return Column(name, "other", "true/false; sbft reads labels as numbers 0/1")
    if pd.api.types.is_numeric_dtype(values):
        numbers = present.astype(float)
        low, high = float(numbers.min()), float(numbers.max())
        integral = bool((numbers == numbers.round()).all())
        distinct = set(numbers)
        if not integral or _SCORE_NAME.search(name):
            return Column(name, "score", f"{low:g}..{high:g}", low, high)
        if len(distinct) == 1:
            return Column(name, "other", f"always {low:g}")
        if distinct <= {0, 1}:
            return Column(name, "binary", "0/1", low, high, classes=[0, 1])
        if len(distinct) <= MAX_CLASSES:
            return Column(name, "classes", f"{len(distinct)} integer classes", low, high, sorted(distinct))
        return Column(name, "other", f"numbers {low:g}..{high:g}")
    strings = [v for v in present if isinstance(v, str)]
    if len(strings) < len(present):
        return Column(name, "other", "mixed values")
    distinct_texts = set(strings)
    if len(distinct_texts) == 1:
        return Column(name, "other", f"always {strings[0]!r}")
    if (
        len(distinct_texts) <= MAX_CLASSES
        and 2 * len(distinct_texts) <= len(strings)
        and not _free_text(distinct_texts)
    ):
        shown = ", ".join(sorted(distinct_texts)[:4]) + (", ..." if len(distinct_texts) > 4 else "")
        return Column(
            name, "classes", f"{len(distinct_texts)} classes: {shown}", classes=sorted(distinct_texts)
        )
    if looks_like_ids(name, strings):
        return Column(name, "other", "identifiers")
    words = sum(len(v.split()) for v in strings) / len(strings)
    return Column(name, "text", f"{words:.0f} words on average", distinct=len(distinct_texts))
