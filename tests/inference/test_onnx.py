"""sbft.inference.onnx: outputs close to torch's, exports made once and redone when stale.

Correctness only, never speed (scripts/bench.py measures that). The tiny model is copied per
test (model_copy), so exports written beside it never leak into other tests' fixture folder.
"""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
import torch

from sbft.errors import SbftError
from sbft.inference import exports
from sbft.inference.export import export_onnx
from sbft.inference.exports import check_backend, export_folder
from sbft.inference.loading import load_any
from sbft.inference.onnx import backend_of
from tests.helpers import STSB_DIR, sentences

TEXTS = [*sentences(6, 40), "", " ".join(sentences(30, 41))]  # an empty and a truncated text too


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_onnx_embeddings_match_torch(model_copy):
    expected = load_any(str(model_copy)).encode(TEXTS)
    fp32 = load_any(str(model_copy), backend="onnx", threads=2, fast_start=False)
    assert backend_of(fp32) == "onnx" and fp32[0].model.path == model_copy / "onnx" / "model.onnx"
    assert fp32[0].model.session.get_session_options().intra_op_num_threads == 2
    assert torch.get_num_threads() == 1  # torch's idle workers would compete with onnxruntime's
    np.testing.assert_allclose(fp32.encode(TEXTS), expected, atol=1e-5)
    operators = {node.op_type for node in onnx.load(fp32[0].model.path).graph.node}
    assert {"Attention", "SkipLayerNormalization"} <= operators  # the fused kernels, not the plain graph

    int8 = load_any(str(model_copy), backend="onnx-int8", threads=1, fast_start=False)
    assert backend_of(int8) == "onnx-int8" and "qint8" in int8[0].model.path.name
    assert cosines(int8.encode(TEXTS), expected).min() > 0.99
    assert int8[0].model.session.get_session_options().intra_op_num_threads == 1


def test_export_once_and_again_when_the_model_changes(model_copy):
    load_any(str(model_copy), backend="onnx", fast_start=False)
    exported = model_copy / "onnx" / "model.onnx"
    first = exported.stat().st_mtime_ns
    load_any(str(model_copy), backend="onnx", fast_start=False)
    assert exported.stat().st_mtime_ns == first  # reused

    weights = next(model_copy.glob("model.safetensors"))
    os.utime(weights, ns=(first + 10**9, first + 10**9))  # the model was saved again
    load_any(str(model_copy), backend="onnx")
    assert exported.stat().st_mtime_ns != first
    record = json.loads((model_copy / "onnx" / "sbft-export.json").read_text())
    assert set(record) == {"model.onnx", "fast-start"}
    assert record["fast-start"]["fingerprint"] == record["model.onnx"]["fingerprint"]  # for these files
    assert (
        record["model.onnx"]["size"] == exported.stat().st_size and len(record["model.onnx"]["sha256"]) == 64
    )


def test_read_only_models_export_to_the_cache(model_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("SBFT_CACHE", str(tmp_path / "cache"))
    assert export_folder(str(model_copy), model_copy) == model_copy / "onnx"
    monkeypatch.setattr(exports.os, "access", lambda path, mode: False)
    cached = export_folder(str(model_copy), model_copy)
    assert cached.parent.parent == tmp_path / "cache" / "onnx" and cached.parent.name.startswith("tiny-")
    hub = export_folder("org/some-model", tmp_path / "not-a-folder")
    assert hub.parent.name.startswith("some-model-") and hub != cached


def test_backend_errors(monkeypatch):
    with pytest.raises(SbftError, match="Did you mean 'onnx-int8'") as error:
        check_backend("onnx_int8")
    assert error.value.where == "backend"
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(SbftError, match=r"needs onnx and onnxruntime.*pip install 'sbft\[onnx\]'"):
        check_backend("onnx")


def test_export_onnx_reports_how_close_it_is(model_copy):
    result = export_onnx(str(model_copy), "onnx-int8")
    assert result.path.parent == model_copy / "onnx" and "qint8" in result.path.name
    assert result.comparison.startswith("embeddings vs torch: cosine similarity >=")
    assert (model_copy / "onnx" / "model.onnx").is_file()  # int8 is quantized from the fp32 export


def test_exports_respect_the_umask(model_copy):
    load_any(str(model_copy), backend="onnx")
    umask = os.umask(0)
    os.umask(umask)
    for name in ("model.onnx", "sbft-export.json"):
        assert (model_copy / "onnx" / name).stat().st_mode & 0o777 == 0o666 & ~umask
    assert not list((model_copy / "onnx").glob(".*partial"))


@pytest.mark.slow
@pytest.mark.skipif(not STSB_DIR.is_dir(), reason="needs ../shared/data/stsb")
def test_real_model_onnx_and_int8_stay_close_to_torch(tmp_path, monkeypatch):
    """The packaged all-MiniLM-L6-v2 (an installed package: its exports go to the cache)."""
    monkeypatch.setenv("SBFT_CACHE", str(tmp_path))
    name = "sentence-transformers/all-MiniLM-L6-v2"
    lines = (STSB_DIR / "sts-test.csv").read_text(encoding="utf-8").splitlines()[:32]
    texts = [line.split("\t")[5] for line in lines]
    expected = load_any(name).encode(texts)
    fp32 = load_any(name, backend="onnx", fast_start=False)
    assert tmp_path in fp32[0].model.path.parents
    assert cosines(fp32.encode(texts), expected).min() > 0.9999
    assert cosines(load_any(name, backend="onnx-int8").encode(texts), expected).min() > 0.97


# --- damaged exports (issue 25, case 1) -----------------------------------------------------------


def _flip_bytes(path, count=64):
    """Damage that keeps the size and the modification time: bytes in the middle inverted."""
    data, times = bytearray(path.read_bytes()), path.stat()
    middle = len(data) // 2
    data[middle : middle + count] = bytes(255 - b for b in data[middle : middle + count])
    path.write_bytes(bytes(data))
    os.utime(path, ns=(times.st_atime_ns, times.st_mtime_ns))


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


@pytest.mark.parametrize("damage", [_flip_bytes, _truncate])
@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_a_damaged_export_is_made_again_never_run(model_copy, capsys, damage, backend):
    expected = load_any(str(model_copy)).encode(TEXTS)
    load_any(str(model_copy), backend=backend)
    exported = model_copy / "onnx" / exports.onnx_file_name(backend)
    damage(exported)
    assert (
        exports.current_export(model_copy / "onnx", backend, exports.export_location(str(model_copy))[2])
        is None
    )
    capsys.readouterr()
    model = load_any(str(model_copy), backend=backend)  # the fast start would take a current export
    assert "is damaged" in capsys.readouterr().err
    got = model.encode(TEXTS)
    assert cosines(got, expected).min() > (0.999 if backend == "onnx" else 0.99)


def test_onnx_files_sbft_did_not_make_are_never_replaced(model_copy, tmp_path, monkeypatch):
    """An onnx/model.onnx shipped with the model (no record entry) stays; sbft exports to the cache."""
    monkeypatch.setenv("SBFT_CACHE", str(tmp_path / "cache"))
    (model_copy / "onnx").mkdir()
    theirs = model_copy / "onnx" / "model.onnx"
    theirs.write_bytes(b"not sbft's export")
    model = load_any(str(model_copy), backend="onnx", fast_start=False)
    assert theirs.read_bytes() == b"not sbft's export"
    assert (tmp_path / "cache") in model[0].model.path.parents


def test_an_unreadable_onnx_file_is_a_clear_error(tmp_path):
    from sbft.inference.lite import session

    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"\x08\x07garbage")
    with pytest.raises(SbftError, match=r"onnxruntime cannot load the ONNX file .*model\.onnx") as caught:
        session(broken, 1)
    assert "sbft export MODEL --overwrite" in caught.value.fix


def test_export_overwrite_makes_sbfts_files_again(model_copy):
    first = export_onnx(str(model_copy), "onnx").path
    size = first.stat().st_size
    record_file = model_copy / "onnx" / "sbft-export.json"
    record = json.loads(record_file.read_text())
    # a damaged file whose record was edited to match it: only --overwrite can tell
    _truncate(first)
    record["model.onnx"].update(size=first.stat().st_size, sha256=exports.file_sha256(first))
    record_file.write_text(json.dumps(record))
    again = export_onnx(str(model_copy), "onnx", overwrite=True)
    assert again.path == first and first.stat().st_size == size
    assert float(again.comparison.split(">=")[1].split(",")[0]) > 0.999


def test_a_copied_intact_export_is_hashed_once_then_trusted(model_copy, tmp_path, monkeypatch):
    """The SHA-256 is read only when the file was written since sbft wrote it (its inode or change
    time differ): a copy of an intact export is checked once, and recorded as checked."""
    import shutil

    load_any(str(model_copy), backend="onnx", fast_start=False)
    copy = tmp_path / "copy"
    shutil.copytree(model_copy, copy, copy_function=shutil.copy2)  # same mtimes, new inodes
    fingerprint = exports.export_location(str(copy))[2]
    hashed = []
    original = exports.file_sha256
    monkeypatch.setattr(exports, "file_sha256", lambda path: hashed.append(path) or original(path))
    assert exports.export_state(copy / "onnx", "model.onnx", fingerprint) == "current"
    assert exports.export_state(copy / "onnx", "model.onnx", fingerprint) == "current"
    assert hashed == [copy / "onnx" / "model.onnx"]
