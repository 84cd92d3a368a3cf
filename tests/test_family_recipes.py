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
