"""`sbft check`: everything that can go wrong before training, found before the model loads.

It validates the training arguments, checks the model reference, opens every dataset split,
checks each dataset against its loss and evaluator, and warns about likely mistakes. `sbft
train` runs the same check first and trains on the datasets it loaded.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from sbft.columns import FIRST_COLUMN, ID_NAME, ID_VALUE, LATER_COLUMN
from sbft.errors import SbftError
from sbft.recipe import Recipe
from sbft.training_args import innermost

if TYPE_CHECKING:
    from transformers import TrainingArguments

    from sbft.data import PreparedDataset


@dataclass
class Plan:
    """What a run will do, and what looked suspicious."""

    recipe: Recipe
    """The recipe with every default made explicit (a copy: checking never changes the user's recipe)."""
    settings: dict[str, Any]
    args: TrainingArguments
    datasets: dict[str, PreparedDataset]
    warnings: list[str] = field(default_factory=list)

    @property
    def effective_batch(self) -> int:
        args = self.args
        return args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch, as the multi-dataset sampler draws batches."""
        batch = self.args.per_device_train_batch_size * self.args.world_size
        batches = [math.ceil(len(d.splits["train"]) / batch) for d in self.datasets.values()]
        if len(batches) > 1 and str(self.args.multi_dataset_batch_sampler).endswith("round_robin"):
            total = min(batches) * len(batches)
        else:
            total = sum(batches)
        return max(1, total // self.args.gradient_accumulation_steps)


def preflight(recipe: Recipe) -> Plan:
    """Check a recipe against its data without loading the model; raise SbftError on problems."""
    from sbft.data import load_datasets
    from sbft.evaluation import evaluator_kind
    from sbft.losses import check_loss_args
    from sbft.models import check_model_reference
    from sbft.training_args import build_training_args, resolve_recipe, resolve_training

    settings = resolve_training(recipe)
    args = build_training_args(settings, recipe.family)
    for name, spec in recipe.datasets.items():
        check_loss_args(spec.loss, f"datasets.{name}.loss", recipe.family)
    check_model_reference(recipe.model.name, recipe.model.trust_remote_code)
    # Under torchrun / accelerate the main process prepares (and caches) the data first.
    with args.main_process_first(desc="sbft dataset preparation"):
        datasets = load_datasets(recipe.datasets, recipe.family)
    if args.world_size > 1:
        _check_gather(recipe)
    for name, prepared in datasets.items():
        if "train" not in prepared.splits:
            raise SbftError(
                "there is no train split to train on",
                where=f"datasets.{name}",
                fix="Add files: {train: ...} (or map splits: {train: ...} for a hub dataset).",
            )
        for split in ("dev", "test"):
            if split in prepared.splits:
                evaluator_kind(prepared, split)
    unevaluated = [p for p in datasets.values() if "dev" in p.splits and evaluator_kind(p, "dev") == "none"]
    if unevaluated and len(unevaluated) == sum("dev" in p.splits for p in datasets.values()):
        settings = resolve_training(recipe, dev_evaluated=False)  # no dev score to pick a model by
        args = build_training_args(settings, recipe.family)
    resolved = resolve_recipe(recipe, settings, args.world_size)
    plan = Plan(recipe=resolved, settings=settings, args=args, datasets=datasets)
    plan.warnings = [_no_evaluator(prepared) for prepared in unevaluated]
    plan.warnings += [w for prepared in datasets.values() for w in _warnings(prepared, plan)]
    return plan


def _no_evaluator(prepared: PreparedDataset) -> str:
    label = f"a {prepared.label_kind} label" if prepared.label_kind else "no label"
    classes = f" ({len(prepared.class_names)} classes)" if prepared.class_names else ""
    return (
        f"{prepared.name}: no {prepared.family.name} evaluator fits {len(prepared.inputs)} input column(s) "
        f"with {label}{classes}, so its dev split is not evaluated (set 'evaluator:' to choose one)"
    )


def _check_gather(recipe: Recipe) -> None:
    """With several datasets, processes train on batches of different datasets at the same step,
    so a loss that gathers embeddings across processes would wait forever for the others."""
    if len(recipe.datasets) < 2:
        return
    for name, dataset in recipe.datasets.items():
        if innermost(dataset.loss).args.get("gather_across_devices"):
            raise SbftError(
                "gather_across_devices cannot be used when training on several datasets: each process "
                "may draw a batch from a different dataset at the same step, and the gather would hang",
                where=f"datasets.{name}.loss.args.gather_across_devices",
                fix="Remove it (negatives then come from each process's own batch), or train on one dataset.",
            )


def _warnings(prepared: PreparedDataset, plan: Plan) -> list[str]:
    """Likely mistakes that still let a run start."""
    name, inputs, found = prepared.name, prepared.inputs, []
    if (
        len(inputs) >= 2
        and LATER_COLUMN.search(inputs[0])
        and any(FIRST_COLUMN.search(c) for c in inputs[1:])
    ):
        found.append(
            f"{name}: column '{inputs[0]}' comes first but its name suggests it belongs later; "
            "losses read columns by position (anchor/query first)"
        )
    if "negative" in inputs[:2] and "positive" in inputs[2:]:
        found.append(f"{name}: 'negative' comes before 'positive'; check the column order")
    train = prepared.splits["train"]
    for column in inputs:
        sample = [v for v in train[column][:200] if isinstance(v, str)]
        if ID_NAME.search(column) or (sample and all(ID_VALUE.match(v.strip()) for v in sample)):
            found.append(f"{name}: column '{column}' looks like an ID, yet it will be read as text")
    for split, data in prepared.splits.items():
        empty = sum(1 for c in inputs for v in data[c] if isinstance(v, str) and not v.strip())
        if empty:
            found.append(f"{name} ({split}): {empty} empty text(s)")
    rows = _rows(train, inputs)
    duplicates = sum(count - 1 for count in Counter(rows).values() if count > 1)
    if duplicates:
        found.append(f"{name} (train): {duplicates} duplicate row(s)")
    for split in ("dev", "test"):
        if split in prepared.splits:
            leaked = len(set(rows) & set(_rows(prepared.splits[split], inputs)))
            if leaked:
                found.append(f"{name}: {leaked} {split} row(s) also appear in train (leakage)")
    batch = plan.args.per_device_train_batch_size
    if len(train) < batch:
        found.append(f"{name}: the train split has {len(train)} rows, fewer than the batch size {batch}")
    return found


def _rows(data: Any, columns: list[str]) -> list[tuple]:
    return list(zip(*(map(str, data[c]) for c in columns), strict=True))


def print_plan(plan: Plan, console: Console) -> None:
    """Per dataset: splits and rows, the columns the loss sees in order, label, loss, evaluator."""
    from sbft.evaluation import evaluator_kind

    recipe = plan.recipe
    console.print(
        f"[bold]plan[/] {recipe.name}: {recipe.model.type} from {recipe.model.name}", highlight=False
    )
    for name, prepared in plan.datasets.items():
        spec = recipe.datasets[name]
        label = f" + label '{spec.label}' ({prepared.label_kind})" if prepared.has_label else ""
        rows = ", ".join(f"{split} {len(data)}" for split, data in prepared.splits.items())
        evaluator = evaluator_kind(prepared, "dev") if "dev" in prepared.splits else "none (no dev split)"
        console.print(
            f"  [bold]{name}[/]: {rows} rows; {spec.loss.name if spec.loss else 'no loss'} sees "
            f"({', '.join(prepared.inputs)}){label}; evaluator {evaluator}",
            highlight=False,
            soft_wrap=True,
        )
    args = plan.args
    console.print(
        f"  {args.num_train_epochs:g} epoch(s) of {plan.steps_per_epoch} steps; "
        f"lr {args.learning_rate:g}; effective batch {plan.effective_batch} "
        f"({args.per_device_train_batch_size} per device x {args.world_size} process(es) x "
        f"{args.gradient_accumulation_steps} accumulation)"
        + ("; [bold yellow]trust_remote_code is on[/]" if recipe.model.trust_remote_code else ""),
        highlight=False,
        soft_wrap=True,
    )
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


def check(recipe_path: Path, overrides: list[str] | None, console: Console) -> Plan:
    """The library side of `sbft check`."""
    from sbft.quiet import quiet_libraries
    from sbft.recipe import load_recipe

    quiet_libraries()
    plan = preflight(load_recipe(recipe_path, overrides))
    print_plan(plan, console)
    return plan
