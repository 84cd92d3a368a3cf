"""`sbft export`: the wiring (exports themselves: tests/inference/test_onnx.py)."""

from __future__ import annotations

import os


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
