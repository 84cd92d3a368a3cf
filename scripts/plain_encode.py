"""The hand-written sentence-transformers encode that `sbft encode` is timed against.

    python scripts/plain_encode.py MODEL_FOLDER texts.txt out.npy --batch-size 32   # prints JSON

Load the model, read one text per line, model.encode, np.save; prints the load and encode
times as one JSON line.
"""

import argparse
import json
import time

started = time.perf_counter()
import numpy as np  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("model")
parser.add_argument("texts")
parser.add_argument("output")
parser.add_argument("--batch-size", type=int, default=32)
args = parser.parse_args()

model = SentenceTransformer(args.model)
with open(args.texts, encoding="utf-8") as file:
    texts = file.read().split("\n")[:-1]
loaded = time.perf_counter()
embeddings = model.encode(texts, batch_size=args.batch_size)
encoded = time.perf_counter()
np.save(args.output, embeddings)
print(json.dumps({"texts": len(texts), "load_s": loaded - started, "encode_s": encoded - loaded}))
