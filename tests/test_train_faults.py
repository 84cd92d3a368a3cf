"""Fault injection: `sbft train` killed (SIGKILL) or interrupted (SIGINT) at chosen points, then run again.

Real processes, because signals are the point (issue 14: 29 and "beyond the list"). A small driver
arms one hook in the real code path once the run folder is claimed, then runs the real CLI:
  baseline    the base model's evaluation, before training starts
  training    training step 4 (checkpoint-2 is saved, checkpoint-4 not yet)
  checkpoint  the save of checkpoint-4: weights written, trainer state not yet (a partial checkpoint)
  final       the final model written to .model.partial, not yet renamed to model/
After every kill the next attempt goes on (a plain rerun, or --resume), the final dev metrics
equal those of an uninterrupted run, and no file of the user's changes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sbft import run_folder
from tests.helpers import sentences, write_sts_recipe
from tests.test_run_folder import USER_FILES, snapshot, user_files, write_user_files

DRIVER = r"""
import os, signal, sys

point, signal_name, *arguments = sys.argv[1:]
claimed = []
# Ctrl-C as a terminal delivers it, whatever this process inherited: a suite started in the
# background (`make test &`, nohup) inherits SIGINT ignored, and the strike would go unheard.
signal.signal(signal.SIGINT, signal.default_int_handler)


def strike():
    os.kill(os.getpid(), getattr(signal, signal_name))


import sbft.run_folder

claim = sbft.run_folder.claim


def claim_and_arm(*args, **kwargs):
    claimed.append(True)  # from here on the hooks fire (not in a smoke run before it)
    return claim(*args, **kwargs)


sbft.run_folder.claim = claim_and_arm
if point == "baseline":
    import sbft.evaluation.evaluators  # the baseline is scored through its evaluate

    evaluate = sbft.evaluation.evaluators.evaluate

    def hooked_evaluate(*args, **kwargs):
        if claimed:
            strike()
        return evaluate(*args, **kwargs)

    sbft.evaluation.evaluators.evaluate = hooked_evaluate
elif point in ("training", "checkpoint"):
    from transformers import Trainer

    name, step = ("training_step", 3) if point == "training" else ("_save_rng_state", 4)
    method = getattr(Trainer, name)

    def hooked(self, *args, **kwargs):
        if claimed and self.state.global_step == step:
            strike()
        return method(self, *args, **kwargs)

    setattr(Trainer, name, hooked)
elif point == "final":
    from sentence_transformers import SentenceTransformer

    save = SentenceTransformer.save

    def hooked_save(self, path, *args, **kwargs):
        save(self, path, *args, **kwargs)
        if claimed and str(path).endswith(".model.partial"):
            strike()

    SentenceTransformer.save = hooked_save

from sbft.cli import main

sys.argv = ["sbft", *arguments]
main()
"""


def run_until(point: str, signal_name: str, *arguments: str) -> subprocess.CompletedProcess:
    """`sbft ARGUMENTS` (no smoke run: the hooks fire only after it anyway) stopped at `point`."""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    smoke = ("--no-smoke",) if "--resume" not in arguments else ()
    command = [sys.executable, "-c", DRIVER, point, signal_name, *map(str, arguments), *smoke]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)


def killed(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr


@pytest.fixture()
def recipe(tmp_path: Path, tiny_model: Path) -> Path:
    """Six steps, a checkpoint and an evaluation every two."""
    for split, count in (("train", 48), ("dev", 16)):
        rows = zip(sentences(count, 1), sentences(count, 2), strict=True)
        text = "sentence1,sentence2,score\n" + "".join(f"{a},{b},{i % 6}\n" for i, (a, b) in enumerate(rows))
        (tmp_path / f"{split}.csv").write_text(text)
    training = {"per_device_train_batch_size": 8, "max_steps": 6, "save_steps": 2, "eval_steps": 2}
    training |= {"eval_strategy": "steps", "logging_steps": 1}
    return write_sts_recipe(tmp_path, tiny_model, training, label_range=[0, 5], evaluation={"test": False})


def final_dev(run_dir: Path) -> dict[str, float]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished"
    return metrics["final_dev"]


def assert_same_metrics(found: dict[str, float], expected: dict[str, float]) -> None:
    assert found.keys() == expected.keys()
    for key, value in expected.items():
        assert found[key] == pytest.approx(value, abs=1e-4), key


def test_killed_anywhere_then_rerun_or_resumed_gives_the_uninterrupted_result(cli, recipe, tmp_path):
    straight = cli("train", recipe, "-o", tmp_path / "straight")
    assert straight.exit_code == 0, straight.stderr
    expected = final_dev(tmp_path / "straight")
    run_dir = tmp_path / "run"

    # Ctrl-C during the baseline: said plainly, exit 130, no traceback; the folder can be reused.
    interrupted = run_until("baseline", "SIGINT", "train", recipe, "-o", run_dir)
    assert interrupted.returncode == 130, interrupted.stdout + interrupted.stderr
    assert "Traceback" not in interrupted.stderr
    said = " ".join(interrupted.stdout.split())
    assert "interrupted during the baseline evaluation, before training started" in said
    assert "Nothing is lost" in said and "no --overwrite needed" in said

    write_user_files(run_dir)
    inputs = {name: digest for name, digest in snapshot(tmp_path).items() if "/" not in name}
    killed(run_until("baseline", "SIGKILL", "train", recipe, "-o", run_dir))
    killed(run_until("training", "SIGKILL", "train", recipe, "-o", run_dir))  # after checkpoint-2
    rerun = cli("train", recipe, "-o", run_dir)
    assert rerun.exit_code == 2 and f"sbft train --resume {run_dir}" in " ".join(rerun.stderr.split())
    killed(run_until("checkpoint", "SIGKILL", "train", "--resume", run_dir))
    assert run_folder.checkpoints(run_dir)[1][-1].name == "checkpoint-4"  # left incomplete
    killed(run_until("final", "SIGKILL", "train", "--resume", run_dir))
    resumed = cli("train", "--resume", run_dir)
    assert resumed.exit_code == 0, resumed.stderr
    assert_same_metrics(final_dev(run_dir), expected)
    finished = snapshot(run_dir)

    # Killed while replacing the finished run: the old run waits aside, byte for byte, until the
    # new one is resumed and finishes.
    killed(run_until("training", "SIGKILL", "train", recipe, "-o", run_dir, "--overwrite"))
    aside = snapshot(run_dir / run_folder.REPLACED)
    assert aside.items() >= {k: v for k, v in finished.items() if k.startswith(("model/", "metrics"))}.items()
    assert cli("train", "--resume", run_dir).exit_code == 0
    assert not (run_dir / run_folder.REPLACED).exists() and not (run_dir / "checkpoints").exists()
    assert_same_metrics(final_dev(run_dir), expected)

    assert user_files(run_dir) == {name: digest for name, digest in finished.items() if name in USER_FILES}
    assert {name: digest for name, digest in snapshot(tmp_path).items() if "/" not in name} == inputs
