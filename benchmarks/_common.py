"""Small helpers shared by the benchmark figures: statistics, GC control, no-op exporter."""

from __future__ import annotations

import gc
import statistics
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class NoopExporter(SpanExporter):
    """The baseline's exporter: accepts every batch and does nothing but count it."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@contextmanager
def gc_paused() -> Iterator[None]:
    """Collect first, then keep the cyclic GC off while timing (as ``timeit`` does).

    Both sides of every comparison are timed this way, so a collection that happens to land in one
    side's loop does not decide a ratio. Reference counting still frees memory as usual.
    """
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of an already sorted sequence."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return float(sorted_values[rank - 1])


def ratio_summary(ratios: Sequence[float]) -> dict[str, Any]:
    """Median ratio plus its spread over the rounds, so a noisy run is visible as such."""
    return {
        "median": median(ratios),
        "min": min(ratios),
        "max": max(ratios),
        "rounds": [round(r, 4) for r in ratios],
    }


def interleaved(rounds: int) -> Iterator[tuple[int, bool]]:
    """Yield ``(round, baseline_first)``: the order alternates so drift hits both sides evenly."""
    for index in range(rounds):
        yield index, index % 2 == 0
