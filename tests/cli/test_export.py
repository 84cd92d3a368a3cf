"""`sbft export`: the wiring (exports themselves: tests/inference/test_onnx.py)."""

from __future__ import annotations


def test_export_int8(cli, model_copy):
    result = cli("export", model_copy, "--quantize", "int8")
    assert result.exit_code == 0, result.output
    assert "onnx-int8:" in result.stdout and "qint8" in result.stdout
    assert "cosine similarity >=" in result.stdout


def test_errors_exit_2(cli, model_copy):
    for args, message in (
        (("--backend", "openvino"), "cannot export to 'openvino'"),
        (("--quantize", "int4"), "Use --quantize int8"),
    ):
        result = cli("export", model_copy, *args)
        assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert not (model_copy / "onnx").exists()  # nothing was exported
