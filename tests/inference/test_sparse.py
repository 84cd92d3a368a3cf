"""sbft.inference.sparse through `sbft encode` and `sbft search`: a SPLADE model's rows as jsonl of
{token: weight} or scipy .npz, a CSR model's keyed by dimension, and what a sparse vector refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def tiny_splade(tiny_mlm: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny masked-language model saved as a SPLADE sparse encoder (MLM head + SpladePooling)."""
    from sentence_transformers import SparseEncoder

    path = tmp_path_factory.mktemp("tiny-splade")
    SparseEncoder(str(tiny_mlm), device="cpu").save(str(path))
    return path


@pytest.fixture(scope="module")
def tiny_csr(tiny_bi_encoder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny bi-encoder with a sparse autoencoder on top (CSR), saved as a sparse encoder."""
    from sentence_transformers import SparseEncoder

    path = tmp_path_factory.mktemp("tiny-csr")
    SparseEncoder(str(tiny_bi_encoder), device="cpu").save(str(path))
    return path


def _texts(tmp_path: Path) -> Path:
    path = tmp_path / "texts.txt"
    path.write_text("a man plays the guitar\n\na dog runs in the park\n", encoding="utf-8")
    return path


def test_jsonl_of_token_weights_one_line_per_input(cli, tiny_splade: Path, tmp_path: Path) -> None:
    result = cli("encode", tiny_splade, _texts(tmp_path), "-o", tmp_path / "out.jsonl", "-q")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in rows] == [0, 1, 2] and rows[1]["text"] == ""
    weights = rows[0]["embedding"]
    assert weights and all(isinstance(token, str) and value > 0 for token, value in weights.items())
    assert list(weights.values()) == sorted(weights.values(), reverse=True)  # heaviest first
    assert not any(key.isdigit() for key in weights)  # SPLADE's dimensions are tokens


def test_npz_is_a_scipy_sparse_matrix(cli, tiny_splade: Path, tmp_path: Path) -> None:
    from scipy.sparse import load_npz
    from sentence_transformers import SparseEncoder

    result = cli("encode", tiny_splade, _texts(tmp_path), "-o", tmp_path / "out.npz")
    assert result.exit_code == 0, result.output
    matrix = load_npz(tmp_path / "out.npz")
    model = SparseEncoder(str(tiny_splade), device="cpu")
    expected = model.encode(["a man plays the guitar"], convert_to_tensor=True).to_dense().numpy()[0]
    assert matrix.shape == (3, len(expected))  # the vocabulary: SPLADE's pooling learns it on first use
    assert matrix[0].toarray()[0] == pytest.approx(expected, abs=1e-5)


def test_csr_rows_are_keyed_by_dimension(cli, tiny_csr: Path, tmp_path: Path) -> None:
    result = cli("encode", tiny_csr, _texts(tmp_path), "-q")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 3 and all(key.isdigit() for key in rows[0]["embedding"])
    assert len(rows[0]["embedding"]) <= 8  # the tiny CSR keeps k=8 active dimensions


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-o", "out.npy"), "writes .jsonl or .npz"),
        (("--precision", "int8"), "--precision does not apply"),
        (("--truncate-dim", "4"), "--truncate-dim does not apply"),
        (("--backend", "onnx"), "--backend does not apply"),
    ],
)
def test_what_a_sparse_vector_cannot_do_exits_2(cli, tiny_splade, tmp_path, args, message) -> None:
    args = tuple(str(tmp_path / a) if a.startswith("out.") else a for a in args)
    result = cli("encode", tiny_splade, _texts(tmp_path), *args)
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert not (tmp_path / "out.npy").exists()


def test_search_ranks_by_dot_product_over_sparse_rows(cli, tiny_splade: Path, tmp_path: Path) -> None:
    from sentence_transformers import SparseEncoder

    corpus = tmp_path / "corpus.txt"
    documents = ["a man plays the guitar", "a dog runs in the park", "the sun is red today"]
    corpus.write_text("\n".join(documents) + "\n", encoding="utf-8")
    result = cli("search", tiny_splade, "--corpus", corpus, "--top-k", "3", "--json", "a man with a guitar")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout.splitlines()[0])["hits"]
    model = SparseEncoder(str(tiny_splade), device="cpu")
    scores = model.similarity(model.encode_query(["a man with a guitar"]), model.encode_document(documents))[
        0
    ]
    assert [hit["id"] for hit in hits] == sorted(range(3), key=lambda i: (-float(scores[i]), i))
    assert hits[0]["score"] == pytest.approx(float(scores.max()), rel=1e-4)
    cached = cli("search", tiny_splade, "--corpus", corpus, "--corpus-embeddings", tmp_path / "c.npy", "x")
    assert cached.exit_code == 2 and "sparse encoder" in cached.stderr
