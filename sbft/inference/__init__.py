"""Using a trained model: embeddings for a stream of texts, semantic search, reranking, similarity.

One concern per module: locations (what a model name loads), loading (model, device), threads,
sources (texts in), encoder (texts to embeddings), corpus (corpus embeddings: their cache,
progress and chunked top-k search), writers (embeddings out), pipeline (`sbft
encode`), search (search, rerank, similarity), onnx (the ONNX Runtime backend), exports (where
exports live, whether they are current), export (`sbft export`), and the torch-free fast start:
declared (what a model folder declares) and lite (its encoder on tokenizers + onnxruntime).

The public names are re-exported here (`from sbft.inference import encode_file`), except the
`search` function, which would hide the `sbft.inference.search` module (import it from there),
and those of onnx and export, which import torch: `import sbft.inference` stays light.
"""

from sbft.files import STDIN, check_output
from sbft.inference.corpus import (
    CorpusCache,
    CorpusProgress,
    corpus_hash,
    encode_corpus,
    model_identity,
    top_k_cosine,
)
from sbft.inference.encoder import PRECISIONS, EncodeOptions, Encoder
from sbft.inference.loading import check_device, configure_threads, load_any, load_encoder, load_reranker
from sbft.inference.locations import model_folder, model_location
from sbft.inference.pipeline import EncodeStats, Progress, encode_file, encode_texts
from sbft.inference.search import (
    Hit,
    check_cache,
    compare_texts,
    corpus_embeddings,
    rerank,
    rerank_candidates,
    rerank_hits,
    search_corpus,
    similarity,
)
from sbft.inference.sources import STRUCTURED_INPUTS, WINDOW, TextSource, decoded_lines, windows
from sbft.inference.writers import OUTPUT_FORMATS, EmbeddingWriter, output_format

__all__ = [
    "OUTPUT_FORMATS",
    "PRECISIONS",
    "STDIN",
    "STRUCTURED_INPUTS",
    "WINDOW",
    "CorpusCache",
    "CorpusProgress",
    "EmbeddingWriter",
    "EncodeOptions",
    "EncodeStats",
    "Encoder",
    "Hit",
    "Progress",
    "TextSource",
    "check_cache",
    "check_device",
    "check_output",
    "compare_texts",
    "configure_threads",
    "corpus_embeddings",
    "corpus_hash",
    "decoded_lines",
    "encode_corpus",
    "encode_file",
    "encode_texts",
    "load_any",
    "load_encoder",
    "load_reranker",
    "model_folder",
    "model_identity",
    "model_location",
    "output_format",
    "rerank",
    "rerank_candidates",
    "rerank_hits",
    "search_corpus",
    "similarity",
    "top_k_cosine",
    "windows",
]
