"""Every kind of bad input: one clear paragraph, exit code 2, no traceback, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.helpers import run_sbft, write_jsonl


@pytest.fixture()
def workdir(tmp_path: Path, tiny_model: Path, pair_score_files: dict[str, Path]) -> Path:
    """A valid recipe (recipe.yaml) beside its data; each test breaks one thing."""
    recipe = {
        "name": "broken",
        "model": {"name": str(tiny_model)},
        "datasets": {
            "sts": {
                "files": {split: path.name for split, path in pair_score_files.items()},
                "columns": ["sentence1", "sentence2"],
                "label": "score",
                "label_range": [0, 5],
                "loss": "CoSENTLoss",
            }
        },
        "training": {"per_device_train_batch_size": 8},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return tmp_path


def edit(workdir: Path, change) -> Path:
    path = workdir / "recipe.yaml"
    recipe = yaml.safe_load(path.read_text())
    change(recipe)
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def assert_clean_failure(workdir: Path, *expected: str, command: str = "train") -> str:
    """Exit 2, one paragraph naming the problem, no traceback, no run folder created."""
    before = {p.name for p in workdir.iterdir()}
    extra = ["-o", str(workdir / "run")] if command == "train" else []
    result = run_sbft(command, str(workdir / "recipe.yaml"), *extra)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    for text in expected:
        assert text in result.stderr, result.stderr
    assert {p.name for p in workdir.iterdir()} == before  # nothing written
    return result.stderr


def test_valid_recipe_passes_check(workdir):
    result = run_sbft("check", str(workdir / "recipe.yaml"))
    assert result.returncode == 0, result.stderr
    assert "ok: the run can start" in result.stdout and "epoch(s) of" in result.stdout


def test_malformed_yaml(workdir):
    (workdir / "recipe.yaml").write_text("model:\n  name: x\n datasets: [\n")
    assert_clean_failure(workdir, "not valid YAML", "line ")


def test_unknown_key(workdir):
    edit(workdir, lambda r: r["training"].update(learning_rat=1e-5))
    assert_clean_failure(workdir, "training.learning_rat", "Did you mean 'learning_rate'?")


def test_wrong_value_type(workdir):
    edit(workdir, lambda r: r["datasets"]["sts"].update(columns="sentence1"))
    assert_clean_failure(workdir, "datasets.sts.columns", "expected a list or a mapping")


def test_missing_data_file(workdir):
    (workdir / "sts-dev.csv").unlink()
    assert_clean_failure(workdir, "datasets.sts.files.dev", "does not exist")


def test_missing_train_split(workdir):
    edit(workdir, lambda r: r["datasets"]["sts"]["files"].pop("train"))
    assert_clean_failure(workdir, "no train split")


def test_missing_columns(workdir):
    edit(workdir, lambda r: r["datasets"]["sts"].update(columns=["text_a", "sentence2"]))
    assert_clean_failure(workdir, "text_a not found", "the data has sentence1, sentence2, score")


def test_string_labels_where_numbers_are_needed(workdir):
    write_jsonl(workdir / "words.jsonl", [{"sentence1": "a", "sentence2": "b", "score": "high"}])
    edit(workdir, lambda r: r["datasets"]["sts"].update(files={"train": "words.jsonl"}))
    assert_clean_failure(workdir, "holds text", "numeric score")


def test_empty_dataset(workdir):
    (workdir / "sts-train.csv").write_text("sentence1,sentence2,score\n")
    assert_clean_failure(workdir, "train split is empty")


def test_rows_with_missing_text(workdir):
    rows = [
        {"sentence1": "a b", "sentence2": "c d", "score": 1.0},
        {"sentence1": None, "sentence2": "e", "score": 2.0},
    ]
    write_jsonl(workdir / "holes.jsonl", rows)
    edit(workdir, lambda r: r["datasets"]["sts"].update(files={"train": "holes.jsonl"}))
    assert_clean_failure(workdir, "row 2 of column 'sentence1'")


def test_unknown_loss(workdir):
    edit(workdir, lambda r: r["datasets"]["sts"].update(loss="CosentLoss"))
    assert_clean_failure(workdir, "unknown loss 'CosentLoss'", "CoSENTLoss")


def test_loss_argument_the_loss_does_not_take(workdir):
    edit(workdir, lambda r: r["datasets"]["sts"].update(loss={"name": "CoSENTLoss", "args": {"margin": 1}}))
    assert_clean_failure(workdir, "does not take the argument 'margin'", "It takes: scale")


def test_model_path_that_does_not_exist(workdir):
    edit(workdir, lambda r: r["model"].update(name=str(workdir / "models" / "nothing-here")))
    assert_clean_failure(workdir, "does not exist")


def test_hub_id_while_offline(workdir):
    edit(workdir, lambda r: r["model"].update(name="some-org/model-that-is-not-cached"))
    assert_clean_failure(workdir, "hub is unreachable", "local copy")


def test_model_that_needs_remote_code(workdir, tiny_model):
    custom = workdir / "custom-model"
    custom.mkdir()
    config = json.loads((tiny_model / "config.json").read_text())
    config.update(model_type="sbft-custom", auto_map={"AutoModel": "modeling_custom.CustomModel"})
    (custom / "config.json").write_text(json.dumps(config))
    edit(workdir, lambda r: r["model"].update(name=str(custom)))
    before = {p.name for p in workdir.iterdir()}
    result = run_sbft("train", str(workdir / "recipe.yaml"), "-o", str(workdir / "run"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "trust_remote_code" in result.stderr
    assert {p.name for p in workdir.iterdir()} == before


def test_check_reports_the_same_errors(workdir):
    edit(workdir, lambda r: r["datasets"]["sts"].update(loss="CosentLoss"))
    assert_clean_failure(workdir, "unknown loss", command="check")
