"""Figures 1 and 2: what ``span.end()`` costs the application's thread.

Baseline: a ``TracerProvider`` with the SDK's ``BatchSpanProcessor`` over an exporter that does
nothing. Candidate: a ``TracerProvider`` with ``LLMCostSpanProcessor``. Spans are started before the
clock runs; only the ``end()`` calls are timed. Two timings per side and round:

* a batch loop over ``n`` spans (``ns/op`` and the ratio come from this one: no timer per call), and
* a per-call loop over another ``n`` spans, each ``end()`` between two ``perf_counter_ns`` calls
  (p50/p99; these include the timer's own cost, equally on both sides).

Variant ``isolated``: queues of 1,000,000, batch size = queue size and a one-hour schedule delay,
so no worker thread runs while the clock runs: this is ``on_end`` alone. Both sides' spans are
started first and ended in alternating chunks of 500 (A B B A ...), so noise lands on both sides.
Variant ``defaults``: both
processors as constructed with no arguments, ended in bursts small enough for the SDK's default
2048-span queue; their worker threads wake up during the burst (the LLM worker prices and writes to
DuckDB) and compete with the application thread for the GIL, as they would in production.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import NoopExporter, gc_paused, interleaved, median, percentile, ratio_summary
from _workload import RESOURCE
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_llm_cost import LLMCostSpanProcessor

_BIG = 1_000_000
_HOUR_MS = 3_600_000
# The SDK's BatchSpanProcessor holds 2048 spans by default: a burst never overflows it.
DEFAULTS_BURST = 2000
# The isolated variant alternates sides every this many spans.
_CHUNK = 500


class _Side:
    """One TracerProvider with one processor, and how to drain it between timed loops."""

    def __init__(self, name: str, provider: TracerProvider, drain: Callable[[], None]) -> None:
        self.name = name
        self.provider = provider
        self.tracer = provider.get_tracer("otel-llm-cost-bench")
        self.drain = drain
        self.ended = 0

    def start(self, count: int, span_name: str, attributes: list[dict[str, Any]]) -> list[Any]:
        start_span = self.tracer.start_span
        pool = len(attributes)
        return [start_span(span_name, attributes=attributes[index % pool]) for index in range(count)]

    def end_all(self, spans: list[Any]) -> int:
        """Total ns to end every span, timed as one loop (the caller pauses the GC)."""
        start = time.perf_counter_ns()
        for span in spans:
            span.end()
        elapsed = time.perf_counter_ns() - start
        self.ended += len(spans)
        return elapsed

    def end_each(self, spans: list[Any], latencies: list[int]) -> None:
        """Append the ns of each ``end()`` call to ``latencies`` (the caller pauses the GC)."""
        clock = time.perf_counter_ns
        append = latencies.append
        for span in spans:
            before = clock()
            span.end()
            append(clock() - before)
        self.ended += len(spans)


def _sides(variant: str, db_dir: Path) -> tuple[_Side, _Side, NoopExporter, LLMCostSpanProcessor]:
    exporter = NoopExporter()
    if variant == "isolated":
        batch = BatchSpanProcessor(
            exporter, max_queue_size=_BIG, max_export_batch_size=_BIG, schedule_delay_millis=_HOUR_MS
        )
        cost = LLMCostSpanProcessor(
            db_path=db_dir / f"span-end-{variant}.duckdb",
            max_queue_size=_BIG,
            max_batch_size=_BIG,
            schedule_delay_millis=_HOUR_MS,
            flush_at_exit=False,
        )
    elif variant == "defaults":
        batch = BatchSpanProcessor(exporter)
        cost = LLMCostSpanProcessor(db_path=db_dir / f"span-end-{variant}.duckdb", flush_at_exit=False)
    else:
        raise ValueError(variant)
    baseline_provider = TracerProvider(resource=RESOURCE)
    baseline_provider.add_span_processor(batch)
    candidate_provider = TracerProvider(resource=RESOURCE)
    candidate_provider.add_span_processor(cost)
    baseline = _Side("baseline", baseline_provider, lambda: _flush(batch.force_flush()))
    candidate = _Side("candidate", candidate_provider, lambda: _flush(cost.force_flush(120_000)))
    return baseline, candidate, exporter, cost


def _flush(ok: bool | None) -> None:
    if ok is False:
        raise RuntimeError("force_flush failed while draining between timed loops")


def _isolated_round(
    order: tuple[_Side, _Side], count: int, span_name: str, attributes: list[dict[str, Any]]
) -> tuple[dict[str, int], dict[str, list[int]]]:
    """Both sides' spans are started first; then chunks of each are ended in turn, A B B A A B...

    No worker runs (nothing wakes it), so fine-grained alternation is fair, and a burst of noise
    from a neighbour lands on both sides instead of deciding the round.
    """
    total_ns = {side.name: 0 for side in order}
    latencies: dict[str, list[int]] = {side.name: [] for side in order}
    timed = {side.name: side.start(count, span_name, attributes) for side in order}
    per_call = {side.name: side.start(count, span_name, attributes) for side in order}
    with gc_paused():
        for chunk_index, offset in enumerate(range(0, count, _CHUNK)):
            for side in order if chunk_index % 2 == 0 else order[::-1]:
                total_ns[side.name] += side.end_all(timed[side.name][offset : offset + _CHUNK])
        for chunk_index, offset in enumerate(range(0, count, _CHUNK)):
            for side in order if chunk_index % 2 == 0 else order[::-1]:
                side.end_each(per_call[side.name][offset : offset + _CHUNK], latencies[side.name])
    for side in order:
        side.drain()
    return total_ns, latencies


def _defaults_round(
    order: tuple[_Side, _Side], count: int, burst: int, span_name: str, attributes: list[dict[str, Any]]
) -> tuple[dict[str, int], dict[str, list[int]]]:
    """Each side ends a burst, then is drained (untimed), so its worker's activity is its own."""
    total_ns = {side.name: 0 for side in order}
    latencies: dict[str, list[int]] = {side.name: [] for side in order}
    done = 0
    while done < count:
        size = min(burst, count - done)
        for side in order:
            spans = side.start(size, span_name, attributes)
            with gc_paused():
                total_ns[side.name] += side.end_all(spans)
            side.drain()
            spans = side.start(size, span_name, attributes)
            with gc_paused():
                side.end_each(spans, latencies[side.name])
            side.drain()
        done += size
    return total_ns, latencies


def run(
    *,
    span_name: str,
    attributes: list[dict[str, Any]],
    variant: str,
    spans_per_round: int,
    rounds: int,
    db_dir: Path,
    expect_stored: bool,
) -> dict[str, Any]:
    """Median ns/op of each side, the median of the per-round ratios, and per-call p50/p99."""
    baseline, candidate, exporter, cost = _sides(variant, db_dir)
    burst = spans_per_round if variant == "isolated" else min(spans_per_round, DEFAULTS_BURST)
    try:
        # Warm-up (imports, caches, the DuckDB file and the pricer), untimed.
        for side in (baseline, candidate):
            with gc_paused():
                side.end_all(side.start(min(burst, 500), span_name, attributes))
            side.drain()

        ns_per_op: dict[str, list[float]] = {"baseline": [], "candidate": []}
        p50: dict[str, list[float]] = {"baseline": [], "candidate": []}
        p99: dict[str, list[float]] = {"baseline": [], "candidate": []}
        ratios: list[float] = []
        for _, baseline_first in interleaved(rounds):
            order = (baseline, candidate) if baseline_first else (candidate, baseline)
            if variant == "isolated":
                total_ns, latencies = _isolated_round(order, spans_per_round, span_name, attributes)
            else:
                total_ns, latencies = _defaults_round(order, spans_per_round, burst, span_name, attributes)
            for name in ("baseline", "candidate"):
                ns_per_op[name].append(total_ns[name] / spans_per_round)
                ordered = sorted(latencies[name])
                p50[name].append(percentile(ordered, 50))
                p99[name].append(percentile(ordered, 99))
            ratios.append(total_ns["candidate"] / total_ns["baseline"])

        stats = cost.stats()
    finally:
        baseline.provider.shutdown()
        candidate.provider.shutdown()

    result: dict[str, Any] = {
        "variant": variant,
        "spans_per_round": spans_per_round,
        "burst": burst,
        "rounds": rounds,
        "baseline_ns_per_op": median(ns_per_op["baseline"]),
        "candidate_ns_per_op": median(ns_per_op["candidate"]),
        "ratio": ratio_summary(ratios),
    }
    # Percentiles are taken per round (one noisy round cannot own the p99), then the median round.
    for name in ("baseline", "candidate"):
        result[f"{name}_p50_ns"] = median(p50[name])
        result[f"{name}_p99_ns"] = median(p99[name])
    # Nothing may be lost while measuring, or the figure would flatter whoever dropped.
    result["baseline_dropped"] = baseline.ended - exporter.exported
    result["candidate_dropped"] = stats.dropped
    result["candidate_stored"] = stats.stored
    result["candidate_expected_stored"] = candidate.ended if expect_stored else 0
    return result
