"""The whole flow on the real all-MiniLM-L6-v2 and the real STS Benchmark (slow: a minute or two)."""

from __future__ import annotations

import json

import pytest

from tests.helpers import REPO, STSB_DIR, run_sbft

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not STSB_DIR.is_dir(), reason="needs ../shared/data/stsb"),
]


def test_finetune_packaged_minilm_on_stsb_sample(tmp_path):
    result = run_sbft(
        "train",
        str(REPO / "configs" / "stsb.yaml"),
        "-o",
        str(tmp_path / "run"),
        "--set",
        "datasets.stsb.max_samples=300",
        "--set",
        "training.num_train_epochs=1",
        env={"STSB_DIR": str(STSB_DIR)},
    )
    assert result.returncode == 0, result.stderr + result.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # The packaged model is a real, strong model: its base dev Spearman is far above chance.
    assert metrics["baseline_dev"]["stsb_spearman_cosine"] > 0.8
    assert (
        abs(metrics["final_dev"]["stsb_spearman_cosine"] - metrics["baseline_dev"]["stsb_spearman_cosine"])
        < 0.1
    )
    assert metrics["test"]["stsb_spearman_cosine"] > 0.8

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tmp_path / "run" / "model"))
    similar, unrelated = model.similarity(
        model.encode(["A man is playing a guitar."]),
        model.encode(["Someone plays the guitar.", "The stock market fell sharply today."]),
    )[0]
    assert similar > unrelated
