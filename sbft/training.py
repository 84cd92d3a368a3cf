"""The `sbft train` pipeline: the eight steps of the sentence-transformers training guide.

model -> datasets -> losses -> training arguments -> baseline evaluation -> train -> test -> save.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from sbft import run_folder
from sbft.errors import SbftError, did_you_mean
from sbft.recipe import Recipe, dump_recipe

if TYPE_CHECKING:
    from transformers import TrainingArguments

    from sbft.data import PreparedDataset

IN_BATCH_NEGATIVE_LOSSES = (
    "MultipleNegativesRankingLoss",
    "CachedMultipleNegativesRankingLoss",
    "MultipleNegativesSymmetricRankingLoss",
    "CachedMultipleNegativesSymmetricRankingLoss",
    "GISTEmbedLoss",
    "CachedGISTEmbedLoss",
    "MegaBatchMarginLoss",
)


def default_training(recipe: Recipe) -> dict[str, Any]:
    """Defaults for a CPU laptop; anything in the recipe's `training:` wins."""
    from sbft.losses import effective_info

    in_batch = any(effective_info(d.loss).name in IN_BATCH_NEGATIVE_LOSSES for d in recipe.datasets.values())
    has_dev = any("dev" in d.files or d.hub for d in recipe.datasets.values())
    return {
        "num_train_epochs": 1,
        "per_device_train_batch_size": 32,
        "per_device_eval_batch_size": 64,
        "learning_rate": 2e-5,
        "warmup_steps": 0.1,
        "lr_scheduler_type": "linear",
        "seed": 42,
        "logging_steps": 10,
        "logging_first_step": True,
        "eval_strategy": "epoch" if has_dev else "no",
        "save_strategy": "steps",
        "save_steps": 500,
        "save_total_limit": 2,
        # In-batch negatives must not meet their own duplicates in a batch.
        "batch_sampler": "no_duplicates" if in_batch else "batch_sampler",
        "multi_dataset_batch_sampler": "proportional",
        "report_to": "none",
        "disable_tqdm": not sys.stderr.isatty(),
    }


def resolve_training(recipe: Recipe) -> dict[str, Any]:
    """The recipe's training section with every sbft default filled in."""
    settings = {**default_training(recipe), **recipe.training}
    settings["output_dir"] = str(recipe.run_dir / run_folder.CHECKPOINTS)
    return settings


# The trainer and its arguments for each model type, from sentence-transformers.
TRAINERS = {
    "bi-encoder": ("SentenceTransformerTrainer", "SentenceTransformerTrainingArguments"),
    "cross-encoder": ("CrossEncoderTrainer", "CrossEncoderTrainingArguments"),
}


def build_training_args(settings: dict[str, Any], model_type: str = "bi-encoder") -> TrainingArguments:
    """Map `training:` onto the trainer's arguments dataclass; unknown fields are errors."""
    import sentence_transformers

    args_class = getattr(sentence_transformers, TRAINERS[model_type][1])
    fields = {f.name for f in dataclasses.fields(args_class) if f.init}
    for key in settings:
        if key not in fields:
            raise SbftError(
                f"'{key}' is not a field of {args_class.__name__}",
                where=f"training.{key}",
                fix=did_you_mean(key, fields),
            )
    try:
        return args_class(**settings)
    except (TypeError, ValueError) as exc:
        raise SbftError(
            f"invalid training arguments: {exc}",
            where="training",
            fix="See the SentenceTransformerTrainingArguments documentation for accepted values.",
        ) from None


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, Any]


def train(recipe: Recipe, *, overwrite: bool = False, console: Console | None = None) -> RunResult:
    """Run a whole recipe and return the run folder and its metrics."""
    console = console or Console()
    run_dir = recipe.run_dir
    run_folder.ensure_fresh(run_dir, overwrite)
    started = time.perf_counter()
    _quiet_libraries()
    model_type = recipe.model.type
    settings = resolve_training(recipe)
    args = build_training_args(settings, model_type)

    import sentence_transformers
    from transformers import PrinterCallback, ProgressCallback

    from sbft.data import load_datasets
    from sbft.evaluation import build_evaluator, evaluate
    from sbft.losses import build_loss
    from sbft.models import build_model
    from sbft.reporting import MetricsCallback, comparison_table, metrics_table

    console.print(f"[bold]sbft train[/] {recipe.name} -> {run_dir}")
    datasets = load_datasets(recipe.datasets, model_type)
    for name, prepared in datasets.items():
        if "train" not in prepared.splits:
            raise SbftError(
                "there is no train split to train on",
                where=f"datasets.{name}",
                fix="Add files: {train: ...} (or map splits: {train: ...} for a hub dataset).",
            )
    model = build_model(recipe.model, num_labels=_num_labels(datasets))
    losses = {
        name: build_loss(
            recipe.datasets[name].loss, model, prepared.splits["train"], f"datasets.{name}.loss", model_type
        )
        for name, prepared in datasets.items()
    }
    _print_plan(console, recipe, datasets, args)

    eval_batch = args.per_device_eval_batch_size
    dev_evaluator = build_evaluator(datasets, "dev", eval_batch)
    test_evaluator = build_evaluator(datasets, "test", eval_batch) if recipe.evaluation.test else None
    metrics: dict[str, Any] = {"baseline_dev": {}, "baseline_test": {}}
    if recipe.evaluation.baseline:
        metrics["baseline_dev"] = evaluate(dev_evaluator, model)
        metrics["baseline_test"] = evaluate(test_evaluator, model)
        if metrics["baseline_dev"]:
            console.print(metrics_table("base model", _by_split(metrics, "baseline_dev", "baseline_test")))

    run_dir.mkdir(parents=True, exist_ok=True)
    callback = MetricsCallback(run_dir / run_folder.METRICS_LOG, console)
    single = len(datasets) == 1
    train_sets = {name: d.splits["train"] for name, d in datasets.items()}
    dev_sets = {name: d.splits["dev"] for name, d in datasets.items() if "dev" in d.splits}
    trainer_class = getattr(sentence_transformers, TRAINERS[model_type][0])
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=next(iter(train_sets.values())) if single else train_sets,
        eval_dataset=(next(iter(dev_sets.values())) if single else dev_sets) if dev_sets else None,
        loss=next(iter(losses.values())) if single else losses,
        evaluator=dev_evaluator,
        callbacks=[callback],
    )
    # Our callback prints the logs; the trainer's own printers would repeat them as raw dicts.
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    output = trainer.train()

    metrics["final_dev"] = evaluate(dev_evaluator, model)
    metrics["test"] = evaluate(test_evaluator, model)
    metrics["evaluations"] = callback.evaluations
    metrics["training"] = {
        "steps": output.global_step,
        "train_loss": output.training_loss,
        **{k: v for k, v in output.metrics.items() if isinstance(v, (int, float))},
    }
    run_folder.save_model_atomically(model, run_dir)
    resolved = dataclasses.replace(recipe, training=settings, output_dir=str(run_dir))
    (run_dir / run_folder.RECIPE).write_text(dump_recipe(resolved), encoding="utf-8")
    run_folder.write_json(run_dir / run_folder.METRICS, metrics)
    run_folder.write_json(
        run_dir / run_folder.RUN_INFO,
        {"wall_time_s": round(time.perf_counter() - started, 2), **run_folder.environment()},
    )
    run_folder.write_json(run_dir / "training_args.json", args.to_dict())

    for split, base_key, tuned_key in (
        ("dev", "baseline_dev", "final_dev"),
        ("test", "baseline_test", "test"),
    ):
        if metrics[tuned_key]:
            console.print(
                comparison_table(f"{split}: base vs fine-tuned", metrics[base_key], metrics[tuned_key])
            )
    console.print(f"[bold green]saved[/] {run_dir / run_folder.MODEL}")
    return RunResult(run_dir=run_dir, metrics=metrics)


def _num_labels(datasets: dict[str, PreparedDataset]) -> int:
    """Cross-encoder outputs: one score, or one logit per class for a class loss (CrossEntropyLoss)."""
    from sbft.data import LABEL

    counts = [
        len(d.class_names) if d.class_names else max(d.splits["train"][LABEL]) + 1
        for d in datasets.values()
        if d.loss_info is not None and d.loss_info.label == "class" and "train" in d.splits
    ]
    return max(counts, default=1)


def _by_split(metrics: dict[str, Any], dev_key: str, test_key: str) -> dict[str, dict[str, float]]:
    return {split: metrics[key] for split, key in (("dev", dev_key), ("test", test_key)) if metrics[key]}


def _print_plan(console: Console, recipe: Recipe, datasets: dict, args: Any) -> None:
    """What is about to happen: per dataset its splits, columns in loss order, label and loss."""
    from sbft.evaluation import evaluator_kind

    for name, prepared in datasets.items():
        sizes = ", ".join(f"{split} {len(data)}" for split, data in prepared.splits.items())
        label = f" + label '{recipe.datasets[name].label}'" if prepared.has_label else ""
        evaluator = evaluator_kind(prepared, "dev") if "dev" in prepared.splits else "none"
        console.print(
            f"  dataset [bold]{name}[/]: {sizes} rows; columns ({', '.join(prepared.inputs)}){label}; "
            f"loss {recipe.datasets[name].loss.name}; evaluator {evaluator}",
            highlight=False,
            soft_wrap=True,
        )
    batch = args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
    console.print(
        f"  model {recipe.model.name}; {args.num_train_epochs:g} epoch(s), lr {args.learning_rate:g}, "
        f"effective batch {batch}"
        + ("; [yellow]trust_remote_code on[/]" if recipe.model.trust_remote_code else ""),
        highlight=False,
        soft_wrap=True,
    )


def _quiet_libraries() -> None:
    """Keep the terminal for sbft's own output: no loader progress bars or info chatter."""
    import os
    import warnings

    if not sys.stderr.isatty():
        os.environ.setdefault("TQDM_DISABLE", "1")  # no carriage-return bars in logs and pipes
    import datasets
    import transformers

    warnings.filterwarnings("ignore", message=".*'pin_memory' argument is set as true.*")
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
