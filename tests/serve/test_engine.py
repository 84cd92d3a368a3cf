"""sbft.serve.engine in process: the torch-free ONNX encoder serves what torch serves, counted the same."""

from __future__ import annotations

import numpy as np
import pytest

from sbft.inference.lite import LiteEncoder
from sbft.serve.engine import Engine
from sbft.serve.options import ServeOptions
from sbft.serve.protocol import ApiError, EmbeddingsRequest
from tests.helpers import sentences

TEXTS = [*sentences(5, 3), " ".join(sentences(30, 4))]  # the last is over 64 tokens


def served(engine: Engine, request: EmbeddingsRequest) -> tuple[np.ndarray, int]:
    job = engine.embeddings_job(request)
    engine.prepare(job)
    return engine.run([job])[0]


def test_onnx_fast_start_serves_what_torch_serves(model_copy):
    torch_engine = Engine.load(str(model_copy), ServeOptions())
    Engine.load(str(model_copy), ServeOptions(backend="onnx"))  # exports and checks the fast start
    lite_engine = Engine.load(str(model_copy), ServeOptions(backend="onnx", threads=1))
    assert isinstance(lite_engine.encoder_model, LiteEncoder)
    assert lite_engine.normalizes == torch_engine.normalizes is False
    for request in (
        EmbeddingsRequest(TEXTS, "float", None, "text", None),
        EmbeddingsRequest(TEXTS, "float", 8, "query", None),
    ):
        lite_vectors, lite_tokens = served(lite_engine, request)
        torch_vectors, torch_tokens = served(torch_engine, request)
        np.testing.assert_allclose(lite_vectors, torch_vectors, atol=1e-5)
        assert lite_tokens == torch_tokens


def test_no_truncate_refuses_over_long_input(tiny_model):
    engine = Engine.load(str(tiny_model), ServeOptions(truncate=False))
    job = engine.embeddings_job(EmbeddingsRequest(TEXTS, "float", None, "text", None))
    with pytest.raises(ApiError, match=r"^input 5 has") as refused:
        engine.prepare(job)
    assert refused.value.status == 413
    fits = engine.embeddings_job(EmbeddingsRequest(TEXTS[:5], "float", None, "text", None))
    engine.prepare(fits)
    assert fits.tokens == sum(fits.detail) and all(count <= 64 for count in fits.detail)
