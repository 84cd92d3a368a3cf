"""Which task fits a data file: the tasks `sbft init` knows, and the proposal for an inspected file.

The tasks are data: per task its template columns, label, loss and evaluator, with the reasons
the recipe's comments give. The column kinds decide the task; column names decide the order
(anchor/query first, positive second, negatives last) and which column is the label. Queries with
several candidates labelled 0/1 (WikiQA's shape) are retrieval data, as is a BEIR folder.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from sbft.columns import FIRST_COLUMN
from sbft.errors import SbftError, did_you_mean
from sbft.inspection import Column, Inspection

_NEGATIVE = re.compile(r"neg", re.I)
_ASYMMETRIC = re.compile(r"query|question|answer|document|passage|context|response", re.I)
_LABEL_NAME = re.compile(r"label|score|similarity|relevance|rating|class|category|gold|(^|_)is_|^y$", re.I)


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    columns: tuple[str, ...]
    """Column names of the template (no data): also the roles, in the order the loss reads them."""
    label: str | None
    loss: str
    loss_why: str
    alternatives: str
    evaluator: str
    evaluator_why: str


TASKS = {
    task.name: task
    for task in [
        Task(
            "pair-score",
            "two texts and a similarity score",
            ("sentence1", "sentence2"),
            "score",
            "CoSENTLoss",
            "CoSENTLoss ranks pairs by their score: a strong default for graded similarity.",
            "AnglELoss; CosineSimilarityLoss (scores in 0..1)",
            "embedding-similarity",
            "Spearman correlation between cosine similarity and score on dev.",
        ),
        Task(
            "pair-class",
            "two texts and a class label",
            ("sentence1", "sentence2"),
            "label",
            "OnlineContrastiveLoss",
            "OnlineContrastiveLoss pulls pairs labelled 1 together, pushes 0 apart, on the hard pairs.",
            "ContrastiveLoss; SoftmaxLoss (any number of classes)",
            "binary-classification",
            "Accuracy, F1 and average precision of 'similar or not' by cosine threshold on dev.",
        ),
        Task(
            "pairs",
            "pairs of related texts, no label",
            ("anchor", "positive"),
            None,
            "MultipleNegativesRankingLoss",
            "MultipleNegativesRankingLoss: the other texts of a batch serve as negatives; bigger "
            "batches help.",
            "MultipleNegativesSymmetricRankingLoss (symmetric pairs such as paraphrases); "
            "CachedMultipleNegativesRankingLoss (big batches, little memory)",
            "information-retrieval",
            "Retrieve each pair's second text among all of them: nDCG@10, MRR@10 on dev.",
        ),
        Task(
            "query-positive",
            "queries with a relevant text (answer, passage), no label",
            ("query", "answer"),
            None,
            "MultipleNegativesRankingLoss",
            "MultipleNegativesRankingLoss: the other answers of a batch serve as negatives; bigger "
            "batches help.",
            "CachedMultipleNegativesRankingLoss (big batches, little memory); GISTEmbedLoss (with a "
            "guide model)",
            "information-retrieval",
            "Retrieve each query's answer among all answers: nDCG@10, MRR@10 on dev.",
        ),
        Task(
            "triplets",
            "an anchor, a positive and a negative text, no label",
            ("anchor", "positive", "negative"),
            None,
            "MultipleNegativesRankingLoss",
            "MultipleNegativesRankingLoss uses the negative as a hard negative, plus the rest of the batch.",
            "TripletLoss (margin between positive and negative); CachedMultipleNegativesRankingLoss",
            "triplet",
            "How often the anchor is closer to its positive than to its negative on dev.",
        ),
        Task(
            "retrieval",
            "queries and their relevant documents: a BEIR folder, or candidates labelled 1/0",
            ("query", "positive", "negative"),
            None,
            "MultipleNegativesRankingLoss",
            "MultipleNegativesRankingLoss: each query's relevant document against every other "
            "document of the batch, and its hard negatives if it has any; bigger batches help.",
            "CachedMultipleNegativesRankingLoss (big batches, little memory); GISTEmbedLoss (a guide "
            "model drops in-batch false negatives)",
            "information-retrieval",
            "Search each dev query among the dev rows' documents: nDCG@10, MRR@10, Recall@10.",
        ),
    ]
}
RETRIEVAL = TASKS["retrieval"]


@dataclass
class Proposal:
    """A task, with the columns in loss order, the label, the loss and the evaluator."""

    task: Task
    inputs: list[str]
    label: Column | None = None
    loss: str = ""
    loss_why: str = ""
    evaluator: str = ""
    notes: list[str] = field(default_factory=list)
    """Comments on choices the data forced (ignored columns, a different loss)."""
    pairs_from_labels: dict[str, Any] | None = None
    """For candidates labelled 0/1: the recipe's `pairs_from_labels` (query, document, label columns)."""

    @property
    def label_range(self) -> list[float] | None:
        """Scores outside 0..1 are rescaled (CosineSimilarityLoss and friends need 0..1)."""
        label = self.label
        if label is None or label.kind != "score" or (label.low >= 0 and label.high <= 1):
            return None
        return [math.floor(min(label.low, 0)), math.ceil(label.high)]


def propose(inspection: Inspection, task_name: str | None = None) -> Proposal:
    """The task (given, or inferred from the column kinds), its columns in order, loss, evaluator."""
    texts = _in_loss_order(inspection.of_kind("text"))
    labels = _label_candidates(inspection)
    if task_name is not None:
        task = task_by_name(task_name)
        texts, labels = _texts_for(task, texts, labels)
    elif _labelled_candidates(texts, labels, inspection):
        task = RETRIEVAL
    elif labels:
        task = TASKS["pair-score" if labels[0].kind == "score" else "pair-class"]
    elif len(texts) >= 3:
        task = TASKS["triplets"]
    else:
        task = TASKS["query-positive" if any(_ASYMMETRIC.search(t.name) for t in texts) else "pairs"]
    if task is RETRIEVAL:
        return _retrieval_from_labels(inspection, texts, labels)

    needed = 3 if task.name == "triplets" else 2
    if len(texts) < needed:
        found = "; ".join(c.describe() for c in inspection.columns)
        raise SbftError(
            f"the {task.name} task needs {needed} text columns, and '{inspection.path.name}' has "
            f"{len(texts)} ({found})",
            where="data",
            fix="Check that the file has a header row with column names, or choose another --task "
            f"({', '.join(TASKS)}).",
        )
    used = texts if task.name == "triplets" else texts[:needed]  # extra negatives suit the loss
    proposal = Proposal(
        task, [c.name for c in used], loss=task.loss, loss_why=task.loss_why, evaluator=task.evaluator
    )
    ignored = [c.name for c in inspection.columns if c.name not in {u.name for u in used}]
    if task.label is not None:
        proposal.label = _pick_label(task, labels, inspection)
        ignored.remove(proposal.label.name)
    _fit_loss(proposal)
    if ignored:
        proposal.notes.append(f"Not used: {', '.join(ignored)}.")
    return proposal


def beir_proposal(task_name: str | None = None) -> Proposal:
    """A BEIR folder: (query, relevant document) rows, searched over the whole corpus."""
    if task_name is not None and task_by_name(task_name) is not RETRIEVAL:
        raise SbftError(
            f"a BEIR folder holds retrieval data, not the {task_name} task",
            where="task",
            fix="Leave the task out (or choose retrieval); for other tasks give a data file.",
        )
    return Proposal(
        RETRIEVAL, ["query", "document"], None, RETRIEVAL.loss, RETRIEVAL.loss_why, RETRIEVAL.evaluator
    )


def task_by_name(name: str) -> Task:
    if name not in TASKS:
        raise SbftError(f"unknown task '{name}'", where="task", fix=did_you_mean(name, TASKS))
    return TASKS[name]


def _texts_for(task: Task, texts: list[Column], labels: list[Column]) -> tuple[list[Column], list[Column]]:
    """A task the user chose wins over the guessed kinds: when it needs more text columns than
    were found, string columns read as class names (repeated questions) are its texts."""
    needed = 3 if task.name == "triplets" else 2
    spare = [c for c in labels if c.kind == "classes" and all(isinstance(v, str) for v in c.classes)]
    if len(texts) >= needed or not spare:
        return texts, labels
    taken = spare[: needed - len(texts)]
    as_text = [Column(c.name, "text", c.detail, distinct=len(c.classes)) for c in taken]
    return _in_loss_order(texts + as_text), [c for c in labels if c not in taken]


def _in_loss_order(texts: list[Column]) -> list[Column]:
    """anchor/query first, negatives last, everything else in between; ties keep the file's order."""

    def rank(column: Column) -> int:
        return 0 if FIRST_COLUMN.search(column.name) else 2 if _NEGATIVE.search(column.name) else 1

    return sorted(texts, key=rank)


def _label_candidates(inspection: Inspection) -> list[Column]:
    """Possible label columns, likeliest first: label-like names, then scores, 0/1, classes."""
    order = {"score": 0, "binary": 1, "classes": 2}
    candidates = inspection.of_kind(*order)
    return sorted(candidates, key=lambda c: (not _LABEL_NAME.search(c.name), order[c.kind]))


def _labelled_candidates(texts: list[Column], labels: list[Column], inspection: Inspection) -> bool:
    """Queries that repeat, each with several different candidates labelled 0/1 (WikiQA's shape)."""
    if len(texts) != 2 or not labels or labels[0].kind != "binary":
        return False
    query, candidate = sorted(texts, key=lambda c: c.distinct)
    return 2 * query.distinct <= inspection.rows and candidate.distinct > query.distinct


def _retrieval_from_labels(inspection: Inspection, texts: list[Column], labels: list[Column]) -> Proposal:
    """Label-1 candidates as (query, positive) rows, the query's label-0 candidates as hard negatives."""
    binary = [c for c in labels if c.kind == "binary"]
    if len(texts) != 2 or not binary:
        found = "; ".join(c.describe() for c in inspection.columns)
        raise SbftError(
            f"the retrieval task reads a BEIR folder, or a file of queries and candidates labelled 0/1; "
            f"'{inspection.path.name}' has {len(texts)} text column(s) and {len(binary)} 0/1 label ({found})",
            where="task",
            fix="For (query, answer) pairs without a label choose query-positive; for a BEIR folder "
            "give the folder.",
        )
    query, candidate = sorted(texts, key=lambda c: c.distinct)  # the query repeats: fewer distinct texts
    label = binary[0]
    proposal = Proposal(
        RETRIEVAL,
        ["query", "positive", "negative"],
        loss=RETRIEVAL.loss,
        loss_why=RETRIEVAL.loss_why,
        evaluator=RETRIEVAL.evaluator,
        pairs_from_labels={
            "query": query.name,
            "document": candidate.name,
            "label": label.name,
            "hard_negatives": 1,
        },
    )
    proposal.notes.append(
        f"Each {candidate.name} labelled 1 in {label.name} becomes a (query, positive) row; the "
        f"{candidate.name}s labelled 0 for the same {query.name} are its hard negatives."
    )
    ignored = [c.name for c in inspection.columns if c.name not in {query.name, candidate.name, label.name}]
    if ignored:
        proposal.notes.append(f"Not used: {', '.join(ignored)}.")
    return proposal


def _pick_label(task: Task, labels: list[Column], inspection: Inspection) -> Column:
    kinds = ("score", "binary", "classes") if task.name == "pair-score" else ("binary", "classes")
    fitting = [c for c in labels if c.kind in kinds and (task.name != "pair-score" or c.low is not None)]
    if not fitting:
        found = "; ".join(c.describe() for c in inspection.columns)
        wanted = "a numeric score" if task.name == "pair-score" else "a class label (0/1, or a few classes)"
        raise SbftError(
            f"the {task.name} task needs {wanted} column, and none was found ({found})",
            where="data",
            fix=f"Choose another --task ({', '.join(TASKS)}).",
        )
    return fitting[0]


def _fit_loss(proposal: Proposal) -> None:
    """Adjust the task's default loss to what the data holds."""
    label = proposal.label
    if proposal.task.name == "pair-class" and label is not None and label.kind == "classes":
        proposal.loss, proposal.evaluator = "SoftmaxLoss", "none"
        proposal.loss_why = "SoftmaxLoss classifies each pair into one of its classes."
        proposal.notes.append(
            f"'{label.name}' holds {label.detail}, so SoftmaxLoss: the contrastive losses need 0/1 "
            "labels that mean 'similar or not'. No evaluator scores multi-class pairs: the dev loss "
            "is logged."
        )
    if proposal.task.name == "triplets" and len(proposal.inputs) > 3:
        proposal.notes.append("Every column after the positive is a hard negative for the loss.")
