"""Embeddings without torch: tokenizers, onnxruntime and numpy on a model's current ONNX export.

Importing sentence-transformers takes seconds (it pulls in transformers, torch and
scikit-learn), more than a small `sbft encode`, `similarity` or `search` needs in all. Once a
model is exported (sbft.inference.onnx), its folder's declaration (sbft.inference.declared:
pooling, normalisation, prompts, max length, tokenizer) is all that the ONNX file needs around
it. LiteEncoder runs that declaration with the same arithmetic as sentence-transformers' modules,
behind the part of SentenceTransformer's interface that sbft uses (encode, encode_query,
encode_document, prompts, max_seq_length, get_embedding_dimension).

`open_fast` hands one out only when nothing could differ from the torch path: the export is
current, and the export step checked that this folder, read here, embeds as
sentence-transformers embeds it (the FAST_START entry of the export record). Otherwise it
returns None and the caller loads the model with sentence-transformers.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sbft.errors import SbftError
from sbft.inference.declared import Declared, Unsupported, check_max_seq_length, read_declared
from sbft.inference.exports import FAST_START, current_export, export_location, read_record

if TYPE_CHECKING:
    import numpy as np

NORMALIZE_EPS = 1e-12
"""torch.nn.functional.normalize's eps: the same division for a zero vector."""


def open_fast(name: str, backend: str, threads: int, max_seq_length: int | None = None) -> LiteEncoder | None:
    """A torch-free encoder for `name` on `backend`, or None where only the torch path can be trusted."""
    if importlib.util.find_spec("tokenizers") is None:
        return None
    model_folder, export, fingerprint = export_location(name)
    if model_folder is None:
        return None
    path = current_export(export, backend, fingerprint)
    checked = read_record(export).get(FAST_START) or {}
    if path is None or checked.get("fingerprint") != fingerprint or not checked.get("equal"):
        return None
    try:
        declared = read_declared(model_folder)
    except Unsupported:
        return None
    return LiteEncoder(declared, path, backend, threads, max_seq_length)


def session(path: str | Path, threads: int) -> Any:
    """An onnxruntime session on `threads` CPU threads, quiet."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # InvalidProtobuf, Fail...: a damaged or foreign file, named as such
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SbftError(
            f"onnxruntime cannot load the ONNX file '{path}' ({type(exc).__name__}: {reason[:200]})",
            where="backend",
            fix="If sbft exported it, `sbft export MODEL --overwrite` makes it again; otherwise replace "
            "the file, or use --backend torch.",
        ) from None


class LiteEncoder:
    """A bi-encoder run by onnxruntime, tokenized by `tokenizers`, pooled and normalised in numpy."""

    def __init__(
        self, declared: Declared, path: Path, backend: str, threads: int, max_seq_length: int | None = None
    ) -> None:
        if max_seq_length is not None:
            check_max_seq_length(max_seq_length, declared.position_limit)
        self.declared = declared
        self.path = path
        self.onnx_backend = backend
        """What runs the transformer: onnx or onnx-int8 (the torch path names its backend the same)."""
        self.max_seq_length = max_seq_length or declared.max_seq_length
        self.prompts = dict(declared.prompts)
        self.default_prompt_name = declared.default_prompt_name
        self.truncate_dim = declared.truncate_dim
        self._tokenizer = _tokenizer(declared, self.max_seq_length)
        self._untruncated: Any = None
        self._pad_id = self._tokenizer.token_to_id(declared.pad_token) or 0
        self._special_ids = {
            token_id
            for token_id, token in self._tokenizer.get_added_tokens_decoder().items()
            if token.special
        }
        self._session = session(path, threads)
        self._inputs = [item.name for item in self._session.get_inputs()]

    def get_embedding_dimension(self) -> int:
        return self.declared.embedding_dimension

    def token_counts(
        self, texts: list[str], *, truncate: bool = True, special_tokens: bool = False
    ) -> list[int]:
        """Tokens per text, by default special tokens left out, as far as max_seq_length keeps them
        (sbft.inference.encoder.token_counts: the other counts are for `sbft serve`)."""
        if truncate and not special_tokens:
            return [
                len(encoding.ids)
                for encoding in self._tokenizer.encode_batch(texts, add_special_tokens=False)
            ]
        if self._untruncated is None:  # a copy: the encoding tokenizer keeps its truncation
            from tokenizers import Tokenizer

            self._untruncated = Tokenizer.from_str(self._tokenizer.to_str())
            self._untruncated.no_truncation()
        counts = [
            len(encoding.ids)
            for encoding in self._untruncated.encode_batch(texts, add_special_tokens=special_tokens)
        ]
        return [min(count, self.max_seq_length) for count in counts] if truncate else counts

    def encode(
        self,
        texts: list[str],
        *,
        batch_size: int = 32,
        normalize_embeddings: bool = False,
        truncate_dim: int | None = None,
        prompt: str | None = None,
        prompt_name: str | None = None,
        convert_to_numpy: bool = True,
        show_progress_bar: bool = False,
    ) -> np.ndarray:
        """Embeddings of `texts` in their order (SentenceTransformer.encode's arguments that sbft passes)."""
        import numpy as np

        prompt = self._resolve_prompt(prompt, prompt_name)
        if prompt:
            texts = [prompt + text for text in texts]
        prompt_length = self._prompt_length(prompt) if prompt and not self.declared.include_prompt else None
        encodings = self._tokenizer.encode_batch(texts)
        order = np.argsort([-len(encoding.ids) for encoding in encodings], kind="stable")
        result = None
        for start in range(0, len(texts), batch_size):
            index = order[start : start + batch_size]
            features = self._features([encodings[i] for i in index])
            hidden = self._session.run(None, {key: features[key] for key in self._inputs})[0]
            embeddings = pool(hidden, features["attention_mask"], self.declared.pooling, prompt_length)
            if self.declared.normalize:
                embeddings = normalize(embeddings)
            embeddings = embeddings[:, : truncate_dim or self.truncate_dim or embeddings.shape[1]]
            if result is None:
                result = np.empty((len(texts), embeddings.shape[1]), dtype=embeddings.dtype)
            result[index] = normalize(embeddings) if normalize_embeddings else embeddings
        return result if result is not None else np.zeros((0, self.get_embedding_dimension()), "float32")

    def encode_query(self, texts: list[str], **options: Any) -> np.ndarray:
        """With the model's "query" prompt unless a prompt is given (SentenceTransformer.encode_query)."""
        if options.get("prompt") is None and options.get("prompt_name") is None and "query" in self.prompts:
            options["prompt_name"] = "query"
        return self.encode(texts, **options)

    def encode_document(self, texts: list[str], **options: Any) -> np.ndarray:
        """With the first of the "document", "passage", "corpus" prompts (as encode_document)."""
        if options.get("prompt") is None and options.get("prompt_name") is None:
            options["prompt_name"] = next(
                (name for name in ("document", "passage", "corpus") if name in self.prompts), None
            )
        return self.encode(texts, **options)

    def _resolve_prompt(self, prompt: str | None, prompt_name: str | None) -> str | None:
        if prompt is not None:
            return prompt
        if prompt_name is not None:
            return self.prompts[prompt_name]
        return self.prompts.get(self.default_prompt_name) if self.default_prompt_name else None

    def _prompt_length(self, prompt: str) -> int:
        """The prompt's tokens less a trailing special one (SEP, EOS), as the Transformer module counts."""
        ids = self._tokenizer.encode(prompt).ids
        return len(ids) - 1 if ids and ids[-1] in self._special_ids else len(ids)

    def _features(self, encodings: list[Any]) -> dict[str, np.ndarray]:
        """input_ids, attention_mask and token_type_ids of one batch, padded to its longest text."""
        import numpy as np

        length = max(len(encoding.ids) for encoding in encodings)
        features = {
            "input_ids": np.full((len(encodings), length), self._pad_id, dtype=np.int64),
            "attention_mask": np.zeros((len(encodings), length), dtype=np.int64),
            "token_type_ids": np.zeros((len(encodings), length), dtype=np.int64),
        }
        left = self.declared.padding_side == "left"
        for row, encoding in enumerate(encodings):
            span = slice(length - len(encoding.ids), length) if left else slice(0, len(encoding.ids))
            features["input_ids"][row, span] = encoding.ids
            features["attention_mask"][row, span] = 1
            features["token_type_ids"][row, span] = encoding.type_ids
        return features


def _tokenizer(declared: Declared, max_seq_length: int) -> Any:
    """The folder's tokenizer.json, truncating as the Transformer module does; padding is done per batch."""
    from tokenizers import Tokenizer, normalizers

    tokenizer = Tokenizer.from_file(str(declared.tokenizer_file))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    if max_seq_length < 2**31:
        tokenizer.enable_truncation(max_seq_length, direction=declared.truncation_side)
    current = tokenizer.normalizer
    if declared.do_lower_case and not _has_lowercase(current):
        members = list(current) if isinstance(current, normalizers.Sequence) else [current] if current else []
        tokenizer.normalizer = normalizers.Sequence([normalizers.Lowercase(), *members])
    return tokenizer


def _has_lowercase(normalizer: Any) -> bool:
    """sentence-transformers' test: a Lowercase normalizer, alone or in a Sequence."""
    from tokenizers import normalizers

    if isinstance(normalizer, normalizers.Sequence):
        return any(isinstance(member, normalizers.Lowercase) for member in normalizer)
    return isinstance(normalizer, normalizers.Lowercase)


# --- the arithmetic of sentence-transformers' Pooling and Normalize modules, in numpy -------------


def pool(
    tokens: np.ndarray, attention_mask: np.ndarray, modes: tuple[str, ...], prompt_length: int | None = None
) -> np.ndarray:
    """Pooling._forward_padded: each mode's vector, concatenated in the order of `modes`."""
    import numpy as np

    original_mask = attention_mask
    mask = _without_prompt(attention_mask, prompt_length) if prompt_length else attention_mask
    expanded = mask[:, :, None].astype(tokens.dtype)
    rows = np.arange(len(tokens))
    vectors = []
    for mode in modes:
        if mode == "cls":
            vectors.append(tokens[rows, mask.argmax(axis=1)])
        elif mode == "max":
            vectors.append(np.where(expanded == 0, -np.inf, tokens).max(axis=1).astype(tokens.dtype))
        elif mode in ("mean", "mean_sqrt_len_tokens"):
            total = (tokens * expanded).sum(axis=1)
            count = np.maximum(expanded.sum(axis=1), 1e-9)
            vectors.append(total / (count if mode == "mean" else np.sqrt(count)))
        elif mode == "weightedmean":
            positions = np.arange(1, tokens.shape[1] + 1, dtype=tokens.dtype)[None, :, None]
            weights = expanded * (
                positions - original_mask.argmax(axis=1)[:, None, None].astype(tokens.dtype)
            )
            total = np.maximum(weights.sum(axis=1), 1e-9)
            vectors.append((tokens * weights).sum(axis=1) / total)
        elif mode == "lasttoken":
            flipped = mask[:, ::-1]
            last = np.where(flipped.max(axis=1) == 0, tokens.shape[1] - 1, flipped.argmax(axis=1))
            vectors.append((tokens * expanded)[rows, tokens.shape[1] - last - 1])
    return np.concatenate(vectors, axis=-1).astype(tokens.dtype, copy=False)


def _without_prompt(attention_mask: np.ndarray, prompt_length: int) -> np.ndarray:
    """Pooling._exclude_prompt_from_mask: the prompt's positions (after any left padding) masked out."""
    import numpy as np

    mask = attention_mask.copy()
    pad_lengths = mask.argmax(axis=1)
    if pad_lengths.sum() == 0:
        mask[:, :prompt_length] = 0
    else:
        mask[np.arange(mask.shape[1])[None, :] < (pad_lengths + prompt_length)[:, None]] = 0
    return mask


def normalize(embeddings: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (torch.nn.functional.normalize)."""
    import numpy as np

    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings / np.maximum(norms, NORMALIZE_EPS)
