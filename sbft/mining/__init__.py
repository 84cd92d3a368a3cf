"""Hard-negative mining with sentence-transformers' `mine_hard_negatives`, for `sbft mine` and
recipes' `negatives.mine`.

negatives: the mining and its statistics; files: `sbft mine`'s input and output files; run: a
recipe's datasets mined before training, the rows kept in the run folder's mined/ for --resume.
"""

from sbft.mining.files import mine_file, read_corpus, read_pairs
from sbft.mining.negatives import MiningStats, mine_negatives
from sbft.mining.run import mine_datasets, summary

__all__ = [
    "MiningStats",
    "mine_datasets",
    "mine_file",
    "mine_negatives",
    "read_corpus",
    "read_pairs",
    "summary",
]
