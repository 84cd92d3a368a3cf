"""A base model whose dev scores are NaN (constant or NaN embeddings) is never scored as a number:
training stops with one paragraph, not a misleading "no metric" error, and a NaN score is never kept."""

from __future__ import annotations

import math

import pytest

from sbft.evaluation.baseline_cache import baseline_scores
from tests.cli.test_eval import _broken_model


@pytest.mark.parametrize("weights", ["zeroed", "nan"])
def test_training_from_a_model_with_undefined_scores_stops(cli, tmp_path, tiny_model, recipe_file, weights):
    broken = _broken_model(
        tiny_model, tmp_path / f"broken-{weights}", 0.0 if weights == "zeroed" else math.nan
    )
    run = tmp_path / "run"
    result = cli("train", str(recipe_file(model__name=str(broken))), "-o", str(run))
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert f"{broken}: every dev score of the base model is undefined (nan: sequential_score" in message
    assert "reports no metric" not in message and "Traceback" not in result.output
    assert not (run / "model").exists()


def test_a_partly_undefined_baseline_leaves_the_nan_out_and_says_so():
    """Only the finite scores are kept (the base competes on those); the NaN ones are named."""
    said: list[str] = []
    dev = lambda model: {"sts_pearson_cosine": math.nan, "sequential_score": 0.5, "note": "text"}  # noqa: E731
    scores = baseline_scores(None, object(), dev, None, cache=False, say=said.append)
    assert scores == ({"sequential_score": 0.5}, {})
    assert said == ["warning: the base model's dev scores sts_pearson_cosine are undefined (nan): left out"]
