"""`sbft tune`: hyperparameter search over a recipe's `tune:` space with optuna, resumable, each
trial a `sbft train` run in its own process, chosen on dev only (see sbft.tune.run)."""

from sbft.tune.run import TuneResult, tune

__all__ = ["TuneResult", "tune"]
