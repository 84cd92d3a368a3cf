"""Recipe parsing and validation: pure Python, no model or data loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sbft.errors import SbftError
from sbft.recipe import apply_override, load_recipe

MINIMAL = {
    "model": {"name": "sentence-transformers/all-MiniLM-L6-v2"},
    "datasets": {
        "sts": {
            "files": {"train": "train.csv", "dev": "dev.csv"},
            "columns": ["sentence1", "sentence2"],
            "label": "score",
            "loss": "CoSENTLoss",
        }
    },
}


def write(tmp_path: Path, data: dict | str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def error_of(tmp_path: Path, data: dict | str, overrides: list[str] | None = None) -> SbftError:
    with pytest.raises(SbftError) as caught:
        load_recipe(write(tmp_path, data), overrides)
    return caught.value


def test_minimal_recipe_fills_defaults_and_resolves_paths(tmp_path):
    recipe = load_recipe(write(tmp_path, MINIMAL))
    sts = recipe.datasets["sts"]
    assert sts.files["train"] == str(tmp_path / "train.csv")
    assert sts.loss.name == "CoSENTLoss" and sts.loss.args == {}
    assert sts.evaluator == "auto" and recipe.evaluation.baseline
    assert recipe.model.type == "bi-encoder" and recipe.model.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert recipe.run_dir == Path("runs/run")


def test_unknown_key_names_the_closest_valid_one(tmp_path):
    data = {**MINIMAL, "datasets": {"sts": {**MINIMAL["datasets"]["sts"], "lable": "score"}}}
    error = error_of(tmp_path, data)
    assert error.where == "datasets.sts.lable" and "Did you mean 'label'?" in str(error)


def test_wrong_type_says_what_was_expected(tmp_path):
    data = {**MINIMAL, "datasets": {"sts": {**MINIMAL["datasets"]["sts"], "max_samples": "many"}}}
    error = error_of(tmp_path, data)
    assert error.where == "datasets.sts.max_samples" and "expected an integer" in str(error)


def test_malformed_yaml_reports_line_and_column(tmp_path):
    error = error_of(tmp_path, "model:\n  name: [unclosed\ndatasets: {}\n")
    assert "line" in error.where and "column" in error.where


def test_missing_required_key(tmp_path):
    error = error_of(tmp_path, {"datasets": MINIMAL["datasets"]})
    assert "'model' is missing" in str(error)


def test_unknown_loss_suggests_a_match(tmp_path):
    data = {**MINIMAL, "datasets": {"sts": {**MINIMAL["datasets"]["sts"], "loss": "CoSentLoss"}}}
    error = error_of(tmp_path, data)
    assert "unknown loss 'CoSentLoss'" in str(error) and "CoSENTLoss" in str(error)


def test_loss_column_count_is_checked(tmp_path):
    data = {**MINIMAL, "datasets": {"sts": {**MINIMAL["datasets"]["sts"], "columns": ["a", "b", "c"]}}}
    error = error_of(tmp_path, data)
    assert error.where == "datasets.sts.columns" and "3 input columns are" in str(error)


def test_loss_without_its_label_is_an_error(tmp_path):
    sts = {k: v for k, v in MINIMAL["datasets"]["sts"].items() if k != "label"}
    error = error_of(tmp_path, {**MINIMAL, "datasets": {"sts": sts}})
    assert error.where == "datasets.sts.label" and "needs a score label" in str(error)


def test_wrapper_loss_takes_the_shape_of_its_inner_loss(tmp_path):
    loss = {"name": "MatryoshkaLoss", "args": {"matryoshka_dims": [384, 64]}, "inner": "CoSENTLoss"}
    data = {**MINIMAL, "datasets": {"sts": {**MINIMAL["datasets"]["sts"], "loss": loss}}}
    recipe = load_recipe(write(tmp_path, data))
    assert recipe.datasets["sts"].loss.inner.name == "CoSENTLoss"


def test_set_overrides_parse_yaml_values(tmp_path):
    recipe = load_recipe(
        write(tmp_path, MINIMAL), ["training.learning_rate=3e-5", "datasets.sts.max_samples=500"]
    )
    assert recipe.training["learning_rate"] == 3e-5 and recipe.datasets["sts"].max_samples == 500


def test_bad_override_is_a_clear_error():
    with pytest.raises(SbftError, match=r"not of the form key=value") as caught:
        apply_override({}, "training.learning_rate")
    assert caught.value.where == "overrides" and "training.learning_rate=3e-5" in str(caught.value)


def test_environment_variables_expand_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_ROOT", "some/data")
    sts = {**MINIMAL["datasets"]["sts"], "files": {"train": "${DATA_ROOT}/train.csv"}}
    (tmp_path / "configs").mkdir()
    path = tmp_path / "configs" / "recipe.yaml"
    path.write_text(yaml.safe_dump({**MINIMAL, "datasets": {"sts": sts}}))
    recipe = load_recipe(path)
    assert recipe.datasets["sts"].files["train"] == str(tmp_path / "some" / "data" / "train.csv")


def test_unset_environment_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    sts = {**MINIMAL["datasets"]["sts"], "files": {"train": "${NOT_SET_ANYWHERE}/train.csv"}}
    error = error_of(tmp_path, {**MINIMAL, "datasets": {"sts": sts}})
    assert "NOT_SET_ANYWHERE is not set" in str(error) and error.where == "datasets.sts.files.train"


def test_files_or_hub_exactly_one(tmp_path):
    sts = {**MINIMAL["datasets"]["sts"], "hub": "sentence-transformers/stsb"}
    error = error_of(tmp_path, {**MINIMAL, "datasets": {"sts": sts}})
    assert "give one source" in str(error)


def test_unknown_split_name(tmp_path):
    sts = {**MINIMAL["datasets"]["sts"], "files": {"train": "a.csv", "validation": "b.csv"}}
    error = error_of(tmp_path, {**MINIMAL, "datasets": {"sts": sts}})
    assert "unknown split 'validation'" in str(error)


def test_shipped_recipes_validate(monkeypatch):
    monkeypatch.setenv("STSB_DIR", "/data/stsb")
    for path in sorted(Path("configs").glob("*.yaml")):
        recipe = load_recipe(path)
        assert recipe.datasets, path


def test_exponent_floats_are_numbers(tmp_path):
    recipe = load_recipe(write(tmp_path, yaml.safe_dump(MINIMAL) + "training:\n  learning_rate: 2e-5\n"))
    assert recipe.training["learning_rate"] == 2e-5


def test_pairs_from_labels_rules(tmp_path):
    labelled = {
        "files": {"train": "train.tsv"},
        "pairs_from_labels": {"query": "Question", "document": "Sentence", "label": "Label"},
        "columns": ["query", "positive", "negative"],
        "loss": "MultipleNegativesRankingLoss",
    }
    recipe = load_recipe(write(tmp_path, {**MINIMAL, "datasets": {"qa": labelled}}))
    assert recipe.datasets["qa"].pairs_from_labels.hard_negatives == 1
    for change, message in (
        ({"columns": ["Question", "Sentence"]}, "makes the columns query, positive, negative, not Question"),
        ({"label": "Label"}, "label 'Label' is read by pairs_from_labels"),
        (
            {"pairs_from_labels": {**labelled["pairs_from_labels"], "hard_negatives": -1}},
            "cannot be negative",
        ),
    ):
        error = error_of(tmp_path, {**MINIMAL, "datasets": {"qa": {**labelled, **change}}})
        assert message in str(error) and error.where.startswith("datasets.qa.pairs_from_labels")


def test_a_beir_dataset_reads_query_and_document(tmp_path):
    recipe = load_recipe(
        write(
            tmp_path,
            {**MINIMAL, "datasets": {"wiki": {"beir": "data/beir", "loss": "MultipleNegativesRankingLoss"}}},
        )
    )
    wiki = recipe.datasets["wiki"]
    assert wiki.beir == str(tmp_path / "data" / "beir") and wiki.input_columns == ["query", "document"]
    for wrong, where in (
        ({"columns": ["document", "query"]}, "columns"),
        ({"label": "score"}, "label"),
        ({"files": {"train": "t.csv"}}, None),
    ):
        error = error_of(
            tmp_path,
            {**MINIMAL, "datasets": {"wiki": {"beir": "b", "loss": "MultipleNegativesRankingLoss", **wrong}}},
        )
        assert error.where == ("datasets.wiki" + (f".{where}" if where else ""))


def test_a_dataset_without_loss_is_evaluated_but_one_must_train(tmp_path):
    sts = MINIMAL["datasets"]["sts"]
    watched = {k: v for k, v in sts.items() if k != "loss"}
    recipe = load_recipe(write(tmp_path, {**MINIMAL, "datasets": {"sts": sts, "watched": watched}}))
    assert recipe.datasets["watched"].loss is None
    error = error_of(tmp_path, {**MINIMAL, "datasets": {"watched": watched}})
    assert error.where == "datasets" and "nothing to train on" in str(error)


def test_evaluation_and_prompt_rules(tmp_path):
    matryoshka = {"name": "MatryoshkaLoss", "args": {"matryoshka_dims": [32, 16]}, "inner": "CoSENTLoss"}
    recipe = load_recipe(
        write(tmp_path, {**MINIMAL, "datasets": {"sts": {**MINIMAL["datasets"]["sts"], "loss": matryoshka}}})
    )
    assert recipe.evaluation_dims == [32, 16]
    assert load_recipe(write(tmp_path, {**MINIMAL, "evaluation": {"dims": [8]}})).evaluation_dims == [8]
    for evaluation, where in (
        ({"patience": 0}, "evaluation.patience"),
        ({"dims": [0]}, "evaluation.dims[0]"),
    ):
        assert error_of(tmp_path, {**MINIMAL, "evaluation": evaluation}).where == where
    model = {**MINIMAL["model"], "prompts": {"query": "q: ", "sentence2": "s: "}}
    assert load_recipe(write(tmp_path, {**MINIMAL, "model": model})).model.prompts["sentence2"] == "s: "
    error = error_of(tmp_path, {**MINIMAL, "model": {**model, "prompts": {"querry": "q: "}}})
    assert error.where == "model.prompts.querry" and "'query'" in error.fix
    crossed = {**model, "type": "cross-encoder"}
    assert error_of(tmp_path, {**MINIMAL, "model": crossed}).where == "model.prompts"
