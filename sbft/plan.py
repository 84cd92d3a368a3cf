"""The plan of a run: what it will do (datasets, steps, batches, evaluation, mining), and how
`sbft check` and `sbft train` print it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sbft.recipe import Recipe
from sbft.wording import noun

if TYPE_CHECKING:
    from rich.console import Console
    from transformers import TrainingArguments

    from sbft.data import PreparedDataset
    from sbft.memory import MemoryEstimate


@dataclass
class Plan:
    """What a run will do, and what looked suspicious."""

    recipe: Recipe
    """The recipe with every default made explicit (a copy: checking never changes the user's recipe)."""
    settings: dict[str, Any]
    args: TrainingArguments
    datasets: dict[str, PreparedDataset]
    warnings: list[str] = field(default_factory=list)
    adapter_parameters: tuple[int, int] | None = None
    """With model.adapter: (trainable, total) parameters of the transformer, counted from its config."""
    memory: list[MemoryEstimate] = field(default_factory=list)
    """Per trained dataset: its token lengths and the typical and worst step's memory (sbft.memory)."""

    @property
    def trained(self) -> dict[str, PreparedDataset]:
        """The datasets trained on; the others (no loss) are only evaluated."""
        return {name: d for name, d in self.datasets.items() if d.spec.loss is not None}

    @property
    def effective_batch(self) -> int:
        args = self.args
        return args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch, as the multi-dataset sampler draws batches."""
        batch = self.args.per_device_train_batch_size * self.args.world_size
        batches = [math.ceil(len(d.splits["train"]) / batch) for d in self.trained.values()]
        if len(batches) > 1 and str(self.args.multi_dataset_batch_sampler).endswith("round_robin"):
            total = min(batches) * len(batches)
        else:
            total = sum(batches)
        return max(1, total // self.args.gradient_accumulation_steps)

    @property
    def total_steps(self) -> int:
        """Optimizer steps the run takes: max_steps when set (it overrides the epochs)."""
        if self.args.max_steps > 0:
            return self.args.max_steps
        return math.ceil(self.args.num_train_epochs * self.steps_per_epoch)


def print_plan(plan: Plan, console: Console) -> None:
    """Per dataset: splits and rows, the columns the loss sees in order, label, loss, evaluator."""
    from sbft.evaluation import evaluator_kind

    recipe = plan.recipe
    console.print(
        f"[bold]plan[/] {recipe.name}: {recipe.model.type} from {recipe.model.name}", highlight=False
    )
    for name, prepared in plan.datasets.items():
        spec = recipe.datasets[name]
        kind = f" ({prepared.label_kind})" if prepared.label_kind != spec.label else ""  # no 'score' (score)
        label = f" + label '{spec.label}'{kind}" if prepared.has_label else ""
        rows = ", ".join(f"{split} {len(data)}" for split, data in prepared.splits.items())
        held = (
            f" (dev: {spec.holdout:g} of train, held out)"
            if spec.holdout and "dev" in prepared.splits
            else ""
        )
        evaluator = evaluator_kind(prepared, "dev") if "dev" in prepared.splits else "none (no dev split)"
        if prepared.corpus is not None and evaluator != "none":
            evaluator += f" over a corpus of {len(prepared.corpus)} documents"
        use = f"{spec.loss.name} sees" if spec.loss else "evaluation only (no loss), reads"
        console.print(
            f"  [bold]{name}[/]: {rows} rows{held}; {use} ({', '.join(prepared.inputs)}){label}; "
            f"evaluator {evaluator}",
            highlight=False,
            soft_wrap=True,
        )
        if (pooling := _pool_line(prepared, recipe, evaluator)) is not None:
            console.print(f"    {pooling}", highlight=False, soft_wrap=True)
        for split, note in prepared.notes.items():  # rows made from labelled candidates: kept, dropped
            console.print(f"    {split}: {note}", highlight=False, soft_wrap=True)
    if recipe.model.adapter is not None:
        console.print(f"  {_adapter_line(plan)}", highlight=False, soft_wrap=True)
    for line in _evaluation_lines(plan):
        console.print(f"  {line}", highlight=False, soft_wrap=True)
    for line in _mining_lines(plan):
        console.print(f"  {line}", highlight=False, soft_wrap=True)
    args = plan.args
    per_epoch = plan.steps_per_epoch
    if args.max_steps > 0:
        schedule = (
            f"{plan.total_steps} {noun(plan.total_steps, 'step')} in total (max_steps: "
            f"{plan.total_steps / per_epoch:.3g} {noun(plan.total_steps / per_epoch, 'epoch')} of "
            f"{per_epoch} {noun(per_epoch, 'step')}; num_train_epochs {args.num_train_epochs:g} "
            "does not apply)"
        )
    else:
        schedule = (
            f"{plan.total_steps} {noun(plan.total_steps, 'step')} in total ({args.num_train_epochs:g} "
            f"{noun(args.num_train_epochs, 'epoch')} of {per_epoch} {noun(per_epoch, 'step')})"
        )
    console.print(
        f"  {schedule}; lr {args.learning_rate:g}; effective batch {plan.effective_batch} "
        f"({args.per_device_train_batch_size} per device x {args.world_size} "
        f"{noun(args.world_size, 'process', 'processes')} x "
        f"{args.gradient_accumulation_steps} accumulation)"
        + ("; [bold yellow]trust_remote_code is on[/]" if recipe.model.trust_remote_code else ""),
        highlight=False,
        soft_wrap=True,
    )
    for estimate in plan.memory:
        console.print(f"  {estimate.plan_line()}", highlight=False, soft_wrap=True)
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


def _pool_line(prepared: PreparedDataset, recipe: Recipe, evaluator: str) -> str | None:
    """A retrieval dataset's dev corpus: pooled (evaluation.pool) or whole."""
    from sbft.evaluation.pool import pool_line

    return pool_line(prepared, recipe.evaluation.pool_spec) if not evaluator.startswith("none") else None


def _adapter_line(plan: Plan) -> str:
    """'adapter lora r 16: 147,456 trainable of 22.9M parameters (0.65%)': only the adapter trains."""
    from sbft.adapters import describe, settings

    adapter = plan.recipe.model.adapter or {}
    shipped = (
        "merged into model/, the adapter alone in adapter/"
        if settings(adapter)["merge"]
        else ("the adapter alone in model/")
    )
    if plan.adapter_parameters is None:
        return f"adapter {describe(adapter)}: only its weights train; saved {shipped}"
    trainable, total = plan.adapter_parameters
    return (
        f"adapter {describe(adapter)}: {trainable:,} trainable of {_millions(total)} parameters "
        f"({100 * trainable / total:.2f}%); saved {shipped}"
    )


def _millions(count: int) -> str:
    """22.9M; a small count in full (27,936), where 0.0M would say nothing."""
    return f"{count / 1e6:.1f}M" if count >= 1e6 else f"{count:,}"


def _evaluation_lines(plan: Plan) -> list[str]:
    """Prompts, the metric that picks the best model, early stopping, Matryoshka sizes."""
    recipe, lines = plan.recipe, []
    if recipe.model.prompts:
        prompts = ", ".join(f"{key} {value!r}" for key, value in recipe.model.prompts.items())
        lines.append(f"prompts: {prompts} (training, evaluation, saved with the model)")
    if plan.args.load_best_model_at_end:
        patience = recipe.evaluation.patience
        lines.append(
            f"best model by dev {plan.args.metric_for_best_model}"
            + (f"; stops after {patience} evaluation(s) without improvement" if patience else "")
        )
    if recipe.evaluation_dims:
        lines.append(f"also evaluated at dimensions {', '.join(map(str, recipe.evaluation_dims))}")
    if recipe.evaluation.merge_base is not None:
        lines.append(_merge_line(plan))
    return lines


def _merge_line(plan: Plan) -> str:
    """evaluation.merge_base: the mixes tried after training, and what they compete with."""
    from sbft.evaluation.merge_base import merge_ratios
    from sbft.training_args import DEV_SCORE

    evaluation = plan.recipe.evaluation
    ratios = ", ".join(f"{ratio:g}" for ratio in merge_ratios(evaluation.merge_base))
    rivals = "the fine-tuned model" + (
        " and the base model" if evaluation.keep == "best" and evaluation.baseline else ""
    )
    metric = plan.args.metric_for_best_model or DEV_SCORE
    return (
        f"merge_base: after training, base and fine-tuned weights mixed at {ratios} (the fine-tuned "
        f"model's share) compete with {rivals} on dev {metric}; the best is saved"
    )


def _mining_lines(plan: Plan) -> list[str]:
    """The datasets whose train rows get mined negatives before training: how, and over what."""
    lines = []
    for name, prepared in plan.datasets.items():
        negatives = plan.recipe.datasets[name].negatives
        mine = negatives.mine if negatives else None
        if mine is None:
            continue
        if prepared.corpus is not None:
            searched = f"its corpus ({len(prepared.corpus):,} documents)"
        else:
            positives = len(set(prepared.splits["train"][prepared.inputs[1]]))
            searched = f"its train positives ({positives:,} documents)"
        margins = [
            f"{key} {getattr(mine, key):g}"
            for key in ("relative_margin", "absolute_margin")
            if getattr(mine, key) is not None
        ]
        lines.append(
            f"{name}: before training, {mine.num} {noun(mine.num, 'negative')} per train row mined by "
            f"{mine.model or 'the base model'} over {searched}: ranks {mine.range_min} to "
            f"{'auto' if mine.range_max is None else mine.range_max}, {', '.join(margins) or 'no margin'}, "
            f"sampling {mine.sampling}"
            + (f", rescored by {mine.rescore_with}" if mine.rescore_with else "")
            + "; rows left without enough negatives are dropped"
        )
    return lines
