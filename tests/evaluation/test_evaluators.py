"""Evaluator choice by data shape, for both model types, and the recipe's override."""

from __future__ import annotations

import pytest
from datasets import Dataset

from sbft.data import LABEL, PreparedDataset
from sbft.errors import SbftError
from sbft.evaluation import build_evaluator, evaluate, evaluator_kind
from sbft.families import FAMILIES
from sbft.recipe import DatasetSpec
from tests.helpers import sentences


def prepared(columns, label_kind=None, labels=None, family="bi-encoder", evaluator="auto"):
    data = {c: sentences(4, seed) for seed, c in enumerate(columns)}
    if label_kind:
        data[LABEL] = labels or [0.1, 0.5, 0.9, 0.3]
    spec = DatasetSpec(
        columns=columns, label="y" if label_kind else None, evaluator=evaluator, files={"dev": "x"}
    )
    return PreparedDataset(
        name="d",
        spec=spec,
        splits={"dev": Dataset.from_dict(data)},
        inputs=columns,
        label_kind=label_kind,
        family=FAMILIES[family],
    )


@pytest.mark.parametrize(
    ("columns", "label_kind", "labels", "family", "expected"),
    [
        (["a", "b"], "score", None, "bi-encoder", "embedding-similarity"),
        (["a", "b"], "class", [0, 1, 1, 0], "bi-encoder", "binary-classification"),
        (["a", "b"], "class", [0, 1, 2, 0], "bi-encoder", "none"),
        (["a", "p", "n"], None, None, "bi-encoder", "triplet"),
        (["q", "p"], None, None, "bi-encoder", "information-retrieval"),
        (["a", "b"], "score", None, "cross-encoder", "correlation"),
        (["a", "b"], "class", [0, 1, 2, 0], "cross-encoder", "classification"),
        (["q", "p"], None, None, "cross-encoder", "reranking"),
    ],
)
def test_auto_choice_by_shape(columns, label_kind, labels, family, expected):
    assert evaluator_kind(prepared(columns, label_kind, labels, family), "dev") == expected


def test_an_evaluator_of_another_family_is_refused():
    with pytest.raises(SbftError, match="correlation evaluator needs another model type"):
        evaluator_kind(prepared(["a", "b"], "score"), "dev", override="correlation")


def test_override_that_does_not_fit_is_a_clear_error():
    with pytest.raises(SbftError, match="triplet evaluator needs"):
        evaluator_kind(prepared(["a", "b"], "score"), "dev", override="triplet")


def test_several_datasets_make_a_sequential_evaluator(tiny_model):
    from sentence_transformers.sentence_transformer.evaluation import SequentialEvaluator

    from sbft.models import load_model

    datasets = {"sts": prepared(["a", "b"], "score"), "qa": prepared(["q", "p"])}
    datasets["qa"].name = "qa"
    datasets["sts"].name = "sts"
    evaluator = build_evaluator(datasets, "dev")
    assert isinstance(evaluator, SequentialEvaluator)
    metrics = evaluate(evaluator, load_model(str(tiny_model)))
    assert "sts_spearman_cosine" in metrics and "qa_cosine_ndcg@10" in metrics
