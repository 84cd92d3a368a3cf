"""`sbft export`: the wiring (exports themselves: tests/inference/test_onnx.py)."""

from __future__ import annotations

import os

import pytest


def test_export_int8(cli, model_copy):
    previous = os.umask(0o022)
    try:
        result = cli("export", model_copy, "--quantize", "int8")
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert "onnx-int8:" in result.stdout and "qint8" in result.stdout
    assert "cosine similarity >=" in result.stdout
    exported = list((model_copy / "onnx").iterdir())
    assert len(exported) >= 3 and {path.stat().st_mode & 0o777 for path in exported} == {0o644}  # umask 022


def test_errors_exit_2(cli, model_copy):
    for args, message in (
        (("--backend", "openvino"), "cannot export to 'openvino'"),
        (("--quantize", "int4"), "Use --quantize int8"),
    ):
        result = cli("export", model_copy, *args)
        assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert not (model_copy / "onnx").exists()  # nothing was exported


def _similarity(cli, model, *options):
    result = cli("similarity", model, "A man plays a guitar.", "Someone is playing music.", *options)
    assert result.exit_code == 0, result.output
    return float(result.stdout.split()[-1])


def test_a_damaged_export_never_gives_made_up_numbers(cli, model_copy, tmp_path):
    """Issue 25, case 1: bytes flipped in model.onnx, then similarity and encode on --backend onnx
    (the torch-free fast start included) give torch's numbers, never 0.0 or zero vectors."""
    import numpy as np

    expected = _similarity(cli, model_copy)
    assert _similarity(cli, model_copy, "--backend", "onnx") == pytest.approx(expected, abs=1e-4)
    exported = model_copy / "onnx" / "model.onnx"
    data = bytearray(exported.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 256] = b"\xff" * 256  # NaN weights, the size unchanged
    exported.write_bytes(bytes(data))
    assert _similarity(cli, model_copy, "--backend", "onnx") == pytest.approx(expected, abs=1e-4)

    exported.write_bytes(bytes(data))  # damaged again, for encode
    texts = tmp_path / "texts.txt"
    texts.write_text("one text\nanother text\n", encoding="utf-8")
    result = cli("encode", model_copy, texts, "-o", tmp_path / "out.npy", "--backend", "onnx")
    assert result.exit_code == 0, result.output
    embeddings = np.load(tmp_path / "out.npy")
    assert np.abs(embeddings).min(axis=1).max() > 0 and np.linalg.norm(embeddings, axis=1).min() > 0.5


def test_export_repairs_a_truncated_export_and_overwrite_rebuilds(cli, model_copy):
    assert cli("export", model_copy).exit_code == 0
    exported = model_copy / "onnx" / "model.onnx"
    size = exported.stat().st_size
    exported.write_bytes(exported.read_bytes()[: size // 2])  # InvalidProtobuf for onnxruntime
    result = cli("export", model_copy)
    assert result.exit_code == 0, result.output
    assert "is damaged" in result.stderr and exported.stat().st_size == size
    before = exported.stat().st_mtime_ns
    result = cli("export", model_copy, "--overwrite")
    assert result.exit_code == 0, result.output
    assert exported.stat().st_mtime_ns != before and exported.stat().st_size == size
