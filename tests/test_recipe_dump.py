"""sbft.recipe.dump: the recipe written back is shareable (paths as written, ${VAR} kept, whole
numbers as integers) and still works from the folder it is written to (issue 15, item 4)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from sbft.recipe import dump_recipe, load_recipe
from sbft.recipe.dump import resolution
from tests.helpers import sentences

SPLITS = ("train", "dev", "test")


@pytest.fixture()
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """configs/recipe.yaml naming three files three ways: relative to it, through ${DATA_DIR}, absolute."""
    configs, data, elsewhere = tmp_path / "configs", tmp_path / "configs" / "data", tmp_path / "shared"
    data.mkdir(parents=True)
    elsewhere.mkdir()
    for folder in (data, elsewhere):
        for split in SPLITS:
            rows = [
                f"{a},{b},{i % 6}"
                for i, (a, b) in enumerate(zip(sentences(8, 1), sentences(8, 2), strict=True))
            ]
            (folder / f"{split}.csv").write_text("\n".join(["sentence1,sentence2,score", *rows]) + "\n")
    recipe = {
        "model": {"name": "sentence-transformers/all-MiniLM-L6-v2"},
        "datasets": {
            "sts": {
                "files": {
                    "train": "data/train.csv",
                    "dev": "${DATA_DIR}/dev.csv",
                    "test": str(elsewhere / "test.csv"),
                },
                "columns": ["sentence1", "sentence2"],
                "label": "score",
                "label_range": [0, 5],
                "loss": "CoSENTLoss",
            }
        },
        "training": {"num_train_epochs": 2, "learning_rate": 2.0e-5, "warmup_steps": 0.1},
    }
    (configs / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", "shared")  # relative: taken from the working directory
    return {"recipe": configs / "recipe.yaml", "data": data, "shared": elsewhere, "root": tmp_path}


def test_paths_are_written_as_written_and_work_from_the_new_folder(layout):
    recipe = load_recipe(layout["recipe"])
    run_dir = layout["root"] / "runs" / "demo"
    run_dir.mkdir(parents=True)
    text = dump_recipe(recipe, run_dir)
    files = yaml.safe_load(text)["datasets"]["sts"]["files"]
    assert files == {
        "train": "../../configs/data/train.csv",  # relative to the run folder: the same file
        "dev": "${DATA_DIR}/dev.csv",
        "test": str(layout["shared"] / "test.csv"),
    }
    (run_dir / "recipe.yaml").write_text(text)
    assert load_recipe(run_dir / "recipe.yaml").datasets["sts"].files == recipe.datasets["sts"].files


def test_whole_numbers_stay_integers(layout):
    text = dump_recipe(load_recipe(layout["recipe"]), layout["recipe"].parent)
    assert "num_train_epochs: 2\n" in text and re.search(r"label_range:\n\s*- 0\n\s*- 5\n", text)
    assert "learning_rate: 2.0e-05\n" in text and "warmup_steps: 0.1\n" in text


def test_resolution_records_what_the_paths_and_variables_were_here(layout):
    recipe = load_recipe(layout["recipe"])
    record = resolution(recipe)
    assert record["recipe"] == str(layout["recipe"].resolve())
    assert record["variables"] == {"DATA_DIR": str(layout["shared"])}
    assert record["resolved"] == {
        "datasets.sts.files.train": str(layout["data"] / "train.csv"),
        "datasets.sts.files.dev": str(layout["shared"] / "dev.csv"),
    }


def test_given_variables_win_over_the_environment(layout, monkeypatch):
    recorded = resolution(load_recipe(layout["recipe"]))["variables"]
    monkeypatch.setenv("DATA_DIR", "somewhere/else")
    moved = load_recipe(layout["recipe"])
    assert moved.datasets["sts"].files["dev"] == os.path.abspath("somewhere/else/dev.csv")
    monkeypatch.delenv("DATA_DIR")
    again = load_recipe(layout["recipe"], variables=recorded)
    assert again.datasets["sts"].files["dev"] == str(layout["shared"] / "dev.csv")


def test_a_variable_in_a_secret_field_is_never_recorded(layout, monkeypatch):
    """`hub_token: ${PLAIN}`: the variable's name looks harmless, the field says it is a secret."""
    text = layout["recipe"].read_text() + "  hub_token: ${PLAIN}\n"
    layout["recipe"].write_text(text)
    monkeypatch.setenv("PLAIN", "hf_secret_value")
    recipe = load_recipe(layout["recipe"])
    record = resolution(recipe)
    assert "PLAIN" not in record["variables"] and "hf_secret_value" not in json.dumps(record)
    dumped = dump_recipe(recipe, layout["recipe"].parent)
    assert "hf_secret_value" not in dumped and "hub_token: ${PLAIN}" in dumped


def test_a_run_folder_keeps_the_recipe_shareable_and_resumable(cli, layout, tiny_model, monkeypatch):
    """Trained from configs/ with ${DATA_DIR}: recipe.yaml keeps the reference, run.json what it was;
    the run's recipe reloads without the variable (a resume) and trains again from its folder."""
    from sbft.train import resume_recipe

    recipe = yaml.safe_load(layout["recipe"].read_text())
    recipe["model"]["name"] = str(tiny_model)
    recipe["training"].update(max_steps=2, per_device_train_batch_size=2)
    layout["recipe"].write_text(yaml.safe_dump(recipe, sort_keys=False))
    run_dir = layout["root"] / "runs" / "demo"
    result = cli("train", layout["recipe"], "-o", run_dir, "--no-smoke", "-q")
    assert result.exit_code == 0, result.stdout + result.stderr

    saved = (run_dir / "recipe.yaml").read_text()
    assert "${DATA_DIR}/dev.csv" in saved and "train: ../../configs/data/train.csv" in saved
    assert "num_train_epochs: 2\n" in saved and str(layout["data"]) not in saved
    info = json.loads((run_dir / "run.json").read_text())
    assert info["recipe"] == str(layout["recipe"].resolve())
    assert info["resolved"]["datasets.sts.files.dev"] == str(layout["shared"] / "dev.csv")
    assert info["variables"] == {"DATA_DIR": str(layout["shared"])} and "wall_time_s" in info

    monkeypatch.delenv("DATA_DIR")
    monkeypatch.chdir(layout["data"])  # relative paths follow the recipe file, not the working directory
    resumed = resume_recipe(run_dir)
    assert (
        resumed.datasets["sts"].files
        == load_recipe(layout["recipe"], variables=info["variables"]).datasets["sts"].files
    )
    assert resumed.source == layout["recipe"].resolve()
