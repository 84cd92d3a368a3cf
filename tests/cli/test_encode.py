"""`sbft encode`: the wiring of flags, stdin/stdout, exit codes and signals (formats: tests/inference/)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import run_sbft, sentences

# Blank lines, a duplicate, a line far longer than the tiny model's 64 positions.
TEXTS = [*sentences(5, 20), "", sentences(1, 20)[0], " ".join(sentences(40, 21)), "", "last one"]


@pytest.fixture(scope="module")
def reference(tiny_model):
    """What SentenceTransformer.encode gives for TEXTS."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(tiny_model)).encode(TEXTS)


@pytest.fixture()
def text_file(tmp_path) -> Path:
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(TEXTS), encoding="utf-8")
    return path


def test_writes_the_output_file(cli, tiny_model, text_file, tmp_path, reference):
    output = tmp_path / "out.npy"
    result = cli("encode", tiny_model, text_file, "-o", output)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    np.testing.assert_allclose(np.load(output), reference, atol=1e-5)
    summary = rf"encoded {len(TEXTS)} rows x 32 float32 -> {re.escape(str(output))}, [\d,]+ texts/s\n"
    *progress, last = result.stderr.splitlines(keepends=True)
    assert re.fullmatch(summary, last)
    assert progress and progress[-1].startswith(f"encoding {text_file}: {len(TEXTS)} of {len(TEXTS)} texts")
    quiet = cli("encode", tiny_model, text_file, "-o", output, "--overwrite", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    binary = cli("encode", tiny_model, "-", "--precision", "ubinary", input="one text\n")
    assert "encoded 1 row x 4 uint8 -> stdout (jsonl)" in binary.stderr


def test_stdin_to_stdout_in_a_real_process(tiny_model, reference):
    result = run_sbft("encode", str(tiny_model), "-", input="\n".join(TEXTS) + "\n")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == list(range(len(TEXTS))) and [r["text"] for r in rows] == TEXTS
    np.testing.assert_allclose(np.array([r["embedding"] for r in rows]), reference, atol=1e-5)
    assert "\r" not in result.stderr and "Traceback" not in result.stderr  # no progress bar off a terminal


def test_invalid_utf8_is_a_clear_error_unless_replaced(cli, tiny_model, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\nalso fine\ncaf\xe9 latin-1\nok\n")
    output = tmp_path / "out.npy"
    result = run_sbft("encode", str(tiny_model), str(bad), "-o", str(output))
    assert result.returncode == 2
    assert "line 3 is not valid UTF-8" in result.stderr and "--replace-errors" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == [bad]  # neither the output nor a partial file

    replaced = cli("encode", tiny_model, bad, "--replace-errors")
    assert replaced.exit_code == 0
    assert [json.loads(line)["text"] for line in replaced.stdout.splitlines()][2] == "caf\ufffd latin-1"


def test_empty_stdin_gives_nothing(cli, tiny_model):
    result = cli("encode", tiny_model, "-", input=b"")
    assert result.exit_code == 0 and result.stdout == ""


def test_missing_model_exits_2_fast(tmp_path):
    (tmp_path / "texts.txt").write_text("hello\n")
    result = run_sbft("encode", str(tmp_path / "no-such-model"), str(tmp_path / "texts.txt"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_options_reach_model_encode(cli, tiny_model, text_file, tmp_path):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_model))
    output = tmp_path / "out.npy"
    args = ["--truncate-dim", "16", "--normalize", "--prompt", "query: ", "--batch-size", "3"]
    result = cli("encode", tiny_model, text_file, "-o", output, *args, "--stats")
    assert result.exit_code == 0, result.output
    expected = model.encode(TEXTS, truncate_dim=16, normalize_embeddings=True, prompt="query: ")
    np.testing.assert_allclose(np.load(output), expected, atol=1e-5)
    stats = json.loads(result.stderr.strip().splitlines()[-1])
    assert stats["texts"] == len(TEXTS) and stats["encode_texts_per_s"] > 0

    binary = tmp_path / "binary.npy"
    assert cli("encode", tiny_model, text_file, "-o", binary, "--precision", "ubinary").exit_code == 0
    np.testing.assert_array_equal(np.load(binary), model.encode(TEXTS, precision="ubinary"))

    short = tmp_path / "short.npy"
    assert cli("encode", tiny_model, text_file, "-o", short, "--max-seq-length", "4").exit_code == 0
    model.max_seq_length = 4
    np.testing.assert_allclose(np.load(short), model.encode(TEXTS), atol=1e-5)


def test_structured_input_with_column(cli, tiny_model, tmp_path, reference):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"id": i, "body": t}) + "\n" for i, t in enumerate(TEXTS)), "utf-8")
    output = tmp_path / "out.npy"
    result = cli("encode", tiny_model, path, "--column", "body", "-o", output)
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(output), reference, atol=1e-5)
    missing = cli("encode", tiny_model, path, "--column", "text")
    assert missing.exit_code == 2 and "there is no column 'text'" in missing.stderr


def test_existing_output_is_kept_without_overwrite(cli, tiny_model, text_file, tmp_path):
    output = tmp_path / "out.npy"
    output.write_bytes(b"precious")
    result = cli("encode", tiny_model, text_file, "-o", output)
    assert result.exit_code == 2 and "--overwrite" in result.stderr
    assert "error: --output:" in result.stderr  # the library's `output` parameter, named by its flag
    assert output.read_bytes() == b"precious"
    assert cli("encode", tiny_model, text_file, "-o", output, "--overwrite").exit_code == 0
    assert np.load(output).shape == (len(TEXTS), 32)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--backend", "onnxx"), "error: --backend: unknown backend 'onnxx'. Did you mean 'onnx'"),
        (("--threads", "0"), "error: --threads: --threads must be positive"),
        (("--batch-size", "0"), "error: --batch-size: the batch size must be positive"),
        (("--device", "gpu0"), "error: --device: 'gpu0' is not a device"),
        (("--max-seq-length", "65"), "error: --max-seq-length: --max-seq-length 65 is longer"),
    ],
)
def test_errors_name_the_flag(cli, model_copy, text_file, args, message):
    result = cli("encode", model_copy, text_file, *args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert not (model_copy / "onnx").exists()  # nothing was exported


def test_onnx_backend_gives_torch_embeddings(cli, model_copy, text_file, tmp_path):
    for name in ("torch", "onnx"):
        result = cli("encode", model_copy, text_file, "-o", tmp_path / f"{name}.npy", "--backend", name)
        assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "onnx.npy"), np.load(tmp_path / "torch.npy"), atol=1e-5)


def test_killed_encode_leaves_no_file(tiny_model, tmp_path):
    """SIGTERM mid-stream: neither the output nor its partial file is left behind."""
    big = tmp_path / "big.txt"
    big.write_text("\n".join(sentences(200_000, 50)) + "\n", encoding="utf-8")
    output = tmp_path / "out.parquet"

    def partial() -> list[Path]:
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


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2/2", "shard 2 does not exist, shards are numbered from 0 (the last of 2 is 1/2)"),
        ("3/0", "asks for 0 shards"),
        ("a/b", "is not two whole numbers i/N"),
        ("-1/2", "shard -1 does not exist"),
    ],
)
def test_bad_shard_exits_2_before_loading(cli, text_file, tmp_path, value, message):
    result = cli("encode", tmp_path / "no-such-model", text_file, "-o", tmp_path / "o.npy", "--shard", value)
    assert result.exit_code == 2 and f"error: --shard: '{value}'" in result.stderr, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "o.npy").exists()


def test_shards_concatenate_to_the_whole_output(cli, tiny_model, text_file, tmp_path):
    """More shards than rows: the empty ones are valid files, and `cat` of the jsonl shards is the whole."""
    whole = cli("encode", tiny_model, text_file, "-o", tmp_path / "all.jsonl")
    assert whole.exit_code == 0, whole.output
    parts = []
    for index in range(3):
        part = tmp_path / f"part{index}.jsonl"
        result = cli("encode", tiny_model, text_file, "-o", part, "--shard", f"{index}/3")
        assert result.exit_code == 0, result.output
        parts.append(part.read_bytes())
    assert parts[1] == parts[2] == b"" and b"".join(parts) == (tmp_path / "all.jsonl").read_bytes()


@pytest.mark.slow
def test_devices_spread_over_a_process_pool(cli, tiny_model, text_file, tmp_path, reference):
    """Two CPU workers (sentence-transformers' pool): a minute of process start-up, hence slow."""
    result = cli("encode", tiny_model, text_file, "-o", tmp_path / "out.npy", "--devices", "cpu,cpu")
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), reference, atol=1e-5)


def test_bad_devices_exit_2(cli, tiny_model, text_file):
    result = cli("encode", tiny_model, text_file, "--devices", "cpu,gpu0")
    assert result.exit_code == 2 and "error: --devices: 'gpu0' is not a device" in result.stderr
    both = cli("encode", tiny_model, text_file, "--devices", "cpu,cpu", "--device", "cpu")
    assert both.exit_code == 2 and "--device and --devices both choose devices" in both.stderr
