"""Imported once by the forkserver that forks each trial (sbft.tune.trial): torch, transformers and
sentence-transformers are then loaded in every trial's process from the start (seconds saved a trial)."""

import sentence_transformers  # noqa: F401
import torch  # noqa: F401
import transformers  # noqa: F401

import sbft.train  # noqa: F401
