"""`sbft encode --shard i/N` and `--devices`: one corpus split across jobs, machines or GPUs.

Shard i of N is a contiguous range of input rows. Its boundaries fall on multiples of the
encode window (WINDOW rows), so every window, and so every batch, is the one a single run
encodes: the shards concatenate to exactly the unsharded output, byte for byte (jsonl with
`cat`, .npy as one array or as a folder for `sbft search --corpus-embeddings`). Windows are
dealt evenly, so with fewer windows than shards some shards are empty (and still valid).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sbft.errors import SbftError

_SHARD = re.compile(r"\s*(-?\d+)\s*/\s*(-?\d+)\s*")


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def rows(self, total: int, window: int) -> tuple[int, int]:
        """[start, stop) of this shard among `total` rows, cut at multiples of `window`."""
        windows = -(-total // window)
        first = -(-self.index * windows // self.count)  # rounded up: the first shards get the rest
        last = -(-(self.index + 1) * windows // self.count)
        return min(total, first * window), min(total, last * window)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str | None) -> Shard | None:
    """'i/N' -> Shard(i, N): N >= 1 and 0 <= i < N (shards are numbered from 0)."""
    if text is None:
        return None
    match = _SHARD.fullmatch(text)
    fix = "Write it as i/N, with N shards numbered 0 to N-1: --shard 0/4 ... --shard 3/4."
    if match is None:
        raise SbftError(f"'{text}' is not two whole numbers i/N", where="shard", fix=fix)
    index, count = int(match[1]), int(match[2])
    if count < 1:
        raise SbftError(f"'{text}' asks for {count} shards; there must be at least 1", where="shard", fix=fix)
    if not 0 <= index < count:
        last = f"the last of {count} is {count - 1}/{count}"
        raise SbftError(
            f"'{text}': shard {index} does not exist, shards are numbered from 0 ({last})",
            where="shard",
            fix=fix,
        )
    return Shard(index, count)


def parse_devices(text: str | None) -> list[str] | None:
    """'cuda:0,cuda:1' -> the devices of sentence-transformers' multi-process pool, each checked."""
    if text is None:
        return None
    from sbft.inference.loading import check_device

    devices = [device.strip() for device in text.split(",")]
    if not all(devices):
        raise SbftError(
            f"'{text}' has an empty device name",
            where="devices",
            fix="List devices with commas: cuda:0,cuda:1.",
        )
    for device in devices:
        try:
            check_device(device)
        except SbftError as error:
            fix = "Name devices this machine has: cpu, or cuda:N where CUDA is available."
            raise SbftError(error.what, where="devices", fix=fix) from None
    return devices
