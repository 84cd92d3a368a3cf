"""What a saved bi-encoder folder declares about turning texts into embeddings, read without torch.

sentence-transformers rebuilds a model from its folder: modules.json lists the modules (a
Transformer, a Pooling, a Normalize...), sentence_bert_config.json the transformer's settings
(max_seq_length, do_lower_case), 1_Pooling/config.json the pooling modes,
config_sentence_transformers.json the prompts, tokenizer.json and tokenizer_config.json the
tokenizer. `read_declared` reads the same files by the same rules into one record, which the
torch-free encoder (sbft.inference.lite) runs on. A folder that declares anything else (a Dense
layer, custom code, query expansion, per-task lengths...) is `Unsupported` and keeps the torch
path. Whether the reading matches sentence-transformers is checked once per model, when the ONNX
export is made (sbft.inference.onnx.check_fast_start), and by tests on every pooling mode.

Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
"""sentence-transformers' pooling modes, in the order it concatenates legacy multi-mode configs."""
TRANSFORMER_CONFIGS = (
    "sentence_bert_config.json",
    "sentence_roberta_config.json",
    "sentence_distilbert_config.json",
    "sentence_camembert_config.json",
    "sentence_albert_config.json",
    "sentence_xlm-roberta_config.json",
    "sentence_xlnet_config.json",
)
"""The transformer's own settings, under the names sentence-transformers tries in turn."""
UNBOUNDED = int(1e30)
"""transformers' model_max_length when a tokenizer declares none (VERY_LARGE_INTEGER)."""
DEFAULT_PROMPTS: dict[str, str | None] = {"query": None, "document": None}
"""The prompt names every SentenceTransformer has; the folder's config fills them, else they are ""."""
PLAIN_TEXT_OUTPUT = {"text": {"method": "forward", "method_output_name": "last_hidden_state"}}


class Unsupported(Exception):
    """The folder declares something the torch-free encoder does not do; the message says what."""


@dataclass(frozen=True)
class Declared:
    """How a bi-encoder folder turns texts into embeddings, as sentence-transformers would load it."""

    folder: Path
    tokenizer_file: Path
    pooling: tuple[str, ...]
    """Pooling modes; several are concatenated in this order."""
    include_prompt: bool
    """False: prompt tokens are left out of the pooling (INSTRUCTOR-style models)."""
    normalize: bool
    """A Normalize module ends the model: embeddings have length 1."""
    max_seq_length: int
    position_limit: int | None
    """The model's max_position_embeddings: no --max-seq-length may exceed it."""
    do_lower_case: bool
    pad_token: str
    padding_side: str
    truncation_side: str
    hidden_size: int
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None
    truncate_dim: int | None = None

    @property
    def embedding_dimension(self) -> int:
        """The width of the embeddings, truncate_dim applied (SentenceTransformer.get_embedding_dimension)."""
        width = self.hidden_size * len(self.pooling)
        return min(width, self.truncate_dim) if self.truncate_dim else width


def read_declared(folder: Path) -> Declared:
    """The declaration of the bi-encoder saved in `folder`; Unsupported when it has more than one."""
    st_config = _json(folder / "config_sentence_transformers.json") or {}
    if st_config.get("model_type", "SentenceTransformer") != "SentenceTransformer":
        raise Unsupported(f"a {st_config['model_type']}, not a bi-encoder")
    config = _json(folder / "config.json")
    if config is None:
        raise Unsupported("no config.json")
    if config.get("auto_map"):
        raise Unsupported("custom model code (auto_map)")
    modules = _json(folder / "modules.json")
    pooling_config, normalize = _modules(folder, modules) if modules is not None else (_plain(config), False)
    transformer = next((_json(folder / name) for name in TRANSFORMER_CONFIGS if (folder / name).exists()), {})
    _check_transformer(transformer or {})
    tokenizer = _json(folder / "tokenizer_config.json") or {}
    if not (folder / "tokenizer.json").is_file():
        raise Unsupported("no tokenizer.json (a fast tokenizer's file)")
    limit = config.get("max_position_embeddings")
    limit = limit if isinstance(limit, int) and limit != -1 else None
    return Declared(
        folder=folder,
        tokenizer_file=folder / "tokenizer.json",
        pooling=pooling_modes(pooling_config),
        include_prompt=bool(pooling_config.get("include_prompt", True)),
        normalize=normalize,
        max_seq_length=_max_seq_length(transformer or {}, tokenizer, limit),
        position_limit=limit,
        do_lower_case=bool((transformer or {}).get("do_lower_case", False)),
        pad_token=_token_text(tokenizer.get("pad_token")) or "[PAD]",
        padding_side=tokenizer.get("padding_side") or "right",
        truncation_side=tokenizer.get("truncation_side") or "right",
        hidden_size=int(
            pooling_config.get("embedding_dimension")
            or pooling_config.get("word_embedding_dimension")
            or config["hidden_size"]
        ),
        prompts=_prompts(st_config),
        default_prompt_name=st_config.get("default_prompt_name"),
        truncate_dim=st_config.get("truncate_dim"),
    )


def pooling_modes(pooling_config: dict[str, Any]) -> tuple[str, ...]:
    """The modes a Pooling config names: `pooling_mode` (one or a list), or the legacy flags."""
    mode = pooling_config.get("pooling_mode")
    if mode is None:
        flags = {"cls_token": "cls", "max_tokens": "max", "mean_tokens": "mean"}
        flags |= {"mean_sqrt_len_tokens": "mean_sqrt_len_tokens", "weightedmean_tokens": "weightedmean"}
        flags |= {"lasttoken": "lasttoken"}
        modes = tuple(name for key, name in flags.items() if pooling_config.get(f"pooling_mode_{key}"))
        modes = modes or ("mean",)
    else:
        modes = (mode,) if isinstance(mode, str) else tuple(mode)
    unknown = [name for name in modes if name not in POOLING_MODES]
    if unknown or not modes:
        raise Unsupported(f"unknown pooling mode {unknown}")
    return modes


def check_max_seq_length(length: int, limit: int | None) -> None:
    """A maximum length no longer than the model's position embeddings (both paths ask this)."""
    from sbft.errors import SbftError

    if length <= 0:
        raise SbftError("--max-seq-length must be positive", where="max_seq_length")
    if limit is not None and length > limit:
        raise SbftError(
            f"--max-seq-length {length} is longer than the model's {limit} positions",
            where="max_seq_length",
            fix=f"Use at most {limit}.",
        )


def _modules(folder: Path, modules: Any) -> tuple[dict[str, Any], bool]:
    """The Pooling config and whether a Normalize follows; modules: Transformer, Pooling[, Normalize]."""
    kinds = [_module_kind(entry) for entry in modules] if isinstance(modules, list) else []
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise Unsupported(
            f"modules {kinds or modules} (only Transformer, Pooling, Normalize run without torch)"
        )
    if modules[0].get("path", "") not in ("", "."):
        raise Unsupported("the transformer is saved in a subfolder")
    pooling = _json(folder / modules[1].get("path", "") / "config.json")
    return (pooling or {}), len(kinds) == 3


def _module_kind(entry: Any) -> str:
    module_type = entry.get("type", "") if isinstance(entry, dict) else ""
    return module_type.rsplit(".", 1)[-1] if module_type.startswith("sentence_transformers.") else module_type


def _plain(config: dict[str, Any]) -> dict[str, Any]:
    """A plain transformer folder: sentence-transformers adds mean pooling (last token for causal LMs)."""
    architectures = config.get("architectures") or [""]
    if architectures[0].endswith("ForCausalLM"):
        raise Unsupported("a causal language model (left padding, last-token pooling)")
    return {"pooling_mode": "mean"}


def _check_transformer(settings: dict[str, Any]) -> None:
    """Only the plain text transformer: no custom processing, per-task lengths or query expansion."""
    if settings.get("transformer_task", "feature-extraction") != "feature-extraction":
        raise Unsupported(f"transformer_task {settings['transformer_task']}")
    if settings.get("modality_config") not in (None, PLAIN_TEXT_OUTPUT):
        raise Unsupported("a modality_config other than plain text")
    if settings.get("module_output_name", "token_embeddings") != "token_embeddings":
        raise Unsupported(f"module_output_name {settings['module_output_name']}")
    for key in ("processing_kwargs", "query_length", "document_length", "query_expansion"):
        if settings.get(key):
            raise Unsupported(f"{key} in sentence_bert_config.json")
    for key in ("tokenizer_args", "processor_kwargs", "model_args", "model_kwargs", "config_args"):
        if settings.get(key):
            raise Unsupported(f"{key} in sentence_bert_config.json")


def _max_seq_length(transformer: dict[str, Any], tokenizer: dict[str, Any], limit: int | None) -> int:
    """sentence_bert_config's max_seq_length, else the tokenizer's model_max_length within the positions."""
    declared = transformer.get("max_seq_length")
    if isinstance(declared, int):
        return declared
    length = tokenizer.get("model_max_length")
    length = int(length) if isinstance(length, int | float) else UNBOUNDED
    return min(length, limit) if limit is not None else length


def _prompts(st_config: dict[str, Any]) -> dict[str, str]:
    """Saved prompts over the default names, the unset ones "" (SentenceTransformer's merge and check)."""
    prompts = dict(DEFAULT_PROMPTS)
    for name, text in (st_config.get("prompts") or {}).items():
        if prompts.get(name) is None:
            prompts[name] = text
    default = st_config.get("default_prompt_name")
    if default is not None and default not in prompts:
        raise Unsupported(f"default_prompt_name {default!r} names no prompt")
    return {name: "" if text is None else text for name, text in prompts.items()}


def _token_text(token: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or {"content": ...}."""
    return token.get("content") if isinstance(token, dict) else token


def _json(path: Path) -> Any:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise Unsupported(f"{path.name} is unreadable ({exc})") from None
    return value
