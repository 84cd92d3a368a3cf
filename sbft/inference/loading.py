"""Loading a model for inference: run folder, saved folder or hub id, on a checked device and backend."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from sbft.errors import SbftError

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder, SentenceTransformer

    from sbft.inference.lite import LiteEncoder


def load_any(
    name: str,
    *,
    device: str | None = None,
    trust_remote_code: bool = False,
    max_seq_length: int | None = None,
    backend: str = "torch",
    threads: int | None = None,
    fast_start: bool = True,
) -> SentenceTransformer | CrossEncoder | LiteEncoder:
    """Load a model given as a run folder, saved folder or hub id, ready for inference.

    `backend` onnx or onnx-int8 runs the transformer with ONNX Runtime on the CPU
    (sbft.inference.onnx), exported on first use; once exported, a bi-encoder comes back as a
    LiteEncoder (sbft.inference.lite: no torch, no sentence-transformers, instant) unless
    `fast_start` is False. `threads` sets the CPU threads of either backend (default: physical
    cores).
    """
    from sbft.inference.exports import check_backend
    from sbft.inference.threads import thread_count

    check_backend(backend)
    threads = thread_count(threads)
    if max_seq_length is not None and max_seq_length <= 0:
        raise SbftError("--max-seq-length must be positive", where="max_seq_length")
    if backend != "torch":
        device = device or "cpu"  # ONNX Runtime runs here on the CPU, whatever else the machine has
        if fast_start and device == "cpu":
            from sbft.inference.lite import open_fast

            fast = open_fast(name, backend, threads, max_seq_length)
            if fast is not None:
                return fast
    return _load_with_sentence_transformers(name, device, trust_remote_code, max_seq_length, backend, threads)


def _load_with_sentence_transformers(
    name: str,
    device: str | None,
    trust_remote_code: bool,
    max_seq_length: int | None,
    backend: str,
    threads: int,
) -> SentenceTransformer | CrossEncoder:
    from sbft.inference.locations import model_location
    from sbft.models import load_model
    from sbft.quiet import quiet_libraries

    check_device(device)
    quiet_libraries()
    model = load_model(model_location(name), device=device, trust_remote_code=trust_remote_code)
    if max_seq_length is not None:
        check_length_fits(model, max_seq_length)
    configure_threads(model, threads, backend)
    if backend != "torch":
        from sbft.inference.onnx import use_onnx

        use_onnx(model, name, backend, threads, say=lambda message: print(message, file=sys.stderr))
    if max_seq_length is not None:  # after the export and its check, which run at the model's own length
        model.max_seq_length = max_seq_length
    return model


def load_encoder(name: str, **options: Any) -> SentenceTransformer | LiteEncoder:
    """Like load_any, for commands that need embeddings (a cross-encoder has none)."""
    from sbft.inference.lite import LiteEncoder

    model = load_any(name, **options)
    if isinstance(model, LiteEncoder):
        return model
    from sentence_transformers import SentenceTransformer, SparseEncoder

    if not isinstance(model, (SentenceTransformer, SparseEncoder)):
        raise SbftError(
            f"'{name}' is a cross-encoder: it scores text pairs and makes no embeddings",
            fix="Use a bi-encoder (a sentence-transformers embedding model) here; "
            "`sbft eval` and `sbft similarity` also accept cross-encoders.",
        )
    return model


def load_reranker(name: str, **options: Any) -> CrossEncoder:
    """Like load_any, for commands that score pairs with a cross-encoder."""
    from sentence_transformers import CrossEncoder

    model = load_any(name, **options)
    if not isinstance(model, CrossEncoder):
        raise SbftError(
            f"'{name}' is a bi-encoder: reranking needs a cross-encoder, which reads query and text together",
            fix="Train one with 'model.type: cross-encoder' (configs/reranker.yaml) and pass its run folder.",
        )
    return model


def check_device(device: str | None) -> None:
    """A clear error for a device that torch cannot parse or that this machine lacks."""
    if device is None:
        return
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise SbftError(
            f"'{device}' is not a device", where="device", fix="Use cpu, cuda, cuda:1 or mps."
        ) from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise SbftError("CUDA is not available on this machine", where="device", fix="Use --device cpu.")
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise SbftError("MPS is not available on this machine", where="device", fix="Use --device cpu.")


def configure_threads(model: Any, threads: int, backend: str = "torch") -> None:
    """On CPU, run `threads` torch threads (sbft.inference.threads.thread_count: physical cores by default).

    torch alone starts one thread per physical core of the host, which oversubscribes
    containers and pinned jobs. With an ONNX backend, onnxruntime gets the threads and torch
    one: torch then only pools and normalises, and its idle workers spinning beside
    onnxruntime's on the same cores cost a quarter of the throughput (all-MiniLM-L6-v2, 2
    cores: int8 at 440 texts/s with 2 torch threads, 550 with 1).

    A static model (StaticEmbedding: a table lookup and a mean) also runs torch on one thread:
    there is no matrix product to share out, and a second thread only waits on the first
    (distilled all-MiniLM-L6-v2, `sbft encode` of 20,000 WikiQA sentences on a busy 2-core box:
    13,163 texts/s on one thread, 1,900 on two).
    """
    import torch

    if model.device.type == "cpu":
        one = backend != "torch" or _lookup_only(model)
        torch.set_num_threads(1 if one else threads)


def _lookup_only(model: Any) -> bool:
    """The model's input module looks its tokens up instead of running a network (a static model)."""
    first = next(iter(model), None) if hasattr(model, "__iter__") else None
    return type(first).__name__ in ("StaticEmbedding", "SparseStaticEmbedding")


def check_length_fits(model: Any, length: int) -> None:
    """`length` tokens fit the loaded model's position embeddings (the rule the fast start applies too)."""
    from sbft.inference.declared import check_max_seq_length

    limit = getattr(getattr(model.transformers_model, "config", None), "max_position_embeddings", None)
    check_max_seq_length(length, limit if isinstance(limit, int) and limit != -1 else None)
