"""Column-name heuristics shared by `sbft check` (warnings) and `sbft init` (column order, IDs).

Which names usually come first in a loss's inputs (anchor, query...), which come later (positive,
answer...), and which names or values mark an identifier rather than text or a label.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

FIRST_COLUMN = re.compile(r"anchor|query|question|premise|sentence1|text1|^a$", re.I)
LATER_COLUMN = re.compile(r"positive|answer|document|passage|hypothesis|negative|sentence2|text2|^b$", re.I)
ID_NAME = re.compile(r"(?i:(^|[_\W])(id|ids|idx|index|uuid|key)$)|[a-z](ID|Id|IDs|Ids|Idx)$")
"""id, row_idx, doc-id, and camel case: QuestionID, sentenceId (not 'paid' or 'valid')."""
ID_VALUE = re.compile(r"^([0-9a-f-]{1,40}|[a-z]{1,4}[-_]?[0-9]{1,12})$", re.I)
"""Numbers, hex digests and UUIDs; short codes such as Q17, S2041, doc_3."""
_SAMPLE = 200


def looks_like_ids(name: str, values: Sequence[str]) -> bool:
    """An identifier column: an ID-like name, ID-like values, or single tokens with digits, unique per row.

    Such columns are never text for a model: 'Q123' says nothing about question 123.
    """
    if ID_NAME.search(name):
        return True
    sample = [value.strip() for value in values[:_SAMPLE]]
    if not sample:
        return False
    if all(ID_VALUE.match(value) for value in sample):
        return True
    codes = all(
        value and not any(c.isspace() for c in value) and any(c.isdigit() for c in value) for value in sample
    )
    return codes and len(set(sample)) >= 0.9 * len(sample)
