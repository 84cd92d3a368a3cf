"""Losses: a recipe's loss checked against its family's catalogue and its data, then built.

The catalogues are data in sbft.families, so recipes are checked instantly; the classes come
from sentence-transformers only when their arguments are checked or a model exists to attach them to.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from sbft.errors import SbftError, did_you_mean
from sbft.families import FAMILIES, Family, LossInfo
from sbft.wording import noun

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from torch import nn

    from sbft.recipe import DatasetSpec, LossSpec


def effective_info(spec: LossSpec, family: Family) -> LossInfo:
    """The info that decides data shape: a wrapper's shape is that of its inner loss."""
    losses = family.losses
    info = losses[spec.name]
    while info.wrapper and spec.inner is not None:
        spec = spec.inner
        info = losses[spec.name]
    return info


def check_loss_spec(spec: LossSpec, dataset: DatasetSpec, dataset_where: str, family: Family) -> None:
    """Check a loss against the catalogue and the dataset's declared columns (no heavy imports)."""
    where = f"{dataset_where}.loss"
    _check_loss_name(spec, where, family)
    while spec.inner is not None:
        where += ".inner"
        spec = spec.inner
        _check_loss_name(spec, where, family)
    info = family.losses[spec.name]
    n_inputs = len(dataset.input_columns)
    too_many = info.max_inputs is not None and n_inputs > info.max_inputs
    if n_inputs < info.min_inputs or too_many:
        raise SbftError(
            f"{spec.name} expects inputs {info.inputs}, but {n_inputs} input "
            f"{noun(n_inputs, 'column is', 'columns are')} "
            f"listed ({', '.join(dataset.input_columns)})",
            where=f"{dataset_where}.columns",
            fix="List exactly the text columns the loss needs, in its order, or choose another "
            "loss (`sbft losses`).",
        )
    if info.label is not None and dataset.label is None:
        raise SbftError(
            f"{spec.name} needs a {info.label} label ({info.inputs}), but no label column is named",
            where=f"{dataset_where}.label",
            fix="Add 'label: <column>' to the dataset.",
        )
    if info.label is None and dataset.label is not None:
        raise SbftError(
            f"{spec.name} takes no label ({info.inputs}), but 'label: {dataset.label}' is set",
            where=f"{dataset_where}.label",
            fix="Remove 'label', or choose a loss that uses one (`sbft losses`).",
        )


def _check_loss_name(spec: LossSpec, where: str, family: Family) -> None:
    losses = family.losses
    if spec.name not in losses:
        other = next((f.name for f in FAMILIES.values() if f is not family and spec.name in f.losses), None)
        if other:
            raise SbftError(
                f"{spec.name} is a {other} loss, but model.type is {family.name}",
                where=f"{where}.name",
                fix=f"Set 'model.type: {other}', or choose a {family.name} loss: " + ", ".join(losses) + ".",
            )
        raise SbftError(
            f"unknown loss '{spec.name}'",
            where=f"{where}.name",
            fix=did_you_mean(spec.name, losses) + " `sbft losses` lists them all.",
        )
    info = losses[spec.name]
    if info.wrapper != (spec.inner is not None):
        raise SbftError(
            f"{spec.name} {'wraps another loss: add' if info.wrapper else 'takes no'} 'inner'",
            where=where,
            fix="For example: loss: {name: MatryoshkaLoss, args: {matryoshka_dims: [384, 128]}, "
            "inner: MultipleNegativesRankingLoss}"
            if info.wrapper
            else None,
        )


def check_loss_args(spec: LossSpec, where: str, family: Family) -> type:
    """Every argument in the recipe is one the loss class takes (checked before a model loads)."""
    if spec.inner is not None:
        check_loss_args(spec.inner, f"{where}.inner", family)
    loss_class = family.loss_class(spec.name)
    signature = inspect.signature(loss_class.__init__).parameters
    if any(param.kind == param.VAR_KEYWORD for param in signature.values()):
        return loss_class  # open-ended: the class itself checks
    accepted = [name for name in signature if name not in ("self", "model", "loss")]
    for key in spec.args:
        if key not in accepted:
            raise SbftError(
                f"{spec.name} does not take the argument '{key}'",
                where=f"{where}.args.{key}",
                fix=f"It takes: {', '.join(accepted)}. " + did_you_mean(key, accepted),
            )
    return loss_class


def build_loss(
    spec: LossSpec,
    model: SentenceTransformer | CrossEncoder,
    train: Dataset | None,
    where: str,
    family: Family,
) -> nn.Module:
    """Instantiate a loss (its arguments were checked by `check_loss_args`), filling in what comes
    from the model or the data."""
    loss_class = family.loss_class(spec.name)
    kwargs: dict[str, Any] = dict(spec.args)
    if spec.inner is not None:
        kwargs["loss"] = build_loss(spec.inner, model, train, f"{where}.inner", family)
    if spec.name == "SoftmaxLoss":
        kwargs.setdefault("embedding_dimension", model.get_embedding_dimension())
        if train is not None:
            kwargs.setdefault("num_labels", max(train["label"]) + 1)  # ids index the logits
    if spec.name in ("GISTEmbedLoss", "CachedGISTEmbedLoss") and isinstance(kwargs.get("guide"), str):
        from sbft.models import load_model

        kwargs["guide"] = load_model(kwargs["guide"])
    try:
        return loss_class(model, **kwargs)
    except (TypeError, ValueError) as exc:
        raise SbftError(f"cannot build {spec.name}: {exc}", where=f"{where}.args") from None
