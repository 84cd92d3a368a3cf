"""`sbft init`: look at data, propose a task, and write a commented recipe that runs as written.

A data file is read by sbft.inspection and its task chosen by sbft.proposal; a folder in BEIR
layout is retrieval data. This module finds the dev/test files named alike and writes the recipe,
each choice with a comment that says why.

Why one module of this size: it is the recipe's text, written line by line. The files section
(split files, a holdout), the columns, the loss and the training schedule chosen from the row
count each add their comment lines to one YAML document; the choices (inspection, proposal) live
elsewhere, and what remains here is the rendering, which reads best as one piece.
"""

from __future__ import annotations

import math
import os
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sbft.errors import SbftError
from sbft.files import FILE_FORMATS, atomic_write_text
from sbft.inspection import (
    BEIR_LAYOUT,
    SAMPLE_ROWS,
    BeirInspection,
    Column,
    Inspection,
    inspect_beir,
    inspect_file,
    is_beir_folder,
)
from sbft.proposal import RETRIEVAL, Proposal, beir_proposal, propose, task_by_name

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_SPLIT_WORDS = {
    "train": ("train", "training"),
    "dev": ("dev", "validation", "valid", "val"),
    "test": ("test",),
}
HOLDOUT = 0.1
"""The fraction of train proposed as dev when the data has no dev file."""
HOLDOUT_MIN_ROWS = 100
"""Fewer train rows than this have none to spare for dev."""
SMALL_SET = 2_000
"""Fewer train rows than this get their batch, epochs and logging chosen from the count."""
MIN_STEPS = 40
"""Steps a small set is given (epochs up to MAX_SMALL_EPOCHS): fewer teach a model little."""
MAX_SMALL_EPOCHS = 4
SMALL_RETRIEVAL_SET = 10_000
"""Fewer (query, positive) pairs than this gain from a second epoch."""
_MINING = """\
# negatives:
#   mine:
#     num: 1                  # negatives per (query, positive) row
#     range_min: 10           # skip the 10 closest documents: often relevant but unlabelled
#     range_max: 50           # draw from the next 40
#     relative_margin: 0.05   # drop any scored within 5% of the positive (likely false negatives)
#     sampling: top           # top: the hardest that pass; random: any that pass"""


@dataclass
class InitRecipe:
    """A recipe's text, the proposal behind it, and what to tell the user about it."""

    text: str
    proposal: Proposal
    summary: list[str]


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
    """'data/sts-train.csv' -> 'sts'; 'quora/train.jsonl' -> 'quora'; 'wikiqa/beir/' -> 'wikiqa'."""
    words = "|".join(word for names in _SPLIT_WORDS.values() for word in names)
    stem = re.sub(rf"(?<![a-z])({words}|beir)(?![a-z])", "", path.stem, flags=re.I).strip(" -_.")
    name = re.sub(r"\W+", "_", stem or path.resolve().parent.name).strip("_").lower()
    return name or "data"


def recipe_from_data(
    data: Path, output: Path, task_name: str | None = None, model: str = DEFAULT_MODEL
) -> InitRecipe:
    """The commented recipe for a data file or a BEIR folder, with what it was based on."""
    if is_beir_folder(data):
        proposal = beir_proposal(task_name)
        return _from_beir(inspect_beir(data), output, proposal, model)
    if data.is_dir():
        data = _train_file_in(data)
    inspection = inspect_file(data)
    proposal = propose(inspection, task_name)
    if "names" in inspection.loader_args:
        _name_by_role(inspection, proposal)
    splits = find_splits(data)
    base = output.resolve().parent
    files = {split: _relative(path, base) for split, path in splits.items()}
    columns = ", ".join(c.describe() for c in inspection.columns)
    header = [
        f"Written by `sbft init` from {data.name}: {proposal.task.name} ({proposal.task.description}).",
        f"Columns in a sample of {inspection.rows} rows: {columns}.",
        *proposal.notes,
        "Check the choices below (`sbft losses` lists the losses), then run:",
        f"  sbft check {output.name} && sbft train {output.name}",
    ]
    rows = _training_rows(inspection, proposal)
    holdout = _holds_out(files, _dev_candidates(inspection, proposal))
    text = _render(
        header,
        run_name(data),
        model,
        files,
        inspection.loader_args,
        proposal,
        template=False,
        rows=rows,
        holdout=holdout,
    )
    summary = [
        f"columns: {columns}",
        *_summary(proposal),
        f"splits:  {', '.join(f'{split} {path.name}' for split, path in splits.items())}"
        + (f"; dev: {HOLDOUT:g} of train held out (no dev file)" if holdout else ""),
        *proposal.notes,
    ]
    return InitRecipe(text, proposal, summary)


def _summary(proposal: Proposal) -> list[str]:
    inputs = ", ".join(proposal.inputs)
    if proposal.pairs_from_labels:
        source = proposal.pairs_from_labels
        inputs += f" (from {source['query']}, {source['document']} and {source['label']})"
    if proposal.label:
        inputs += f"; label {proposal.label.name}"
    if proposal.label_range:
        inputs += f" rescaled from {proposal.label_range}"
    return [
        f"task:    {proposal.task.name} ({proposal.task.description})",
        f"inputs:  {inputs}",
        f"loss:    {proposal.loss}; evaluator {proposal.evaluator}",
    ]


def _name_by_role(inspection: Inspection, proposal: Proposal) -> None:
    """A file without a header: call the used columns sentence1, score... rather than column6, column5."""
    source = proposal.pairs_from_labels
    if source is not None:
        renames = {source[role]: role for role in ("query", "document", "label")}
        source.update({role: role for role in ("query", "document", "label")})
    else:
        task = proposal.task
        extra = len(proposal.inputs) - len(task.columns)
        roles = [*task.columns, *(f"negative{i}" for i in range(2, extra + 2))]
        renames = dict(zip(proposal.inputs, roles, strict=True))
        if proposal.label is not None and task.label is not None:
            renames[proposal.label.name] = task.label
        proposal.inputs = [renames[n] for n in proposal.inputs]
    inspection.loader_args["names"] = [renames.get(n, n) for n in inspection.loader_args["names"]]
    for column in inspection.columns:  # the label is one of them
        column.name = renames.get(column.name, column.name)


def template(task_name: str, output: Path, model: str = DEFAULT_MODEL) -> str:
    """A recipe for a task without data: placeholder files and column names, marked TODO."""
    task = task_by_name(task_name)
    replace = (
        "the TODO (your BEIR folder)"
        if task is RETRIEVAL
        else "every TODO (your files, and your column names)"
    )
    header = [
        f"TEMPLATE written by `sbft init --task {task.name}`: {task.description}.",
        f"Replace {replace} before training; or let",
        "`sbft init --data YOUR_DATA` write a recipe that fits your data.",
        f"Then run: sbft check {output.name} && sbft train {output.name}",
    ]
    if task is RETRIEVAL:
        return _render_beir(header, "retrieval", model, "TODO/beir", beir_proposal(), None)
    label = None
    if task.label is not None:
        label = Column(task.label, "score" if task.name == "pair-score" else "binary", low=0.0, high=1.0)
    proposal = Proposal(task, list(task.columns), label, task.loss, task.loss_why, task.evaluator)
    files = {split: f"TODO/{split}.jsonl" for split in ("train", "dev", "test")}
    return _render(header, task.name.replace("-", "_"), model, files, {}, proposal, template=True)


def _relative(path: Path, base: Path) -> str:
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
    rows: int | None = None,
    holdout: bool = False,
) -> str:
    """The recipe as YAML, each choice with a comment that says why and what else would do."""
    task = proposal.task
    todo = "  # TODO: your column names, in this order" if template else ""
    lines = _head(header, name, model)
    lines += [
        "    # TODO: your files (csv, tsv, jsonl or parquet), relative to this recipe's folder."
        if template
        else "    # Paths are relative to this recipe's folder.",
        "    files:",
    ]
    lines += [f"      {split}: {_flow(path)}" for split, path in files.items()]
    if holdout:
        lines += [
            f"    # No dev file: {HOLDOUT:g} of the train rows (seeded) are held out as dev, evaluated",
            "    # during training and against the base model; rows that share a text stay on one side.",
            f"    holdout: {HOLDOUT:g}",
        ]
    elif "dev" not in files:
        lines.append(
            "      # dev: a held-out file here gets evaluated during training (and compared to the base)"
        )
    if loader_args:
        quotes = " quoting: 3 reads quotes as text." if loader_args.get("quoting") == 3 else ""
        lines += [
            *_comment(f"How to read the file (passed to datasets.load_dataset).{quotes}"),
            f"    loader_args: {_flow(loader_args)}",
        ]
    if proposal.pairs_from_labels:
        lines += _pairs_from_labels(proposal.pairs_from_labels)
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
        *_comment(proposal.loss_why),
        *_comment(f"Alternatives: {task.alternatives}."),
        f"    loss: {proposal.loss}",
    ]
    if proposal.pairs_from_labels:
        lines += [
            "    # Or mine hard negatives with the base model over the train documents instead of the",
            "    # file's label-0 ones: set hard_negatives: 0 and columns: [query, positive], and uncomment:",
            *_indent(_MINING),
        ]
    if proposal.evaluator == "none":
        lines += [
            "    # No evaluator fits this data shape; the dev loss is still logged.",
            "    evaluator: none",
        ]
    else:
        lines += [*_comment(task.evaluator_why), f"    evaluator: {proposal.evaluator}"]
    retrieval = task is RETRIEVAL
    if rows is not None and holdout:
        rows -= round(HOLDOUT * rows)
    training = _training(in_batch=task.label is None, epochs=2 if retrieval else 1, rows=rows)
    return "\n".join(lines + training) + "\n"


def _pairs_from_labels(source: dict[str, Any]) -> list[str]:
    query, document, label = source["query"], source["document"], source["label"]
    return [
        *_comment(
            f"Read as retrieval rows: each {document} labelled 1 in {label} becomes a (query, positive) "
            f"row, with hard_negatives of the {document}s labelled 0 for the same {query} (grouped by "
            "its text, not an id) as its negatives, used in turn; a query without any borrows the next "
            "query's. Queries without a positive are left out. Label-0 candidates are often "
            "near-answers: if dev nDCG@10 drops, try hard_negatives: 0 (plain pairs) or mining, below."
        ),
        f"    pairs_from_labels: {_flow(source)}",
    ]


def _from_beir(beir: BeirInspection, output: Path, proposal: Proposal, model: str) -> InitRecipe:
    counts = beir.describe()
    header = [
        f"Written by `sbft init` from the BEIR folder {beir.path.name}/: {proposal.task.name} "
        f"({proposal.task.description}).",
        f"{counts}.",
        "Check the choices below (`sbft losses` lists the losses), then run:",
        f"  sbft check {output.name} && sbft train {output.name}",
    ]
    folder = _relative(beir.path, output.resolve().parent)
    text = _render_beir(header, run_name(beir.path), model, folder, proposal, beir)
    summary = [f"data:    BEIR folder, {counts}", *_summary(proposal)]
    if "dev" not in beir.splits:
        summary.append("No qrels/dev.tsv: nothing is evaluated during training.")
    return InitRecipe(text, proposal, summary)


def _render_beir(
    header: list[str], name: str, model: str, folder: str, proposal: Proposal, beir: BeirInspection | None
) -> str:
    """A retrieval recipe on a BEIR folder; `beir` None: a template."""
    pairs = beir.splits["train"][1] if beir else None
    lines = _head(header, name, model)
    lines += [
        "    # TODO: your folder in BEIR layout, relative to this recipe's folder."
        if beir is None
        else "    # A folder in BEIR layout, relative to this recipe's folder.",
        "    # corpus.jsonl and queries.jsonl ({_id, text}) and qrels/{train,dev,test}.tsv (query-id,",
        "    # corpus-id, score): train gives one (query, document) row per relevant document; dev and",
        "    # test queries are searched over the whole corpus.",
        f"    beir: {_flow(folder)}",
        *_comment(proposal.loss_why),
        *_comment(f"Alternatives: {proposal.task.alternatives}."),
        f"    loss: {proposal.loss}",
    ]
    lines += [
        "    # Hard negatives mined with the base model over the corpus before training (cached in the",
        "    # run folder), besides the in-batch ones: uncomment to try them, and compare dev nDCG@10.",
        *_indent(_MINING),
    ]
    if beir is not None and "dev" not in beir.splits:
        lines.append("    # No qrels/dev.tsv: move some train queries there to be evaluated during training.")
    documents = f"all {beir.documents:,} documents" if beir else "the whole corpus"
    lines += [
        f"    # Search each dev query among {documents}: nDCG@10 (which picks the best model), MRR@10,",
        "    # Recall@10/100, MAP@100; the base model is scored the same way first.",
        f"    evaluator: {proposal.evaluator}",
    ]
    epochs = 2 if pairs is None or pairs < SMALL_RETRIEVAL_SET else 1
    return "\n".join(lines + _training(in_batch=True, epochs=epochs, pairs=pairs)) + "\n"


def _head(header: list[str], name: str, model: str) -> list[str]:
    """The header comments, the run name, the model, and the dataset's name."""
    lines = [f"# {part}" for line in header for part in textwrap.wrap(line, 100, subsequent_indent="  ")]
    return [
        *lines,
        "",
        f"name: {_flow(name)}",
        "model:",
        "  # The model to fine-tune: a hub id or a folder (sentence-transformers model or plain",
        "  # transformer). The default ships with sbft and works offline. Other families: add",
        "  # 'type: sparse-encoder' with a CSRLoss or SpladeLoss (configs/sparse.yaml), or name a",
        "  # static model made by `sbft distill` (configs/static.yaml: a learning rate near 1e-2).",
        f"  name: {_flow(model)}",
        "datasets:",
        f"  {_flow(name)}:",
    ]


def _training(in_batch: bool, epochs: int, pairs: int | None = None, rows: int | None = None) -> list[str]:
    """The training section; with the train `rows` known, a batch size, epochs and logging that give
    a small set enough steps to learn from and a loss curve with more than one point."""
    batch, logging = 32, 10
    if rows is not None and rows < SMALL_SET:
        batch = 32 if rows >= 40 * 32 else 16 if rows >= 10 * 16 else 8
        per_epoch = max(1, math.ceil(rows / batch))
        epochs = max(epochs, min(MAX_SMALL_EPOCHS, math.ceil(MIN_STEPS / per_epoch)))
        logging = max(1, min(10, epochs * per_epoch // 20))
        why = (
            f"{rows:,} train rows: batch {batch} and {epochs} {'pass' if epochs == 1 else 'passes'} make "
            f"{epochs * per_epoch} steps (a small set needs several passes to learn from); lower the "
            "epochs if the dev score falls in the last ones."
        )
    elif epochs == 1:
        why = "One pass over the data; raise it if the dev score is still climbing at the end."
    elif pairs is not None:
        why = f"Two passes: {pairs:,} pairs are a small set, which gains from a second one."
    else:
        why = "Two passes: retrieval sets are often small and gain from a second; 1 for large ones."
    return [
        "training:",
        *(f"  # {line}" for line in textwrap.wrap(why, 96)),
        f"  num_train_epochs: {epochs}",
        f"  per_device_train_batch_size: {batch}"
        + ("  # in-batch negatives: bigger is better" if in_batch else ""),
        "  learning_rate: 2.0e-5",
        "  warmup_steps: 0.1  # warm up over the first 10% of steps",
        f"  logging_steps: {logging}",
    ]


def _train_file_in(folder: Path) -> Path:
    """The train file of a plain folder of split files (train.csv beside dev.csv, test.csv...)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FILE_FORMATS)
    train = [path for path in files if "train" in find_splits(path) and find_splits(path)["train"] == path]
    named = [path for path in train if re.search(r"(?<![a-z])(train|training)(?![a-z])", path.stem, re.I)]
    if len(named) == 1 or (len(files) == 1 and files == train):
        return (named or files)[0]
    listed = ", ".join(path.name for path in files[:8]) or "no data file"
    raise SbftError(
        f"the folder '{folder}' is neither in BEIR layout nor a folder with one train file "
        f"(it holds {listed})",
        where="data",
        fix="Name one data file (--data FOLDER/FILE), or put train.csv (and dev.csv, test.csv) in the "
        f"folder. {BEIR_LAYOUT}",
    )


def _training_rows(inspection: Inspection, proposal: Proposal) -> int | None:
    """The train rows, when the sample saw the whole file; None for more than the sample (a large
    set) and for candidates read through pairs_from_labels (the retrieval defaults hold there)."""
    if inspection.rows >= SAMPLE_ROWS or proposal.pairs_from_labels is not None:
        return None
    return inspection.rows


def _dev_candidates(inspection: Inspection, proposal: Proposal) -> int | None:
    """What a holdout draws from: rows, or the queries of labelled candidates (a query's rows stay
    together); None when the file is larger than the sample."""
    if inspection.rows >= SAMPLE_ROWS:
        return None
    source = proposal.pairs_from_labels
    if source is None:
        return inspection.rows
    return next((c.distinct for c in inspection.columns if c.name == source["query"]), inspection.rows)


def _holds_out(files: dict[str, str], candidates: int | None) -> bool:
    """Propose holdout when there is no dev file and enough rows (or queries) to spare some."""
    return "dev" not in files and (candidates is None or candidates > HOLDOUT_MIN_ROWS)


def _comment(text: str) -> list[str]:
    """A dataset-level comment, wrapped to the width of the rest of the recipe."""
    return [f"    # {line}" for line in textwrap.wrap(text, 94)]


def _indent(block: str) -> list[str]:
    return [f"    {line}" for line in block.splitlines()]


def _flow(value: Any) -> str:
    """A YAML value on one line, quoted only where YAML needs it."""
    text = yaml.safe_dump(
        value, default_flow_style=True, width=1_000_000, allow_unicode=True, sort_keys=False
    ).strip()
    return text.removesuffix("...").strip()


def write_recipe(text: str, output: Path, force: bool) -> None:
    """Write the recipe; an existing file is replaced only when asked (--force)."""
    if output.exists() and not force:
        raise SbftError(
            f"'{output}' already exists",
            where="output",
            fix="Choose another file with -o, or pass --force to replace it.",
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output, text)
