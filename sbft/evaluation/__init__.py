"""Evaluation: the evaluator that fits each dataset (used by training), and `sbft eval`'s scoring."""

from sbft.evaluation.evaluators import build_evaluator, evaluate, evaluator_kind

__all__ = ["build_evaluator", "evaluate", "evaluator_kind"]
