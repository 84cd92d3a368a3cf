"""How much memory a training step takes, from the train rows' token lengths: the typical step's
and the worst one's, so that one very long row is found before it takes the run's memory.

A batch pads each text column to its longest text (up to max_seq_length), so one long text makes
every row of its batch long. The activations a bi-encoder keeps for the backward pass grow with
the tokens (the linear layers: LINEAR_BYTES per token and hidden unit) and with their square (the
attention scores, softmax and dropout: ATTENTION_BYTES per head and token pair), in every layer.
The two constants are fitted to the peak memory of one MultipleNegativesRankingLoss step of 32
rows x 3 columns of all-MiniLM-L6-v2 on CPU (scripts/measure_step_memory.py): 727 MB with every
column at 32 tokens, 7,362 MB with one at 256 (the estimate: 722 and 7,322 MB). A rough guide: at
121 tokens in every column it says 5.5 GB where 3.7 GB was measured (it errs on the safe side).
CachedMultipleNegativesRankingLoss keeps the activations of `mini_batch_size` texts at a time
instead of the whole batch: 1,319 MB measured for that step with mini_batch_size 8 (the estimate:
1,710 MB).

The train columns are tokenized once with the model's fast tokenizer, each distinct text once
(sampled beyond EXACT_TEXTS: 100k rows of 3 columns in 2.6 CPU-seconds, 24 when all are tokenized).
Imports transformers and numpy inside the functions: `sbft check` reaches it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sbft.wording import noun

if TYPE_CHECKING:
    import numpy as np

    from sbft.data import PreparedDataset
    from sbft.recipe import Recipe

LINEAR_BYTES = 68
"""Activations kept per token, hidden unit and layer (fp32: about 17 tensors of the hidden size)."""
ATTENTION_BYTES = 39
"""Per head, token pair and layer (fp32: the scores, their softmax, dropout and their gradients)."""
PERCENTILE = 99
"""The typical step: every column padded to this percentile of its lengths."""
RATIO = 2.0
"""`sbft check` warns when the worst step needs this many times the typical step's memory."""
CACHED = {
    "MultipleNegativesRankingLoss": "CachedMultipleNegativesRankingLoss",
    "MultipleNegativesSymmetricRankingLoss": "CachedMultipleNegativesSymmetricRankingLoss",
    "GISTEmbedLoss": "CachedGISTEmbedLoss",
}
"""Losses with a cached variant, which back-propagates `mini_batch_size` texts at a time."""
MINI_BATCH = 8
TOKENIZE_BATCH = 1000
EXACT_TEXTS = 50_000
"""Up to this many distinct train texts, every one is tokenized (about 4 CPU-seconds)."""
SAMPLED_TEXTS = 20_000


@dataclass
class Shape:
    """What a step's activations depend on: the transformer's size, and its max_seq_length."""

    hidden: int
    layers: int
    heads: int
    max_seq_length: int

    def text_bytes(self, length: np.ndarray | int) -> Any:
        """Activation bytes kept for one text padded to `length` tokens."""
        return self.layers * (LINEAR_BYTES * self.hidden * length + ATTENTION_BYTES * self.heads * length**2)


@dataclass
class MemoryEstimate:
    """One trained dataset's step memory (activations only: weights and optimizer come on top)."""

    dataset: str
    batch: int
    shape: Shape
    columns: list[str]
    lengths: np.ndarray
    """Tokens per row and column (with special tokens, before truncation)."""
    loss: str
    mini_batch: int | None = None
    """The cached loss's mini_batch_size: activations of that many texts at a time."""
    percentiles: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        import numpy as np

        cut = np.minimum(self.lengths, self.shape.max_seq_length)
        self.percentiles = [math.ceil(np.percentile(cut[:, c], PERCENTILE)) for c in range(cut.shape[1])]

    def step_bytes(
        self, max_seq_length: int | None = None, mini_batch: int | None = None
    ) -> tuple[float, float, int]:
        """(the typical step's bytes, the worst step's) and the 0-based row of the worst step."""
        import numpy as np

        limit = max_seq_length or self.shape.max_seq_length
        typical_lengths = np.minimum(np.array(self.percentiles), limit)
        padded = np.maximum(np.minimum(self.lengths, limit), typical_lengths)  # the row's batch
        per_text = self.shape.text_bytes(padded.astype(np.float64))
        typical_text = self.shape.text_bytes(typical_lengths.astype(np.float64))
        texts = mini_batch or self.mini_batch
        if texts:  # one mini-batch of one column at a time
            rows = per_text.max(axis=1) * min(texts, self.batch)
            typical = float(typical_text.max()) * min(texts, self.batch)
        else:
            rows = per_text.sum(axis=1) * self.batch
            typical = float(typical_text.sum()) * self.batch
        worst_row = int(rows.argmax())
        return typical, float(rows[worst_row]), worst_row

    def plan_line(self) -> str:
        """Token lengths (99th percentile against the longest) and the typical and worst steps."""
        typical, worst, row = self.step_bytes()
        columns = "; ".join(
            f"{name} {p} / {int(self.lengths[:, c].max())}"
            for c, (name, p) in enumerate(zip(self.columns, self.percentiles, strict=True))
        )
        over = int((self.lengths.max(axis=1) > self.shape.max_seq_length).sum())
        cut = f", {over} {noun(over, 'row')} cut to {self.shape.max_seq_length}" if over else ""
        return (
            f"{self.dataset}: tokens (99th percentile / longest) {columns}{cut}; step memory "
            f"(activations) typical {_size(typical)}, worst {_size(worst)} (train row {row + 1})"
        )

    def warning(self) -> str | None:
        """When the worst step needs RATIO times the typical step's memory: why, and the fixes."""
        if self._even():
            return None
        typical, worst, row = self.step_bytes()
        longest = int(self.lengths[row].argmax())
        tokens = int(self.lengths[row, longest])
        shown = f" (cut to {self.shape.max_seq_length})" if tokens > self.shape.max_seq_length else ""
        fixes = [fix for fix in (self._shorter_fix(worst), self._cached_fix()) if fix]
        return (
            f"{self.dataset}: one training step may need about {_size(worst)} for its activations, "
            f"{worst / typical:.1f}x the typical step's {_size(typical)}: train row {row + 1}'s "
            f"{self.columns[longest]} has {tokens} tokens{shown}, against a 99th percentile of "
            f"{self.percentiles[longest]}, and pads its whole batch"
            + (f". To bound it: {'; or '.join(fixes)}" if fixes else "")
        )

    def _shorter_fix(self, worst: float) -> str | None:
        """The longest model.max_seq_length (a multiple of 32, from the columns' 99th percentile up)
        that brings the worst step under RATIO times the typical one: it truncates the fewest rows."""
        longest = min(self.shape.max_seq_length, int(self.lengths.max()))
        limits = range(32 * math.ceil(max(self.percentiles) / 32), longest, 32)
        fitting = [n for n in limits if self._even(n)]
        limit = max(fitting) if fitting else min(limits, default=longest)
        if limit >= longest:
            return None
        cut = int((self.lengths.max(axis=1) > limit).sum())
        saved = worst - self.step_bytes(max_seq_length=limit)[1]
        return (
            f"model.max_seq_length: {limit} truncates {cut} {noun(cut, 'row')} and saves about "
            f"{_size(saved)} at that step"
        )

    def _even(self, max_seq_length: int | None = None) -> bool:
        """The worst step needs less than RATIO times the typical step's memory."""
        typical, worst, _ = self.step_bytes(max_seq_length=max_seq_length)
        return worst < RATIO * typical

    def _cached_fix(self) -> str | None:
        cached = CACHED.get(self.loss)
        if cached is None or self.mini_batch:
            return None
        mini = min(MINI_BATCH, self.batch)
        worst = self.step_bytes(mini_batch=mini)[1]
        return f"loss {cached} with mini_batch_size: {mini} (about {_size(worst)} at that step)"


def _size(count: float) -> str:
    return f"{count / 2**30:.1f} GB" if count >= 2**30 else f"{count / 2**20:.0f} MB"


def estimate_memory(recipe: Recipe, datasets: dict[str, PreparedDataset], batch: int) -> list[MemoryEstimate]:
    """An estimate per trained dataset; none when the model's files are not at hand (a hub id not in
    the cache) or for a cross-encoder (its pairs are one sequence: not measured)."""
    if not recipe.model.family.makes_embeddings:
        return []
    found = _transformer(recipe.model.name)
    if found is None:
        return []
    root, folder, config = found
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(folder), use_fast=True)
    except (OSError, ValueError):
        return []
    shape = _shape([folder, root], config, tokenizer, recipe.model.max_seq_length)
    if shape is None:
        return []
    estimates = []
    for name, prepared in datasets.items():
        spec = prepared.spec.loss
        if spec is None or "train" not in prepared.splits:
            continue
        while spec.inner is not None:  # MatryoshkaLoss...: the loss that embeds
            spec = spec.inner
        train = prepared.splits["train"]
        columns = [c for c in prepared.inputs if c in train.column_names]
        lengths = token_lengths(tokenizer, [train[c] for c in columns])
        if lengths is None:
            continue
        mini = spec.args.get("mini_batch_size", 32) if spec.name.startswith("Cached") else None
        estimates.append(MemoryEstimate(name, batch, shape, columns, lengths, spec.name, mini))
    return estimates


def token_lengths(tokenizer: Any, columns: list[list[Any]]) -> np.ndarray | None:
    """Tokens (with special tokens, untruncated) per row and column; each distinct text once.
    None when a column holds no texts (scores, lists).

    Beyond EXACT_TEXTS distinct texts (tokenizing costs about 24 CPU-seconds per 300,000), only
    the longest 1% by characters (where the worst rows are) and a seeded sample of SAMPLED_TEXTS
    are tokenized; the others are counted from their characters at the sample's tokens per character.
    """
    import numpy as np

    if not columns or not all(isinstance(v, str) for column in columns for v in column[:100]):
        return None
    distinct = list({text: None for column in columns for text in column if isinstance(text, str)})
    if len(distinct) <= EXACT_TEXTS:
        counts = _count(tokenizer, distinct)
    else:
        import random

        longest = sorted(distinct, key=len, reverse=True)[: len(distinct) // 100]
        sample = random.Random(0).sample(distinct, SAMPLED_TEXTS)
        counts = _count(tokenizer, sample)
        special = len(_ids(tokenizer, [""])[0])
        per_char = sum(counts[t] - special for t in sample) / max(1, sum(map(len, sample)))
        estimated = {text: special + math.ceil(len(text) * per_char) for text in distinct}
        counts = {**estimated, **counts, **_count(tokenizer, longest)}
    return np.array(
        [[counts.get(text, 0) for text in row] for row in zip(*columns, strict=True)], dtype=np.int64
    )


def _count(tokenizer: Any, texts: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for start in range(0, len(texts), TOKENIZE_BATCH):
        batch = texts[start : start + TOKENIZE_BATCH]
        counts.update(zip(batch, map(len, _ids(tokenizer, batch)), strict=True))
    return counts


def _ids(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    return tokenizer(
        texts,
        add_special_tokens=True,
        return_attention_mask=False,
        return_token_type_ids=False,
        verbose=False,
    )["input_ids"]


def _transformer(name: str) -> tuple[Path, Path, dict[str, Any]] | None:
    """A local model's folder, the folder of its transformer (the same for most) and the
    transformer's config.json; None when not at hand."""
    from sbft.models import resolve_model_path

    folder = Path(resolve_model_path(name))
    if not folder.is_dir():
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name, "config.json")
        if not isinstance(cached, str):
            return None
        folder = Path(cached).parent
    transformer = folder
    try:
        if (folder / "modules.json").is_file():
            modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
            paths = [m.get("path", "") for m in modules if str(m.get("type", "")).endswith("Transformer")]
            transformer = folder / (paths[0] if paths else "")
        config = json.loads((transformer / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, AttributeError, TypeError):
        return None
    return (folder, transformer, config) if isinstance(config, dict) else None


def _shape(
    folders: list[Path], config: dict[str, Any], tokenizer: Any, max_seq_length: int | None
) -> Shape | None:
    """The transformer's size from its config; max_seq_length as sentence-transformers sets it
    (the recipe's, else the saved model's, else the shorter of the tokenizer's and positions)."""
    sizes = [config.get(key) for key in ("hidden_size", "num_hidden_layers", "num_attention_heads")]
    if not all(isinstance(size, int) and size > 0 for size in sizes):
        return None
    for folder in folders if max_seq_length is None else []:
        try:
            saved = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
            max_seq_length = saved.get("max_seq_length")
            break
        except (OSError, ValueError, AttributeError):
            continue
    if not isinstance(max_seq_length, int):
        limits = [config.get("max_position_embeddings"), getattr(tokenizer, "model_max_length", None)]
        max_seq_length = min((n for n in limits if isinstance(n, int) and n > 0), default=512)
    return Shape(*sizes, max_seq_length=max_seq_length)
