"""Ctrl-C during training saves a checkpoint; --resume finishes the run like an uninterrupted one."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import run_sbft, sentences, write_sts_recipe


def long_recipe(tmp_path: Path, tiny_model: Path) -> Path:
    rng = random.Random(0)
    for split, count in (("train", 480), ("dev", 40)):
        rows = zip(sentences(count, 1), sentences(count, 2), strict=True)
        lines = ["sentence1,sentence2,score", *(f"{a},{b},{rng.randint(0, 5)}" for a, b in rows)]
        (tmp_path / f"{split}.csv").write_text("\n".join(lines) + "\n")
    training = {"per_device_train_batch_size": 8, "num_train_epochs": 2, "eval_strategy": "steps"}
    return write_sts_recipe(tmp_path, tiny_model, training | {"eval_steps": 15, "logging_steps": 15})


def test_interrupt_then_resume(tmp_path, tiny_model):
    recipe = long_recipe(tmp_path, tiny_model)
    run_dir = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "sbft", "train", str(recipe), "-o", str(run_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not list((run_dir / "checkpoints").glob("checkpoint-*")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert f"sbft train --resume {run_dir}" in stdout
    assert not (run_dir / "model").exists()  # no half-finished model that looks complete
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "interrupted"

    resumed = run_sbft("train", "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished" and (run_dir / "model" / "model.safetensors").is_file()
    assert metrics["training"]["steps"] == 120  # 480 rows / 8 per batch x 2 epochs
    assert not (run_dir / "checkpoints").exists()  # finished: the checkpoints did their job

    straight = run_sbft("train", str(recipe), "-o", str(tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr
    reference = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    for key, value in reference["final_dev"].items():
        assert abs(metrics["final_dev"][key] - value) < 1e-4, key


def test_resume_needs_a_run_folder(tmp_path):
    result = run_sbft("train", "--resume", str(tmp_path))
    assert result.returncode == 2 and "is not a run folder" in result.stderr
