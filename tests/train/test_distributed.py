"""Two-process DDP training on CPU (gloo) through the real CLI, and a failing rank that ends the job."""

from __future__ import annotations

import json
import shutil

import yaml

from tests.cli.test_train import write_recipe
from tests.helpers import run_sbft


def test_two_processes_train_like_one(tmp_path, tiny_model, pair_score_files, pair_files):
    recipe = write_recipe(tmp_path / "recipe.yaml", tiny_model, pair_score_files, pair_files)
    ddp = run_sbft("train", str(recipe), "-o", str(tmp_path / "ddp"), "--nproc", "2", timeout=600)
    assert ddp.returncode == 0, ddp.stdout + ddp.stderr  # torchrun exits 0 only if every rank did

    run_dir = tmp_path / "ddp"
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith("model")) == ["model"]
    assert (run_dir / "model" / "model.safetensors").is_file()
    # Rank 1 printed nothing: every line of the closing summary appears once.
    assert ddp.stdout.count("dev: base vs fine-tuned") == 1 and ddp.stdout.count("sbft train tiny") == 1
    log = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(log) == len(set(log))  # one writer

    run_info = json.loads((run_dir / "run.json").read_text())
    assert run_info["world_size"] == 2 and run_info["backend"] == "gloo"
    assert run_info["effective_batch_size"] == 16  # 8 per device x 2 processes
    assert "x 2 processes" in ddp.stdout
    resolved = yaml.safe_load((run_dir / "recipe.yaml").read_text())
    # Two datasets: processes may train on different datasets at one step, so no gathering.
    assert "gather_across_devices" not in resolved["datasets"]["qa"]["loss"]["args"]

    single = run_sbft("train", str(recipe), "-o", str(tmp_path / "single"))
    assert single.returncode == 0, single.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    reference = json.loads((tmp_path / "single" / "metrics.json").read_text())
    for section in ("baseline_dev", "baseline_test"):
        assert metrics[section].keys() == reference[section].keys()
        for key, value in reference[section].items():
            assert abs(metrics[section][key] - value) < 1e-5, (section, key)


def test_a_failing_rank_ends_the_job(tmp_path, tiny_model, pair_score_files, pair_files):
    """Rank 1 reads a file that is broken (only it sees it): the job stops, it does not hang."""
    recipe = write_recipe(tmp_path / "recipe.yaml", tiny_model, pair_score_files, pair_files)
    data = yaml.safe_load(recipe.read_text())
    data["datasets"]["sts"]["files"]["train"] = "rank${LOCAL_RANK}-train.csv"
    recipe.write_text(yaml.safe_dump(data))
    shutil.copy(pair_score_files["train"], tmp_path / "rank0-train.csv")
    (tmp_path / "rank1-train.csv").write_text("sentence1,sentence2\nonly,two columns\n")
    result = run_sbft("train", str(recipe), "-o", str(tmp_path / "run"), "--nproc", "2", timeout=300)
    assert result.returncode != 0
    assert "column score not found" in result.stderr
    assert not (tmp_path / "run" / "model").exists()


def test_in_batch_negatives_gather_across_processes(tmp_path, tiny_model, pair_score_files, pair_files):
    recipe = write_recipe(tmp_path / "recipe.yaml", tiny_model, pair_score_files, pair_files)
    data = yaml.safe_load(recipe.read_text())
    del data["datasets"]["sts"]  # one dataset: every process runs the same loss at each step
    recipe.write_text(yaml.safe_dump(data))
    result = run_sbft("train", str(recipe), "-o", str(tmp_path / "run"), "--nproc", "2", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    resolved = yaml.safe_load((tmp_path / "run" / "recipe.yaml").read_text())
    assert resolved["datasets"]["qa"]["loss"]["args"]["gather_across_devices"] is True
