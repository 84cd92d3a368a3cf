"""One training step's memory on CPU, measured: what sbft.memory's estimate is calibrated against.

    python scripts/measure_step_memory.py MODEL --lengths 20,256,60 [--batch 32] [--mini-batch 8]

Loads MODEL, then runs one MultipleNegativesRankingLoss step (forward, backward, AdamW) on a batch
of `--batch` rows whose columns hold exactly the given token lengths (one number per column), and
prints one JSON line: the peak resident memory of the process during the step above what it held
just before (sampled every 2 ms from /proc/self/statm), in MB. With --mini-batch, the step is
CachedMultipleNegativesRankingLoss's with that mini_batch_size.
"""

import argparse
import json
import os
import threading
import time

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer import losses

parser = argparse.ArgumentParser()
parser.add_argument("model")
parser.add_argument("--lengths", required=True, help="tokens per column, e.g. 20,256,60")
parser.add_argument("--batch", type=int, default=32)
parser.add_argument("--mini-batch", type=int)
args = parser.parse_args()

torch.manual_seed(0)
model = SentenceTransformer(args.model, device="cpu")
lengths = [int(n) for n in args.lengths.split(",")]
model.max_seq_length = max(model.max_seq_length, *lengths)
vocab = model.tokenizer.vocab_size


def features(length: int) -> dict[str, torch.Tensor]:
    """A batch of `length`-token rows (random ids between [CLS] and [SEP]): nothing padded."""
    ids = torch.randint(1000, vocab, (args.batch, length))
    ids[:, 0], ids[:, -1] = model.tokenizer.cls_token_id, model.tokenizer.sep_token_id
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}


if args.mini_batch:
    loss = losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=args.mini_batch)
else:
    loss = losses.MultipleNegativesRankingLoss(model)
optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
model.train()
batch = [features(length) for length in lengths]
# A first short step allocates the optimizer's state and warms the allocator, so that the measured
# step's peak above the baseline is the activations (and their gradients) alone.
loss([features(8) for _ in lengths], None).backward()
optimizer.step()
optimizer.zero_grad()


def rss_mb() -> float:
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def watch(stop: threading.Event, found: list[float]) -> None:
    while not stop.is_set():
        found[0] = max(found[0], rss_mb())
        stop.wait(0.002)


before = rss_mb()
found, stop = [before], threading.Event()
watcher = threading.Thread(target=watch, args=(stop, found))
watcher.start()
started = time.perf_counter()
loss(batch, None).backward()
optimizer.step()
stop.set()
watcher.join()
peak = found[0]
print(
    json.dumps(
        {
            "lengths": lengths,
            "batch": args.batch,
            "mini_batch": args.mini_batch,
            "attention": model[0].auto_model.config._attn_implementation,
            "step_peak_mb": round(peak - before),
            "before_mb": round(before),
            "step_s": round(time.perf_counter() - started, 1),
        }
    )
)
