"""What `sbft eval`'s DATA names, as recipe datasets and a split.

DATA becomes a recipe DatasetSpec and goes through the loading and evaluator choice of
`sbft train` (sbft.data.load_prepared, sbft.evaluation.build_evaluator): the evaluator follows
the data's shape unless a task is named. DATA can be

- a data file: csv, tsv, json, jsonl or parquet;
- a folder: its only data file, or else the one whose name has the split as a word
  (`test.csv`, `sts-test.jsonl`; for dev also `validation`, `valid`, `val`);
- datasets of a recipe: `recipe.yaml` (all of them), `recipe.yaml#name`, `recipe.yaml#name:dev`;
- a bare split, `dev` (or `train`, `test`): that split of every dataset of a run's recipe, the
  run being the first MODEL that is a run folder (its base model is then scored beside it), or
  of the recipe given as `recipe`; never a hub dataset;
- a folder in BEIR layout (corpus.jsonl, queries.jsonl, qrels/): its test queries (dev when it
  has no test qrels; `FOLDER#dev` chooses) searched over the whole corpus;
- a Hugging Face hub dataset id (columns must then be named).

For a file without --columns, the columns, label and reader options are those `sbft init`
would propose (sbft.inspection, sbft.proposal): raw files such as STSb's header-less TSV work as they are.

Metric names start with the dataset's name, as in training: a recipe's dataset name, else the
file's stem without its split word (`sts-test.csv` -> `sts_spearman_cosine`, as a recipe naming
that file's dataset `sts` would give).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sbft.beir import CORPUS, QRELS, qrels_path
from sbft.errors import SbftError, did_you_mean
from sbft.file_errors import csv_header_error, data_format, read_error
from sbft.files import FILE_FORMATS, reader_options
from sbft.recipe import SPLITS, DatasetSpec

RECIPE_SUFFIXES = (".yaml", ".yml")
SPLIT_WORDS = {"dev": ("dev", "validation", "valid", "val")}
DEFAULT_SPLIT = "test"


@dataclass
class DataOptions:
    """How to read DATA, as a recipe's dataset would say it."""

    columns: list[str] | None = None
    label: str | None = None
    label_range: list[float] | None = None
    format: str | None = None
    loader_args: dict[str, Any] = field(default_factory=dict)
    split: str | None = None
    """A folder's file or a hub split to use (default test); a recipe's split (train/dev/test)."""
    subset: str | None = None
    max_samples: int | None = None
    recipe: str | None = None
    """The recipe whose datasets a bare split (DATA `dev`) means, for a model that is no run folder."""


@dataclass
class EvalData:
    """Datasets ready for load_prepared, and the split of theirs to evaluate."""

    specs: dict[str, DatasetSpec]
    split: str
    notes: list[str] = field(default_factory=list)
    """What was guessed or skipped, for the user to see."""
    prompts: dict[str, str] | None = None
    """A recipe's model.prompts: evaluated as in training."""
    dims: list[int] = field(default_factory=list)
    """A recipe's truncated embedding sizes (Matryoshka) to evaluate too, as in training."""
    base_model: str | None = None
    """The base model of the run whose recipe the data came from: scored beside the run's model."""


def resolve_data(data: str, options: DataOptions, models: Sequence[str] = ()) -> EvalData:
    """What DATA names, as DatasetSpecs and a split; `models` are those to score (a bare split
    takes the recipe of the first that is a run folder)."""
    _check_options(options)
    if data in SPLITS and not Path(data).exists():
        return _from_split(data, options, models)
    if options.recipe is not None:
        raise SbftError(
            f"the recipe names the data of a bare split (dev, for example), and '{data}' is no split",
            where="recipe",
            fix=f"Give the split as DATA: sbft eval MODEL dev --recipe {options.recipe}.",
        )
    recipe_ref = _recipe_reference(data)
    if recipe_ref is not None:
        return _from_recipe(*recipe_ref, options)
    folder, _, split = data.partition("#")
    if (Path(folder).expanduser() / CORPUS).is_file():
        return _from_beir(Path(folder).expanduser(), split or None, options)
    path = Path(data).expanduser()
    notes: list[str] = []
    if path.is_dir():
        path = _pick_file(path, options.split or DEFAULT_SPLIT)
        notes.append(f"data: {path}")
    if path.is_file():
        return _from_file(path, options, notes)
    if _looks_like_path(data):
        raise SbftError(f"the data '{data}' does not exist", fix="Check the path.")
    return _from_hub(data, options)


def _check_options(options: DataOptions) -> None:
    """The reading rules of a recipe's dataset, applied to the options (errors name the option)."""
    DatasetSpec(
        columns=options.columns or [],
        label=options.label,
        label_range=options.label_range,
        format=options.format,
        max_samples=options.max_samples,
    ).check_reading(columns_given=options.columns is not None)


def _recipe_reference(data: str) -> tuple[Path, str | None, str | None] | None:
    """recipe.yaml[#name][:split] -> (path, name, split); None when DATA is no recipe."""
    path, _, fragment = data.partition("#")
    if Path(path).suffix.lower() not in RECIPE_SUFFIXES:
        return None
    name, _, split = fragment.partition(":")
    return Path(path), name or None, split or None


def _from_split(split: str, options: DataOptions, models: Sequence[str]) -> EvalData:
    """DATA `dev`: that split of every dataset of the run's recipe (the first model that is a run
    folder) or of `options.recipe`; the run's base model is scored beside it."""
    from sbft.run_folder import MARKER, RECIPE, read_run_info

    if options.split is not None:
        raise SbftError(f"the split is '{split}' already", where="split", fix="Leave --split out.")
    if options.recipe is not None:
        return _from_recipe(Path(options.recipe), None, split, options)
    run = next(
        (Path(m) for m in models if (Path(m) / MARKER).is_file() and (Path(m) / RECIPE).is_file()), None
    )
    if run is None:
        raise SbftError(
            f"'{split}' names a split, and no recipe says of which data (a hub dataset is never "
            "looked up by a split's name)",
            where="data",
            fix=f"Give a run folder of `sbft train` as MODEL (its recipe names the data), or a recipe: "
            f"sbft eval MODEL {split} --recipe recipe.yaml.",
        )
    variables = read_run_info(run).get("variables")  # as the run read them: no variable need be set
    data = _from_recipe(run / RECIPE, None, split, options, variables=variables, with_base=True)
    data.notes.insert(0, f"data: the {split} split of {run / RECIPE}")
    return data


def _from_recipe(
    path: Path,
    name: str | None,
    split: str | None,
    options: DataOptions,
    *,
    variables: dict[str, str] | None = None,
    with_base: bool = False,
) -> EvalData:
    """A recipe's datasets (or the one named), evaluated as training evaluates them."""
    from sbft.recipe import load_recipe

    _refuse_file_options(options, path, "a recipe's datasets say how they are read")
    split = split or options.split or DEFAULT_SPLIT
    if split not in SPLITS:
        raise SbftError(f"unknown split '{split}'", where=str(path), fix=did_you_mean(split, SPLITS))
    recipe = load_recipe(path, variables=variables)
    if name is not None and name not in recipe.datasets:
        raise SbftError(
            f"the recipe has no dataset '{name}'", where=str(path), fix=did_you_mean(name, recipe.datasets)
        )
    chosen = {name: recipe.datasets[name]} if name else recipe.datasets
    specs = {n: s for n, s in chosen.items() if split in s.declared_splits}
    if not specs:
        raise SbftError(
            f"no dataset {'named ' + repr(name) + ' ' if name else ''}in the recipe has a {split} split",
            where=str(path),
            fix=_recipe_splits_fix(path, chosen),
        )
    if options.max_samples is not None:
        specs = {n: dataclasses.replace(s, max_samples=options.max_samples) for n, s in specs.items()}
    notes = [f"skipped {n}: no {split} split" for n in chosen if n not in specs]
    base = recipe.model.name if with_base else None
    return EvalData(specs, split, notes, recipe.model.prompts, recipe.evaluation_dims, base)


def _recipe_splits_fix(path: Path, chosen: dict[str, DatasetSpec]) -> str:
    """The fix naming the splits the recipe's datasets really declare."""
    found = [f"{path}#{n}:{s}" for n, spec in chosen.items() for s in SPLITS if s in spec.declared_splits]
    return "Name a split it has: " + ", ".join(found) + "." if found else "Add a dev or test split to it."


def _refuse_file_options(options: DataOptions, data: Path, reason: str) -> None:
    keys = ("columns", "label", "label_range", "format", "loader_args", "subset")
    given = [f"--{key.replace('_', '-')}" for key in keys if getattr(options, key) not in (None, {})]
    if given:
        raise SbftError(
            f"{', '.join(given)} describe a data file; {reason}",
            where=str(data),
            fix="Leave these options out.",
        )


def _from_beir(folder: Path, split: str | None, options: DataOptions) -> EvalData:
    """A BEIR folder: its split's queries searched over the whole corpus (test, else dev)."""
    _refuse_file_options(options, folder, "a BEIR folder's layout says how it is read")
    split = split or options.split
    notes = []
    if split is None:
        split = next((s for s in (DEFAULT_SPLIT, "dev") if qrels_path(folder, s).is_file()), DEFAULT_SPLIT)
        if split != DEFAULT_SPLIT:
            notes.append(f"split: {split} ({folder} has no {QRELS}/{DEFAULT_SPLIT}.tsv)")
    if split not in SPLITS:
        raise SbftError(f"unknown split '{split}'", where=str(folder), fix=did_you_mean(split, SPLITS))
    if not qrels_path(folder, split).is_file():
        raise SbftError(
            f"the BEIR folder has no {QRELS}/{split}.tsv",
            where=str(folder),
            fix=_splits_it_has(folder),
        )
    folder = folder.resolve()
    name = folder.parent.name if folder.name.lower() == "beir" else folder.name
    return EvalData({name: DatasetSpec(beir=str(folder), max_samples=options.max_samples)}, split, notes)


def _splits_it_has(folder: Path) -> str:
    """The fix naming the splits a BEIR folder really has (its qrels files)."""
    present = [s for s in SPLITS if qrels_path(folder, s).is_file()]
    if not present:
        return f"Add {QRELS}/test.tsv (query-id, corpus-id, score), or name another folder."
    return "Name a split it has: " + ", ".join(f"{folder}#{s}" for s in present) + "."


def _pick_file(folder: Path, split: str) -> Path:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FILE_FORMATS)
    if len(files) == 1:
        return files[0]
    if not files:
        raise SbftError(
            f"the folder '{folder}' holds no data file ({', '.join(sorted(FILE_FORMATS))})",
            fix="Name a data file, a recipe, or a hub dataset.",
        )
    words = set(SPLIT_WORDS.get(split, (split,)))
    matches = [p for p in files if words & set(re.split(r"[-_. ]+", p.stem.lower()))]
    if len(matches) == 1:
        return matches[0]
    found = ", ".join(p.name for p in matches or files)
    raise SbftError(
        f"cannot tell which file of '{folder}' holds the {split} split ({found})",
        fix="Name the file itself, or pick the split with --split.",
    )


_CONVERT = (
    "Convert it to UTF-8 (iconv -f latin1 -t utf-8 '{path}' > converted{suffix}), or name its columns "
    "and encoding: --columns a,b --loader-arg encoding=latin-1."
)


def _from_file(path: Path, options: DataOptions, notes: list[str]) -> EvalData:
    data_format(path, options.format, None, fix="Give it with --format csv, json or parquet.")  # fail early
    columns, label, loader_args = options.columns, options.label, options.loader_args
    if columns is None:
        file_format = data_format(path, options.format, None, fix="")
        error = None if "encoding" in options.loader_args else read_error(path, file_format, None, _CONVERT)
        if error is None and file_format == "csv" and not {"names", "header"} & options.loader_args.keys():
            separator = reader_options(path, options.loader_args).get("sep", ",")
            error = csv_header_error(path, separator, None)
        if error is not None:
            raise error  # what no --columns can fix: said as it is
        columns, label, loader_args = _guess_columns(path, options)
        notes.append(
            f"columns {', '.join(columns)}{f', label {label}' if label else ', no label'} "
            "(guessed; --columns and --label choose)"
        )
    spec = DatasetSpec(
        columns=columns,
        label=label,
        label_range=options.label_range,
        files={DEFAULT_SPLIT: str(path)},
        format=options.format,
        loader_args=loader_args,
        max_samples=options.max_samples,
    )
    return EvalData({dataset_name(path): spec}, DEFAULT_SPLIT, notes)


def _from_hub(data: str, options: DataOptions) -> EvalData:
    if options.columns is None:
        raise SbftError(
            f"name the input columns of the hub dataset '{data}'",
            where="columns",
            fix="For example: --columns sentence1,sentence2 --label score.",
        )
    spec = DatasetSpec(
        columns=options.columns,
        label=options.label,
        label_range=options.label_range,
        hub=data,
        subset=options.subset,
        splits={DEFAULT_SPLIT: options.split or DEFAULT_SPLIT},
        loader_args=options.loader_args,
        max_samples=options.max_samples,
    )
    return EvalData({data.rstrip("/").rsplit("/", 1)[-1]: spec}, DEFAULT_SPLIT)


def dataset_name(path: Path) -> str:
    """A data file's dataset name: its stem without split words (`sts-test.csv` -> `sts`), so
    that metrics are named as a recipe's `sts` dataset names them; the folder's name for a file
    named only by its split (`stsb/test.csv` -> `stsb`)."""
    split_words = {word for split in SPLITS for word in SPLIT_WORDS.get(split, (split,))}
    kept = [part for part in re.split(r"([-_. ]+)", path.stem) if part.lower() not in split_words]
    name = "".join(kept).strip("-_. ")
    return re.sub(r"([-_. ])[-_. ]+", r"\1", name) or path.resolve().parent.name or path.stem


def _looks_like_path(data: str) -> bool:
    """Hub ids are 'name' or 'org/name' without an extension; anything else is meant as a path."""
    return (
        data.startswith((".", "/", "~"))
        or data.count("/") > 1
        or Path(data).suffix.lower() in (*FILE_FORMATS, *RECIPE_SUFFIXES)
    )


def _guess_columns(path: Path, options: DataOptions) -> tuple[list[str], str | None, dict[str, Any]]:
    """Input columns, label and reader options as `sbft init` would propose them for this file."""
    from sbft.inspection import inspect_file
    from sbft.proposal import propose

    try:
        inspection = inspect_file(path)
        proposal = propose(inspection)
        if proposal.pairs_from_labels is not None:  # candidates labelled 0/1: scored as labelled pairs
            proposal = propose(inspection, "pair-class")
    except SbftError as error:
        raise SbftError(
            f"cannot guess which columns of '{path}' to evaluate on: {error.what}",
            fix="Name the input columns with --columns a,b (and the label with --label).",
        ) from None
    label = options.label or (proposal.label.name if proposal.label else None)
    columns = [c for c in proposal.inputs if c != label]
    return columns, label, {**inspection.loader_args, **options.loader_args}
