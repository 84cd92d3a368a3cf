"""sbft.inference.onnx.onnx_twin: a large corpus encoded by a throw-away ONNX export of the weights
being scored, the same embeddings as torch's, the torch module back afterwards; and a run's
evaluations through it (evaluation.encode_backend) score as torch does.

The threshold (10,000 texts) is lowered so that the tiny model's few texts qualify.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from sbft.inference import onnx as onnx_module
from sbft.inference.corpus import encode_corpus
from sbft.inference.loading import load_any
from sbft.inference.onnx import OnnxTransformer
from tests.helpers import sentences
from tests.train.test_retrieval import write_recipe

TEXTS = [*sentences(40, 50), "", " ".join(sentences(30, 51))]


@pytest.fixture()
def exports(monkeypatch) -> list[str]:
    """Every twin export made, by path; every corpus qualifies."""
    made: list[str] = []
    export = onnx_module._export

    def counting(model, path):
        made.append(str(path))
        return export(model, path)

    monkeypatch.setattr(onnx_module, "TWIN_MIN_TEXTS", 1)
    monkeypatch.setattr(onnx_module, "_export", counting)
    return made


def test_a_twin_encodes_as_torch_does_and_leaves_the_model_as_it_was(tiny_model, exports):
    model = load_any(str(tiny_model))
    torch_model = model[0].model
    expected = encode_corpus(model, TEXTS, label=None)
    model.train()  # the export (it puts the module in eval mode) must leave the mode as it found it
    got = encode_corpus(model, TEXTS, label=None, twin=True)
    assert len(exports) == 1
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert model[0].model is torch_model and model[0].model.training


def test_small_corpora_and_failed_exports_stay_on_torch(tiny_model, exports, monkeypatch, capsys):
    model = load_any(str(tiny_model))
    expected = encode_corpus(model, TEXTS, label=None)
    monkeypatch.setattr(onnx_module, "TWIN_MIN_TEXTS", len(TEXTS) + 1)
    encode_corpus(model, TEXTS, label=None, twin=True)
    assert exports == []

    monkeypatch.setattr(onnx_module, "TWIN_MIN_TEXTS", 1)

    def broken(model, path):
        raise RuntimeError("exporter")

    monkeypatch.setattr(onnx_module, "_export", broken)
    np.testing.assert_allclose(encode_corpus(model, TEXTS, label=None, twin=True), expected, atol=0)
    assert (
        "ONNX export for a faster encode failed (RuntimeError); encoding with torch"
        in capsys.readouterr().err
    )
    assert not isinstance(model[0].model, OnnxTransformer)


def test_a_run_scores_the_same_with_and_without_the_twin(
    cli, tiny_model, beir_folder, pair_score_files, tmp_path, exports
):
    scores = {}
    for backend in ("torch", "auto"):
        recipe = write_recipe(tmp_path, tiny_model, pair_score_files, encode_backend=backend)
        result = cli("train", recipe, "-o", tmp_path / backend, "--no-smoke", "--no-cache")
        assert result.exit_code == 0, result.stdout + result.stderr
        scores[backend] = json.loads((tmp_path / backend / "metrics.json").read_text())
    # base (mining/baseline), checkpoint and test encodes of both BEIR splits went through twins
    assert len(exports) >= 3
    for key in ("baseline_dev", "final_dev", "test"):
        for metric, value in scores["torch"][key].items():
            assert scores["auto"][key][metric] == pytest.approx(value, abs=1e-4), (key, metric)


def test_an_unknown_encode_backend_is_refused(cli, tiny_model, beir_folder, pair_score_files, tmp_path):
    recipe = write_recipe(tmp_path, tiny_model, pair_score_files, encode_backend="onnx-int8")
    result = cli("check", recipe)
    assert result.exit_code == 2
    assert "encode_backend" in result.stderr
