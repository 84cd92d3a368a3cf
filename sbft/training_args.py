"""The trainer's arguments: sbft's CPU-friendly defaults under the recipe's `training:` section.

`sbft check` builds them to validate field names and values before anything loads; `sbft train`
hands the same object to the trainer.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import math
import os
import typing
from typing import TYPE_CHECKING, Any

from sbft import run_folder
from sbft.errors import SbftError, did_you_mean
from sbft.recipe import SECRET_FIELDS, EnvSecret, LossSpec, Recipe, check_type, column_prompts, redact

DEV_SCORE = "sequential_score"
"""The default dev score that picks the best model: the mean of each dev set's main metric."""

if TYPE_CHECKING:
    from transformers import TrainingArguments

    from sbft.families import Family


def default_training(recipe: Recipe, dev_evaluated: bool = True) -> dict[str, Any]:
    """Defaults for a CPU laptop; anything in the recipe's `training:` wins."""
    from sbft.losses import effective_info

    in_batch = any(
        effective_info(d.loss, recipe.family).in_batch_negatives for d in recipe.datasets.values() if d.loss
    )
    has_dev = dev_evaluated and any("dev" in d.declared_splits for d in recipe.datasets.values())
    deciding = recipe.evaluation.metric or DEV_SCORE
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
        # Keep the best evaluation's weights, not merely the last (by evaluation.metric, else
        # sequential_score: the mean of each dev set's main metric); the baseline also competes,
        # see `train`.
        "load_best_model_at_end": has_dev,
        "metric_for_best_model": deciding if has_dev else None,
        "greater_is_better": not deciding.endswith("loss"),
        # In-batch negatives must not meet their own duplicates in a batch; length-grouped batches
        # (sbft.sampling) where the benchmark showed they cost no quality.
        "batch_sampler": "no_duplicates" if in_batch else default_sampler(recipe),
        "multi_dataset_batch_sampler": "proportional",
        # DDP must look for unused parameters: BERT-style checkpoints carry a pooler layer that
        # sentence embeddings (and most losses) never use, and DDP fails on it otherwise.
        "ddp_find_unused_parameters": True,
        "report_to": "none",
        "disable_tqdm": True,  # sbft prints its own progress
    }


LENGTH_GROUPED_LOSSES = {"CosineSimilarityLoss"}
"""Losses trained on length-grouped batches by default: scripts/bench.py's train section measured
CosineSimilarityLoss on STSb 1.3x faster or more at the same dev Spearman (within 0.003). Other
losses keep random batches until measured; `training.batch_sampler: length_grouped` opts in."""


def default_sampler(recipe: Recipe) -> str:
    """length_grouped when every trained loss is one measured to lose nothing by it, else random batches."""
    losses = {innermost(spec.loss).name for spec in recipe.datasets.values() if spec.loss is not None}
    return "length_grouped" if losses and losses <= LENGTH_GROUPED_LOSSES else "batch_sampler"


def resolve_training(recipe: Recipe, dev_evaluated: bool = True) -> dict[str, Any]:
    """The recipe's training section with every sbft default filled in.

    `dev_evaluated` False: no evaluator fits any dev split, so there is no dev score to evaluate
    each epoch or to pick the best model by.
    """
    settings = {**default_training(recipe, dev_evaluated), **recipe.training}
    if recipe.model.prompts and "prompts" not in recipe.training:
        settings["prompts"] = training_prompts(recipe)
    if settings.get("load_best_model_at_end") and "save_strategy" not in recipe.training:
        # Best-model selection needs a checkpoint at every evaluation.
        settings["save_strategy"] = settings["eval_strategy"]
        settings["save_steps"] = settings.get("eval_steps") or settings["save_steps"]
    if settings.get("eval_strategy") == "no":
        settings["load_best_model_at_end"] = False
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and "use_cpu" not in recipe.training:
        import torch

        # Without a GPU, only use_cpu makes the trainer set up a (gloo) CPU process group.
        settings["use_cpu"] = not torch.cuda.is_available()
    settings["output_dir"] = str(recipe.run_dir / run_folder.CHECKPOINTS)
    return settings


def training_prompts(recipe: Recipe) -> dict[str, Any]:
    """model.prompts as the trainer's `prompts`: per column, and per dataset when several train."""
    by_dataset = {
        name: column_prompts(recipe.model.prompts, [spec.renames.get(c, c) for c in spec.input_columns])
        for name, spec in recipe.datasets.items()
        if spec.loss is not None
    }
    return next(iter(by_dataset.values())) if len(by_dataset) == 1 else by_dataset


def build_training_args(settings: dict[str, Any], family: Family) -> TrainingArguments:
    """Map `training:` onto the family's training-arguments dataclass; unknown fields are errors."""
    args_class = family.import_class("arguments")
    fields = {f.name for f in dataclasses.fields(args_class) if f.init}
    hints = typing.get_type_hints(args_class)
    for key in settings:
        if key not in fields:
            raise SbftError(
                f"'{key}' is not a field of {args_class.__name__}",
                where=f"training.{key}",
                fix=did_you_mean(key, fields),
            )
        settings[key] = check_type(settings[key], hints[key], f"training.{key}")
    _check_values(settings)
    try:
        args = args_class(**_with_sbft_sampler(_tracked(settings)))
        _ = args.device  # sets up the process group under torchrun / accelerate, so world_size is right
        return args
    except (TypeError, ValueError) as exc:
        raise SbftError(
            f"invalid training arguments: {exc}",
            where="training",
            fix="See the SentenceTransformerTrainingArguments documentation for accepted values.",
        ) from None


def _tracked(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings as the trainer, its trackers (tensorboard hparams and text) and the model card
    record them: text from a secret variable is its ${VAR} reference (run_name: run-${HF_TOKEN}),
    except in the secret fields themselves (hub_token), which the trainer needs: there the secret
    stays, and pickles (training_args.bin) as its reference, or <redacted> when written literally."""
    tracked = {}
    for key, value in settings.items():
        if key.lower() not in SECRET_FIELDS:
            tracked[key] = redact(value, by_field=False)
        elif isinstance(value, str) and not isinstance(value, EnvSecret):
            tracked[key] = EnvSecret(value, reference="<redacted>")
        else:
            tracked[key] = value
    return tracked


def _with_sbft_sampler(settings: dict[str, Any]) -> dict[str, Any]:
    """sbft's own batch samplers (sbft.sampling: length_grouped...) as the trainer takes them."""
    from sbft import sampling  # imports sentence-transformers, as the arguments' class does

    if settings.get("batch_sampler") not in sampling.SAMPLERS:
        return settings
    return {**settings, "batch_sampler": sampling.batch_sampler_argument(settings["batch_sampler"])}


def arguments_record(args: TrainingArguments) -> dict[str, Any]:
    """The arguments as training_args.json keeps them: a batch sampler of sbft's own by its name."""
    record = args.to_dict()
    if callable(getattr(args, "batch_sampler", None)):
        record["batch_sampler"] = str(args.batch_sampler)
    return record


def _check_values(settings: dict[str, Any]) -> None:
    """Values the trainer accepts, then trains nothing with (and saves the base model as
    "fine-tuned"), or divides by zero on."""
    for key in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps"):
        if key in settings and settings[key] <= 0:
            raise SbftError(f"{key} must be at least 1, not {settings[key]}", where=f"training.{key}")
    rate = settings.get("learning_rate")
    if rate is not None and not (math.isfinite(rate) and rate > 0):
        raise SbftError(
            f"learning_rate must be a positive number, not {rate!r}",
            where="training.learning_rate",
            fix="Fine-tuning usually takes 1e-5 to 5e-5 (the default is 2e-5).",
        )
    max_steps = settings.get("max_steps", -1)
    if max_steps == 0 or max_steps < -1:
        raise SbftError(
            f"max_steps must be a positive number of optimisation steps, not {max_steps}",
            where="training.max_steps",
            fix="Give the number of steps to train, or -1 (the default) to train num_train_epochs.",
        )
    epochs = settings.get("num_train_epochs")
    if max_steps == -1 and epochs is not None and not (math.isfinite(epochs) and epochs > 0):
        raise SbftError(
            f"num_train_epochs must be a positive number, not {epochs!r}: the run would train nothing",
            where="training.num_train_epochs",
            fix="Train at least one epoch (1 to 3 is usual), or set max_steps to a number of steps.",
        )


def innermost(spec: LossSpec) -> LossSpec:
    """The loss a wrapper (MatryoshkaLoss...) finally applies."""
    while spec.inner is not None:
        spec = spec.inner
    return spec


def resolve_recipe(recipe: Recipe, settings: dict[str, Any], world_size: int) -> Recipe:
    """The recipe with sbft's defaults made explicit, as a copy: what the run folder's recipe.yaml shows.

    Besides the training settings: on a single-dataset run over several processes, in-batch
    negative losses gather embeddings from every process (more negatives per step).
    """
    resolved = copy.deepcopy(recipe)
    resolved.training = dict(settings)
    if world_size > 1 and len(resolved.datasets) == 1:
        for dataset in resolved.datasets.values():
            spec = innermost(dataset.loss)
            parameters = inspect.signature(recipe.family.loss_class(spec.name).__init__).parameters
            if "gather_across_devices" in parameters:
                spec.args.setdefault("gather_across_devices", True)
    return resolved
