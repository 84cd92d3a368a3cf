"""String class labels (the NLI shape) trained end to end: SoftmaxLoss beside a scored dataset, and a
cross-encoder with CrossEntropyLoss, both from a SICK-style TSV read with loader_args."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from sbft.check import preflight
from sbft.data import LABEL
from sbft.recipe import load_recipe
from tests.helpers import sentences

NLI = ("ENTAILMENT", "NEUTRAL", "CONTRADICTION")


@pytest.fixture()
def nli_files(tmp_path: Path) -> dict[str, str]:
    """Header-less, tab-separated: pair_ID, sentence_A, sentence_B, relatedness, entailment label."""
    names = {}
    for split, (count, seed) in {"train": (36, 21), "dev": (12, 22)}.items():
        rng = random.Random(seed)
        rows = zip(sentences(count, seed), sentences(count, seed + 50), strict=True)
        lines = [f"{i}\t{a}\t{b}\t{rng.randint(10, 50) / 10}\t{NLI[i % 3]}" for i, (a, b) in enumerate(rows)]
        names[split] = f"sick-{split}.txt"
        (tmp_path / names[split]).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return names


def nli_dataset(files: dict[str, str], loss: str) -> dict:
    return {
        "files": files,
        "format": "csv",
        "loader_args": {"sep": "\t", "names": ["id", "a", "b", "relatedness", "judgement"], "quoting": 3},
        "columns": ["a", "b"],
        "label": "judgement",
        "loss": loss,
    }


def test_string_labels_become_integer_ids_shared_by_every_split(recipe_file, nli_files):
    recipe = load_recipe(recipe_file(datasets__nli=nli_dataset(nli_files, "SoftmaxLoss")))
    plan = preflight(recipe)
    nli = plan.datasets["nli"]
    assert nli.class_names == sorted(NLI)
    for split in ("train", "dev"):
        assert nli.splits[split].features[LABEL].dtype == "int64"
        assert set(nli.splits[split][LABEL]) == {0, 1, 2}
    assert any(
        "nli: no bi-encoder evaluator fits 2 input columns with a class label" in w for w in plan.warnings
    )


def test_softmax_loss_on_string_labels_trains_beside_a_scored_dataset(cli, recipe_file, nli_files, tmp_path):
    path = recipe_file(datasets__nli=nli_dataset(nli_files, "SoftmaxLoss"), training__num_train_epochs=1)
    result = cli("train", path, "-o", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.stdout + result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["training"]["steps"] > 0
    assert "sts_spearman_cosine" in metrics["final_dev"]  # the scored dataset still decides


def test_softmax_loss_alone_trains_without_a_dev_score(cli, recipe_file, nli_files, tmp_path):
    path = recipe_file(datasets={"nli": nli_dataset(nli_files, "SoftmaxLoss")})
    result = cli("train", path, "-o", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert (tmp_path / "run" / "model").is_dir()


def test_cross_encoder_cross_entropy_on_string_labels(cli, recipe_file, nli_files, tmp_path):
    path = recipe_file(
        model__type="cross-encoder", datasets={"nli": nli_dataset(nli_files, "CrossEntropyLoss")}
    )
    result = cli("train", path, "-o", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.stdout + result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "nli_f1_macro" in metrics["final_dev"] or any("nli_" in key for key in metrics["final_dev"])
