"""`sbft encode` through the CLI: every output format, stdin, blank lines, bad bytes, empty input.

Most tests run the Typer app in-process (the same argument parsing, error handling and exit
codes, without paying the imports per test); a few run the real `sbft` in a subprocess.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sbft.cli import app
from tests.helpers import run_sbft, sentences

# Blank lines, a duplicate, a line far longer than the tiny model's 64 positions, CRLF.
TEXTS = [*sentences(5, 20), "", sentences(1, 20)[0], " ".join(sentences(40, 21)), "", "last one"]


@pytest.fixture(scope="module")
def reference(tiny_model):
    """What SentenceTransformer.encode gives for TEXTS, and the model."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_model))
    return model.encode(TEXTS)


@pytest.fixture()
def text_file(tmp_path) -> Path:
    path = tmp_path / "texts.txt"
    path.write_bytes("\r\n".join(TEXTS[:3]).encode() + b"\r\n" + "\n".join(TEXTS[3:]).encode())  # no final \n
    return path


def invoke(*args: str, input: bytes | None = None):
    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)


def read_output(path: Path) -> tuple[list[int], list[str], np.ndarray]:
    """ids, texts and embeddings of any output format."""
    if path.suffix == ".npy":
        embeddings = np.load(path)
        return list(range(len(embeddings))), [], embeddings
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return [r["id"] for r in rows], [r["text"] for r in rows], np.array([r["embedding"] for r in rows])
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as file:
            rows = list(csv.reader(file))
        assert rows[0][:3] == ["id", "text", "e0"]
        body = rows[1:]
        return (
            [int(r[0]) for r in body],
            [r[1] for r in body],
            np.array([[float(v) for v in r[2:]] for r in body]),
        )
    import pyarrow.parquet as pq

    table = pq.read_table(path).to_pydict()
    return table["id"], table["text"], np.array(table["embedding"])


@pytest.mark.parametrize("suffix", [".npy", ".jsonl", ".csv", ".parquet"])
def test_each_format_equals_model_encode(tiny_model, text_file, tmp_path, reference, suffix):
    output = tmp_path / f"out{suffix}"
    result = invoke("encode", str(tiny_model), str(text_file), "-o", str(output))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    ids, texts, embeddings = read_output(output)
    assert ids == list(range(len(TEXTS)))
    if texts:
        assert texts == TEXTS  # blank lines kept, CRLF stripped, the long line whole
    assert embeddings.shape == (len(TEXTS), 32) and embeddings.dtype.kind == "f"
    np.testing.assert_allclose(embeddings, reference, atol=1e-5)
    np.testing.assert_array_equal(embeddings[0], embeddings[6])  # a duplicate: the same row twice
    assert not list(tmp_path.glob("*.partial"))


def test_stdin_to_stdout_in_a_real_process(tiny_model, reference):
    data = "\n".join(TEXTS) + "\n"
    result = run_sbft("encode", str(tiny_model), "-", input=data)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == list(range(len(TEXTS)))
    assert [r["text"] for r in rows] == TEXTS
    np.testing.assert_allclose(np.array([r["embedding"] for r in rows]), reference, atol=1e-5)
    assert "\r" not in result.stderr and "Traceback" not in result.stderr  # no progress bar off a terminal


def test_invalid_utf8_is_a_clear_error_unless_replaced(tiny_model, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\nalso fine\ncaf\xe9 latin-1\nok\n")
    output = tmp_path / "out.npy"
    result = run_sbft("encode", str(tiny_model), str(bad), "-o", str(output))
    assert result.returncode == 2
    assert "line 3 is not valid UTF-8" in result.stderr and "--replace-errors" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == [bad]  # neither the output nor a partial file

    replaced = invoke("encode", str(tiny_model), str(bad), "--replace-errors")
    assert replaced.exit_code == 0
    assert [json.loads(line)["text"] for line in replaced.stdout.splitlines()][2] == "caf\ufffd latin-1"


@pytest.mark.parametrize("suffix", [".npy", ".jsonl", ".csv", ".parquet"])
def test_empty_input_gives_empty_output(tiny_model, tmp_path, suffix):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    output = tmp_path / f"out{suffix}"
    result = invoke("encode", str(tiny_model), str(empty), "-o", str(output))
    assert result.exit_code == 0, result.output
    assert read_output(output)[0] == []
    if suffix == ".npy":  # the width is there even without rows
        assert np.load(output).shape == (0, 32)
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        assert pq.read_schema(output).field("embedding").type.list_size == 32
    assert invoke("encode", str(tiny_model), "-", input=b"").stdout == ""


def test_missing_model_exits_2_fast(tmp_path):
    (tmp_path / "texts.txt").write_text("hello\n")
    result = run_sbft("encode", str(tmp_path / "no-such-model"), str(tmp_path / "texts.txt"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_options_reach_model_encode(tiny_model, text_file, tmp_path):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_model))
    output = tmp_path / "out.npy"
    args = ["--truncate-dim", "16", "--normalize", "--prompt", "query: ", "--batch-size", "3"]
    result = invoke("encode", str(tiny_model), str(text_file), "-o", str(output), *args, "--stats")
    assert result.exit_code == 0, result.output
    expected = model.encode(TEXTS, truncate_dim=16, normalize_embeddings=True, prompt="query: ")
    np.testing.assert_allclose(np.load(output), expected, atol=1e-5)
    stats = json.loads(result.stderr.strip().splitlines()[-1])
    assert stats["texts"] == len(TEXTS) and stats["encode_texts_per_s"] > 0

    binary = tmp_path / "binary.jsonl"
    assert (
        invoke(
            "encode", str(tiny_model), str(text_file), "-o", str(binary), "--precision", "ubinary"
        ).exit_code
        == 0
    )
    _, _, packed = read_output(binary)
    np.testing.assert_array_equal(packed, model.encode(TEXTS, precision="ubinary"))

    short = tmp_path / "short.npy"
    assert (
        invoke("encode", str(tiny_model), str(text_file), "-o", str(short), "--max-seq-length", "4").exit_code
        == 0
    )
    model.max_seq_length = 4
    np.testing.assert_allclose(np.load(short), model.encode(TEXTS), atol=1e-5)


def test_structured_input_with_column(tiny_model, tmp_path, reference):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"id": i, "body": t}) + "\n" for i, t in enumerate(TEXTS)), "utf-8")
    output = tmp_path / "out.npy"
    result = invoke("encode", str(tiny_model), str(path), "--column", "body", "-o", str(output))
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(output), reference, atol=1e-5)
    missing = invoke("encode", str(tiny_model), str(path), "--column", "text")
    assert missing.exit_code == 2 and "there is no column 'text'" in missing.stderr


def test_existing_output_is_kept_without_overwrite(tiny_model, text_file, tmp_path):
    output = tmp_path / "out.npy"
    output.write_bytes(b"precious")
    result = invoke("encode", str(tiny_model), str(text_file), "-o", str(output))
    assert result.exit_code == 2 and "--overwrite" in result.stderr
    assert output.read_bytes() == b"precious"
    assert invoke("encode", str(tiny_model), str(text_file), "-o", str(output), "--overwrite").exit_code == 0
    assert np.load(output).shape == (len(TEXTS), 32)


def test_killed_encode_leaves_no_file(tiny_model, tmp_path):
    """SIGTERM mid-stream: neither the output nor its .partial file is left behind."""
    big = tmp_path / "big.txt"
    big.write_text("\n".join(sentences(200_000, 50)) + "\n", encoding="utf-8")
    output = tmp_path / "out.parquet"

    def partial() -> list:
        return list(tmp_path.glob(".out.parquet.*.partial"))

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "sbft", "encode", str(tiny_model), str(big), "-o", str(output)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not partial() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert partial(), "the first window was never written"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 128 + signal.SIGTERM
    assert not partial() and not output.exists()
