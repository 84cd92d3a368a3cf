"""Serving throughput (issue 22, item 4): requests/s and latency of `sbft serve` under a bounded load.

    python scripts/bench_serve.py                                   # ~4 min on 2 cores
    python scripts/bench_serve.py --seconds 1 --backends torch --out /tmp/x   # a check of the script

For each backend (torch, onnx-int8) and each mode (batching on, --no-batching) one server runs
the packaged all-MiniLM-L6-v2 on 127.0.0.1; after a warm-up, 1, 4 and 16 concurrent clients (one
asyncio task each, on its own keep-alive connection: a minimal HTTP/1.1 client over asyncio
streams, cheaper than httpx on the server's cores) each send POST /v1/embeddings
with one STSb sentence, one request after the other, for --seconds; every configuration stops
by itself. Reported: requests/s, p50 and p99 latency, errors, and the requests the server gathered
per encode call (from its /metrics). The clients run on the same machine as the server and take
some of its CPU: the numbers are loopback numbers, for comparing modes on one box.

Writes benchmarks/serve.json (machine, settings, one record per configuration) and
benchmarks/serve.md (a table, the batching speed-up at 16 clients, the machine and its load).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))

from bench import REPO, STSB_DIR, environment, machine, machine_line, stsb_sentences  # noqa: E402

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx-int8")
CLIENTS = (1, 4, 16)
WARMUP_REQUESTS = 20
READY_S = 600
"""A first onnx-int8 start exports and quantizes the model (minutes on a busy machine)."""


def start_server(model: str, backend: str, batching: bool, threads: int) -> tuple[subprocess.Popen, str]:
    """`sbft serve` on a free port; its URL once it prints that it is ready."""
    command = [sys.executable, "-m", "sbft", "serve", model, "--port", "0", "--backend", backend]
    command += ["--threads", str(threads)]
    env = environment()
    process = subprocess.Popen(
        command + ([] if batching else ["--no-batching"]),
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()
    for line in process.stderr:
        match = re.search(r" on (http://\S+) ", line)
        if match:  # from now on the pipe is drained, so the server never blocks on a full one
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return process, match.group(1)
        print(f"  server: {line.rstrip()}", file=sys.stderr)
        if time.monotonic() - started > READY_S:
            break
    process.kill()
    raise SystemExit(f"sbft serve {backend} did not start")


def batch_counts(url: str) -> tuple[float, float]:
    """(requests gathered, encode calls) so far, from the server's /metrics."""
    import httpx

    text = httpx.get(url + "/metrics", timeout=30).text
    found = dict(re.findall(r"^sbft_batch_requests_(sum|count) (\S+)$", text, re.M))
    return float(found.get("sum", 0)), float(found.get("count", 0))


class Connection:
    """One keep-alive HTTP/1.1 connection over asyncio streams: a few bytes written and read per
    request, so the load clients, on the server's own cores, take less of its CPU than httpx would."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, url: str) -> Connection:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer, host)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line, *headers = (await self.reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        length = next(
            int(line.split(":")[1]) for line in headers if line.lower().startswith("content-length")
        )
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def load(url: str, clients: int, texts: list[str], seconds: float) -> dict[str, Any]:
    """`clients` loops of one-text requests for `seconds`; latencies of the answered ones."""
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    bodies = [json.dumps({"input": text}).encode() for text in texts]

    async def client(number: int, connection: Connection) -> None:
        nonlocal errors
        sent = number
        while time.perf_counter() < stop:
            body = bodies[sent % len(bodies)]
            sent += clients
            began = time.perf_counter()
            status, answer = await connection.post("/v1/embeddings", body)
            if status == 200 and answer.startswith(b'{"object": "list"'):
                latencies.append(time.perf_counter() - began)
            else:
                errors += 1

    connections = [await Connection.open(url) for _ in range(clients)]
    began = time.perf_counter()
    await asyncio.gather(*(client(number, connection) for number, connection in enumerate(connections)))
    elapsed = time.perf_counter() - began
    for connection in connections:
        connection.close()
    latencies.sort()

    def quantile(q: float) -> float | None:
        if not latencies:
            return None
        return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2)

    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": quantile(0.5),
        "p99_ms": quantile(0.99),
    }


def measure_server(model: str, backend: str, batching: bool, texts: list[str], args: Any) -> list[dict]:
    """One server, warmed up, then each client count in turn."""
    process, url = start_server(model, backend, batching, args.threads)
    records = []
    try:
        asyncio.run(load(url, 4, texts[:WARMUP_REQUESTS], 1.0))
        for clients in args.clients:
            before = batch_counts(url)
            record = asyncio.run(load(url, clients, texts, args.seconds))
            after = batch_counts(url)
            calls = after[1] - before[1]
            record.update(
                backend=backend,
                batching=batching,
                clients=clients,
                requests_per_encode_call=round((after[0] - before[0]) / calls, 2) if calls else None,
                load_average=[round(value, 2) for value in os.getloadavg()],
            )
            records.append(record)
            print(json.dumps(record), file=sys.stderr)
    finally:
        process.terminate()
        process.wait(timeout=120)
    return records


def speedups(records: list[dict]) -> dict[str, float | None]:
    """Per backend: requests/s with batching over requests/s without, at the most clients."""
    most = max(record["clients"] for record in records)
    found: dict[str, float | None] = {}
    for backend in dict.fromkeys(record["backend"] for record in records):
        rate = {
            record["batching"]: record["requests_per_s"]
            for record in records
            if record["backend"] == backend and record["clients"] == most
        }
        found[backend] = round(rate[True] / rate[False], 2) if rate.get(False) and True in rate else None
    return found


def markdown(records: list[dict], about: dict[str, Any], settings: dict[str, Any]) -> str:
    most = max(record["clients"] for record in records)
    lines = [
        "# sbft serve: requests/s under a loopback load",
        "",
        f"all-MiniLM-L6-v2 (packaged), one STSb sentence per POST /v1/embeddings, {settings['seconds']} s "
        f"per configuration after a warm-up; clients send one request after the other; the server runs "
        f"`--threads {settings['server_threads']}`. "
        "`requests/call`: requests the server gathered into one encode call (from /metrics).",
        "",
        "| backend | batching | clients | requests/s | p50 ms | p99 ms | errors | requests/call | load avg |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in records:
        load = " ".join(f"{value:.1f}" for value in r["load_average"])
        lines.append(
            f"| {r['backend']} | {'on' if r['batching'] else 'off'} | {r['clients']} | "
            f"{r['requests_per_s']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} | "
            f"{r['requests_per_encode_call']} | {load} |"
        )
    lines += ["", f"Batching on / off at {most} clients (requests/s):"]
    lines += [f"- {backend}: {ratio}x" for backend, ratio in speedups(records).items()]
    lines += [
        "",
        machine_line(about),
        "",
        "The machine is shared: other jobs ran beside this benchmark (the load averages above, taken "
        "after each configuration; it ran under `nice -n 19`), and the load clients run on the same "
        "cores as the server. Compare rows with each other, not with other machines. The server runs one "
        "thread: on this loaded 2-core box torch's two threads wait on each other (the tiny test BERT's "
        "one-text forward pass took 164 ms at p50 with 2 threads, 1.9 ms with 1, at load average 5).",
        "",
        "Not compared: infinity-emb 0.0.78 downloads, but requires sentence-transformers < 4, numpy < 2 "
        "and typer < 0.13 (sbft has sentence-transformers 6, transformers 5), so it cannot share this "
        "environment, and a separate one would pull its own torch build; TEI ships as a Rust binary or a "
        "container image, not a Python package (PyPI has only a client). No published CPU figure of "
        "either for this model and machine is known to us, so none is put beside ours.",
        "",
        "Written by `python scripts/bench_serve.py`; the records are in serve.json.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--clients", default=",".join(map(str, CLIENTS)))
    parser.add_argument("--seconds", type=float, default=6.0, help="per configuration")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="the server's (default 1: the load clients need the other core of a 2-core machine)",
    )
    parser.add_argument("--texts", type=int, default=2000, help="STSb sentences cycled through")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks")
    args = parser.parse_args(argv)
    args.clients = [int(count) for count in args.clients.split(",")]
    texts = stsb_sentences(STSB_DIR, args.texts) if STSB_DIR.is_dir() else [f"text {i}" for i in range(100)]
    about = machine()
    records: list[dict] = []
    for backend in args.backends.split(","):
        for batching in (True, False):
            records += measure_server(args.model, backend, batching, texts, args)
    settings = {
        "model": args.model,
        "seconds": args.seconds,
        "clients": args.clients,
        "texts": len(texts),
        "server_threads": args.threads,
    }
    about["load_average_at_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"machine": about, "settings": settings, "speedup_at_most_clients": speedups(records)}
    (args.out / "serve.json").write_text(json.dumps({**result, "records": records}, indent=2) + "\n")
    (args.out / "serve.md").write_text(markdown(records, about, settings))
    print(f"wrote {args.out / 'serve.json'} and {args.out / 'serve.md'}", file=sys.stderr)
    return 0 if all(record["errors"] == 0 for record in records) else 1


if __name__ == "__main__":
    sys.exit(main())
