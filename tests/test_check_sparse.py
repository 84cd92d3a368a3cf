"""`sbft check` on sparse-encoder recipes: a loss of the wrong family, and SpladeLoss on a model with
no masked-language head, are one paragraph each, found before any model loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from sbft.check import preflight
from sbft.errors import SbftError
from sbft.recipe import load_recipe

SPLADE = {"name": "SpladeLoss", "args": {"document_regularizer_weight": 3e-5}, "inner": "SparseCoSENTLoss"}


def failure(path: Path, monkeypatch: pytest.MonkeyPatch, *expected: str) -> SbftError:
    from sentence_transformers import SparseEncoder

    monkeypatch.setattr(SparseEncoder, "__init__", _no_model_loads)
    with pytest.raises(SbftError) as caught:
        preflight(load_recipe(path))
    for text in expected:
        assert text in str(caught.value), str(caught.value)
    return caught.value


def _no_model_loads(*args, **kwargs):
    raise AssertionError("a model was loaded before the recipe was refused")


def test_a_sparse_loss_on_a_bi_encoder(recipe_file, monkeypatch) -> None:
    error = failure(
        recipe_file(datasets__sts__loss="SparseCoSENTLoss"),
        monkeypatch,
        "SparseCoSENTLoss is a sparse-encoder loss, but model.type is bi-encoder",
    )
    assert error.where == "datasets.sts.loss.name" and "model.type: sparse-encoder" in error.fix


def test_a_dense_loss_on_a_sparse_encoder(recipe_file, tiny_mlm, monkeypatch) -> None:
    path = recipe_file(
        model__type="sparse-encoder", model__name=str(tiny_mlm), datasets__sts__loss="CoSENTLoss"
    )
    failure(path, monkeypatch, "CoSENTLoss is a bi-encoder loss, but model.type is sparse-encoder")
    wrapped = {**SPLADE, "inner": "CoSENTLoss"}
    path = recipe_file(model__type="sparse-encoder", model__name=str(tiny_mlm), datasets__sts__loss=wrapped)
    error = failure(path, monkeypatch, "CoSENTLoss is a bi-encoder loss")
    assert error.where == "datasets.sts.loss.inner.name"


def test_splade_without_a_masked_language_head(recipe_file, tiny_model, tiny_bi_encoder, monkeypatch) -> None:
    for model in (tiny_model, tiny_bi_encoder):
        path = recipe_file(model__type="sparse-encoder", model__name=str(model), datasets__sts__loss=SPLADE)
        error = failure(path, monkeypatch, "SpladeLoss needs a masked-language-model head", "BertModel")
        assert error.where == "datasets.sts.loss" and "CSRLoss" in error.fix


def test_splade_on_a_masked_language_model_and_csr_on_a_bi_encoder_pass(
    recipe_file, tiny_mlm, tiny_bi_encoder
) -> None:
    plan = preflight(
        load_recipe(
            recipe_file(model__type="sparse-encoder", model__name=str(tiny_mlm), datasets__sts__loss=SPLADE)
        )
    )
    assert plan.recipe.family.name == "sparse-encoder"
    csr = {"name": "CSRLoss", "inner": "SparseCoSENTLoss"}
    preflight(
        load_recipe(
            recipe_file(
                model__type="sparse-encoder", model__name=str(tiny_bi_encoder), datasets__sts__loss=csr
            )
        )
    )


def test_the_sparse_metrics_are_known_before_a_model_loads(recipe_file, tiny_mlm) -> None:
    from sbft.check import predicted_metrics
    from sbft.data import load_datasets

    recipe = load_recipe(
        recipe_file(model__type="sparse-encoder", model__name=str(tiny_mlm), datasets__sts__loss=SPLADE)
    )
    names = predicted_metrics(recipe, load_datasets(recipe.datasets, recipe.family))
    assert "sts_spearman_dot" in names and "sts_active_dims" in names and "sts_sparsity_ratio" in names
