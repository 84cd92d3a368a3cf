"""Mining itself: sentence-transformers' `mine_hard_negatives`, and what sbft adds around it.

Copies of a positive (the same text up to case and spacing, under another id) stay out of the
corpus, so no query gets its own answer as a negative; `random` sampling draws from a seeded
state; the margins' skipped candidates are counted, and the score margins measured.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import random
import re
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sbft.errors import SbftError, join_key
from sbft.families import BI_ENCODER, CROSS_ENCODER, Family
from sbft.recipe import MineSpec
from sbft.wording import noun

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer

    from sbft.inference.corpus import CorpusCache

_SKIPPED = re.compile(r"Skipped ([\d,]+) potential negatives .* due to the (absolute_margin|relative_margin)")
"""How `mine_hard_negatives` reports the candidates its margins skipped (it returns no count)."""
SCORES = "scores"


@dataclass
class MiningStats:
    """What mining did: rows kept and dropped, what the margins skipped, how far negatives sit."""

    rows_in: int
    rows_kept: int
    queries: int
    documents: int
    """Distinct documents searched: the corpus and the positives."""
    duplicates_dropped: int
    """Corpus documents left out as copies of a positive or of another document."""
    likely_false_negatives: int
    """Candidates the margins skipped: scored too close to the positive."""
    positive_score_mean: float
    negative_score_mean: float
    margin_mean: float
    """Mean of positive score - negative score, over every mined negative."""
    margin_min: float
    seconds: float

    @property
    def rows_dropped(self) -> int:
        return self.rows_in - self.rows_kept

    def summary(self, negatives: int) -> str:
        """One paragraph: what was kept, what was skipped, how hard the negatives are."""
        return (
            f"mined {negatives} {noun(negatives, 'negative')} for {self.rows_kept:,} of "
            f"{self.rows_in:,} rows "
            f"({self.queries:,} queries) over {self.documents:,} documents in {self.seconds:.1f} s; "
            f"{self.rows_dropped:,} {noun(self.rows_dropped, 'row')} dropped (too few candidates left past "
            f"the margins), {self.likely_false_negatives:,} {noun(self.likely_false_negatives, 'candidate')} "
            "skipped as likely false negatives, "
            f"{self.duplicates_dropped:,} duplicate {noun(self.duplicates_dropped, 'document')} left out; "
            "score margin positive - negative: "
            f"mean {self.margin_mean:.3f}, min {self.margin_min:.3f} "
            f"(positives {self.positive_score_mean:.3f}, negatives {self.negative_score_mean:.3f} on average)"
        )


def mine_negatives(
    pairs: Dataset,
    model: SentenceTransformer,
    settings: MineSpec,
    corpus: Iterable[str] | None = None,
    *,
    batch_size: int = 32,
    use_faiss: bool | None = None,
    query_prompt: str | None = None,
    corpus_prompt: str | None = None,
    seed: int = 42,
    progress: bool = True,
    where: str = "",
    corpus_cache: CorpusCache | None = None,
) -> tuple[Dataset, MiningStats]:
    """(query, positive) rows -> (query, positive, negative_1..negative_num) rows and statistics.

    Candidates come from `corpus` (None: the positives of the rows themselves). `use_faiss` True
    searches with faiss's flat index (a second float32 copy of the corpus); otherwise sbft's exact
    search in score blocks, which keeps within the memory bound of README "Large corpora".
    `settings.model` is the caller's to load (it passes `model`); `settings.rescore_with` is
    loaded here. `where` prefixes the parameter names in errors.

    The corpus is encoded through `corpus_cache` (default: sbft's cache, see
    sbft.inference.corpus): a corpus the model has encoded before, for mining or for an
    evaluation, is read back instead of encoded again.
    """
    from sentence_transformers.util import mine_hard_negatives

    from sbft.mining.embedded import Precomputed

    started = time.perf_counter()
    settings.check(where)
    query_column, positive_column = pairs.column_names[:2]
    positives = pairs[positive_column]
    corpus = list(corpus) if corpus is not None else None
    documents, duplicates = _searchable(corpus, positives)
    faiss = _faiss(use_faiss, join_key(where, "use_faiss"))
    miner = Precomputed.prepare(
        model,
        pairs[query_column],
        positives,
        corpus,
        documents,
        cache=corpus_cache,
        batch_size=batch_size,
        query_prompt=query_prompt,
        corpus_prompt=corpus_prompt,
        progress=progress,
    )
    rescorer = (
        load_for_mining(settings.rescore_with, CROSS_ENCODER, join_key(where, "rescore_with"))
        if settings.rescore_with
        else None
    )
    report = io.StringIO()  # mine_hard_negatives prints its own table; sbft prints the summary
    bars = contextlib.redirect_stderr(io.StringIO())  # its tqdm bars: sbft reported the encodes itself
    state = random.getstate()
    random.seed(seed)  # `random` sampling draws from Python's random module
    try:
        with contextlib.redirect_stdout(report), bars, warnings.catch_warnings():
            warnings.filterwarnings("ignore", "std", UserWarning)  # its table, on a single negative
            mined = mine_hard_negatives(
                pairs.select_columns([query_column, positive_column]),
                miner,
                anchor_column_name=query_column,
                positive_column_name=positive_column,
                corpus=documents,
                cross_encoder=rescorer,
                range_min=settings.range_min,
                range_max=settings.range_max,
                relative_margin=settings.relative_margin,
                absolute_margin=settings.absolute_margin,
                num_negatives=settings.num,
                sampling_strategy=settings.sampling,
                query_prompt=query_prompt,
                corpus_prompt=corpus_prompt,
                output_format="n-tuple",
                output_scores=True,
                batch_size=batch_size,
                faiss_batch_size=miner.query_block,
                use_faiss=faiss,
            )
    except ValueError as exc:  # parameters sentence-transformers refuses (our checks catch the known ones)
        raise SbftError(f"cannot mine: {exc}", where=where or None) from None
    finally:
        random.setstate(state)
    if len(mined) == 0:
        skipped = _skipped(report.getvalue())
        raise SbftError(
            f"mining kept none of the {len(pairs):,} rows: no query had {settings.num} "
            f"{noun(settings.num, 'candidate')} "
            f"left past the margins in ranks {settings.range_min} to {settings.range_max or 'auto'} "
            f"({skipped:,} {noun(skipped, 'candidate')} scored within the margins of their positive: "
            "copies of it, or unlabelled positives)",
            where=where or None,
            fix="Lower num, range_min or the margins, raise range_max, or search a larger corpus.",
        )
    stats = _statistics(pairs, mined, documents, duplicates, report.getvalue(), time.perf_counter() - started)
    return mined.remove_columns(SCORES), stats


def _statistics(
    pairs: Dataset, mined: Dataset, documents: list[str] | None, duplicates: int, report: str, seconds: float
) -> MiningStats:
    """What mining kept and how hard its negatives are, from the mined rows' scores and the table
    mine_hard_negatives printed (`report`: the candidates its margins skipped)."""
    query_column, positive_column = pairs.column_names[:2]
    scores = mined[SCORES]
    margins = [row[0] - negative for row in scores for negative in row[1:]]
    negative_scores = [negative for row in scores for negative in row[1:]]
    return MiningStats(
        rows_in=len(pairs),
        rows_kept=len(mined),
        queries=len(set(pairs[query_column])),
        documents=len(dict.fromkeys([*(documents or ()), *pairs[positive_column]])),
        duplicates_dropped=duplicates,
        likely_false_negatives=_skipped(report),
        positive_score_mean=_mean([row[0] for row in scores]),
        negative_score_mean=_mean(negative_scores),
        margin_mean=_mean(margins),
        margin_min=round(min(margins), 4),
        seconds=round(seconds, 2),
    )


def _skipped(report: str) -> int:
    """The candidates mine_hard_negatives' margins skipped, from the table it printed."""
    return sum(int(n.replace(",", "")) for n, _ in _SKIPPED.findall(report))


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 4)


def _key(text: str) -> str:
    """Texts that are the same document: equal up to case and spacing."""
    return " ".join(text.split()).casefold()


def _searchable(corpus: Iterable[str] | None, positives: list[str]) -> tuple[list[str] | None, int]:
    """The corpus without blank texts, the positives (mine_hard_negatives adds them itself), and
    duplicates: further copies of a positive or of another document, up to case and spacing.
    Also how many duplicates were left out."""
    if corpus is None:
        return None, 0
    exact, positive_keys = set(positives), {_key(text) for text in positives}
    seen: set[str] = set()
    documents, duplicates = [], 0
    for text in corpus:
        key = _key(text)
        if not key:
            continue
        if text in exact and text not in seen:  # a positive's own entry
            seen.add(text)
        elif key in positive_keys or key in seen:
            duplicates += 1
        else:
            seen.add(key)
            documents.append(text)
    return documents, duplicates


def _faiss(use_faiss: bool | None, where: str) -> bool:
    installed = importlib.util.find_spec("faiss") is not None
    if use_faiss and not installed:
        raise SbftError(
            "faiss is not installed",
            where=where,
            fix="Install it (pip install 'sbft[faiss]'), or search without it.",
        )
    return bool(use_faiss)


def load_for_mining(name: str, family: Family, where: str, device: str | None = None) -> Any:
    """A miner (bi-encoder) or a rescorer (cross-encoder); a saved model of the other family is refused."""
    from sbft.models import detect_family, load_model, resolve_model_path

    found = detect_family(name)
    if Path(resolve_model_path(name)).is_dir() and found is not family:
        role = "mining embeds texts" if family is BI_ENCODER else "rescoring reads (query, document) pairs"
        raise SbftError(
            f"'{name}' is a {found.name}, and {role}: it needs a {family.name}",
            where=where,
            fix=f"Name a saved {family.name} or a hub id.",
        )
    try:
        return load_model(name, family=family, device=device)
    except SbftError as error:
        raise SbftError(error.what, where=where, fix=error.fix) from None
