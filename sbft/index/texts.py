"""The texts of an index and their ids, readable by row without loading them all.

texts.jsonl holds one {"id": row, "text": ...} per line, in corpus order (readable with any JSON
Lines tool); offsets.npy holds the byte offset of every line and the file's end (int64, rows + 1),
so a hit's text is one seek and one read, whatever the corpus size. Ids are 0-based corpus rows,
as `sbft search` reports them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from sbft.files import atomic_file, atomic_path

if TYPE_CHECKING:
    import numpy as np


def write_texts(texts: Iterable[str], folder: Path, texts_name: str, offsets_name: str) -> int:
    """Write texts.jsonl and offsets.npy (each atomically); returns the row count."""
    import numpy as np

    offsets = [0]
    with atomic_file(folder / texts_name) as stream:
        for row, text in enumerate(texts):
            line = json.dumps({"id": row, "text": text}, ensure_ascii=False).encode("utf-8") + b"\n"
            stream.write(line)
            offsets.append(offsets[-1] + len(line))
    with atomic_path(folder / offsets_name) as partial, open(partial, "wb") as stream:
        np.save(stream, np.asarray(offsets, dtype=np.int64))
    return len(offsets) - 1


class TextStore:
    """Reads rows of texts.jsonl through offsets.npy (memory-mapped)."""

    def __init__(self, folder: Path, texts_name: str, offsets_name: str, rows: int) -> None:
        import numpy as np

        self.path = folder / texts_name
        self.offsets: np.ndarray = np.load(folder / offsets_name, mmap_mode="r")
        if self.offsets.shape != (rows + 1,) or self.offsets.dtype != np.int64:
            raise ValueError(f"{offsets_name} holds {self.offsets.shape} {self.offsets.dtype} offsets")

    def texts(self, rows: Iterable[int]) -> list[str]:
        """The texts of `rows`, in the order given."""
        result = []
        with open(self.path, "rb") as stream:
            for row in rows:
                begin, end = int(self.offsets[row]), int(self.offsets[row + 1])
                stream.seek(begin)
                result.append(json.loads(stream.read(end - begin))["text"])
        return result
