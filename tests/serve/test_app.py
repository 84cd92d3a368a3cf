"""sbft.serve.app in process (starlette's TestClient) on a fake model whose encode the test controls:
the request timeout and a failing model, which a real model cannot be made to show on demand."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest

from sbft.serve.app import create_app
from sbft.serve.engine import Engine
from sbft.serve.options import ServeOptions


class SlowModel:
    """The part of SentenceTransformer's interface that Encoder and Engine use; encode waits for `go`."""

    default_prompt_name = None
    max_seq_length = 16
    declared = SimpleNamespace(normalize=False)

    def __init__(self) -> None:
        self.go = threading.Event()
        self.prompts: dict[str, str] = {}

    def get_embedding_dimension(self) -> int:
        return 4

    def token_counts(
        self, texts: list[str], *, truncate: bool = True, special_tokens: bool = False
    ) -> list[int]:
        return [len(text.split()) + 2 * special_tokens for text in texts]

    def encode(self, texts: list[str], **options) -> np.ndarray:
        if "explode" in texts:
            raise RuntimeError("the model broke")
        assert self.go.wait(10)
        return np.ones((len(texts), 4), dtype=np.float32)

    encode_query = encode_document = encode


@pytest.fixture()
def served():
    from starlette.testclient import TestClient

    model = SlowModel()
    app = create_app(Engine(model, None, ("slow", None)), ServeOptions(request_timeout=0.2))
    with TestClient(app) as client:
        yield model, client
        model.go.set()


def test_a_request_without_its_result_in_time_is_504(served):
    model, client = served
    response = client.post("/v1/embeddings", json={"input": "waits"})
    assert response.status_code == 504
    assert response.json()["error"]["type"] == "timeout_error" and "--request-timeout" in response.text
    model.go.set()
    answer = client.post("/v1/embeddings", json={"input": ["one two", "three"], "model": "slow"})
    assert answer.status_code == 200
    assert answer.json()["usage"] == {"prompt_tokens": 7, "total_tokens": 7}  # 3 + 4, special tokens in


def test_a_failing_model_is_a_500_and_the_server_goes_on(served):
    model, client = served
    model.go.set()
    broken = client.post("/v1/embeddings", json={"input": ["explode"]})
    assert broken.status_code == 500
    assert broken.json()["error"] == {
        "message": "RuntimeError: the model broke",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    assert client.post("/v1/embeddings", json={"input": "fine"}).status_code == 200
    metrics = client.get("/metrics").text
    assert 'sbft_request_errors_total{endpoint="/v1/embeddings",status="500"} 1' in metrics
