"""`sbft init`: look at a data file, propose a task, and write a commented recipe that runs as written.

Reading a sample with pandas, using the very reader options the recipe will pass to
`datasets.load_dataset` (sep, header, names, quoting), keeps what was inspected and what trains
the same. Each column gets a kind (text, score, binary, classes, other); the kinds decide the
task, column names decide the order (anchor/query first, positive second, negatives last).
"""

from __future__ import annotations

import csv
import math
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sbft.errors import SbftError, did_you_mean
from sbft.files import reader_options
from sbft.recipe import FILE_FORMATS

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
SAMPLE_ROWS = 2000
_SCAN_BYTES = 200_000_000
"""CSV files are scanned up to this size for quotes and the widest row."""
MAX_CLASSES = 20
"""More distinct values than this: an ID or a measurement, not a class label."""
_SPLIT_WORDS = {
    "train": ("train", "training"),
    "dev": ("dev", "validation", "valid", "val"),
    "test": ("test",),
}
_NEGATIVE = re.compile(r"neg", re.I)
_ASYMMETRIC = re.compile(r"query|question|answer|document|passage|context|response", re.I)
_SCORE_NAME = re.compile(r"score|similarity|relevance|rating|(^|_)sim$", re.I)
_LABEL_NAME = re.compile(r"label|score|similarity|relevance|rating|class|category|gold|(^|_)is_|^y$", re.I)


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    columns: tuple[str, ...]
    """Column names of the template (no data): also the roles, in the order the loss reads them."""
    label: str | None
    loss: str
    loss_why: str
    alternatives: str
    evaluator: str
    evaluator_why: str


TASKS = {
    task.name: task
    for task in [
        Task(
            "pair-score",
            "two texts and a similarity score",
            ("sentence1", "sentence2"),
            "score",
            "CoSENTLoss",
            "CoSENTLoss ranks pairs by their score: a strong default for graded similarity.",
            "AnglELoss; CosineSimilarityLoss (scores in 0..1)",
            "embedding-similarity",
            "Spearman correlation between cosine similarity and score on dev.",
        ),
        Task(
            "pair-class",
            "two texts and a class label",
            ("sentence1", "sentence2"),
            "label",
            "OnlineContrastiveLoss",
            "OnlineContrastiveLoss pulls pairs labelled 1 together, pushes 0 apart, on the hard pairs.",
            "ContrastiveLoss; SoftmaxLoss (any number of classes)",
            "binary-classification",
            "Accuracy, F1 and average precision of 'similar or not' by cosine threshold on dev.",
        ),
        Task(
            "pairs",
            "pairs of related texts, no label",
            ("anchor", "positive"),
            None,
            "MultipleNegativesRankingLoss",
            "MultipleNegativesRankingLoss: the other texts of a batch serve as negatives; bigger "
            "batches help.",
            "MultipleNegativesSymmetricRankingLoss (symmetric pairs such as paraphrases); "
            "CachedMultipleNegativesRankingLoss (big batches, little memory)",
            "information-retrieval",
            "Retrieve each pair's second text among all of them: nDCG@10, MRR@10 on dev.",
        ),
        Task(
            "query-positive",
            "queries with a relevant text (answer, passage), no label",
            ("query", "answer"),
            None,
            "MultipleNegativesRankingLoss",
            "MultipleNegativesRankingLoss: the other answers of a batch serve as negatives; bigger "
            "batches help.",
            "CachedMultipleNegativesRankingLoss (big batches, little memory); GISTEmbedLoss (with a "
            "guide model)",
            "information-retrieval",
            "Retrieve each query's answer among all answers: nDCG@10, MRR@10 on dev.",
        ),
        Task(
            "triplets",
            "an anchor, a positive and a negative text, no label",
            ("anchor", "positive", "negative"),
            None,
            "MultipleNegativesRankingLoss",
            "MultipleNegativesRankingLoss uses the negative as a hard negative, plus the rest of the batch.",
            "TripletLoss (margin between positive and negative); CachedMultipleNegativesRankingLoss",
            "triplet",
            "How often the anchor is closer to its positive than to its negative on dev.",
        ),
    ]
}


@dataclass
class Column:
    name: str
    kind: str
    """text, score (float), binary (0/1), classes (a few ints or strings), or other."""
    detail: str = ""
    low: float | None = None
    high: float | None = None
    classes: list[Any] = field(default_factory=list)

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


@dataclass
class Proposal:
    """A task, with the columns in loss order, the label, the loss and the evaluator."""

    task: Task
    inputs: list[str]
    label: Column | None = None
    loss: str = ""
    loss_why: str = ""
    evaluator: str = ""
    notes: list[str] = field(default_factory=list)
    """Comments on choices the data forced (ignored columns, a different loss)."""

    @property
    def label_range(self) -> list[float] | None:
        """Scores outside 0..1 are rescaled (CosineSimilarityLoss and friends need 0..1)."""
        label = self.label
        if label is None or label.kind != "score" or (label.low >= 0 and label.high <= 1):
            return None
        return [math.floor(min(label.low, 0)), math.ceil(label.high)]


# --- reading --------------------------------------------------------------------------------


def inspect_file(path: Path) -> Inspection:
    """Read a sample of a csv/tsv/json(l)/parquet file and tell each column's kind."""
    if not path.is_file():
        raise SbftError(f"the data file '{path}' does not exist", where="--data", fix="Check the path.")
    file_format = FILE_FORMATS.get(path.suffix.lower())
    if file_format is None:
        raise SbftError(
            f"cannot tell the format of '{path.name}' from its extension",
            where="--data",
            fix=f"sbft reads {', '.join(FILE_FORMATS)} files.",
        )
    loader_args = _csv_options(path) if file_format == "csv" else {}
    try:
        frame = _read_sample(path, file_format, loader_args)
    except Exception as exc:
        raise SbftError(f"cannot read '{path}': {str(exc).splitlines()[0]}", where="--data") from None
    if frame.empty:
        raise SbftError(f"'{path}' holds no rows", where="--data")
    columns = [_classify(str(name), frame[name]) for name in frame.columns]
    return Inspection(path, file_format, loader_args, columns, len(frame))


def _csv_options(path: Path) -> dict[str, Any]:
    """Separator, header and quoting, as datasets' csv reader takes them.

    The separator comes from the first lines; quotes and the widest row need the whole file
    (raw STSb has a few rows with extra columns far down).
    """
    with path.open(encoding="utf-8", errors="replace", newline="") as file:
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
    try:
        return pd.read_json(path, lines=True, nrows=SAMPLE_ROWS)
    except ValueError:
        return pd.read_json(path).head(SAMPLE_ROWS)  # a JSON array rather than JSON lines


def _classify(name: str, values: pd.Series) -> Column:
    """A column's kind, from its sampled values (and its name, where values are ambiguous)."""
    import pandas as pd

    from sbft.check import ID_NAME, ID_VALUE

    present = values.dropna()
    if present.empty or len(present) < len(values) / 2:
        return Column(name, "other", "mostly empty")
    if pd.api.types.is_bool_dtype(values):
        return Column(name, "other", "true/false; sbft reads labels as numbers 0/1")
    if pd.api.types.is_numeric_dtype(values):
        numbers = present.astype(float)
        low, high = float(numbers.min()), float(numbers.max())
        integral = bool((numbers == numbers.round()).all())
        distinct = set(numbers)
        if ID_NAME.search(name):
            return Column(name, "other", "identifiers")
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
    if len(distinct_texts) <= MAX_CLASSES and 2 * len(distinct_texts) <= len(strings):
        shown = ", ".join(sorted(distinct_texts)[:4]) + (", ..." if len(distinct_texts) > 4 else "")
        return Column(
            name, "classes", f"{len(distinct_texts)} classes: {shown}", classes=sorted(distinct_texts)
        )
    if ID_NAME.search(name) or all(ID_VALUE.match(v.strip()) for v in strings[:200]):
        return Column(name, "other", "identifiers")
    words = sum(len(v.split()) for v in strings) / len(strings)
    return Column(name, "text", f"{words:.0f} words on average")


# --- proposing ------------------------------------------------------------------------------


def propose(inspection: Inspection, task_name: str | None = None) -> Proposal:
    """The task (given, or inferred from the column kinds), its columns in order, loss, evaluator."""
    texts = _in_loss_order(inspection.of_kind("text"))
    labels = _label_candidates(inspection)
    if task_name is not None:
        task = task_by_name(task_name)
    elif labels:
        task = TASKS["pair-score" if labels[0].kind == "score" else "pair-class"]
    elif len(texts) >= 3:
        task = TASKS["triplets"]
    else:
        task = TASKS["query-positive" if any(_ASYMMETRIC.search(t.name) for t in texts) else "pairs"]

    needed = 3 if task.name == "triplets" else 2
    if len(texts) < needed:
        found = "; ".join(c.describe() for c in inspection.columns)
        raise SbftError(
            f"the {task.name} task needs {needed} text columns, and '{inspection.path.name}' has "
            f"{len(texts)} ({found})",
            where="--data",
            fix="Check that the file has a header row with column names, or choose another --task "
            f"({', '.join(TASKS)}).",
        )
    used = texts if task.name == "triplets" else texts[:needed]  # extra negatives suit the loss
    proposal = Proposal(
        task, [c.name for c in used], loss=task.loss, loss_why=task.loss_why, evaluator=task.evaluator
    )
    ignored = [c.name for c in inspection.columns if c not in used]
    if task.label is not None:
        proposal.label = _pick_label(task, labels, inspection)
        ignored.remove(proposal.label.name)
    _fit_loss(proposal)
    if ignored:
        proposal.notes.append(f"Not used: {', '.join(ignored)}.")
    return proposal


def task_by_name(name: str) -> Task:
    if name not in TASKS:
        raise SbftError(f"unknown task '{name}'", where="--task", fix=did_you_mean(name, TASKS))
    return TASKS[name]


def _in_loss_order(texts: list[Column]) -> list[Column]:
    """anchor/query first, negatives last, everything else in between; ties keep the file's order."""
    from sbft.check import FIRST_COLUMN

    def rank(column: Column) -> int:
        return 0 if FIRST_COLUMN.search(column.name) else 2 if _NEGATIVE.search(column.name) else 1

    return sorted(texts, key=rank)


def _label_candidates(inspection: Inspection) -> list[Column]:
    """Possible label columns, likeliest first: label-like names, then scores, 0/1, classes."""
    order = {"score": 0, "binary": 1, "classes": 2}
    candidates = inspection.of_kind(*order)
    return sorted(candidates, key=lambda c: (not _LABEL_NAME.search(c.name), order[c.kind]))


def _pick_label(task: Task, labels: list[Column], inspection: Inspection) -> Column:
    kinds = ("score", "binary", "classes") if task.name == "pair-score" else ("binary", "classes")
    fitting = [c for c in labels if c.kind in kinds and (task.name != "pair-score" or c.low is not None)]
    if not fitting:
        found = "; ".join(c.describe() for c in inspection.columns)
        wanted = "a numeric score" if task.name == "pair-score" else "a class label (0/1, or a few classes)"
        raise SbftError(
            f"the {task.name} task needs {wanted} column, and none was found ({found})",
            where="--data",
            fix=f"Choose another --task ({', '.join(TASKS)}).",
        )
    return fitting[0]


def _fit_loss(proposal: Proposal) -> None:
    """Adjust the task's default loss to what the data holds."""
    label = proposal.label
    if proposal.task.name == "pair-class" and label is not None and label.kind == "classes":
        proposal.loss, proposal.evaluator = "SoftmaxLoss", "none"
        proposal.loss_why = "SoftmaxLoss classifies each pair into one of its classes."
        proposal.notes.append(
            f"'{label.name}' holds {label.detail}, so SoftmaxLoss: the contrastive losses need 0/1 "
            "labels that mean 'similar or not'. No evaluator scores multi-class pairs: the dev loss "
            "is logged."
        )
    if proposal.task.name == "triplets" and len(proposal.inputs) > 3:
        proposal.notes.append("Every column after the positive is a hard negative for the loss.")


# --- writing --------------------------------------------------------------------------------


def find_splits(path: Path) -> dict[str, Path]:
    """The train file and its dev/test siblings named alike (sts-train.csv -> sts-dev.csv...)."""
    words = {word: split for split, names in _SPLIT_WORDS.items() for word in names}
    found = re.search(rf"(?<![a-z])({'|'.join(words)})(?![a-z])", path.stem, re.I)
    if found is None:
        return {"train": path}
    splits = {words[found.group(1).lower()]: path}
    for split, names in _SPLIT_WORDS.items():
        for word in names:
            sibling = path.with_name(
                path.stem[: found.start()] + word + path.stem[found.end() :] + path.suffix
            )
            if split not in splits and sibling.is_file():
                splits[split] = sibling
    return splits if "train" in splits else {"train": path}


def run_name(path: Path) -> str:
    """'data/sts-train.csv' -> 'sts'; 'quora/train.jsonl' -> 'quora'."""
    words = "|".join(word for names in _SPLIT_WORDS.values() for word in names)
    stem = re.sub(rf"(?<![a-z])({words})(?![a-z])", "", path.stem, flags=re.I).strip(" -_.")
    name = re.sub(r"\W+", "_", stem or path.resolve().parent.name).strip("_").lower()
    return name or "data"


def recipe_from_data(
    data: Path, output: Path, task_name: str | None = None, model: str = DEFAULT_MODEL
) -> tuple[str, Inspection, Proposal, dict[str, Path]]:
    """The commented recipe text for a data file, with what it was based on."""
    inspection = inspect_file(data)
    proposal = propose(inspection, task_name)
    if "names" in inspection.loader_args:
        _name_by_role(inspection, proposal)
    splits = find_splits(data)
    base = output.resolve().parent
    files = {split: _relative(path, base) for split, path in splits.items()}
    header = [
        f"Written by `sbft init` from {data.name}: {proposal.task.name} ({proposal.task.description}).",
        f"Columns in a sample of {inspection.rows} rows: "
        + ", ".join(c.describe() for c in inspection.columns)
        + ".",
        *proposal.notes,
        "Check the choices below (`sbft losses` lists the losses), then run:",
        f"  sbft check {output.name} && sbft train {output.name}",
    ]
    text = _render(header, run_name(data), model, files, inspection.loader_args, proposal, template=False)
    return text, inspection, proposal, splits


def _name_by_role(inspection: Inspection, proposal: Proposal) -> None:
    """A file without a header: call the used columns sentence1, score... rather than column6, column5."""
    task = proposal.task
    extra = len(proposal.inputs) - len(task.columns)
    roles = [*task.columns, *(f"negative{i}" for i in range(2, extra + 2))]
    renames = dict(zip(proposal.inputs, roles, strict=True))
    if proposal.label is not None and task.label is not None:
        renames[proposal.label.name] = task.label
    inspection.loader_args["names"] = [renames.get(n, n) for n in inspection.loader_args["names"]]
    proposal.inputs = [renames[n] for n in proposal.inputs]
    for column in inspection.columns:  # the label is one of them
        column.name = renames.get(column.name, column.name)


def template(task_name: str, output: Path, model: str = DEFAULT_MODEL) -> str:
    """A recipe for a task without data: placeholder files and column names, marked TODO."""
    task = task_by_name(task_name)
    label = None
    if task.label is not None:
        label = Column(task.label, "score" if task.name == "pair-score" else "binary", low=0.0, high=1.0)
    proposal = Proposal(task, list(task.columns), label, task.loss, task.loss_why, task.evaluator)
    header = [
        f"TEMPLATE written by `sbft init --task {task.name}`: {task.description}.",
        "Replace every TODO (your files, and your column names) before training; or let",
        "`sbft init --data YOUR_FILE` write a recipe that fits the file.",
        f"Then run: sbft check {output.name} && sbft train {output.name}",
    ]
    files = {split: f"TODO/{split}.jsonl" for split in ("train", "dev", "test")}
    return _render(header, task.name.replace("-", "_"), model, files, {}, proposal, template=True)


def _relative(path: Path, base: Path) -> str:
    import os

    return Path(os.path.relpath(path.resolve(), base)).as_posix()


def _render(
    header: list[str],
    name: str,
    model: str,
    files: dict[str, str],
    loader_args: dict[str, Any],
    proposal: Proposal,
    *,
    template: bool,
) -> str:
    """The recipe as YAML, each choice with a comment that says why and what else would do."""
    task = proposal.task
    todo = "  # TODO: your column names, in this order" if template else ""
    lines = [f"# {part}" for line in header for part in textwrap.wrap(line, 100, subsequent_indent="  ")]
    lines += [
        "",
        f"name: {_flow(name)}",
        "model:",
        "  # The model to fine-tune: a hub id or a folder (sentence-transformers model or plain",
        "  # transformer). The default ships with sbft and works offline.",
        f"  name: {_flow(model)}",
        "datasets:",
        f"  {_flow(name)}:",
        "    # TODO: your files (csv, tsv, jsonl or parquet), relative to this recipe's folder."
        if template
        else "    # Paths are relative to this recipe's folder.",
        "    files:",
    ]
    lines += [f"      {split}: {_flow(path)}" for split, path in files.items()]
    if "dev" not in files:
        lines.append(
            "      # dev: a held-out file here gets evaluated during training (and compared to the base)"
        )
    if loader_args:
        lines += [
            "    # How to read the file (passed to datasets.load_dataset).",
            f"    loader_args: {_flow(loader_args)}",
        ]
    lines += [
        "    # The text columns, in the order the loss reads them.",
        f"    columns: {_flow(proposal.inputs)}{todo}",
    ]
    label = proposal.label
    if label is not None:
        lines += [
            f"    # The {label.kind} label{f' ({label.detail})' if label.detail else ''}.",
            f"    label: {_flow(label.name)}" + ("  # TODO: your label column" if template else ""),
        ]
        if proposal.label_range:
            lines.append(f"    label_range: {_flow(proposal.label_range)}  # rescaled to 0..1")
        elif template and label.kind == "score":
            lines.append("    # label_range: [0, 5]  # if your scores are not in 0..1")
    lines += [
        f"    # {proposal.loss_why}",
        f"    # Alternatives: {task.alternatives}.",
        f"    loss: {proposal.loss}",
    ]
    if proposal.evaluator == "none":
        lines += [
            "    # No evaluator fits this data shape; the dev loss is still logged.",
            "    evaluator: none",
        ]
    else:
        lines += [f"    # {task.evaluator_why}", f"    evaluator: {proposal.evaluator}"]
    lines += [
        "training:",
        "  # One pass over the data; raise it if the dev score is still climbing at the end.",
        "  num_train_epochs: 1",
        "  per_device_train_batch_size: 32"
        + ("  # in-batch negatives: bigger is better" if task.label is None else ""),
        "  learning_rate: 2.0e-5",
        "  warmup_steps: 0.1  # warm up over the first 10% of steps",
        "  logging_steps: 10",
    ]
    return "\n".join(lines) + "\n"


def _flow(value: Any) -> str:
    """A YAML value on one line, quoted only where YAML needs it."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1_000_000, allow_unicode=True).strip()
    return text.removesuffix("...").strip()


def write_recipe(text: str, output: Path, force: bool) -> None:
    """Write the recipe; an existing file is replaced only when asked (--force)."""
    if output.exists() and not force:
        raise SbftError(
            f"'{output}' already exists",
            where="-o/--output",
            fix="Choose another file with -o, or pass --force to replace it.",
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
