"""Cross-encoders through the real CLI: train on two datasets, detect the saved type, mixed-loss errors."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.helpers import run_sbft


def cross_recipe(path: Path, tiny_model: Path, sts: dict[str, Path], qa: dict[str, Path], **model) -> Path:
    recipe = {
        "name": "tiny-reranker",
        "model": {"name": str(tiny_model), "type": "cross-encoder", **model},
        "datasets": {
            "sts": {
                "files": {split: file.name for split, file in sts.items()},
                "columns": ["sentence1", "sentence2"],
                "label": "score",
                "label_range": [0, 5],
                "loss": "BinaryCrossEntropyLoss",
            },
            "qa": {
                "files": {split: file.name for split, file in qa.items()},
                "columns": ["query", "answer"],
                "loss": {"name": "MultipleNegativesRankingLoss", "args": {"num_negatives": 2}},
            },
        },
        "training": {"per_device_train_batch_size": 8, "logging_steps": 2},
    }
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def test_train_cross_encoder(tmp_path, tiny_model, pair_score_files, pair_files):
    recipe = cross_recipe(tmp_path / "recipe.yaml", tiny_model, pair_score_files, pair_files)
    run_dir = tmp_path / "run"
    result = run_sbft("train", str(recipe), "-o", str(run_dir))
    assert result.returncode == 0, result.stderr + result.stdout

    metrics = json.loads((run_dir / "metrics.json").read_text())
    for section in ("baseline_dev", "final_dev", "test"):
        assert "sts_spearman" in metrics[section], metrics[section]  # CrossEncoderCorrelationEvaluator
        assert "qa_ndcg@10" in metrics[section]  # CrossEncoderRerankingEvaluator
    assert "base vs fine-tuned" in result.stdout

    from sentence_transformers import CrossEncoder

    from sbft.families import CROSS_ENCODER
    from sbft.models import detect_family

    assert detect_family(str(run_dir / "model")) is CROSS_ENCODER
    scores = CrossEncoder(str(run_dir / "model")).predict([("a man plays guitar", "the dog runs")])
    assert scores.shape == (1,)


def test_bi_encoder_loss_on_cross_encoder_is_a_clear_error(tmp_path, pair_score_files, pair_files):
    recipe = cross_recipe(tmp_path / "recipe.yaml", tmp_path / "no-model", pair_score_files, pair_files)
    data = yaml.safe_load(recipe.read_text())
    data["datasets"]["sts"]["loss"] = "CoSENTLoss"
    recipe.write_text(yaml.safe_dump(data))
    result = run_sbft("train", str(recipe), "-o", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "CoSENTLoss is a bi-encoder loss, but model.type is cross-encoder" in result.stderr
    assert "BinaryCrossEntropyLoss" in result.stderr  # lists the valid ones
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_pooling_on_cross_encoder_is_a_clear_error(tmp_path, tiny_model, pair_score_files, pair_files):
    recipe = cross_recipe(tmp_path / "r.yaml", tiny_model, pair_score_files, pair_files, pooling="mean")
    result = run_sbft("train", str(recipe))
    assert result.returncode == 2
    assert "model.pooling" in result.stderr and "bi-encoders only" in result.stderr
