"""`sbft init`: look at a data file, propose a task, and write a commented recipe that runs as written.

The file is read by sbft.inspection and the task chosen by sbft.proposal; this module finds the
dev/test files named alike and writes the recipe, each choice with a comment that says why.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import yaml

from sbft.errors import SbftError
from sbft.inspection import Column, Inspection, inspect_file
from sbft.proposal import Proposal, propose, task_by_name

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_SPLIT_WORDS = {
    "train": ("train", "training"),
    "dev": ("dev", "validation", "valid", "val"),
    "test": ("test",),
}


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
            where="output",
            fix="Choose another file with -o, or pass --force to replace it.",
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
