"""`sbft check`'s rules, called in-process: every bad input is one SbftError naming what, where and
how to fix it, found before anything is trained. (The CLI wiring is proved in tests/cli/test_check.py.)"""

from __future__ import annotations

import json

import pytest

from sbft.check import preflight
from sbft.errors import SbftError
from sbft.recipe import load_recipe
from tests.helpers import write_jsonl


def check(path):
    return preflight(load_recipe(path))


def failure(path, *expected: str) -> str:
    with pytest.raises(SbftError) as caught:
        check(path)
    message = str(caught.value)
    for text in expected:
        assert text in message, message
    return message


def test_a_valid_recipe_passes_and_the_user_recipe_is_left_as_written(recipe_file):
    recipe = load_recipe(recipe_file())
    plan = preflight(recipe)
    assert plan.recipe is not recipe and recipe.training == {"per_device_train_batch_size": 8}
    assert plan.recipe.training["learning_rate"] == 2e-5  # the defaults live in the resolved copy


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"training__learning_rat": 1e-5}, ("training.learning_rat", "Did you mean 'learning_rate'?")),
        (
            {"datasets__sts__columns": "sentence1"},
            ("datasets.sts.columns", "expected a list of strings or a mapping"),
        ),
        ({"datasets__sts__columns": ["text_a", "sentence2"]}, ("text_a not found", "sentence1, sentence2")),
        ({"datasets__sts__loss": "CosentLoss"}, ("unknown loss 'CosentLoss'", "CoSENTLoss")),
        (
            {"datasets__sts__loss": {"name": "CoSENTLoss", "args": {"margin": 1}}},
            ("does not take the argument 'margin'", "It takes: scale"),
        ),
        ({"datasets__sts__loss": "BinaryCrossEntropyLoss"}, ("is a cross-encoder loss", "model.type")),
        ({"model__type": "cross-encoder", "model__pooling": "cls"}, ("model.pooling", "bi-encoders only")),
        ({"model__num_labels": 2}, ("model.num_labels", "cross-encoders only")),
        ({"model__type": "sparse-encoder"}, ("CoSENTLoss is a bi-encoder loss", "SparseCoSENTLoss")),
        ({"model__type": "sparse-encodr"}, ("unknown model type 'sparse-encodr'", "sparse-encoder")),
        ({"datasets__sts__evaluator": "reranking"}, ("'reranking' is not a bi-encoder evaluator",)),
        ({"name": "../../elsewhere"}, ("name", "not a plain name")),
        ({"model__name": "some-org/model-that-is-not-cached"}, ("hub is unreachable", "local copy")),
    ],
)
def test_recipe_errors(recipe_file, changes, expected):
    failure(recipe_file(**changes), *expected)


def test_missing_model_folder(recipe_file, tmp_path):
    failure(recipe_file(model__name=str(tmp_path / "models" / "nothing-here")), "does not exist")


def test_missing_train_split(recipe_file, pair_score_files):
    files = {split: path.name for split, path in pair_score_files.items() if split != "train"}
    failure(recipe_file(datasets__sts__files=files), "no train split")


def test_missing_data_file(recipe_file, pair_score_files):
    path = recipe_file()
    pair_score_files["dev"].unlink()
    failure(path, "datasets.sts.files.dev", "does not exist")


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([{"sentence1": "a", "sentence2": "b", "score": "high"}], ("holds text", "numeric score")),
        (
            [
                {"sentence1": "a b", "sentence2": "c d", "score": 1.0},
                {"sentence1": None, "sentence2": "e", "score": 2},
            ],
            ("row 2 of column 'sentence1'",),
        ),
    ],
)
def test_data_errors(recipe_file, tmp_path, rows, expected):
    write_jsonl(tmp_path / "rows.jsonl", rows)
    failure(recipe_file(datasets__sts__files={"train": "rows.jsonl"}), *expected)


def test_empty_train_split(recipe_file, pair_score_files):
    pair_score_files["train"].write_text("sentence1,sentence2,score\n")
    failure(recipe_file(), "train split is empty")


def test_malformed_yaml(recipe_file):
    path = recipe_file()
    path.write_text("model:\n  name: x\n datasets: [\n")
    failure(path, "not valid YAML", "line ")


def test_model_that_needs_remote_code(recipe_file, tmp_path, tiny_model):
    custom = tmp_path / "custom-model"
    custom.mkdir()
    config = json.loads((tiny_model / "config.json").read_text())
    config.update(model_type="sbft-custom", auto_map={"AutoModel": "modeling_custom.CustomModel"})
    (custom / "config.json").write_text(json.dumps(config))
    failure(recipe_file(model__name=str(custom)), "trust_remote_code")
