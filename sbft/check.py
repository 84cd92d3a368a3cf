"""`sbft check`: everything that can go wrong before training, found before the model loads.

It validates the training arguments, checks the model reference, opens every dataset split,
checks each dataset against its loss and evaluator, and warns about likely mistakes. `sbft
train` runs the same check first and trains on the datasets it loaded. Over 400 lines and kept
one module: every rule runs in one pass over the same loaded datasets, in an order that matters.
"""

from __future__ import annotations

import json
import typing
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from sbft.columns import FIRST_COLUMN, ID_NAME, ID_VALUE, LATER_COLUMN
from sbft.errors import SbftError
from sbft.plan import Plan, print_plan
from sbft.recipe import DatasetSpec, LossSpec, ModelSpec, Recipe, check_type
from sbft.training_args import DEV_SCORE, innermost
from sbft.wording import noun

if TYPE_CHECKING:
    from sbft.data import PreparedDataset
    from sbft.families import Family


def preflight(recipe: Recipe) -> Plan:
    """Check a recipe against its data without loading the model; raise SbftError on problems."""
    from sbft.adapters import check_adapter
    from sbft.adapters import settings as adapter_settings
    from sbft.data import load_datasets
    from sbft.evaluation import evaluator_kind
    from sbft.memory import estimate_memory
    from sbft.models import check_model_reference
    from sbft.training_args import build_training_args, resolve_recipe, resolve_training

    settings, args = check_fields(recipe)
    if recipe.model.adapter is not None:
        check_adapter(recipe.model.adapter, recipe.family)
    check_model_reference(recipe.model.name, recipe.model.trust_remote_code)
    _check_loss_heads(recipe)
    _check_miners(recipe)
    _check_max_seq_length(recipe.model)
    check_dims(recipe, embedding_dimension(recipe.model))
    # Under torchrun / accelerate the main process prepares (and caches) the data first.
    with args.main_process_first(desc="sbft dataset preparation"):
        datasets = load_datasets(recipe.datasets, recipe.family)
    if args.world_size > 1:
        _check_gather(recipe)
    for name, prepared in datasets.items():
        if "train" not in prepared.splits and prepared.spec.loss is not None:
            raise SbftError(
                "there is no train split to train on",
                where=f"datasets.{name}",
                fix=_add_train_split(prepared.spec),
            )
        for split in ("dev", "test"):
            if split in prepared.splits:
                evaluator_kind(prepared, split)
    unevaluated = [p for p in datasets.values() if "dev" in p.splits and evaluator_kind(p, "dev") == "none"]
    if unevaluated and len(unevaluated) == sum("dev" in p.splits for p in datasets.values()):
        settings = resolve_training(recipe, dev_evaluated=False)  # no dev score to pick a model by
        args = build_training_args(settings, recipe.family)
    _check_deciding_metric(recipe, settings)
    check_metric_names(recipe, settings, datasets)
    _check_merge_base(recipe, settings, datasets)
    _check_trackers(settings)
    if recipe.tune is not None:
        _check_tune(recipe, datasets)
    resolved = resolve_recipe(recipe, settings, args.world_size)
    plan = Plan(recipe=resolved, settings=settings, args=args, datasets=datasets)
    if recipe.model.adapter is not None:
        resolved.model.adapter = adapter_settings(recipe.model.adapter)  # the defaults, made explicit
        plan.adapter_parameters = _adapter_parameters(recipe.model)
    plan.warnings = [_no_evaluator(prepared) for prepared in unevaluated]
    plan.warnings += [w for prepared in datasets.values() for w in _warnings(prepared, plan)]
    plan.warnings += _schedule_warnings(plan)
    plan.memory = estimate_memory(recipe, datasets, args.per_device_train_batch_size)
    plan.warnings += [warning for estimate in plan.memory if (warning := estimate.warning())]
    return plan


def check_fields(recipe: Recipe) -> tuple[dict[str, Any], Any]:
    """The checks that need no data: training arguments (names, types, values) and loss arguments.
    Returns the resolved training settings and the trainer's arguments."""
    from sbft.losses import check_loss_args
    from sbft.training_args import build_training_args, resolve_training

    settings = resolve_training(recipe)
    args = build_training_args(settings, recipe.family)
    for name, spec in recipe.datasets.items():
        if spec.loss is not None:
            check_loss_args(spec.loss, f"datasets.{name}.loss", recipe.family)
            _check_loss_arg_types(spec.loss, f"datasets.{name}.loss", recipe.family)
    return settings, args


def _check_tune(recipe: Recipe, datasets: dict[str, PreparedDataset]) -> None:
    """tune: its metric is one the dev evaluation reports, and each value of its space is one the
    trainer and the losses take (probed at both ends of each range and at every choice)."""
    from sbft.evaluation import check_metric_name

    assert recipe.tune is not None
    available = predicted_metrics(recipe, datasets)
    if not [name for name in available if name != "loss" and not name.endswith("_loss")]:
        raise SbftError(
            "tune compares trials on the dev evaluation, and no dataset has a dev split that an "
            "evaluator fits",
            where="tune",
            fix="Give the dataset a dev split (files: {dev: ...}, or holdout: 0.1).",
        )
    try:
        check_metric_name(recipe.tune.metric or recipe.evaluation.metric or DEV_SCORE, available)
    except SbftError as error:
        raise SbftError(error.what, where="tune.metric", fix=error.fix) from None
    for path, value, probed in _tune_probes(recipe):
        try:
            check_fields(probed)
        except SbftError as error:
            raise SbftError(
                f"{path} = {value!r}: {error.what}", where=f"tune.space.{path}", fix=error.fix
            ) from None


def _tune_probes(recipe: Recipe) -> Iterator[tuple[str, Any, Recipe]]:
    """(path, value, the recipe file read again with `--set path=value`, as a trial reads it) for each
    probe value of the tune space: both ends of each range, every choice."""
    from sbft.recipe import load_recipe
    from sbft.recipe.tune import dimensions, override

    if recipe.tune is None or recipe.source is None:
        return
    for dimension in dimensions(recipe.tune):
        for value in dimension.probes():
            try:
                probed = load_recipe(
                    recipe.source, [override(dimension.path, value)], variables=recipe.variables
                )
            except SbftError as error:
                raise SbftError(
                    f"{dimension.path} = {value!r}: {error.what}",
                    where=f"tune.space.{dimension.path}",
                    fix=error.fix,
                ) from None
            yield dimension.path, value, probed


def _check_trackers(settings: dict[str, Any]) -> None:
    """An experiment tracker named in report_to must be installed: said now, not as a traceback
    when the trainer starts."""
    wanted = settings.get("report_to") or []
    if "tensorboard" in ([wanted] if isinstance(wanted, str) else wanted):
        from transformers.integrations import is_tensorboard_available

        if not is_tensorboard_available():
            raise SbftError(
                "report_to names tensorboard, which is not installed",
                where="training.report_to",
                fix="Install it with sbft's tracking extra: pip install 'sbft[tracking]'.",
            )


def _check_deciding_metric(recipe: Recipe, settings: dict[str, Any]) -> None:
    """Choosing the best model by a metric, or stopping early, needs a dev evaluation to watch."""
    evaluation = recipe.evaluation
    for key, value in (("metric", evaluation.metric), ("patience", evaluation.patience)):
        if value is not None and not settings.get("load_best_model_at_end"):
            raise SbftError(
                f"'{key}' watches the dev evaluation during training, and this run has none"
                + ("" if settings.get("eval_strategy") == "no" else " (no best model is kept)"),
                where=f"evaluation.{key}",
                fix="Give a dataset a dev split that an evaluator fits, with evaluation each epoch "
                "(the default), or remove it.",
            )


def check_metric_names(
    recipe: Recipe, settings: dict[str, Any], datasets: dict[str, PreparedDataset]
) -> None:
    """The deciding metric (evaluation.metric) is one the dev evaluation will report: its names are
    known from each dataset's evaluator and the model's config, before the model loads (training
    would refuse the name at its first evaluation)."""
    from sbft.evaluation import check_metric_name

    if settings.get("load_best_model_at_end"):
        check_metric_name(settings.get("metric_for_best_model"), predicted_metrics(recipe, datasets))


def predicted_metrics(recipe: Recipe, datasets: dict[str, PreparedDataset]) -> list[str]:
    """Every metric name the dev evaluation of a run will report (the families' EvaluatorShape
    declares each evaluator's), the trainer's dev losses included; no model is loaded."""
    from sbft.evaluation import evaluator_kind
    from sbft.evaluation.truncation import dim_suffix

    family, names = recipe.family, []
    similarity = similarity_function(recipe.model) if family.makes_embeddings else "cosine"
    outputs = _outputs(recipe, datasets)
    for prepared in datasets.values():
        kind = evaluator_kind(prepared, "dev") if "dev" in prepared.splits else "none"
        if kind == "none":
            continue
        full = family.evaluators[kind].metric_names(prepared.name, similarity, outputs)
        dims = recipe.evaluation_dims if family.makes_embeddings else []
        names += full + [f"{name}{dim_suffix(dim)}" for dim in dims for name in full]
    names += [DEV_SCORE] if names else []
    trained_dev = [p.name for p in datasets.values() if p.spec.loss is not None and "dev" in p.splits]
    return [*names, "loss", *(f"{name}_loss" for name in trained_dev)]


def similarity_function(model: ModelSpec) -> str | None:
    """The similarity a local bi-encoder declares (cosine when it declares none); None for a hub id."""
    from sbft.models import resolve_model_path

    folder = Path(resolve_model_path(model.name))
    if _transformer_folder(folder) is None:
        return None
    try:
        config = json.loads((folder / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "cosine"
    name = config.get("similarity_fn_name") if isinstance(config, dict) else None
    return name if isinstance(name, str) else "cosine"


def _outputs(recipe: Recipe, datasets: dict[str, PreparedDataset]) -> int:
    """A cross-encoder's outputs as `sbft train` builds it: num_labels, else one logit per class
    of a class loss's data, else one score."""
    from sbft.data import LABEL

    if recipe.family.makes_embeddings:
        return 1
    counts = [
        len(d.class_names) if d.class_names else max(d.splits["train"][LABEL]) + 1
        for d in datasets.values()
        if d.loss_info is not None and d.loss_info.label == "class" and "train" in d.splits
    ]
    return recipe.model.num_labels or max(counts, default=1)


def _check_merge_base(recipe: Recipe, settings: dict[str, Any], datasets: dict[str, PreparedDataset]) -> None:
    """evaluation.merge_base mixes models with mergekit and scores each mix with the dev evaluators:
    all three must be there, said before anything loads."""
    if recipe.evaluation.merge_base is None:
        return
    import importlib.util

    if importlib.util.find_spec("mergekit") is None:
        raise SbftError(
            "merge_base mixes the base and fine-tuned models with mergekit, which is not installed",
            where="evaluation.merge_base",
            fix="Install it with sbft's merge extra: pip install 'sbft[merge]'; or remove merge_base.",
        )
    if not hasattr(recipe.family.import_class("model"), "merge"):
        raise SbftError(
            "this sentence-transformers cannot merge models (SentenceTransformer.merge came in 6.2)",
            where="evaluation.merge_base",
            fix="pip install 'sbft[merge]' installs a version that can; or remove merge_base.",
        )
    from sbft.evaluation import evaluator_kind

    if not any("dev" in p.splits and evaluator_kind(p, "dev") != "none" for p in datasets.values()):
        raise SbftError(
            "merge_base scores each mix on dev, and no dataset has a dev split that an evaluator fits",
            where="evaluation.merge_base",
            fix="Give a dataset a dev split (files: {dev: ...}), or remove merge_base.",
        )
    metric = (settings.get("metric_for_best_model") or DEV_SCORE).removeprefix("eval_")
    if metric == "loss" or metric.endswith("_loss"):
        raise SbftError(
            f"merge_base scores each mix with the dev evaluators, which do not compute the trainer's "
            f"{metric} that evaluation.metric names",
            where="evaluation.merge_base",
            fix="Name an evaluator's metric in evaluation.metric (e.g. sts_spearman_cosine), or remove "
            "merge_base.",
        )


def _no_evaluator(prepared: PreparedDataset) -> str:
    label = f"a {prepared.label_kind} label" if prepared.label_kind else "no label"
    classes = f" ({len(prepared.class_names)} classes)" if prepared.class_names else ""
    return (
        f"{prepared.name}: no {prepared.family.name} evaluator fits {len(prepared.inputs)} input "
        f"{noun(len(prepared.inputs), 'column')} "
        f"with {label}{classes}, so its dev split is not evaluated (set 'evaluator:' to choose one)"
    )


def _check_loss_arg_types(spec: LossSpec, where: str, family: Family) -> None:
    """Loss arguments of plain types (numbers, text, flags) match the loss's signature: a wrong one
    would otherwise fail at the first training step, after the model has loaded."""
    if spec.inner is not None:
        _check_loss_arg_types(spec.inner, f"{where}.inner", family)
    hints = typing.get_type_hints(family.loss_class(spec.name).__init__)
    for key, value in spec.args.items():
        if key in hints:
            check_type(value, hints[key], f"{where}.args.{key}")


# Models whose position ids start after the padding index: two positions fewer for tokens.
_POSITION_OFFSET = {"roberta": 2, "xlm-roberta": 2, "camembert": 2, "mpnet": 2}


def _check_max_seq_length(model: ModelSpec) -> None:
    """Longer than the model's position embeddings fails mid-run with a tensor-size error."""
    config = _transformer_config(Path(model.name)) if model.max_seq_length else None
    positions = (config or {}).get("max_position_embeddings")
    if not isinstance(positions, int):
        return
    limit = positions - _POSITION_OFFSET.get(config.get("model_type"), 0)
    if model.max_seq_length > limit:
        raise SbftError(
            f"max_seq_length {model.max_seq_length} is longer than the model's {limit} positions "
            f"(max_position_embeddings {positions})",
            where="model.max_seq_length",
            fix=f"Use at most {limit}, or remove it to keep the model's own length.",
        )


def check_dims(recipe: Recipe, size: int | None) -> None:
    """Truncated sizes larger than the model's embeddings would report the full size's metrics
    under made-up `_dimN` names: refused when the size is known (from the config at check time,
    from the loaded model in `sbft train`)."""
    if size is None:
        return
    where, dims = "evaluation.dims", recipe.evaluation.dims
    if dims is None:
        where, dims = _matryoshka_dims(recipe)
    larger = [dim for dim in dims or [] if dim > size]
    if larger:
        raise SbftError(
            f"the model's embeddings have {size} dimensions, fewer than "
            + ", ".join(map(str, larger))
            + ": there is nothing to truncate to that size",
            where=where,
            fix=f"Use sizes up to {size} (e.g. {size}, {size // 2}, {size // 4}).",
        )


def check_model_dims(recipe: Recipe, model: Any) -> None:
    """check_dims on a loaded model: the size its config did not tell (a hub id, a custom module)."""
    if recipe.family.makes_embeddings and recipe.evaluation_dims:
        check_dims(recipe, model.get_embedding_dimension())


def _matryoshka_dims(recipe: Recipe) -> tuple[str, list[int]]:
    """The first MatryoshkaLoss's dims and the field that names them (evaluation.dims' default)."""
    for name, dataset in recipe.datasets.items():
        spec, where = dataset.loss, f"datasets.{name}.loss"
        while spec is not None:
            if spec.name in ("MatryoshkaLoss", "Matryoshka2dLoss") and spec.args.get("matryoshka_dims"):
                return f"{where}.args.matryoshka_dims", list(recipe.evaluation_dims)
            spec, where = spec.inner, f"{where}.inner"
    return "evaluation.dims", []


def embedding_dimension(model: ModelSpec) -> int | None:
    """The size of a local bi-encoder's embeddings, from its config files alone (transformer,
    pooling, dense layers); None for a hub id, a cross-encoder or a module whose size is unknown."""
    from sbft.models import resolve_model_path

    if not model.family.makes_embeddings:
        return None
    folder = Path(resolve_model_path(model.name))
    try:
        if not (folder / "modules.json").is_file():
            return _hidden_size(_transformer_config(folder))  # a plain transformer: one pooling mode
        size = None
        for module in json.loads((folder / "modules.json").read_text(encoding="utf-8")):
            kind = str(module.get("type", "")).rsplit(".", 1)[-1]
            config_path = folder / str(module.get("path", "")) / "config.json"
            if kind == "Transformer":
                size = _hidden_size(_transformer_config(folder))
            elif kind == "Pooling" and model.pooling is None:
                size = _pooled_size(json.loads(config_path.read_text(encoding="utf-8")), size)
            elif kind == "Dense":
                size = json.loads(config_path.read_text(encoding="utf-8")).get("out_features")
            elif kind not in ("Pooling", "Normalize"):
                return None
            if not isinstance(size, int):
                return None
        return size
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def _hidden_size(config: dict[str, Any] | None) -> int | None:
    for key in ("hidden_size", "d_model", "dim"):
        if isinstance((config or {}).get(key), int):
            return config[key]
    return None


def _pooled_size(config: dict[str, Any], size: int | None) -> int | None:
    """A pooling layer's output: its input size times the number of modes it concatenates."""
    size = config.get("embedding_dimension", config.get("word_embedding_dimension", size))
    modes = config.get("pooling_mode")
    if modes is None:
        count = sum(1 for key, on in config.items() if key.startswith("pooling_mode_") and on is True)
    else:
        count = len(modes) if isinstance(modes, list) else 1
    return size * count if isinstance(size, int) and count else None


def _adapter_parameters(model: ModelSpec) -> tuple[int, int] | None:
    """(trainable, total) parameters of the model's transformer with the adapter, from its config
    alone (a local folder, or a hub id in the local cache); None when there is none at hand."""
    from sbft.adapters import parameter_counts
    from sbft.models import resolve_model_path

    folder = _transformer_folder(Path(resolve_model_path(model.name)))
    if folder is None:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model.name, "config.json")
        folder = Path(cached).parent if isinstance(cached, str) else None
    if folder is None:
        return None
    return parameter_counts(folder, model.adapter or {}, model.family, model.num_labels)


def _check_loss_heads(recipe: Recipe) -> None:
    """A loss that reads a head the model lacks (SpladeLoss: a masked-language model's token
    logits) is refused before the model loads, where it would fail in the trainer's first step.
    A hub id's head is not known before it loads: not checked."""
    from sbft.models import resolve_model_path

    config = _transformer_config(Path(resolve_model_path(recipe.model.name)))
    if config is None:
        return
    architectures = config.get("architectures") or []
    masked_lm = any(str(name).endswith("ForMaskedLM") for name in architectures)
    for name, dataset in recipe.datasets.items():
        spec, where = dataset.loss, f"datasets.{name}.loss"
        while spec is not None:
            info = recipe.family.losses.get(spec.name)
            if info is not None and info.needs_head == "fill-mask" and not masked_lm:
                raise SbftError(
                    f"{spec.name} needs a masked-language-model head (its token logits are the sparse "
                    f"vector), but '{recipe.model.name}' is {', '.join(map(str, architectures)) or 'none'}",
                    where=where,
                    fix="Start from a ...ForMaskedLM model (BERT, DistilBERT, a SPLADE checkpoint), or use "
                    "CSRLoss, which puts a sparse autoencoder on a dense model.",
                )
            spec, where = spec.inner, f"{where}.inner"


def _transformer_folder(folder: Path) -> Path | None:
    """The folder of a local model's transformer: itself, or in a saved sentence-transformers
    folder its transformer module's; None for a hub id."""
    try:
        if (folder / "modules.json").is_file():
            for module in json.loads((folder / "modules.json").read_text(encoding="utf-8")):
                if str(module.get("type", "")).endswith("Transformer"):
                    return folder / module.get("path", "")
    except (OSError, ValueError, AttributeError):
        return None
    return folder if (folder / "config.json").is_file() else None


def _transformer_config(folder: Path) -> dict[str, Any] | None:
    """config.json of a local model folder; in a saved sentence-transformers folder, that of its
    transformer module. None for a hub id or an unreadable config."""
    transformer = _transformer_folder(folder)
    if transformer is None:
        return None
    try:
        found = json.loads((transformer / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _check_gather(recipe: Recipe) -> None:
    """With several datasets, processes train on batches of different datasets at the same step,
    so a loss that gathers embeddings across processes would wait forever for the others."""
    if len(recipe.datasets) < 2:
        return
    for name, dataset in recipe.datasets.items():
        if dataset.loss is not None and innermost(dataset.loss).args.get("gather_across_devices"):
            raise SbftError(
                "gather_across_devices cannot be used when training on several datasets: each process "
                "may draw a batch from a different dataset at the same step, and the gather would hang",
                where=f"datasets.{name}.loss.args.gather_across_devices",
                fix="Remove it (negatives then come from each process's own batch), or train on one dataset.",
            )


def _add_train_split(spec: DatasetSpec) -> str:
    """How this dataset gets a train split, in the words of the way it is read."""
    if spec.beir:
        return (
            f"Add {spec.beir}/qrels/train.tsv (query-id, corpus-id, score), or remove loss to evaluate only."
        )
    if spec.hub:
        return "Map one: splits: {train: HUB_SPLIT}, or remove loss to evaluate only."
    return "Add files: {train: FILE}, or remove loss to evaluate only."


def _warnings(prepared: PreparedDataset, plan: Plan) -> list[str]:
    """Likely mistakes that still let a run start."""
    name, inputs, found = prepared.name, prepared.inputs, []
    if prepared.spec.loss is None:  # only evaluated: its train rows, if any, are never read
        return _empty_texts(prepared) + _labels_outside_range(prepared)
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
    found += _empty_texts(prepared)
    rows = _rows(train, inputs)
    duplicates = sum(count - 1 for count in Counter(rows).values() if count > 1)
    if duplicates:
        found.append(f"{name} (train): {duplicates} duplicate {noun(duplicates, 'row')}")
    for split in ("dev", "test"):
        if split in prepared.splits:
            leaked = len(set(rows) & set(_rows(prepared.splits[split], inputs)))
            if leaked:
                found.append(
                    f"{name}: {leaked} {split} {noun(leaked, 'row also appears', 'rows also appear')} "
                    "in train (leakage)"
                )
    batch = plan.args.per_device_train_batch_size
    if len(train) < batch:
        found.append(f"{name}: the train split has {len(train)} rows, fewer than the batch size {batch}")
    return found + _labels_outside_range(prepared)


def _empty_texts(prepared: PreparedDataset) -> list[str]:
    found = []
    for split, data in prepared.splits.items():
        empty = sum(1 for c in prepared.inputs for v in data[c] if isinstance(v, str) and not v.strip())
        if empty:
            found.append(f"{prepared.name} ({split}): {empty} empty {noun(empty, 'text')}")
    return found


def _schedule_warnings(plan: Plan) -> list[str]:
    """A schedule that can hardly change the model: too few steps, or warm-up over all of them."""
    args, total, found = plan.args, plan.total_steps, []
    if total < 10:
        found.append(
            f"only {total} optimisation {noun(total, 'step')}: too few to fine-tune "
            "(more rows or epochs, or a smaller batch, give more)"
        )
    warmup = args.get_warmup_steps(total)
    if warmup >= total and args.lr_scheduler_type != "constant":
        only = " (the only step runs at 0)" if total == 1 else ""
        found.append(
            f"warm-up ({warmup} {noun(warmup, 'step')}) covers all {total} {noun(total, 'step')}: "
            "the learning rate never reaches "
            f"{args.learning_rate:g}{only}; lower warmup_steps"
        )
    if plan.recipe.model.adapter is not None and args.learning_rate < 1e-4:
        found.append(
            f"learning_rate {args.learning_rate:g} is low for a LoRA adapter, which starts at zero and "
            "usually trains at 1e-4 to 1e-3 (set training.learning_rate)"
        )
    return found


def _labels_outside_range(prepared: PreparedDataset) -> list[str]:
    """Scores beyond label_range are rescaled beyond 0..1: a typo in the data, or a wrong range."""
    from sbft.data import LABEL

    low, high = prepared.spec.label_range or (None, None)
    if low is None or prepared.label_kind != "score":
        return []
    found = []
    for split, data in prepared.splits.items():
        outside = [low + v * (high - low) for v in data[LABEL] if not -1e-6 <= v <= 1 + 1e-6]
        if outside:
            found.append(
                f"{prepared.name} ({split}): {len(outside)} {noun(len(outside), 'label')} outside "
                f"label_range [{low:g}, {high:g}] "
                f"(from {min(outside):g} to {max(outside):g})"
            )
    return found


def _rows(data: Any, columns: list[str]) -> list[tuple]:
    return list(zip(*(map(str, data[c]) for c in columns), strict=True))


def _check_miners(recipe: Recipe) -> None:
    """The models that negatives.mine names can be found, before anything loads."""
    from sbft.models import check_model_reference

    for name, spec in recipe.datasets.items():
        mine = spec.negatives.mine if spec.negatives else None
        for key in ("model", "rescore_with"):
            reference = getattr(mine, key) if mine else None
            if reference is None:
                continue
            try:
                check_model_reference(reference)
            except SbftError as error:
                where = f"datasets.{name}.negatives.mine.{key}"
                raise SbftError(error.what, where=where, fix=error.fix) from None


def check(recipe_path: Path, overrides: list[str] | None, console: Console) -> Plan:
    """The library side of `sbft check`."""
    from sbft.quiet import quiet_libraries
    from sbft.recipe import load_recipe

    quiet_libraries()
    plan = preflight(load_recipe(recipe_path, overrides))
    print_plan(plan, console)
    return plan
