"""ONNX backends and threads: outputs close to torch's, exports made once and redone when stale.

Correctness only, never speed (scripts/bench.py measures that). The tiny model is copied per
test, so exports written beside it never leak into other tests' fixture folder.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from sbft import backend
from sbft.backend import backend_of, check_backend, export_folder, physical_cores, thread_count
from sbft.cli import app
from sbft.errors import SbftError
from sbft.inference import load_any
from tests.helpers import STSB_DIR, run_sbft, sentences

TEXTS = [*sentences(6, 40), "", " ".join(sentences(30, 41))]  # an empty and a truncated text too


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture()
def model_copy(tiny_model, tmp_path):
    return shutil.copytree(tiny_model, tmp_path / "tiny")


def test_onnx_embeddings_match_torch(model_copy):
    expected = load_any(str(model_copy)).encode(TEXTS)
    fp32 = load_any(str(model_copy), backend="onnx", threads=2)
    assert backend_of(fp32) == "onnx" and fp32[0].model.path == model_copy / "onnx" / "model.onnx"
    assert fp32[0].model.session.get_session_options().intra_op_num_threads == 2
    assert torch.get_num_threads() == 1  # torch's idle workers would compete with onnxruntime's
    np.testing.assert_allclose(fp32.encode(TEXTS), expected, atol=1e-5)
    operators = {node.op_type for node in onnx.load(fp32[0].model.path).graph.node}
    assert {"Attention", "SkipLayerNormalization"} <= operators  # the fused kernels, not the plain graph

    int8 = load_any(str(model_copy), backend="onnx-int8", threads=1)
    assert backend_of(int8) == "onnx-int8" and "qint8" in int8[0].model.path.name
    assert cosines(int8.encode(TEXTS), expected).min() > 0.99
    assert int8[0].model.session.get_session_options().intra_op_num_threads == 1


def test_export_once_and_again_when_the_model_changes(model_copy):
    load_any(str(model_copy), backend="onnx")
    exported = model_copy / "onnx" / "model.onnx"
    first = exported.stat().st_mtime_ns
    load_any(str(model_copy), backend="onnx")
    assert exported.stat().st_mtime_ns == first  # reused

    weights = next(model_copy.glob("model.safetensors"))
    os.utime(weights, ns=(first + 10**9, first + 10**9))  # the model was saved again
    load_any(str(model_copy), backend="onnx")
    assert exported.stat().st_mtime_ns != first
    record = json.loads((model_copy / "onnx" / "sbft-export.json").read_text())
    assert set(record) == {"model.onnx"}


def test_read_only_models_export_to_the_cache(model_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("SBFT_CACHE", str(tmp_path / "cache"))
    assert export_folder(str(model_copy), model_copy) == model_copy / "onnx"
    monkeypatch.setattr(backend.os, "access", lambda path, mode: False)
    cached = export_folder(str(model_copy), model_copy)
    assert cached.parent.parent == tmp_path / "cache" / "onnx" and cached.parent.name.startswith("tiny-")
    hub = export_folder("org/some-model", tmp_path / "not-a-folder")
    assert hub.parent.name.startswith("some-model-") and hub != cached


def test_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert 1 <= physical_cores() <= (os.cpu_count() or 1)
    assert thread_count() == physical_cores() and thread_count(3) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert thread_count() == 5 and thread_count(2) == 2
    with pytest.raises(SbftError, match="--threads must be positive"):
        thread_count(0)


def test_backend_errors(monkeypatch):
    with pytest.raises(SbftError, match="Did you mean 'onnx-int8'"):
        check_backend("onnx_int8")
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(SbftError, match=r"needs onnx and onnxruntime.*pip install 'sbft\[onnx\]'"):
        check_backend("onnx")


def test_cli_encode_eval_search_export(model_copy, tmp_path, pair_score_files):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS[:6]) + "\n", encoding="utf-8")
    for name in ("torch", "onnx"):
        output = str(tmp_path / f"{name}.npy")
        result = invoke("encode", str(model_copy), str(texts), "-o", output, "--backend", name)
        assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "onnx.npy"), np.load(tmp_path / "torch.npy"), atol=1e-5)

    data = str(pair_score_files["test"])
    scores = {
        name: json.loads(invoke("eval", str(model_copy), data, "--json", "--backend", name).stdout)
        for name in ("torch", "onnx")
    }
    assert scores["onnx"][str(model_copy)] == pytest.approx(scores["torch"][str(model_copy)], abs=1e-4)

    cache = tmp_path / "corpus.npy"
    args = ("search", str(model_copy), "--corpus", str(texts), "--corpus-embeddings", str(cache), "--json")
    torch_hits = invoke(*args, TEXTS[0]).stdout
    onnx_run = run_sbft(*args, TEXTS[0], "--backend", "onnx", "--threads", "1")
    assert onnx_run.returncode == 0, onnx_run.stderr
    assert "the model or its settings changed" in onnx_run.stderr  # the torch cache is not reused
    ids = [[hit["id"] for hit in json.loads(out)["hits"]] for out in (torch_hits, onnx_run.stdout)]
    assert ids[0] == ids[1]

    exported = invoke("export", str(model_copy), "--quantize", "int8")
    assert exported.exit_code == 0
    assert "qint8" in exported.stdout and "cosine similarity >=" in exported.stdout


def test_cli_errors_exit_2(model_copy, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("a\n", encoding="utf-8")
    for args, message in (
        (("encode", str(model_copy), str(texts), "--backend", "onnxx"), "Did you mean 'onnx'"),
        (("encode", str(model_copy), str(texts), "--threads", "0"), "--threads must be positive"),
        (("export", str(model_copy), "--backend", "openvino"), "cannot export to 'openvino'"),
        (("export", str(model_copy), "--quantize", "int4"), "Use --quantize int8"),
    ):
        result = invoke(*args)
        assert result.exit_code == 2 and message in result.output, result.output
    assert not (model_copy / "onnx").exists()  # nothing was exported


@pytest.mark.slow
@pytest.mark.skipif(not STSB_DIR.is_dir(), reason="needs ../shared/data/stsb")
def test_real_model_onnx_and_int8_stay_close_to_torch(tmp_path, monkeypatch):
    """The packaged all-MiniLM-L6-v2 (an installed package: its exports go to the cache)."""
    monkeypatch.setenv("SBFT_CACHE", str(tmp_path))
    name = "sentence-transformers/all-MiniLM-L6-v2"
    lines = (STSB_DIR / "sts-test.csv").read_text(encoding="utf-8").splitlines()[:32]
    texts = [line.split("\t")[5] for line in lines]
    expected = load_any(name).encode(texts)
    fp32 = load_any(name, backend="onnx")
    assert tmp_path in fp32[0].model.path.parents
    assert cosines(fp32.encode(texts), expected).min() > 0.9999
    assert cosines(load_any(name, backend="onnx-int8").encode(texts), expected).min() > 0.97
