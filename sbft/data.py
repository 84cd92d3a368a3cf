"""Loading a recipe's datasets into the exact columns, order and label that its loss expects.

Readers are not rewritten: files and hub datasets go through `datasets.load_dataset`, with the
recipe's `loader_args` passed straight through. sentence-transformers matches inputs by
position, so sbft selects and orders them explicitly and names the label column `label`. Over
400 lines and kept one module: reading, column selection, label mapping and the holdout all
shape the same PreparedDataset, step after step.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sbft.beir import RetrievalSplit, read_beir
from sbft.errors import SbftError, closest
from sbft.families import DEFAULT, Family, LabelKind, LossInfo
from sbft.file_errors import (
    check_data_file,
    csv_header_error,
    data_format,
    encoding_error,
    json_error,
    reader_logs_silenced,
)
from sbft.files import reader_options
from sbft.holdout import source_splits, with_holdout
from sbft.labelled_pairs import pairs_from_labels
from sbft.losses import effective_info
from sbft.recipe import SPLITS, DatasetSpec
from sbft.wording import noun

if TYPE_CHECKING:
    from datasets import Dataset

LABEL = "label"
FLOAT32_MAX = 3.4028234663852886e38


@dataclass
class PreparedDataset:
    """One recipe dataset, ready for its loss: input columns in order, then `label` if any."""

    name: str
    spec: DatasetSpec
    splits: dict[str, Dataset]
    class_names: list[str] | None = None
    """For string class labels: the name of each id."""
    inputs: list[str] = field(default_factory=list)
    label_kind: LabelKind = None
    """'score' (float) or 'class' (int): from the loss, or from the data when there is none."""
    family: Family = DEFAULT
    corpus: dict[str, str] | None = None
    """A BEIR dataset's documents, id -> text: dev and test are searched over all of them."""
    retrieval: dict[str, RetrievalSplit] = field(default_factory=dict)
    """A BEIR dataset's judged queries per split; its rows are (query, relevant document) pairs."""
    notes: dict[str, str] = field(default_factory=dict)
    """Per split, how its rows were made when not read as they are (pairs_from_labels), for the plan."""

    @property
    def has_label(self) -> bool:
        return self.spec.label is not None

    @property
    def loss_info(self) -> LossInfo | None:
        """What the loss expects; None for a dataset used for evaluation only."""
        return effective_info(self.spec.loss, self.family) if self.spec.loss else None

    @property
    def user(self) -> str:
        """Who needs the columns, for error messages."""
        return self.spec.loss.name if self.spec.loss else "evaluation"

    def with_rows(self, splits: dict[str, Dataset]) -> PreparedDataset:
        """The same dataset on the first rows of each split (the smoke run's few rows).

        A BEIR dataset keeps the queries of those rows, and a corpus of their judged documents
        and as many others: searching it stays a search, and takes no time.
        """
        if self.corpus is None:
            return dataclasses.replace(self, splits=splits)
        query_column = self.inputs[0]
        retrieval = {
            split: judged.first(len(set(splits[split][query_column])))
            for split, judged in self.retrieval.items()
            if split in splits
        }
        judged_docs = {
            doc: None for kept in retrieval.values() for grades in kept.qrels.values() for doc in grades
        }
        others = [doc for doc in self.corpus if doc not in judged_docs][: len(judged_docs)]
        corpus = {doc: self.corpus[doc] for doc in [*judged_docs, *others]}
        return dataclasses.replace(self, splits=splits, corpus=corpus, retrieval=retrieval)


def load_datasets(specs: dict[str, DatasetSpec], family: Family = DEFAULT) -> dict[str, PreparedDataset]:
    return {name: load_prepared(name, spec, family=family) for name, spec in specs.items()}


def load_prepared(
    name: str, spec: DatasetSpec, splits: tuple[str, ...] = SPLITS, family: Family = DEFAULT
) -> PreparedDataset:
    """Load and prepare every split the dataset declares (of those asked for)."""
    if spec.beir:
        return _load_beir(name, spec, splits, family)
    raw = _load_raw(name, spec, source_splits(splits, spec.holdout))
    notes = {}
    if spec.pairs_from_labels is not None:
        made = {
            split: pairs_from_labels(data, spec.pairs_from_labels, f"datasets.{name} ({split} split)")
            for split, data in raw.items()
        }
        raw = {split: pairs.rows for split, pairs in made.items()}
        notes = {split: pairs.summary() for split, pairs in made.items()}
    raw = with_holdout(raw, splits, spec.holdout, spec.input_columns, f"datasets.{name}")
    prepared = PreparedDataset(
        name=name, spec=spec, splits={}, inputs=_target_names(spec), family=family, notes=notes
    )
    for split in [s for s in SPLITS if s in raw]:  # train first: it defines the class ids
        prepared.splits[split] = _prepare_split(raw[split], prepared, split)
    return prepared


def _target_names(spec: DatasetSpec) -> list[str]:
    return [spec.renames.get(column, column) for column in spec.input_columns]


def _load_beir(name: str, spec: DatasetSpec, wanted: tuple[str, ...], family: Family) -> PreparedDataset:
    """(query, relevant document) rows per split, one per relevant document; the corpus beside them."""
    from datasets import Dataset

    beir = read_beir(spec.beir, wanted, f"datasets.{name}.beir")
    prepared = PreparedDataset(
        name=name, spec=spec, splits={}, inputs=_target_names(spec), family=family, corpus=beir.corpus
    )
    query_column, document_column = prepared.inputs
    for split, judged in beir.splits.items():
        pairs = [(query, doc) for query in judged.queries for doc in judged.relevant(query)]
        if not pairs:
            raise SbftError(
                f"the {split} split is empty: no query has a document with a score above 0",
                where=f"datasets.{name}.beir",
                fix=f"Check {spec.beir}/qrels/{split}.tsv.",
            )
        pairs = pairs[: spec.max_samples]
        prepared.retrieval[split] = judged.first(len(dict.fromkeys(query for query, _ in pairs)))
        prepared.splits[split] = Dataset.from_dict(
            {
                query_column: [judged.queries[query] for query, _ in pairs],
                document_column: [beir.corpus[doc] for _, doc in pairs],
            }
        )
    return prepared


def _load_raw(name: str, spec: DatasetSpec, wanted: tuple[str, ...]) -> dict[str, Dataset]:
    import datasets

    where = f"datasets.{name}"
    if spec.hub:
        split_names = {s: hub_split for s, hub_split in spec.splits.items() if s in wanted}
        try:
            loaded = datasets.load_dataset(spec.hub, spec.subset, **spec.loader_args)
        except Exception as exc:
            raise SbftError(
                f"cannot load the hub dataset '{spec.hub}': {_root_cause(exc)}",
                where=f"{where}.hub",
                fix="Check the id and that the hub is reachable; offline, download the files and "
                "list them under 'files:' instead.",
            ) from None
        missing = [hub_split for hub_split in split_names.values() if hub_split not in loaded]
        if "train" in split_names and split_names["train"] in missing:
            raise SbftError(
                f"the hub dataset '{spec.hub}' has no split '{split_names['train']}' "
                f"(it has: {', '.join(loaded)})",
                where=f"{where}.splits",
                fix="Map sbft's splits to the hub's names, e.g. splits: {train: train, dev: validation}.",
            )
        return {s: loaded[h] for s, h in split_names.items() if h in loaded}

    files = {split: path for split, path in spec.files.items() if split in wanted}
    for split, path in files.items():
        check_data_file(path, f"the {split} file", f"{where}.files.{split}")
    result = {}
    for split, path in files.items():
        file_format = data_format(
            path, spec.format, f"{where}.files.{split}", fix="Set 'format:' to csv, json or parquet."
        )
        options = reader_options(path, spec.loader_args)
        # pyarrow's JSON reader loads bytes that are not UTF-8 and fails later, on first use
        found = encoding_error(path, None, f"{where}.files.{split}") if file_format == "json" else None
        if file_format == "csv" and "names" not in options and options.get("header", 0) == 0:
            separator = options.get("sep") or options.get("delimiter") or ","
            found = csv_header_error(path, separator, f"{where}.files.{split}")
        if found is not None:
            raise found
        try:
            with reader_logs_silenced():
                result[split] = datasets.load_dataset(
                    file_format, data_files={split: path}, split=split, **options
                )
        except Exception as exc:  # reported as a user error
            raise _read_error(exc, path, split, file_format, options, f"{where}.files.{split}") from None
    return result


def _read_error(
    exc: Exception, path: str, split: str, file_format: str, options: dict[str, Any], where: str
) -> SbftError:
    """The reader's failure in the user's terms: an empty file, the encoding, the bad JSON line."""
    cause = _root_cause(exc)
    if "corresponds to no data" in cause:  # datasets' words for a file without rows
        return SbftError(
            f"the {split} split is empty ('{path}' has no rows)",
            where=where,
            fix="Check the file's contents.",
        )
    if file_format != "parquet":
        found = encoding_error(path, options.get("encoding"), where)
        if found is None and file_format == "json":
            found = json_error(path, options.get("encoding"), where)
        if found is not None:
            return found
    hints = " (e.g. sep, names, header, quoting: 3 for unescaped quotes)" if file_format == "csv" else ""
    return SbftError(
        f"cannot read '{path}': {cause}",
        where=where,
        fix=f"Reader options go under 'loader_args' and pass to datasets.load_dataset{hints}.",
    )


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _prepare_split(data: Dataset, prepared: PreparedDataset, split: str) -> Dataset:
    spec, where = prepared.spec, f"datasets.{prepared.name} ({split} split)"
    needed = spec.input_columns + ([spec.label] if spec.label else [])
    missing = [c for c in needed if c not in data.column_names]
    if missing:
        unused = [c for c in data.column_names if c not in needed]
        matches = {c: match for c in missing if (match := closest(c, unused))}
        guess = " ".join(
            f"Did you mean '{match}'" + (f" for '{c}'?" if len(missing) > 1 else "?")
            for c, match in matches.items()
        )
        raise SbftError(
            f"{noun(len(missing), 'column')} {', '.join(missing)} not found in the data, which has "
            f"{', '.join(data.column_names)}",
            where=where,
            fix=(f"{guess} " if guess else "")
            + "Name existing columns under 'columns:' / 'label:'; for files without a header, "
            "give column names with loader_args: {names: [...]} (csv).",
        )
    if len(data) == 0:
        raise SbftError(f"the {split} split is empty", where=where, fix="Check the file's contents.")
    if spec.max_samples is not None and len(data) > spec.max_samples:
        data = data.select(range(spec.max_samples))
    data = data.select_columns(needed)  # in the recipe's order: the loss reads by position
    if spec.renames:
        data = data.rename_columns(spec.renames)
    for column in prepared.inputs:
        listwise = prepared.loss_info is not None and prepared.loss_info.listwise
        _check_texts(data[column], column, where, as_lists=listwise and column == prepared.inputs[-1])
    if spec.label:
        if spec.label != LABEL:
            data = data.rename_column(spec.label, LABEL)
        data = _prepare_label(data, prepared, where)
    return data


def _check_texts(values: list[Any], column: str, where: str, as_lists: bool = False) -> None:
    """Every row holds text (or, for a listwise documents column, a list of texts)."""
    for row, value in enumerate(values, start=1):
        if as_lists:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise SbftError(
                    f"row {row} of column '{column}' holds {value!r} instead of a list of texts",
                    where=where,
                    fix="Listwise losses read one query and a list of documents per row (jsonl works best).",
                )
        elif not isinstance(value, str):
            raise SbftError(
                f"row {row} of column '{column}' holds {value!r} instead of text",
                where=where,
                fix="Fill or drop rows with missing text; for a raw TSV with stray quotes, "
                "read it with loader_args: {quoting: 3}.",
            )


def _prepare_label(data: Dataset, prepared: PreparedDataset, where: str) -> Dataset:
    spec, info = prepared.spec, prepared.loss_info
    values = data[LABEL]
    if info is not None and info.label == "scores":
        return _prepare_score_lists(data, prepared, where)
    _check_present(values, spec.label, where)
    if any(isinstance(v, str) for v in values):
        if info is not None and info.label != "class":
            example = next(v for v in values if isinstance(v, str))
            raise SbftError(
                f"the label column '{spec.label}' holds text (e.g. {example!r}), "
                f"but {prepared.user} needs a numeric {info.label}",
                where=where,
                fix="Check that 'label:' names the score column, or use a class loss such as SoftmaxLoss.",
            )
        return _class_ids(data, prepared, where)
    _check_numbers(values, prepared, where)
    if spec.label_range is not None:
        low, high = spec.label_range
        data = data.map(lambda row: {LABEL: (row[LABEL] - low) / (high - low)})
        values = data[LABEL]
    if prepared.label_kind is None:
        integral = all(isinstance(v, int) for v in values)
        prepared.label_kind = info.label if info else "class" if integral else "score"
    if prepared.label_kind == "class":
        if any(float(v) != int(v) for v in values):
            raise SbftError(
                f"{prepared.user} needs integer class labels, but '{spec.label}' holds fractions",
                where=where,
                fix="Use a score loss (CoSENTLoss) for graded labels.",
            )
        data = data.map(lambda row: {LABEL: int(row[LABEL])})
    else:
        from datasets import Value

        data = data.cast_column(LABEL, Value("float32"))
    if info is not None and info.label_range is not None:
        low, high = info.label_range
        outside = [v for v in values if not low - 1e-6 <= v <= high + 1e-6]
        if outside:
            raise SbftError(
                f"{prepared.user} expects labels in {low:g}..{high:g}, but '{spec.label}' has "
                f"values from {min(values):g} to {max(values):g}",
                where=where,
                fix=f"Rescale with label_range: [{min(values):g}, {max(values):g}] "
                "(or the scale's true bounds).",
            )
    return data


def _check_present(values: list[Any], column: str, where: str) -> None:
    """Every row has a label: an empty CSV cell or a JSON null is named, not taken for a class."""
    for row, value in enumerate(values, start=1):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise SbftError(
                f"row {row} has no label (column '{column}' is empty, null or NaN there)",
                where=where,
                fix="Fill in the label, or drop the row.",
            )


def _check_numbers(values: list[Any], prepared: PreparedDataset, where: str) -> None:
    """Numeric labels are finite numbers that fit the 32-bit floats the trainer uses."""
    column = prepared.spec.label
    for row, value in enumerate(values, start=1):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SbftError(
                f"row {row} of the label column '{column}' holds {value!r}, not a number",
                where=where,
                fix=f"{prepared.user} needs a numeric label; check that 'label:' names the right column.",
            )
        if not abs(value) <= FLOAT32_MAX:
            problem = "too large for 32-bit floats" if math.isfinite(value) else "not a finite number"
            raise SbftError(
                f"row {row} of the label column '{column}' holds {value!r}, {problem}",
                where=where,
                fix=f"Labels are finite numbers within ±{FLOAT32_MAX:.1e}; fix or drop the row.",
            )


def _class_ids(data: Dataset, prepared: PreparedDataset, where: str) -> Dataset:
    """String class labels -> ids, numbered in sorted order of the train split's labels."""
    values = data[LABEL]
    if prepared.class_names is None:
        prepared.class_names = sorted({str(v) for v in values})
        prepared.label_kind = "class"
    ids = {name: i for i, name in enumerate(prepared.class_names)}
    unknown = sorted({str(v) for v in values} - ids.keys())
    if unknown:
        raise SbftError(
            f"{noun(len(unknown), 'label')} {', '.join(unknown)} {noun(len(unknown), 'does', 'do')} not "
            "occur in the train split",
            where=where,
            fix="Every class in dev/test must also appear in train.",
        )
    # A new integer column: mapping in place would keep the column's string type.
    return data.remove_columns(LABEL).add_column(LABEL, [ids[str(v)] for v in values])


def _prepare_score_lists(data: Dataset, prepared: PreparedDataset, where: str) -> Dataset:
    """Listwise labels: one relevance score per document of the row."""
    documents = prepared.inputs[-1]
    for row, (docs, scores) in enumerate(zip(data[documents], data[LABEL], strict=True), start=1):
        if not isinstance(scores, list) or len(scores) != len(docs):
            raise SbftError(
                f"row {row}: the label must be a list with one score per document "
                f"({len(docs)} documents, label {scores!r})",
                where=where,
                fix=f"Give '{prepared.spec.label}' as a list of numbers as long as '{documents}'.",
            )
    prepared.label_kind = "scores"
    return data
