"""GET /metrics: counters, gauges and histograms in Prometheus's text format, written here.

The exposition format is a few lines per metric; prometheus_client would be a dependency for
that. Updates come from the event loop and from the worker thread, so one lock guards them.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from collections.abc import Callable

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
TOKEN_BUCKETS = (64, 256, 1024, 4096, 16384, 65536)


class Histogram:
    """Observations counted in cumulative buckets, with their sum and count (one label set each)."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts: dict[tuple[tuple[str, str], ...], list[float]] = {}

    def observe(self, value: float, labels: tuple[tuple[str, str], ...] = ()) -> None:
        counts = self.counts.setdefault(labels, [0.0] * (len(self.buckets) + 2))  # buckets, +Inf, sum
        counts[bisect.bisect_left(self.buckets, value)] += 1
        counts[-1] += value

    def lines(self, name: str) -> list[str]:
        lines = []
        for labels, counts in sorted(self.counts.items()):
            running = 0.0
            for bound, count in zip((*self.buckets, "+Inf"), counts[:-1], strict=True):
                running += count
                lines.append(f"{name}_bucket{_labels((*labels, ('le', str(bound))))} {running:g}")
            lines.append(f"{name}_sum{_labels(labels)} {counts[-1]:.6g}")
            lines.append(f"{name}_count{_labels(labels)} {running:g}")
        return lines


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{value}"' for key, value in labels) + "}"


class Metrics:
    """What /metrics reports: requests and errors by endpoint and status, latency, batch sizes, queue."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[tuple[str, str], ...]] = Counter()
        self.latency = Histogram(LATENCY_BUCKETS)
        self.batch_requests = Histogram(SIZE_BUCKETS)
        self.batch_texts = Histogram(SIZE_BUCKETS)
        self.batch_tokens = Histogram(TOKEN_BUCKETS)
        self.in_flight = 0
        self.queue_depth: Callable[[], int] = lambda: 0

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(("endpoint", endpoint), ("status", str(status)))] += 1
            self.latency.observe(seconds, (("endpoint", endpoint),))

    def batch(self, requests: int, texts: int, tokens: int) -> None:
        """One encode call of the worker: how many requests, texts and tokens it gathered."""
        with self._lock:
            self.batch_requests.observe(requests)
            self.batch_texts.observe(texts)
            self.batch_tokens.observe(tokens)

    def text(self) -> str:
        """The exposition: one # HELP and # TYPE line per metric, then its samples."""
        with self._lock:
            errors: Counter[tuple[tuple[str, str], ...]] = Counter()
            for labels, count in self.requests.items():
                if int(labels[1][1]) >= 400:
                    errors[labels] += count
            out: list[str] = []
            _counter(
                out, "sbft_requests_total", "Requests answered, by endpoint and HTTP status.", self.requests
            )
            _counter(out, "sbft_request_errors_total", "Requests answered with a 4xx or 5xx status.", errors)
            out += _header("sbft_request_duration_seconds", "histogram", "Seconds from request to answer.")
            out += self.latency.lines("sbft_request_duration_seconds")
            for name, help_text, histogram in (
                ("sbft_batch_requests", "Requests gathered into one encode call.", self.batch_requests),
                ("sbft_batch_texts", "Texts in one encode call.", self.batch_texts),
                ("sbft_batch_tokens", "Tokens (special tokens in) in one encode call.", self.batch_tokens),
            ):
                out += _header(name, "histogram", help_text) + histogram.lines(name)
            out += _header("sbft_queue_depth", "gauge", "Requests waiting for the model.")
            out.append(f"sbft_queue_depth {self.queue_depth()}")
            out += _header("sbft_requests_in_flight", "gauge", "Requests being handled now.")
            out.append(f"sbft_requests_in_flight {self.in_flight}")
        return "\n".join(out) + "\n"


def _header(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def _counter(out: list[str], name: str, help_text: str, counts: Counter) -> None:
    out += _header(name, "counter", help_text)
    out += [f"{name}{_labels(labels)} {count}" for labels, count in sorted(counts.items())]
