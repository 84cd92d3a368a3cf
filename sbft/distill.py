"""`sbft distill`: a sentence-transformer turned into a static one (model2vec), saved as a folder
that every sbft command and recipe loads like any other model.

A static model keeps one vector per token and averages them: no transformer runs at encode time,
so it encodes hundreds of times faster on a CPU, for some loss of quality that fine-tuning
(configs/static.yaml) wins partly back. model2vec's distill encodes each token of the vocabulary
once with the source model and reduces the vectors with PCA; sentence-transformers'
StaticEmbedding then holds them, so training, evaluation and search need nothing new.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from sbft.errors import SbftError
from sbft.families import BI_ENCODER, family_of_folder
from sbft.files import as_umask_allows, check_writable, refuse_output_in_folders
from sbft.inference.locations import model_folder
from sbft.models import check_model_reference

DEFAULT_PCA_DIMS = 256
"""model2vec's own default: a quarter of the MiniLM's vectors gone at little cost to quality."""


@dataclass(frozen=True)
class Distilled:
    """What `sbft distill` made, for the command to print."""

    folder: Path
    dimensions: int
    vocabulary: int
    seconds: float


def distill(
    model: str,
    output: str | Path,
    *,
    pca_dims: int | None = DEFAULT_PCA_DIMS,
    device: str | None = None,
    trust_remote_code: bool = False,
) -> Distilled:
    """Distill `model` (a run folder, saved folder or hub id of a bi-encoder) into `output`.

    Everything a user could get wrong is checked before the source model loads, and the folder
    is written beside `output` and renamed onto it at the end: an interrupted distill leaves no
    half-made model under the name.
    """
    output = Path(output).expanduser()
    check_distill_output(output)
    source = check_distill_source(model, trust_remote_code)
    refuse_output_in_folders(output, [source], where="output")
    if pca_dims is not None and pca_dims < 1:
        raise SbftError(
            f"--pca-dims must be a positive number of dimensions, not {pca_dims}",
            where="pca_dims",
            fix=f"Leave it out for {DEFAULT_PCA_DIMS}, or give e.g. --pca-dims 128.",
        )
    started = time.perf_counter()
    embedder = _static_model(source, pca_dims, device, trust_remote_code)
    _save_atomically(embedder, output)
    static = embedder[0]
    return Distilled(
        folder=output,
        dimensions=static.get_embedding_dimension(),
        vocabulary=static.embedding.num_embeddings,
        seconds=time.perf_counter() - started,
    )


def check_distill_output(output: Path) -> None:
    """The output is a new folder (or an empty one): a distill never replaces what a user had."""
    if output.exists() and not output.is_dir():
        raise SbftError(f"the output '{output}' is a file", where="output", fix="Name a new folder.")
    if output.is_dir() and any(output.iterdir()):
        raise SbftError(
            f"the output folder '{output}' already holds files",
            where="output",
            fix="Name a new (or empty) folder; sbft distill never writes over a folder's files.",
        )
    check_writable(output, where="output")


def check_distill_source(model: str, trust_remote_code: bool = False) -> Path:
    """The local folder of a bi-encoder whose first module is a transformer: what model2vec can
    distill. Refused otherwise, in one paragraph, before anything loads."""
    check_model_reference(model, trust_remote_code)
    folder = model_folder(model)
    modules = _modules(folder) if folder is not None else None
    fix = (
        "Give a sentence-transformers embedding model (a folder with modules.json, a run folder of a "
        "bi-encoder, or a hub id such as sentence-transformers/all-MiniLM-L6-v2)."
    )
    if folder is None or modules is None:
        raise SbftError(f"'{model}' is not a sentence-transformers model (no modules.json)", fix=fix)
    family = family_of_folder(folder)
    if family is not BI_ENCODER:
        raise SbftError(f"'{model}' is a {family.name}: only a bi-encoder's embeddings distill", fix=fix)
    first = str(modules[0].get("type", "")) if modules else ""
    if not first.endswith("Transformer"):
        what = "already static" if first.endswith("StaticEmbedding") else f"built on {first or 'nothing'}"
        raise SbftError(
            f"'{model}' is {what}: distilling needs a transformer to encode the vocabulary with",
            fix=fix,
        )
    return folder


def _modules(folder: Path) -> list[dict] | None:
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return [m for m in modules if isinstance(m, dict)] if isinstance(modules, list) else None


def _static_model(source: Path, pca_dims: int | None, device: str | None, trust_remote_code: bool):
    """model2vec's distill of `source`, as a SentenceTransformer with one StaticEmbedding module."""
    try:
        from model2vec.distill import distill as model2vec_distill
    except ImportError as error:
        raise SbftError(
            f"sbft distill needs model2vec's distill ({error.name or error} is missing)",
            fix="Install it: pip install 'sbft[static]' (or 'model2vec>=0.10' and 'skeletoken>=0.6,<0.7').",
        ) from None
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    from sbft.quiet import quiet_libraries

    quiet_libraries()
    static = model2vec_distill(
        model_name=str(source),
        pca_dims=pca_dims,
        device=device or "cpu",
        quantize_to="float32",  # sentence-transformers trains float32 weights
        trust_remote_code=trust_remote_code,
    )
    weights = StaticEmbedding._fold_model2vec_weights(
        static.embedding, getattr(static, "token_mapping", None), getattr(static, "weights", None)
    )
    module = StaticEmbedding(static.tokenizer, embedding_weights=weights, base_model=str(source))
    return SentenceTransformer(modules=[module], device="cpu")


def _save_atomically(model, output: Path) -> None:
    """Save into a hidden sibling folder, then rename it onto `output` (an empty folder is replaced)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{secrets.token_hex(4)}.partial")
    try:
        model.save(str(partial))
        as_umask_allows(partial)
        if output.is_dir():
            output.rmdir()  # empty (checked before any work): rename needs the name free
        os.replace(partial, output)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
