"""scripts/bench.py end to end on the tiny model and tiny STSb sizes: it runs and writes its files.

Not a timing test: the numbers of a quick run mean nothing, only that the benchmark works.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.helpers import REPO, STSB_DIR


@pytest.mark.slow  # a whole benchmark run, every section in subprocesses: 1-2 minutes
@pytest.mark.skipif(not STSB_DIR.is_dir(), reason="needs ../shared/data/stsb")
def test_quick_benchmark_every_section(tiny_model, tmp_path):
    model = shutil.copytree(tiny_model, tmp_path / "tiny")  # its ONNX exports stay in this test
    out = tmp_path / "out"
    command = [sys.executable, str(REPO / "scripts" / "bench.py"), "--quick"]
    command += ["--model", str(model), "--out", str(out), "--train-samples", "32"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr
    for section in ("startup", "train", "encode"):
        assert (out / f"{section}.md").read_text().startswith("# ")
        assert "Machine: " in (out / f"{section}.md").read_text()

    startup = json.loads((out / "startup.json").read_text())
    assert set(startup["median_wall_s"]) == {"python -c pass", "sbft --help", "sbft train --help"}
    small = startup["small_commands_median_wall_s"]
    assert (
        set(small["onnx"])
        == set(small["torch"])
        == {"sbft encode (10 lines)", "sbft similarity", "sbft search (cached)"}
    )

    train = json.loads((out / "train.json").read_text())
    assert len(train["runs"]) == 1 and train["median"]["samples_per_s"]["sbft"] > 0
    assert train["settings_differing"] == []  # the recipe and the plain script agree
    run = train["runs"][0]
    assert run["sbft"]["final_dev_spearman"] == run["plain"]["final_dev_spearman"]  # same seed, same order
    assert all(train["trainer_inputs"].values()), train["trainer_inputs"]  # rows, dtypes, batches, states
    assert train["tokens"]["length"]["computed"] <= train["tokens"]["plain"]["computed"]  # less padding
    assert train["tokens"]["length"]["real"] == train["tokens"]["plain"]["real"]  # the same rows
    assert "| training throughput, samples/s |" in (out / "train.md").read_text()

    encode = json.loads((out / "encode.json").read_text())
    assert set(encode["median"]["texts_per_s"]) == {"plain", "torch", "onnx", "onnx-int8"}
    assert encode["max_abs_diff"]["torch"] < 1e-4 and encode["max_abs_diff"]["onnx"] < 1e-4
    assert all(-1 <= value <= 1 for value in encode["spearman"].values())
    assert "| texts/s, once loaded (x plain) |" in (out / "encode.md").read_text()
