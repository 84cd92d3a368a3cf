"""Sparse encoders through the real CLI: SPLADE on a tiny masked-language model built from scratch,
CSR on the tiny bi-encoder over a BEIR folder; eval, encode and search of the result."""

from __future__ import annotations

import json
from pathlib import Path

import yaml


def splade_recipe(path: Path, model: Path, qa: dict[str, Path], sts: dict[str, Path]) -> Path:
    recipe = {
        "name": "tiny-splade",
        "model": {"name": str(model), "type": "sparse-encoder"},
        "datasets": {
            "qa": {
                "files": {split: file.name for split, file in qa.items()},
                "columns": ["query", "answer"],
                "loss": {
                    "name": "SpladeLoss",
                    "args": {"document_regularizer_weight": 3e-5, "query_regularizer_weight": 5e-5},
                    "inner": "SparseMultipleNegativesRankingLoss",
                },
            },
            "sts": {
                "files": {split: file.name for split, file in sts.items()},
                "columns": ["sentence1", "sentence2"],
                "label": "score",
                "label_range": [0, 5],
                "loss": {
                    "name": "SpladeLoss",
                    "args": {"document_regularizer_weight": 3e-5},
                    "inner": "SparseCoSENTLoss",
                },
            },
        },
        "training": {"per_device_train_batch_size": 8, "num_train_epochs": 1, "logging_steps": 2},
    }
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def test_splade_on_a_tiny_masked_language_model(cli, tmp_path, tiny_mlm, pair_files, pair_score_files):
    recipe = splade_recipe(tmp_path / "recipe.yaml", tiny_mlm, pair_files, pair_score_files)
    result = cli("train", recipe, "-o", tmp_path / "run", "--no-smoke", "-q")
    assert result.exit_code == 0, result.stdout + result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    for section in ("baseline_dev", "final_dev", "test"):
        assert "qa_dot_ndcg@10" in metrics[section] and "qa_corpus_active_dims" in metrics[section]
        assert "sts_spearman_dot" in metrics[section] and "sts_active_dims" in metrics[section]

    from sbft.families import SPARSE_ENCODER
    from sbft.models import detect_family

    assert detect_family(str(tmp_path / "run" / "model")) is SPARSE_ENCODER


def test_csr_on_a_bi_encoder_over_a_beir_folder(cli, tmp_path, tiny_bi_encoder, beir_folder):
    recipe = {
        "name": "tiny-csr",
        "model": {"name": str(tiny_bi_encoder), "type": "sparse-encoder"},
        "datasets": {
            "wiki": {
                "beir": str(beir_folder),
                "loss": {"name": "CSRLoss", "inner": "SparseMultipleNegativesRankingLoss"},
            }
        },
        "training": {"per_device_train_batch_size": 4, "num_train_epochs": 1},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    result = cli("train", tmp_path / "recipe.yaml", "-o", tmp_path / "run", "--no-smoke", "-q")
    assert result.exit_code == 0, result.stdout + result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    assert "wiki_dot_ndcg@10" in metrics["test"] and "wiki_query_active_dims" in metrics["test"]

    result = cli("eval", tmp_path / "run", beir_folder, "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "dot_ndcg@10" in result.stdout and "corpus_active_dims" in result.stdout
