"""Column-name heuristics shared by `sbft check` (warnings) and `sbft init` (column order, IDs).

Which names usually come first in a loss's inputs (anchor, query...), which come later (positive,
answer...), and which names or values mark an identifier rather than text or a label.
"""

from __future__ import annotations

import re

FIRST_COLUMN = re.compile(r"anchor|query|question|premise|sentence1|text1|^a$", re.I)
LATER_COLUMN = re.compile(r"positive|answer|document|passage|hypothesis|negative|sentence2|text2|^b$", re.I)
ID_NAME = re.compile(r"(^|_)(id|idx|index|uuid|key)$", re.I)
ID_VALUE = re.compile(r"^[0-9a-f-]{1,40}$", re.I)
