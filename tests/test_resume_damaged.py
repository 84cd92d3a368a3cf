"""--resume on a run folder whose newest checkpoint is damaged (issue 25, case 10): a truncated
optimizer.pt or a tampered pickle falls back to the previous checkpoint with a note, and with none
left the message says why and how to start again, never the same failing --resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sbft.run_folder import checkpoint_problem, newest_checkpoint


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory, tiny_model) -> Path:
    """A run stopped after step 4 with checkpoints at steps 2 and 4 (a finished run, marked back)."""
    from tests.helpers import write_sts_recipe

    folder = tmp_path_factory.mktemp("stopped")
    for split, count in (("train", 64), ("dev", 16)):
        rows = zip(sentences_of(count, 1), sentences_of(count, 2), strict=True)
        lines = ["sentence1,sentence2,score", *(f"{a},{b},{i % 6}" for i, (a, b) in enumerate(rows))]
        (folder / f"{split}.csv").write_text("\n".join(lines) + "\n")
    training = {"per_device_train_batch_size": 8, "max_steps": 4, "save_steps": 2, "save_strategy": "steps"}
    recipe = write_sts_recipe(folder, tiny_model, training | {"eval_strategy": "no"})
    from tests.helpers import run_sbft

    run = folder / "run"
    result = run_sbft("train", str(recipe), "-o", str(run), "--no-smoke", "--keep-checkpoints", "-q")
    assert result.returncode == 0, result.stderr
    shutil.rmtree(run / "model")
    (run / ".sbft-run").write_text(json.dumps({"status": "stopped", "keep_checkpoints": False}))
    return run


def sentences_of(count: int, seed: int) -> list[str]:
    from tests.helpers import sentences

    return sentences(count, seed)


def _copy(run: Path, tmp_path: Path) -> Path:
    """The run and its data beside it (recipe.yaml names the data relative to the run folder)."""
    for data in run.parent.glob("*.csv"):
        shutil.copy(data, tmp_path / data.name)
    return Path(shutil.copytree(run, tmp_path / "run"))


def _tamper(path: Path) -> None:
    import torch

    torch.save({"state": print}, path)  # a global that weights_only loading refuses


DAMAGES = {
    "optimizer.pt cut short": (lambda c: (c / "optimizer.pt").write_bytes(b"PK\x03\x04"), "cut short"),
    "rng_state.pth tampered": (lambda c: _tamper(c / "rng_state.pth"), "tampered with"),
    "scheduler.pt tampered": (lambda c: _tamper(c / "scheduler.pt"), "tampered with"),
    "trainer_state.json edited": (
        lambda c: (c / "trainer_state.json").write_text("[]"),
        "trainer_state.json is not the trainer's state",
    ),
    "weights cut short": (
        lambda c: (c / "model.safetensors").write_bytes((c / "model.safetensors").read_bytes()[:-100]),
        "model.safetensors is cut short",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_checkpoint_is_found_without_loading_it(stopped_run, tmp_path, damage):
    run = _copy(stopped_run, tmp_path)
    newest = run / "checkpoints" / "checkpoint-4"
    assert checkpoint_problem(newest) is None
    hurt, said = DAMAGES[damage]
    hurt(newest)
    assert said in checkpoint_problem(newest)
    assert newest_checkpoint(run) == run / "checkpoints" / "checkpoint-2"


def test_resume_falls_back_to_the_previous_checkpoint(stopped_run, tmp_path, cli):
    run = _copy(stopped_run, tmp_path)
    (run / "checkpoints" / "checkpoint-4" / "optimizer.pt").write_bytes(b"PK\x03\x04 cut")
    result = cli("train", "--resume", run)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "checkpoint-4 is damaged: optimizer.pt is cut short" in result.stdout
    assert "resuming from checkpoint-2" in result.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["training"]["steps"] == 4


def test_with_every_checkpoint_damaged_resume_explains(stopped_run, tmp_path):
    from tests.helpers import run_sbft

    run = _copy(stopped_run, tmp_path)
    for step in (2, 4):
        _tamper(run / "checkpoints" / f"checkpoint-{step}" / "rng_state.pth")
    result = run_sbft("train", "--resume", str(run))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no checkpoint to resume from: checkpoint-2 is damaged" in result.stderr
    assert "--resume" not in result.stderr and f"sbft train {run / 'recipe.yaml'} -o {run}" in result.stderr
