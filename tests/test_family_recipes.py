"""CI smoke of the shipped family recipes (configs/static.yaml, configs/sparse.yaml): each trains end
to end on a few rows, on a tiny model of its family, as written but for the overrides named here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import REPO, STSB_DIR

WIKIQA_DIR = REPO.parent / "shared" / "data" / "wikiqa"


def _train(cli, recipe: str, run: Path, *sets: str) -> dict:
    overrides = [part for value in sets for part in ("--set", value)]
    result = cli("train", REPO / "configs" / recipe, "-o", run, "--no-smoke", "-q", *overrides)
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads((run / "metrics.json").read_text(encoding="utf-8"))


@pytest.mark.skipif(not STSB_DIR.is_dir(), reason="needs ../shared/data/stsb")
def test_static_recipe_trains_a_distilled_model(cli, tiny_static: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STSB_DIR", str(STSB_DIR))
    metrics = _train(
        cli,
        "static.yaml",
        tmp_path / "run",
        f"model.name={tiny_static}",
        "datasets.stsb.max_samples=64",
        "training.num_train_epochs=1",
    )
    assert "stsb_spearman_cosine" in metrics["test"]
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tmp_path / "run" / "model"), device="cpu")
    assert type(model[0]).__name__ == "StaticEmbedding"  # still static after training


def test_sparse_recipe_trains_csr_on_a_bi_encoder(
    cli, tiny_bi_encoder: Path, beir_folder: Path, tmp_path: Path
) -> None:
    """configs/sparse.yaml on the tiny bi-encoder and the tiny BEIR folder (the shared WikiQA one
    is 18,821 documents); then `sbft eval` of the run on that folder and `sbft encode` of it."""
    metrics = _train(
        cli,
        "sparse.yaml",
        tmp_path / "run",
        f"model.name={tiny_bi_encoder}",
        f"datasets.wikiqa.beir={beir_folder}",
        "training.num_train_epochs=1",
        "training.per_device_train_batch_size=4",
    )
    assert (
        "wikiqa_dot_ndcg@10" in metrics["final_dev"] and "wikiqa_corpus_active_dims" in metrics["final_dev"]
    )
    result = cli("eval", tmp_path / "run", beir_folder)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "dot_ndcg@10" in result.stdout and "active_dims" in result.stdout
    texts = tmp_path / "texts.txt"
    texts.write_text("a man plays\nthe dog runs\n", encoding="utf-8")
    result = cli("encode", tmp_path / "run", texts, "-q")
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 2, result.output
