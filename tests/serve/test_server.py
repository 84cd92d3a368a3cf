"""`sbft serve` as a real process on 127.0.0.1, called with OpenAI's client and httpx.

Three servers in all (each start imports torch): the prompted tiny bi-encoder with the tiny
cross-encoder beside it (equality with `sbft encode` / `sbft rerank`, bad input, a 16-client
load), a strict one (--max-queue 1 --no-truncate), and the cross-encoder alone with
--no-batching, stopped by SIGTERM in the middle of a request.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import subprocess
import threading
import time

import httpx
import numpy as np
import pytest

from tests.helpers import sentences
from tests.serve.conftest import running_server

LONG = " ".join(sentences(40, 7))  # far over the tiny model's 64 positions
TEXTS = [*sentences(6, 5), LONG, "Ünïcödé and CAPITALS!"]


@pytest.fixture(scope="module")
def index_dir(prompted_model, tmp_path_factory):
    """An `sbft index` of 200 sentences built by the prompted model (int8, rescored)."""
    pytest.importorskip("faiss")
    from sbft.index import index_corpus
    from sbft.inference import TextSource

    folder = tmp_path_factory.mktemp("index")
    (folder / "corpus.txt").write_text("\n".join(sentences(200, 9)) + "\n", encoding="utf-8")
    index_corpus(str(prompted_model), TextSource(str(folder / "corpus.txt")), folder / "index")
    return folder / "index"


@pytest.fixture(scope="module")
def main_server(prompted_model, tiny_cross_encoder, index_dir):
    args = ("--reranker", tiny_cross_encoder, "--index", index_dir, "--max-request-bytes", 50_000)
    args += ("--max-inputs", 64)
    with running_server(prompted_model, *args) as server:
        yield server
        assert server.stop() == 0


def openai_client(server):
    from openai import OpenAI

    return OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=60)


def encoded(cli, model, tmp_path, *flags) -> np.ndarray:
    """What `sbft encode MODEL TEXTS FLAGS -o out.npy` writes."""
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    output = tmp_path / f"out{len(list(tmp_path.glob('out*.npy')))}.npy"
    result = cli("encode", model, texts, "-o", output, "-q", *flags)
    assert result.exit_code == 0, result.output
    return np.load(output)


def test_embeddings_equal_sbft_encode(main_server, cli, prompted_model, tmp_path):
    client = openai_client(main_server)
    name = str(prompted_model)
    answer = client.embeddings.create(model=name, input=TEXTS, encoding_format="float")
    assert [item.index for item in answer.data] == list(range(len(TEXTS)))
    expected = encoded(cli, prompted_model, tmp_path)
    np.testing.assert_allclose([item.embedding for item in answer.data], expected, atol=1e-4)
    assert answer.usage.prompt_tokens > len(TEXTS) and answer.model == name

    default = client.embeddings.create(model=name, input=TEXTS)  # the client asks for base64 and decodes it
    np.testing.assert_allclose([item.embedding for item in default.data], expected, atol=1e-4)
    raw = httpx.post(main_server.url + "/v1/embeddings", json={"input": TEXTS, "encoding_format": "base64"})
    decoded = [np.frombuffer(base64.b64decode(item["embedding"]), "<f4") for item in raw.json()["data"]]
    np.testing.assert_allclose(decoded, expected, atol=1e-4)

    single = client.embeddings.create(model=name, input=TEXTS[0], encoding_format="float")
    np.testing.assert_allclose(single.data[0].embedding, expected[0], atol=1e-4)
    query = client.embeddings.create(input=TEXTS, model=name, extra_body={"input_type": "query"})
    np.testing.assert_allclose(
        [item.embedding for item in query.data],
        encoded(cli, prompted_model, tmp_path, "--prompt-name", "query"),
        atol=1e-4,
    )
    named = client.embeddings.create(input=TEXTS, model=name, extra_body={"prompt_name": "document"})
    document = encoded(cli, prompted_model, tmp_path, "--prompt-name", "document")
    np.testing.assert_allclose([item.embedding for item in named.data], document, atol=1e-4)
    assert not np.allclose(document, expected, atol=1e-3)  # the prompt does change the embedding


def test_dimensions_truncate_and_normalize_again(main_server, cli, prompted_model, tmp_path):
    """The model normalizes, so truncated vectors are normalized again: `sbft encode --truncate-dim
    8 --normalize`."""
    answer = openai_client(main_server).embeddings.create(
        model=str(prompted_model), input=TEXTS, dimensions=8
    )
    vectors = np.array([item.embedding for item in answer.data])
    assert vectors.shape == (len(TEXTS), 8)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    expected = encoded(cli, prompted_model, tmp_path, "--truncate-dim", "8", "--normalize")
    np.testing.assert_allclose(vectors, expected, atol=1e-4)


def test_rerank_orders_like_sbft_rerank(main_server, cli, tiny_cross_encoder, tmp_path):
    candidates = tmp_path / "candidates.txt"
    candidates.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    result = cli("rerank", tiny_cross_encoder, "--query", "a dog runs", "--candidates", candidates, "--json")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    body = {"query": "a dog runs", "texts": TEXTS, "return_text": True}
    ranked = httpx.post(main_server.url + "/rerank", json=body).json()
    assert [item["index"] for item in ranked] == [hit["id"] for hit in hits]
    np.testing.assert_allclose([item["score"] for item in ranked], [hit["score"] for hit in hits], atol=1e-4)
    assert [item["text"] for item in ranked] == [TEXTS[item["index"]] for item in ranked]
    top = httpx.post(main_server.url + "/rerank", json={**body, "top_n": 2, "return_text": False}).json()
    assert top == [{"index": item["index"], "score": item["score"]} for item in ranked[:2]]


def test_search_finds_what_sbft_search_index_finds(main_server, cli, prompted_model, index_dir):
    queries = sentences(3, 31)
    result = cli("search", prompted_model, "--index", index_dir, "--json", "--top-k", "5", *queries)
    assert result.exit_code == 0, result.output
    expected = [json.loads(line) for line in result.stdout.splitlines()]
    answer = httpx.post(main_server.url + "/search", json={"query": queries, "top_k": 5}).json()
    assert [item["query"] for item in answer["results"]] == queries
    for got, want in zip(answer["results"], expected, strict=True):
        assert [hit["id"] for hit in got["hits"]] == [hit["id"] for hit in want["hits"]]
        assert [hit["text"] for hit in got["hits"]] == [hit["text"] for hit in want["hits"]]
        np.testing.assert_allclose(
            [h["score"] for h in got["hits"]], [h["score"] for h in want["hits"]], atol=1e-4
        )
    assert answer["usage"]["prompt_tokens"] > 0
    one = httpx.post(main_server.url + "/search", json={"query": queries[0]}).json()["results"]
    assert len(one) == 1 and len(one[0]["hits"]) == 10
    for body, message in (({"top_k": 3}, "'query' is missing"), ({"query": "a", "top_k": 0}, "'top_k'")):
        refused = httpx.post(main_server.url + "/search", json=body)
        assert refused.status_code == 400 and message in refused.json()["error"]["message"]


def test_an_index_of_another_model_exits_2(cli, tiny_model, index_dir):
    result = cli("serve", tiny_model, "--index", index_dir, "--port", "0")
    assert result.exit_code == 2 and "was built with the model" in result.stderr


BAD_INPUTS = [
    ("malformed JSON", b'{"input": ["a", ', 400, "not valid JSON"),
    ("not an object", b'["a"]', 400, "JSON object"),
    ("missing input", {"model": None}, 400, "'input' is missing"),
    ("empty list", {"input": []}, 400, "non-empty list"),
    ("empty string", {"input": ""}, 400, "empty string"),
    ("non-string item", {"input": ["a", 3]}, 400, "'input[1]' is token ids"),
    ("object item", {"input": ["a", {"text": "b"}]}, 400, "'input[1]' is dict"),
    ("too many items", {"input": ["a"] * 65}, 400, "at most 64"),
    ("unknown model", {"model": "gpt-4", "input": "a"}, 404, "not served here"),
    ("dimensions over the model's", {"input": "a", "dimensions": 33}, 400, "from 1 to the model's 32"),
    ("dimensions zero", {"input": "a", "dimensions": 0}, 400, "'dimensions'"),
    ("unknown prompt", {"input": "a", "prompt_name": "title"}, 400, "no prompt named 'title'"),
    ("bad encoding", {"input": "a", "encoding_format": "int8"}, 400, "float or base64"),
    ("body too large", {"input": ["word " * 1000] * 12}, 413, "--max-request-bytes"),
]


@pytest.mark.parametrize(("case", "body", "status", "message"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_a_4xx_in_openai_shape(main_server, case, body, status, message):
    url = main_server.url + "/v1/embeddings"
    if isinstance(body, bytes):
        response = httpx.post(url, content=body, headers={"content-type": "application/json"})
    else:
        response = httpx.post(url, json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message in error["message"] and error["type"]
    assert httpx.post(url, json={"input": "still serving"}).status_code == 200


def test_openai_client_sees_the_errors(main_server, prompted_model):
    import openai

    client = openai_client(main_server)
    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.embeddings.create(model="text-embedding-3-small", input="a")
    with pytest.raises(openai.BadRequestError, match="from 1 to the model's 32"):
        client.embeddings.create(model=str(prompted_model), input="a", dimensions=64)
    bad_rerank = httpx.post(main_server.url + "/rerank", json={"texts": ["a"]})
    assert bad_rerank.status_code == 400 and "'query'" in bad_rerank.json()["error"]["message"]


def test_health_models_and_metrics(main_server, prompted_model, tiny_cross_encoder):
    assert httpx.get(main_server.url + "/health").json() == {"status": "ok"}
    models = httpx.get(main_server.url + "/v1/models").json()
    assert [model["id"] for model in models["data"]] == [str(prompted_model), str(tiny_cross_encoder)]
    httpx.post(main_server.url + "/v1/embeddings", json={"input": "counted"})
    metrics = httpx.get(main_server.url + "/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert re.search(r'^sbft_requests_total\{endpoint="/v1/embeddings",status="200"\} \d+$', text, re.M)
    for name in ("sbft_batch_requests_count", "sbft_request_duration_seconds_bucket", "sbft_queue_depth"):
        assert re.search(rf"^{name}\b", text, re.M), name
    assert httpx.get(main_server.url + "/nowhere").json()["error"]["type"] == "not_found_error"


def test_sixteen_clients_end_with_zero_errors(main_server):
    """A bounded load: 16 clients x 8 requests of 1-4 texts each, all at once; every answer complete."""

    async def client(number: int, http: httpx.AsyncClient) -> list[int]:
        statuses = []
        for request in range(8):
            texts = sentences(1 + (number + request) % 4, 100 * number + request)
            response = await http.post("/v1/embeddings", json={"input": texts})
            statuses.append(response.status_code)
            assert len(response.json()["data"]) == len(texts)
        return statuses

    async def load() -> list[int]:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=main_server.url, timeout=60, limits=limits) as http:
            results = await asyncio.gather(*(client(number, http) for number in range(16)))
        return [status for statuses in results for status in statuses]

    statuses = asyncio.run(load())
    assert len(statuses) == 128 and set(statuses) == {200}


@pytest.fixture(scope="module")
def strict_server(tiny_model):
    args = ("--max-queue", 1, "--no-truncate", "--max-request-bytes", 2_000_000)
    with running_server(tiny_model, *args) as server:
        yield server
        assert server.stop() == 0


def test_search_without_an_index_is_404(strict_server):
    refused = httpx.post(strict_server.url + "/search", json={"query": "a"})
    assert refused.status_code == 404 and "--index DIR" in refused.json()["error"]["message"]


def test_over_long_input_is_413_with_no_truncate(strict_server):
    response = httpx.post(strict_server.url + "/v1/embeddings", json={"input": ["short one", LONG]})
    assert response.status_code == 413
    assert "input 1 has" in response.json()["error"]["message"] and "--no-truncate" in response.text
    assert httpx.post(strict_server.url + "/v1/embeddings", json={"input": "short"}).status_code == 200


def test_full_queue_answers_429_with_retry_after(strict_server):
    """One long request keeps the worker busy, one more may wait (--max-queue 1): the rest get 429."""
    busy_texts = [" ".join(sentences(6, seed)) for seed in range(2048)]  # ~40 tokens each, under 64

    async def burst() -> tuple[httpx.Response, list[httpx.Response]]:
        async with httpx.AsyncClient(base_url=strict_server.url, timeout=120) as http:
            busy = asyncio.create_task(http.post("/v1/embeddings", json={"input": busy_texts}))
            deadline = time.monotonic() + 60
            while "sbft_requests_in_flight 1" not in (await http.get("/metrics")).text:
                assert time.monotonic() < deadline, "the long request never arrived"
                await asyncio.sleep(0.005)  # then the rest arrive while it is being encoded
            small = [http.post("/v1/embeddings", json={"input": f"text {i}"}) for i in range(8)]
            return await busy, await asyncio.gather(*small)

    busy, small = asyncio.run(burst())
    assert busy.status_code == 200
    refused = [response for response in small if response.status_code == 429]
    assert refused and {response.status_code for response in small} <= {200, 429}
    assert refused[0].headers["retry-after"] == "1"
    assert refused[0].json()["error"]["code"] == "queue_full"
    assert httpx.post(strict_server.url + "/v1/embeddings", json={"input": "after"}).status_code == 200


def test_sigterm_answers_the_request_in_flight_and_exits_0(tiny_cross_encoder):
    texts = [" ".join(sentences(3, seed)) for seed in range(2048)]
    with running_server(tiny_cross_encoder, "--no-batching") as server:
        refused = httpx.post(server.url + "/v1/embeddings", json={"input": "a"})
        assert refused.status_code == 400 and "cross-encoder" in refused.json()["error"]["message"]
        answers: list[httpx.Response] = []
        request = threading.Thread(
            target=lambda: answers.append(
                httpx.post(server.url + "/rerank", json={"query": "dog", "texts": texts}, timeout=120)
            )
        )
        request.start()
        deadline = time.monotonic() + 60
        while "sbft_requests_in_flight 1" not in httpx.get(server.url + "/metrics").text:
            assert time.monotonic() < deadline, "the request never arrived"
            time.sleep(0.01)
        assert server.stop() == 0
        request.join(timeout=60)
        assert answers and answers[0].status_code == 200 and len(answers[0].json()) == len(texts)
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/health")


def test_the_readme_serving_commands_work_as_written(main_server, prompted_model):
    """The README's curl commands and openai snippet, against this server for `sbft serve runs/demo`."""
    from tests.helpers import REPO

    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Serving") :]
    bash, python = re.findall(r"```(?:bash|python)\n(.*?)```", section, re.S)[:2]
    assert bash.startswith("sbft serve runs/demo ")

    def here(snippet: str) -> str:
        return snippet.replace("http://127.0.0.1:8080", main_server.url).replace(
            "runs/demo", str(prompted_model)
        )

    for command in bash.splitlines()[1:]:
        answer = subprocess.run(
            here(command), shell=True, capture_output=True, text=True, timeout=60, check=True
        )
        assert answer.stdout and '"error"' not in answer.stdout, command
    assert "A man is playing a guitar." in python
    exec(compile(here(python), "README.md", "exec"), {})
