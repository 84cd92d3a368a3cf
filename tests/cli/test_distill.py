"""`sbft distill`: the wiring (the library: tests/test_distill.py)."""

from __future__ import annotations

from pathlib import Path


def test_distill_then_encode(cli, tiny_bi_encoder: Path, tmp_path: Path) -> None:
    import numpy as np

    result = cli("distill", tiny_bi_encoder, "-o", tmp_path / "static", "--pca-dims", "8")
    assert result.exit_code == 0, result.output
    assert "a static model of" in result.stdout and "x 8 dimensions" in result.stdout
    texts = tmp_path / "texts.txt"
    texts.write_text("a man plays the guitar\n\na dog runs\n", encoding="utf-8")
    result = cli("encode", tmp_path / "static", texts, "-o", tmp_path / "out.npy", "-q")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "out.npy").shape == (3, 8)  # one row per line, the empty one too


def test_bad_inputs_exit_2_in_one_paragraph(
    cli, tiny_model: Path, tiny_bi_encoder: Path, tmp_path: Path
) -> None:
    result = cli("distill", tiny_model, "-o", tmp_path / "static")
    assert result.exit_code == 2 and "not a sentence-transformers model" in result.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x", encoding="utf-8")
    result = cli("distill", tiny_bi_encoder, "-o", tmp_path / "full")
    assert result.exit_code == 2 and "already holds files" in result.stderr
    assert "Traceback" not in result.output
