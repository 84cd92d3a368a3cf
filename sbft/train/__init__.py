"""`sbft train`: the pipeline (pipeline.py: checks, smoke run, the run's stages in order), its
stages (stages.py), the trainer callbacks (callbacks.py) and the closing lines (summary.py)."""

from sbft.train.callbacks import GracefulStop
from sbft.train.pipeline import RunResult, resume_recipe, smoke, train
from sbft.train.stages import is_main_process

__all__ = ["GracefulStop", "RunResult", "is_main_process", "resume_recipe", "smoke", "train"]
