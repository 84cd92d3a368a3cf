"""`sbft similarity`: the wiring (the scores themselves: tests/inference/test_search.py)."""

from __future__ import annotations

from tests.helpers import run_sbft, sentences

TEXTS = sentences(2, 40)


def test_similarity(cli, tiny_model, tiny_cross_encoder):
    same = cli("similarity", tiny_model, TEXTS[0], TEXTS[0])
    assert same.exit_code == 0 and same.stdout.strip() == "1.0000"
    other = float(cli("similarity", tiny_model, *TEXTS).stdout)
    assert -1 <= other < 1
    assert cli("similarity", tiny_cross_encoder, *TEXTS).exit_code == 0  # a cross-encoder's own score


def test_errors_exit_2(cli, tiny_model, tmp_path):
    result = run_sbft("similarity", str(tmp_path / "nope"), "a", "b")
    assert result.returncode == 2 and "does not exist" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    result = cli("similarity", tiny_model, "a", "b", "--device", "gpu0")
    assert result.exit_code == 2 and "error: --device: 'gpu0' is not a device" in result.stderr


def test_onnx_backend_scores_like_torch(cli, model_copy):
    expected = cli("similarity", model_copy, *TEXTS).stdout
    exported = cli("similarity", model_copy, *TEXTS, "--backend", "onnx", "--threads", "1")  # exports
    assert exported.exit_code == 0 and exported.stdout == expected
    assert cli("similarity", model_copy, *TEXTS, "--backend", "onnx").stdout == expected  # without torch
