"""Figures 1 and 2: what ``span.end()`` costs the application's thread.

Baseline: a ``TracerProvider`` with the SDK's ``BatchSpanProcessor`` over an exporter that does
nothing. Candidate: a ``TracerProvider`` with ``LLMCostSpanProcessor``. Spans are started before the
clock runs; only the ``end()`` calls are timed. Two timings per side and round:

* a batch loop over ``n`` spans (``ns/op`` and the ratio come from this one: no timer per call), and
* a per-call loop over another ``n`` spans, each ``end()`` between two ``perf_counter_ns`` calls
  (p50/p99; these include the timer's own cost, equally on both sides).

Variant ``isolated``: queues of 1,000,000, batch size = queue size and a one-hour schedule delay,
so no worker thread runs while the clock runs: this is ``on_end`` alone. Variant ``defaults``: both
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

    def time_batch(self, spans: list[Any]) -> int:
        """Total ns to end every span, timed as one loop."""
        with gc_paused():
            start = time.perf_counter_ns()
            for span in spans:
                span.end()
            elapsed = time.perf_counter_ns() - start
        self.ended += len(spans)
        return elapsed

    def time_each(self, spans: list[Any]) -> list[int]:
        """ns of each ``end()`` call."""
        clock = time.perf_counter_ns
        latencies = [0] * len(spans)
        with gc_paused():
            for index, span in enumerate(spans):
                before = clock()
                span.end()
                latencies[index] = clock() - before
        self.ended += len(spans)
        return latencies


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
            side.time_batch(side.start(min(burst, 500), span_name, attributes))
            side.drain()

        ns_per_op: dict[str, list[float]] = {"baseline": [], "candidate": []}
        p50: dict[str, list[float]] = {"baseline": [], "candidate": []}
        p99: dict[str, list[float]] = {"baseline": [], "candidate": []}
        ratios: list[float] = []
        for _, baseline_first in interleaved(rounds):
            per_round: dict[str, float] = {}
            for side in (baseline, candidate) if baseline_first else (candidate, baseline):
                total_ns = 0
                done = 0
                latencies: list[int] = []
                while done < spans_per_round:
                    count = min(burst, spans_per_round - done)
                    total_ns += side.time_batch(side.start(count, span_name, attributes))
                    side.drain()
                    latencies.extend(side.time_each(side.start(count, span_name, attributes)))
                    side.drain()
                    done += count
                per_round[side.name] = total_ns / spans_per_round
                ns_per_op[side.name].append(per_round[side.name])
                latencies.sort()
                p50[side.name].append(percentile(latencies, 50))
                p99[side.name].append(percentile(latencies, 99))
            ratios.append(per_round["candidate"] / per_round["baseline"])

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
