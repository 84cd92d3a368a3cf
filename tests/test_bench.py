"""scripts/bench.py end to end on the tiny model and 50 STSb sentences: it runs and writes its files.

Not a timing test: the numbers of a quick run mean nothing, only that the benchmark works.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, STSB_DIR


@pytest.mark.skipif(not STSB_DIR.is_dir(), reason="needs ../shared/data/stsb")
def test_quick_encode_benchmark(tiny_model, tmp_path):
    command = [sys.executable, str(REPO / "scripts" / "bench.py"), "encode", "--quick"]
    command += ["--model", str(tiny_model), "--out", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    assert "ratio sbft / plain" in result.stdout and "ratio command / in-process" in result.stdout

    data = json.loads((tmp_path / "encode.json").read_text())
    assert data["median"]["texts"] == 50 and len(data["runs"]) == 1
    assert data["median"]["sbft_encode_texts_per_s"] > 0 and data["median"]["plain_encode_texts_per_s"] > 0
    assert data["median"]["max_abs_diff"] < 1e-4  # sbft wrote what model.encode computes
    assert set(data["met"]) == {"encode_within_5_percent", "command_under_2x"}
    assert "| ratio sbft / plain |" in (tmp_path / "encode.md").read_text()
