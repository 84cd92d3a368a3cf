"""`sbft export`: the ONNX files a backend runs, made now rather than on first use, compared with torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sbft.inference.exports import forget_exports
from sbft.inference.loading import load_any
from sbft.inference.onnx import PROBE_TEXTS


@dataclass
class Export:
    path: Path
    """The ONNX file that `backend` runs."""
    comparison: str
    """How close its outputs are to torch's, in one line."""


def export_onnx(
    name: str, backend: str = "onnx", trust_remote_code: bool = False, overwrite: bool = False
) -> Export:
    """The ONNX file of `backend` (onnx, onnx-int8) for the model `name`, exported or reused, checked;
    `overwrite` makes sbft's own files again, whatever their record says."""
    if overwrite:
        forget_exports(name, backend)
    exported = load_any(
        name, device="cpu", backend=backend, trust_remote_code=trust_remote_code, fast_start=False
    )
    reference = load_any(name, device="cpu", trust_remote_code=trust_remote_code)
    return Export(exported[0].model.path, compare_with_torch(exported, reference))


def compare_with_torch(model: Any, reference: Any) -> str:
    """How close the ONNX model's outputs are to torch's on PROBE_TEXTS, in one line."""
    import numpy as np

    if hasattr(model, "encode_query"):  # a bi-encoder: embeddings
        got, expected = model.encode(PROBE_TEXTS), reference.encode(PROBE_TEXTS)
        cosine = (got * expected).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
        return f"embeddings vs torch: cosine similarity >= {cosine.min():.6f}, largest difference " + (
            f"{np.abs(got - expected).max():.1e}"
        )
    pairs = [PROBE_TEXTS, PROBE_TEXTS[::-1]]
    difference = np.abs(np.asarray(model.predict(pairs)) - np.asarray(reference.predict(pairs))).max()
    return f"scores vs torch: largest difference {difference:.1e}"
