"""`sbft init` on one file (a dev split held out of train), on a folder of split files, and the
training schedule chosen from the row count."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from sbft.errors import SbftError
from sbft.init import recipe_from_data
from tests.helpers import sentences


def write_pairs(path: Path, count: int, seed: int = 1) -> Path:
    rng = random.Random(seed)
    first, second = sentences(count, seed), sentences(count, seed + 100)
    lines = ["text_a,text_b,score"]
    lines += [
        f"{a} {i},{b} {i},{rng.randint(0, 50) / 10}"
        for i, (a, b) in enumerate(zip(first, second, strict=True))
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_one_file_gets_a_held_out_dev_split_and_a_schedule_for_its_size(tmp_path):
    data = write_pairs(tmp_path / "pairs.csv", 160)
    written = recipe_from_data(data, tmp_path / "recipe.yaml")
    recipe = yaml.safe_load(written.text)
    dataset = recipe["datasets"]["pairs"]
    assert dataset["holdout"] == 0.1 and dataset["files"] == {"train": "pairs.csv"}
    assert any("0.1 of train held out" in line for line in written.summary)
    training = recipe["training"]
    # 144 rows after the holdout: batch 8, 18 steps an epoch, 3 epochs make 54 steps, a point every 2.
    assert training["per_device_train_batch_size"] == 8 and training["num_train_epochs"] == 3
    assert training["logging_steps"] == 2
    assert "144 train rows: batch 8 and 3 passes make 54 steps" in " ".join(written.text.split())


def test_the_recipe_from_one_file_checks_and_trains_with_its_dev_split(cli, tmp_path, tiny_model):
    data = write_pairs(tmp_path / "pairs.csv", 160)
    recipe = tmp_path / "recipe.yaml"
    assert cli("init", "--data", data, "-o", recipe, "--model", tiny_model).exit_code == 0
    checked = cli("check", recipe, "--no-estimate")
    assert checked.exit_code == 0, checked.output
    assert "train 144, dev 16 rows" in checked.stdout and "no dev split" not in checked.stdout
    run = tmp_path / "run"
    trained = cli("train", recipe, "-o", run, "--set", "training.num_train_epochs=1", "-q")
    assert trained.exit_code == 0, trained.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "finished"
    assert (
        "pairs_spearman_cosine" in metrics["baseline_dev"] and "pairs_spearman_cosine" in metrics["final_dev"]
    )


def test_few_rows_keep_all_of_them_for_training(tmp_path):
    written = recipe_from_data(write_pairs(tmp_path / "pairs.csv", 60), tmp_path / "recipe.yaml")
    recipe = yaml.safe_load(written.text)
    assert "holdout" not in recipe["datasets"]["pairs"]
    assert "# dev: a held-out file here" in written.text
    assert recipe["training"]["per_device_train_batch_size"] == 8
    assert recipe["training"]["num_train_epochs"] == 4  # 8 steps an epoch: 4 epochs, the most proposed


def test_a_large_file_keeps_the_laptop_defaults(tmp_path):
    written = recipe_from_data(write_pairs(tmp_path / "pairs.csv", 2500), tmp_path / "recipe.yaml")
    recipe = yaml.safe_load(written.text)
    assert recipe["datasets"]["pairs"]["holdout"] == 0.1
    training = recipe["training"]
    assert (
        training["num_train_epochs"],
        training["per_device_train_batch_size"],
        training["logging_steps"],
    ) == (
        1,
        32,
        10,
    )


def test_a_folder_of_split_files_is_read_as_its_splits(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for split, count in {"train": 160, "dev": 20, "test": 20}.items():
        write_pairs(folder / f"{split}.csv", count, seed=len(split))
    written = recipe_from_data(folder, tmp_path / "recipe.yaml")
    dataset = yaml.safe_load(written.text)["datasets"]["data"]
    assert dataset["files"] == {"train": "data/train.csv", "dev": "data/dev.csv", "test": "data/test.csv"}
    assert "holdout" not in dataset


def test_a_folder_without_one_train_file_is_refused_with_what_it_holds(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    write_pairs(folder / "a.csv", 10)
    write_pairs(folder / "b.csv", 10)
    with pytest.raises(SbftError, match="neither in BEIR layout nor a folder with one train file") as caught:
        recipe_from_data(folder, tmp_path / "recipe.yaml")
    assert "a.csv, b.csv" in caught.value.what and "train.csv" in caught.value.fix
