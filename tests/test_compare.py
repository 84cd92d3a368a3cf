"""sbft.compare: runs side by side (what differs in their recipes, what it did), from their folders."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from sbft.compare import compare_runs
from sbft.errors import SbftError
from tests.report.runs import write_finished_run


def changed(run: Path, **training) -> Path:
    """The run with other training settings, its data named from its own folder, and run.json saying
    what each data path resolved to."""
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    recipe["training"].update(training)
    recipe["training"]["output_dir"] = str(run / "checkpoints")
    depth = "../" * len(run.relative_to(run.parents[1]).parts)
    recipe["datasets"]["sts"]["files"]["train"] = f"{depth}data/sts-train.csv"
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    info = json.loads((run / "run.json").read_text())
    info["resolved"] = {"datasets.sts.files.train": "/data/sts-train.csv"}
    (run / "run.json").write_text(json.dumps(info))
    return run


@pytest.fixture()
def runs(tmp_path: Path) -> list[Path]:
    first = changed(write_finished_run(tmp_path / "a"), learning_rate=2e-5)
    second = changed(write_finished_run(tmp_path / "tries" / "b"), learning_rate=5e-5, seed=7)
    metrics = json.loads((second / "metrics.json").read_text())
    metrics["final_dev"]["sts_spearman_cosine"] = 0.83
    (second / "metrics.json").write_text(json.dumps(metrics))
    return [first, second]


def test_only_the_recipe_keys_that_differ(runs):
    comparison = compare_runs(runs)
    # the data file, named from two folders, resolved to the same file; checkpoints are each run's own
    assert comparison.differing == ["training.learning_rate", "training.seed"]
    first, second = comparison.to_dict()["runs"]
    assert first["recipe"] == {"training.learning_rate": 2e-5, "training.seed": None}
    assert second["recipe"] == {"training.learning_rate": 5e-5, "training.seed": 7}


def test_main_metrics_wall_time_and_size(runs):
    first, second = compare_runs(runs).to_dict()["runs"]
    assert first["metrics"]["dev"] == {
        "sts_spearman_cosine": {"base": 0.80, "tuned": 0.75},
        "qa_cosine_ndcg@10": {"base": 0.50, "tuned": 0.65},
    }
    assert second["metrics"]["dev"]["sts_spearman_cosine"] == {"base": 0.80, "tuned": 0.83}
    assert first["metrics"]["test"]["qa_cosine_ndcg@10"] == {"base": 0.48, "tuned": 0.62}
    assert first["wall_time_s"] == 30.2 and first["size_bytes"] > 0
    assert (first["status"], first["selected"], first["run"]) == ("finished", "fine-tuned", str(runs[0]))


def test_the_table(runs):
    out = io.StringIO()
    Console(file=out, width=200).print(compare_runs(runs).table(["a", "b"]))
    text = out.getvalue()
    assert "training.learning_rate" in text and "training.seed" in text and "output_dir" not in text
    assert "0.8000 -> 0.7500 (-0.0500)" in text and "0.8000 -> 0.8300 (+0.0300)" in text
    assert "30 s" in text and "finished (fine-tuned)" in text


def test_runs_that_do_not_differ(tmp_path):
    same = [write_finished_run(tmp_path / "a"), write_finished_run(tmp_path / "b")]
    comparison = compare_runs(same)
    assert comparison.differing == []
    out = io.StringIO()
    Console(file=out, width=200).print(comparison.table(["a", "b"]))
    assert "the same" in out.getvalue()


def test_what_is_not_a_comparison(tmp_path, runs):
    with pytest.raises(SbftError, match="give the run folders"):
        compare_runs([])
    with pytest.raises(SbftError, match="given twice"):
        compare_runs([runs[0], runs[0]])
    (tmp_path / "plain").mkdir()
    with pytest.raises(SbftError, match="not a run folder"):
        compare_runs([runs[0], tmp_path / "plain"])


def test_at_80_columns_every_differing_key_reads_whole(tmp_path):
    """Keys that differ only at their end (datasets.sts.files.train / dev / test) are never cut."""
    runs = []
    for name, folder in (("a", "one"), ("b", "two"), ("c", "three")):
        run = write_finished_run(tmp_path / name)
        recipe = yaml.safe_load((run / "recipe.yaml").read_text())
        recipe["datasets"]["sts"]["files"] = {
            split: f"/data/{folder}/a-rather-long-folder-name/sts-{split}.csv"
            for split in ("train", "dev", "test")
        }
        (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
        runs.append(run)
    out = io.StringIO()
    Console(file=out, width=80).print(compare_runs(runs).table(["a", "b", "c"]))
    text = out.getvalue()
    assert "…" not in text
    for split in ("train", "dev", "test"):
        assert f"datasets.sts.files.{split}" in text
