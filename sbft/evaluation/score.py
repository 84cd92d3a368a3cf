"""Scoring models on a dataset: what `sbft eval` runs, usable from Python.

The data comes from sbft.evaluation.data (what DATA names); each model family gets the evaluator
that training would use, and every model is scored on the same data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sbft.errors import SbftError, did_you_mean
from sbft.evaluation.data import EvalData
from sbft.families import FAMILIES, Family
from sbft.wording import noun


def score_models(
    models: list[str],
    data: EvalData,
    *,
    task: str | None = None,
    batch_size: int = 32,
    device: str | None = None,
    backend: str = "torch",
    threads: int | None = None,
    trust_remote_code: bool = False,
    say: Callable[[str], None] = lambda message: None,
    progress: bool = True,
) -> dict[str, dict[str, float]]:
    """{model: {metric: value}} for each model, all on the same data and evaluator.

    A model is a run folder of `sbft train`, a saved model folder or a hub id; bi-encoders and
    cross-encoders mix (each type gets the evaluator that fits it). Data from a run's recipe
    (`data.base_model`) scores the run's base model first, unless it is among `models`.
    `progress`: each corpus encode reports its progress on stderr ("evaluating dev (wikiqa)").
    """
    from sbft.evaluation.evaluators import corpus_encoder, encode_documents_with, numeric
    from sbft.inference import load_any, model_location
    from sbft.models import check_model_reference, detect_family
    from sbft.quiet import quiet_libraries

    quiet_libraries()
    tasks = [name for family in FAMILIES.values() for name in family.evaluators]
    if task is not None and task not in tasks:
        raise SbftError(f"unknown task '{task}'", where="task", fix=did_you_mean(task, tasks))
    if batch_size <= 0:
        raise SbftError("the batch size must be positive", where="batch_size")
    if data.base_model is not None and data.base_model not in models:
        models = [data.base_model, *models]
    families = []
    for name in models:  # every model and the data are checked before the first slow evaluation
        check_model_reference(model_location(name), trust_remote_code)
        families.append(detect_family(model_location(name)))
    evaluators = {
        family: build_data_evaluator(data, family, task, batch_size) for family in dict.fromkeys(families)
    }
    for evaluator in evaluators.values():
        encode_documents_with(evaluator, corpus_encoder(f"evaluating {data.split}", batch_size, progress))
    results: dict[str, dict[str, float]] = {}
    for column, name, family in zip(_column_names(models), models, families, strict=True):
        model = load_any(  # evaluators need the whole SentenceTransformer, not the torch-free encoder
            name,
            device=device,
            backend=backend,
            threads=threads,
            trust_remote_code=trust_remote_code,
            fast_start=False,
        )
        say(f"evaluating {name}")
        results[column] = numeric(evaluators[family](model))  # NaN kept: an undefined score is shown
        del model
    return results


def build_data_evaluator(data: EvalData, family: Family, task: str | None, batch_size: int) -> Any:
    """Load the data for a model family and build the evaluator that training would use."""
    from sbft.data import load_prepared
    from sbft.evaluation import build_evaluator

    prepared = {
        name: load_prepared(name, spec, splits=(data.split,), family=family)
        for name, spec in data.specs.items()
    }
    for name, dataset in prepared.items():
        if data.split not in dataset.splits:
            raise SbftError(
                f"the dataset has no {data.split} split", where=name, fix="Choose another split with --split."
            )
    evaluator = build_evaluator(
        prepared, data.split, batch_size, override=task, prompts=data.prompts, dims=data.dims
    )
    if evaluator is None:
        shapes = "; ".join(
            f"{name}: {len(p.inputs)} input {noun(len(p.inputs), 'column')}, {p.label_kind or 'no'} label"
            for name, p in prepared.items()
        )
        raise SbftError(
            f"no {family.name} evaluator fits the data ({shapes})",
            fix="Choose the columns with --columns and --label, or an evaluator with --task.",
        )
    return evaluator


def _column_names(models: list[str]) -> list[str]:
    """One table column per model, named as given; a repeated name gets ' (2)', ' (3)'..."""
    names: list[str] = []
    for model in models:
        name, count = model, 1
        while name in names:
            count += 1
            name = f"{model} ({count})"
        names.append(name)
    return names


# --- DATA -----------------------------------------------------------------------------------
