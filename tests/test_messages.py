"""Messages that used to mislead (issue 25, case 12): each names what is really there, and the fix
it gives works."""

from __future__ import annotations

import pytest

from sbft.check import preflight
from sbft.errors import SbftError
from sbft.evaluation.data import DataOptions, resolve_data
from sbft.inspection import inspect_file
from sbft.proposal import propose
from sbft.recipe import load_recipe
from tests.helpers import wikiqa_tsv


def test_a_missing_beir_split_names_the_splits_the_folder_has(beir_folder):
    (beir_folder / "qrels" / "dev.tsv").unlink()
    with pytest.raises(SbftError) as caught:
        resolve_data(f"{beir_folder}#dev", DataOptions())
    assert caught.value.fix == f"Name a split it has: {beir_folder}#train, {beir_folder}#test."


def test_a_missing_recipe_split_names_the_splits_the_recipe_has(recipe_file, pair_score_files):
    path = recipe_file(datasets__sts__files={"train": pair_score_files["train"].name})
    with pytest.raises(SbftError) as caught:
        resolve_data(f"{path}#sts:dev", DataOptions())
    assert caught.value.fix == f"Name a split it has: {path}#sts:train."


def test_a_beir_recipe_without_train_qrels_is_told_which_file_to_add(tmp_path, tiny_model, beir_folder):
    import yaml

    (beir_folder / "qrels" / "train.tsv").unlink()
    recipe = {
        "model": {"name": str(tiny_model)},
        "datasets": {"wiki": {"beir": "beir", "loss": "MultipleNegativesRankingLoss"}},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    with pytest.raises(SbftError) as caught:
        preflight(load_recipe(tmp_path / "recipe.yaml"))
    assert "files:" not in str(caught.value)
    assert caught.value.fix == (
        f"Add {beir_folder}/qrels/train.tsv (query-id, corpus-id, score), or remove loss to evaluate only."
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["0.5"], "evaluation.merge_base[0]: expected a number, got the string '0.5'"),
        ("half", "evaluation.merge_base: expected 'auto' or a list of numbers, got the string 'half'"),
    ],
)
def test_merge_base_of_the_wrong_type_names_the_item(recipe_file, value, message):
    with pytest.raises(SbftError) as caught:
        load_recipe(recipe_file(evaluation__merge_base=value))
    assert str(caught.value).startswith(message)


def test_repeated_questions_are_text_not_class_labels(tmp_path):
    """WikiQA with 20 questions: each question repeats over its candidates like a label would."""
    inspection = inspect_file(wikiqa_tsv(tmp_path / "wikiqa.tsv", 20, 3))
    kinds = {column.name: column.kind for column in inspection.columns}
    assert kinds["Question"] == "text"
    assert propose(inspection).task.name == "retrieval"


def test_short_repeated_strings_stay_class_labels(tmp_path):
    rows = [f"text number {i} here\tother text {i}\t{['yes', 'no', 'maybe'][i % 3]}" for i in range(30)]
    path = tmp_path / "classes.tsv"
    path.write_text("a\tb\tverdict\n" + "\n".join(rows) + "\n", encoding="utf-8")
    kinds = {column.name: column.kind for column in inspect_file(path).columns}
    assert kinds["verdict"] == "classes"


def test_a_chosen_task_wins_over_a_guessed_label(tmp_path, monkeypatch):
    """--task retrieval reads a column guessed to be class names as the queries it needs."""
    import sbft.inspection

    monkeypatch.setattr(sbft.inspection, "_free_text", lambda values: False)  # the old guess
    inspection = inspect_file(wikiqa_tsv(tmp_path / "wikiqa.tsv", 20, 3))
    assert {c.name: c.kind for c in inspection.columns}["Question"] == "classes"
    proposal = propose(inspection, "retrieval")
    assert proposal.pairs_from_labels == {
        "query": "Question",
        "document": "Sentence",
        "label": "Label",
        "hard_negatives": 1,
    }
    assert proposal.notes[-1] == "Not used: QuestionID, SentenceID."
