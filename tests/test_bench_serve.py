"""scripts/bench_serve.py end to end on the tiny model: it runs, stops by itself and writes its files.

Not a timing test: the numbers of a quick run mean nothing, only that the benchmark works.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import REPO


@pytest.mark.slow  # two server starts and a few seconds of load
def test_quick_serve_benchmark(tiny_model, tmp_path):
    command = [sys.executable, str(REPO / "scripts" / "bench_serve.py"), "--model", str(tiny_model)]
    command += ["--backends", "torch", "--clients", "1,4", "--seconds", "0.5", "--out", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    records = json.loads((tmp_path / "serve.json").read_text())["records"]
    assert [(r["batching"], r["clients"]) for r in records] == [(True, 1), (True, 4), (False, 1), (False, 4)]
    assert all(r["requests"] > 0 and r["errors"] == 0 for r in records)
    assert all(r["requests_per_encode_call"] == 1.0 for r in records if not r["batching"])
    text = (tmp_path / "serve.md").read_text()
    assert (
        text.startswith("# sbft serve") and "Machine: " in text and "Batching on / off at 4 clients" in text
    )
