"""Losses: every catalogued loss exists, filled-in arguments, wrapper losses, argument checks."""

from __future__ import annotations

import pytest
from datasets import Dataset

from sbft.errors import SbftError
from sbft.families import BI_ENCODER, FAMILIES
from sbft.losses import build_loss, check_loss_args
from sbft.models import load_model
from sbft.recipe import LossSpec


@pytest.fixture(scope="module")
def model(tiny_model):
    return load_model(str(tiny_model))


def test_every_catalogued_loss_exists_in_sentence_transformers():
    for family in FAMILIES.values():
        for name in family.losses:
            assert family.loss_class(name).__name__ == name, (family.name, name)


def test_softmax_loss_gets_dimension_and_class_count_from_model_and_data(model):
    train = Dataset.from_dict({"a": ["x"] * 3, "b": ["y"] * 3, "label": [0, 1, 2]})
    loss = build_loss(LossSpec("SoftmaxLoss"), model, train, "datasets.nli.loss", BI_ENCODER)
    assert loss.classifier.out_features == 3
    assert loss.classifier.in_features == 3 * model.get_embedding_dimension()


def test_wrapper_builds_its_inner_loss(model):
    spec = LossSpec("MatryoshkaLoss", {"matryoshka_dims": [32, 16]}, LossSpec("CoSENTLoss"))
    loss = build_loss(spec, model, None, "datasets.sts.loss", BI_ENCODER)
    assert type(loss.loss).__name__ == "CoSENTLoss" and list(loss.matryoshka_dims) == [32, 16]


def test_unknown_argument_lists_accepted_ones():
    with pytest.raises(SbftError) as caught:
        check_loss_args(LossSpec("CoSENTLoss", {"scael": 10}), "datasets.sts.loss", BI_ENCODER)
    assert caught.value.where == "datasets.sts.loss.args.scael"
    assert "scale" in str(caught.value) and "Did you mean 'scale'?" in str(caught.value)


def test_softmax_loss_counts_classes_by_the_largest_id(model):
    train = Dataset.from_dict({"a": ["x"] * 2, "b": ["y"] * 2, "label": [0, 2]})  # class 1 absent here
    loss = build_loss(LossSpec("SoftmaxLoss"), model, train, "datasets.nli.loss", BI_ENCODER)
    assert loss.classifier.out_features == 3
