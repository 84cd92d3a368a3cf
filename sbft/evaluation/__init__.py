"""Evaluation: the evaluator that fits each dataset (used by training), and `sbft eval`'s scoring."""

from sbft.evaluation.evaluators import build_evaluator, check_metric_name, evaluate, evaluator_kind

__all__ = ["build_evaluator", "check_metric_name", "evaluate", "evaluator_kind"]
