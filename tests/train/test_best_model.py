"""The best model on dev is the one saved, and the base model competes: no silent regressions."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.helpers import WORDS, run_sbft, sentences, write_sts_recipe


def edited(sentence: str, changes: int, rng: random.Random) -> str:
    words = sentence.split()
    for _ in range(changes):
        words[rng.randrange(len(words))] = rng.choice(WORDS)
    return " ".join(words)


def write_split(path: Path, count: int, seed: int, inverted: bool) -> None:
    """Pairs whose score falls with the words changed; `inverted` scores them the wrong way round."""
    rng = random.Random(seed)
    lines = ["sentence1,sentence2,score"]
    for first in sentences(count, seed):
        changes = rng.randint(0, 5)
        score = 5.0 - changes
        lines.append(f"{first},{edited(first, changes, rng)},{5.0 - score if inverted else score}")
    path.write_text("\n".join(lines) + "\n")


def test_regression_keeps_the_base_model_and_says_so(tmp_path, tiny_model):
    write_split(tmp_path / "train.csv", 96, 1, inverted=True)  # teaches the opposite of dev
    write_split(tmp_path / "dev.csv", 40, 2, inverted=False)
    # A learning rate this high wrecks the model whatever the machine's arithmetic.
    training = {"learning_rate": 1.0, "num_train_epochs": 2, "per_device_train_batch_size": 16}
    write_sts_recipe(tmp_path, tiny_model, training)
    result = run_sbft("train", str(tmp_path / "recipe.yaml"), "-o", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr + result.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    base = metrics["baseline_dev"]["sequential_score"]
    assert metrics["fine_tuned_dev"].get("sequential_score", float("-inf")) < base
    assert metrics["selected"] == "base" and metrics["final_dev"] == metrics["baseline_dev"]
    assert "the BASE model was saved" in result.stdout
    logged = result.stdout + result.stderr  # as in a log file: no progress bar's carriage returns
    assert "\r" not in logged and "Computing widget examples" not in logged

    # The saved model really is the base model: it scores what the baseline scored.
    reeval = run_sbft(
        "train", str(tmp_path / "recipe.yaml"), "-o", str(tmp_path / "again"), "--set", "evaluation.keep=last"
    )
    assert reeval.returncode == 0
    kept_last = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert kept_last["selected"] == "fine-tuned"
    assert kept_last["final_dev"].get("sequential_score", float("-inf")) < base
