"""The smoke run (issue 14, "Beyond the list"): the real pipeline on a few rows, in seconds, before
anything is written; and a run whose weights did not move is not called fine-tuned (issue 14, case 9).
"""

from __future__ import annotations

import copy
import json
import re
import tempfile
import time
from pathlib import Path

import pytest

CACHED_LOSS_BATCH_ZERO = {  # the right type, a value that fails only at the first training step
    "datasets__sts__label": None,
    "datasets__sts__label_range": None,
    "datasets__sts__loss": {"name": "CachedMultipleNegativesRankingLoss", "args": {"mini_batch_size": 0}},
}


@pytest.fixture()
def smoke_temp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system's temporary folder for this test, to see that the smoke run cleans up after itself."""
    folder = tmp_path_factory.mktemp("system-temp")
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def files_in(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(result, fragment: str) -> str:
    """Exit 2, one paragraph holding `fragment`, no traceback."""
    assert result.exit_code == 2, result.stdout + result.stderr
    message = result.stderr.strip()
    assert message.startswith("error:") and "\n\n" not in message and "Traceback" not in message, message
    assert fragment in " ".join(message.split()), message
    return message


@pytest.mark.parametrize(
    ("changes", "stage", "cause"),
    [
        (
            {"training__seed": -1},
            "setting up the trainer",
            "ValueError: Seed must be between 0 and 2**32 - 1",
        ),
        (CACHED_LOSS_BATCH_ZERO, "training step 1", "ValueError: range() arg 3 must not be zero"),
    ],
    ids=["seed", "loss-argument-value"],
)
def test_the_smoke_run_catches_what_the_static_check_passes(
    cli, recipe_file, smoke_temp, tmp_path, changes, stage, cause
):
    recipe = recipe_file(**changes)
    before = files_in(tmp_path)
    assert cli("check", recipe).exit_code == 0  # the static check cannot see it

    message = refused(cli("check", recipe, "--smoke"), f"smoke run, {stage}: {cause}")
    assert "nothing was written" in message
    assert not list(smoke_temp.iterdir()) and files_in(tmp_path) == before

    # `sbft train` runs it first: the same paragraph, before the run folder is made.
    refused(cli("train", recipe, "-o", tmp_path / "run"), f"smoke run, {stage}: {cause}")
    assert not (tmp_path / "run").exists() and not list(smoke_temp.iterdir())
    assert files_in(tmp_path) == before


def test_a_good_recipe_passes_in_seconds_and_leaves_nothing(cli, recipe_file, smoke_temp, tmp_path):
    recipe = recipe_file()
    before = files_in(tmp_path)
    started = time.perf_counter()
    result = cli("check", recipe, "--smoke")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert time.perf_counter() - started < 60  # seconds on the tiny model, even on a busy machine
    assert re.search(r"^smoke run: ok, 2 steps in \d+\.\d s$", result.stdout, re.MULTILINE), result.stdout
    assert result.stdout.rstrip().endswith("ok: the run can start (1 warning)")
    assert "Traceback" not in result.stderr
    assert not list(smoke_temp.iterdir()) and files_in(tmp_path) == before


def test_smoke_changes_neither_the_recipe_nor_its_checked_data(recipe_file):
    from sbft.check import preflight
    from sbft.recipe import load_recipe
    from sbft.train import smoke

    recipe = load_recipe(recipe_file(training__per_device_train_batch_size=16))
    kept = copy.deepcopy(recipe)
    plan = preflight(recipe)
    rows = {split: len(data) for split, data in plan.datasets["sts"].splits.items()}
    result = smoke(recipe, plan)
    assert result.steps == 2 and 0 < result.training_seconds < result.seconds
    assert recipe == kept and plan.args.max_steps == -1 and plan.args.per_device_train_batch_size == 16
    assert {split: len(data) for split, data in plan.datasets["sts"].splits.items()} == rows
    assert smoke(recipe).steps == 2  # without a plan, it checks the recipe first


def test_smoke_rows_keep_every_class():
    """SoftmaxLoss counts the classes in its train split: the few rows must hold them all."""
    from datasets import Dataset

    from sbft.data import LABEL, PreparedDataset
    from sbft.recipe import DatasetSpec
    from sbft.smoke import SMOKE_ROWS, smoke_datasets

    labels = [0] * 20 + [2] * 5 + [1] * 5
    data = Dataset.from_dict({"premise": ["a"] * 30, "hypothesis": ["b"] * 30, LABEL: labels})
    spec = DatasetSpec(columns=["premise", "hypothesis"], label=LABEL)
    prepared = PreparedDataset(
        "nli", spec, {"train": data}, inputs=["premise", "hypothesis"], label_kind="class"
    )
    few = smoke_datasets({"nli": prepared})["nli"].splits["train"]
    assert few[LABEL] == [0] * SMOKE_ROWS + [2, 1] and len(data) == 30


def test_train_runs_the_smoke_first_and_the_model_is_the_same_without_it(cli, recipe_file, tmp_path):
    """A cross-encoder's new head is drawn from the random state: the smoke run leaves it as it was."""
    import torch

    recipe = recipe_file(
        model__type="cross-encoder", datasets__sts__loss="BinaryCrossEntropyLoss", evaluation__test=False
    )
    metrics = {}
    for flags in ([], ["--no-smoke"]):
        torch.manual_seed(0)
        run_dir = tmp_path / ("run" + "".join(flags))
        result = cli("train", recipe, "-o", run_dir, *flags)
        assert result.exit_code == 0, result.stdout + result.stderr
        assert ("smoke run: ok, 2 steps in" in result.stdout) == (not flags)
        metrics[bool(flags)] = json.loads((run_dir / "metrics.json").read_text())
    with_smoke, without = metrics[False], metrics[True]
    for section in ("baseline_dev", "final_dev"):
        assert with_smoke[section] == without[section]
    # Training moved the weights, and both runs chose alike (which model wins on a tiny random head is
    # not the point here).
    assert with_smoke["unchanged"] is False and with_smoke["selected"] == without["selected"]


def test_a_run_that_changed_no_weight_saves_the_base_and_says_so(cli, recipe_file, tmp_path):
    """Case 9: 10 rows, batch 32 and warm-up 0.1 make one step, and it runs at learning rate 0."""
    recipe = recipe_file(
        datasets__sts__max_samples=10, training__per_device_train_batch_size=32, training__warmup_steps=0.1
    )
    run_dir = tmp_path / "run"
    result = cli("train", recipe, "-o", run_dir, "--no-smoke")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "smoke run" not in result.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["training"]["steps"] == 1
    assert metrics["selected"] == "base" and metrics["unchanged"] is True
    said = " ".join(result.stdout.split())
    assert "warning: selected: base (training changed nothing)" in said
    assert "(base model)" in said and "fine-tuned model)" not in said
    assert "training changed nothing" in (run_dir / "report.md").read_text()
