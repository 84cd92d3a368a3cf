"""scripts/bench_index.py end to end on the tiny model: it runs and writes its files.

Not a timing test: the numbers of a small run mean nothing, only that the benchmark works.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO, sentences

pytest.importorskip("faiss")
QUERIES = REPO.parent / "shared" / "data" / "wikiqa" / "beir" / "queries.jsonl"


@pytest.mark.slow  # three index builds and 873 queries embedded by the tiny model
@pytest.mark.skipif(not QUERIES.is_file(), reason="needs ../shared/data/wikiqa")
def test_small_index_benchmark(cli, tiny_model, tmp_path):
    texts = tmp_path / "corpus.txt"
    texts.write_text("\n".join(sentences(400, 3)) + "\n", encoding="utf-8")
    assert cli("encode", tiny_model, texts, "-o", tmp_path / "corpus.npy", "-q").exit_code == 0
    command = [sys.executable, str(REPO / "scripts" / "bench_index.py"), "--model", str(tiny_model)]
    command += ["--embeddings", str(tmp_path / "corpus.npy"), "--texts", str(texts)]
    command += ["--work", str(tmp_path / "work"), "--out", str(tmp_path / "out"), "--synthetic", "1000"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, env=os.environ)
    assert result.returncode == 0, result.stderr
    [report] = json.loads((tmp_path / "out" / "index.json").read_text())
    assert report["documents"] == 1000 and report["dim"] == 32 and report["queries"] == 873
    assert [r["quantization"] for r in report["results"]] == ["binary", "int8", "none"]
    runs = [run for r in report["results"] for run in r["runs"]]
    assert all(0 <= run["recall_at_10"] <= run["recall_at_10_with_ties"] <= 1 for run in runs)
    text = (tmp_path / "out" / "index.md").read_text()
    assert text.startswith("# Index at 1,000 documents x 32 dimensions") and "Machine: " in text
    assert not (tmp_path / "work" / "index-int8").exists()  # removed after measuring
