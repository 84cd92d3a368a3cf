"""A typo gets the name it was meant to be: recipes, data files, columns, model folders; and a data
file given where a recipe goes gets the `sbft init` line that makes one."""

from __future__ import annotations

import shutil

import pytest

from sbft.check import preflight
from sbft.errors import SbftError, did_you_mean_path
from sbft.recipe import load_recipe


def test_a_path_gets_its_closest_sibling(tmp_path):
    (tmp_path / "pairs.csv").write_text("a\n")
    assert did_you_mean_path(tmp_path / "pair.csv") == f"Did you mean '{tmp_path / 'pairs.csv'}'?"
    assert did_you_mean_path(tmp_path / "unrelated.yaml") == ""
    assert did_you_mean_path(tmp_path / "no-such-folder" / "x.csv") == ""


def test_a_data_file_given_as_the_recipe_gets_the_init_line(cli, tmp_path):
    data = tmp_path / "pairs.csv"
    data.write_text("a,b\nx,y\n")
    result = cli("train", data)
    assert result.exit_code == 2
    said = " ".join(result.stderr.split())
    assert f"'{data}' is a data file, not a recipe" in said
    assert f"sbft init --data {data} -o recipe.yaml && sbft train recipe.yaml" in said
    assert "configs/" not in said


def test_a_mistyped_recipe_name(recipe_file):
    path = recipe_file()
    with pytest.raises(SbftError, match="does not exist") as caught:
        load_recipe(path.with_name("recipe.yml"))
    assert caught.value.fix == f"Did you mean '{path}'?"


def test_a_mistyped_column_gets_the_unused_column_it_was_meant_to_be(recipe_file):
    with pytest.raises(SbftError) as caught:
        preflight(load_recipe(recipe_file(datasets__sts__columns=["sentence1", "sentense2"])))
    error = caught.value
    assert error.what.startswith(
        "column sentense2 not found in the data, which has sentence1, sentence2, score"
    )
    assert "needs" not in error.what  # the typo is not echoed back as something the loss needs
    assert error.fix.startswith("Did you mean 'sentence2'?")
    assert " ." not in str(error)


def test_a_mistyped_data_file(recipe_file):
    path = recipe_file(datasets__sts__files={"train": "sts-trian.csv"})
    with pytest.raises(SbftError, match="does not exist") as caught:
        preflight(load_recipe(path))
    assert caught.value.fix.startswith(f"Did you mean '{path.parent / 'sts-train.csv'}'?")


def test_a_mistyped_run_folder_is_a_folder_not_a_hub_id(cli, tmp_path, tiny_model, monkeypatch):
    shutil.copytree(tiny_model, tmp_path / "runs" / "quickstart")
    monkeypatch.chdir(tmp_path)
    result = cli("similarity", "runs/quickstat", "a dog", "a cat")
    assert result.exit_code == 2
    said = " ".join(result.stderr.split())
    assert "MODEL: the model folder 'runs/quickstat' does not exist" in said
    assert "Did you mean 'runs/quickstart'?" in said
    assert "hub" not in said.split("Did you mean")[0] and "model.name" not in said


def test_no_message_sends_a_user_to_a_file_only_the_repository_has(cli, tmp_path):
    """configs/ exists only in a clone: messages point at `sbft init`, which works anywhere."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("name: x\ndatasets: {}\n")
    missing = cli("check", recipe, "--no-estimate")
    assert missing.exit_code == 2 and "configs/" not in missing.stderr and "sbft init" in missing.stderr
    neither = cli("train")
    assert neither.exit_code == 2 and "configs/" not in neither.stderr and "sbft init" in neither.stderr
