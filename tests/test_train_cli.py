"""End to end through the real CLI: two datasets, two losses, baseline + train + test + save."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from tests.helpers import run_sbft


def write_recipe(path: Path, tiny_model: Path, sts: dict[str, Path], qa: dict[str, Path], **extra) -> Path:
    recipe = {
        "name": "tiny",
        "model": {"name": str(tiny_model), "pooling": "mean"},
        "datasets": {
            "sts": {
                "files": {split: file.name for split, file in sts.items()},
                "columns": ["sentence1", "sentence2"],
                "label": "score",
                "label_range": [0, 5],
                "loss": "CoSENTLoss",
            },
            "qa": {
                "files": {split: file.name for split, file in qa.items()},
                "columns": ["query", "answer"],
                "loss": {"name": "MultipleNegativesRankingLoss", "args": {"scale": 20.0}},
            },
        },
        "training": {"per_device_train_batch_size": 8, "logging_steps": 2},
        **extra,
    }
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def test_train_two_datasets_two_losses(tmp_path, tiny_model, pair_score_files, pair_files):
    recipe = write_recipe(tmp_path / "recipe.yaml", tiny_model, pair_score_files, pair_files)
    run_dir = tmp_path / "run"
    result = run_sbft("train", str(recipe), "-o", str(run_dir), "--set", "training.num_train_epochs=2")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Traceback" not in result.stderr

    metrics = json.loads((run_dir / "metrics.json").read_text())
    for section in ("baseline_dev", "final_dev", "test", "baseline_test"):
        assert metrics[section], section
        assert all(math.isfinite(v) for v in metrics[section].values())
    assert {"sts_spearman_cosine", "qa_cosine_ndcg@10"} <= metrics["final_dev"].keys()
    assert {"sts_spearman_cosine", "qa_cosine_ndcg@10"} <= metrics["test"].keys()
    assert [e["step"] for e in metrics["evaluations"]] == [12, 24]  # one per epoch, sets merged
    # The saved model is the best on dev: one of the evaluated checkpoints, or the base model.
    candidates = [e["sequential_score"] for e in metrics["evaluations"]] + [
        metrics["baseline_dev"]["sequential_score"]
    ]
    assert metrics["final_dev"]["sequential_score"] == pytest.approx(max(candidates))

    log = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any("loss" in entry and "learning_rate" in entry for entry in log)
    assert "sts_spearman_cosine" in result.stdout and "learning rate" in result.stdout
    assert "base vs fine-tuned" in result.stdout

    resolved = yaml.safe_load((run_dir / "recipe.yaml").read_text())
    assert resolved["training"]["num_train_epochs"] == 2
    assert resolved["training"]["batch_sampler"] == "no_duplicates"
    run_info = json.loads((run_dir / "run.json").read_text())
    assert run_info["packages"]["sentence-transformers"]
    assert (run_dir / "model" / "README.md").is_file()  # the model card

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(run_dir / "model"))
    embeddings = model.encode(["a man plays guitar", "the dog runs"])
    assert embeddings.shape == (2, 32)


def test_existing_run_is_not_overwritten(tmp_path, tiny_model, pair_score_files, pair_files):
    recipe = write_recipe(tmp_path / "recipe.yaml", tiny_model, pair_score_files, pair_files)
    run_dir = tmp_path / "run"
    (run_dir / "model").mkdir(parents=True)
    (run_dir / "model" / "keep.txt").write_text("precious")
    result = run_sbft("train", str(recipe), "-o", str(run_dir))
    assert result.returncode == 2
    assert "already holds a run" in result.stderr and "--overwrite" in result.stderr
    assert (run_dir / "model" / "keep.txt").read_text() == "precious"
