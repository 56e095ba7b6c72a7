"""A realistic synthetic LLM workload, run through the real OpenTelemetry SDK into a DuckDB file.

Five services, each with its own ``TracerProvider`` (``service.name``, ``deployment.environment.name``)
and all sharing one :class:`LLMCostSpanProcessor`, make provider calls the way instrumented apps do:
HTTP server spans (not LLM calls) around ``chat``/``embeddings``/``generate_content`` client spans,
an agent whose ``invoke_agent`` span repeats its children's summed usage (an aggregate, never a
call), Anthropic prompt caching, OpenAI reasoning tokens, rate limits retried by the client,
timeouts and broken streams, and a model no price catalog knows.

Everything random comes from the seed: the workload from one ``random.Random``, the trace and span
ids from :class:`SeededIdGenerator`. The same seed therefore replays the same ids, and since writes
are insert-or-ignore on ``(trace_id, span_id)``, running the demo twice stores every call once.
Timestamps are spread over the 14 UTC days up to ``now`` (today included) and do not feed back into
the random draws, so the ids stay the same from one day to the next.

The spans are written by :mod:`otel_llm_cost._demo_calls` and the scenarios are
:mod:`otel_llm_cost._demo_workload`; this module runs them: one ``TracerProvider`` per service with
the seeded ids, the processor flushed as the workload goes and shut down at the end, and the
processor's counts added to the :class:`DemoResult`.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator

from otel_llm_cost._demo_calls import DemoResult
from otel_llm_cost._demo_workload import _Workload
from otel_llm_cost.processor import LLMCostSpanProcessor
from otel_llm_cost.store import DuckDBStore

__all__ = ("DEFAULT_CALLS", "DEFAULT_SEED", "MAX_CALLS", "SERVICES", "DemoResult", "SeededIdGenerator", "run_demo")

logger = logging.getLogger(__name__)

DEFAULT_CALLS = 3000
DEFAULT_SEED = 2026
MAX_CALLS = 50_000

# (service.name, deployment.environment.name, service.version)
SERVICES: tuple[tuple[str, str, str], ...] = (
    ("support-chat", "production", "2.14.0"),
    ("search-api", "production", "1.8.3"),
    ("doc-pipeline", "production", "0.9.1"),
    ("code-review-bot", "staging", "0.4.0"),
    ("labs-playground", "development", "0.1.0"),
)


class SeededIdGenerator(IdGenerator):
    """Trace and span ids from a seeded PRNG, so a re-run produces the same ids.

    Args:
        seed: the demo's seed; the ids use their own stream, apart from the workload's.
    """

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"otel-llm-cost-demo-ids:{seed}")

    def generate_span_id(self) -> int:
        return self._rng.getrandbits(64) or 1  # 0 is the invalid span id

    def generate_trace_id(self) -> int:
        return self._rng.getrandbits(128) or 1

    def is_trace_id_random(self) -> bool:
        return True


def run_demo(
    db_path: str | os.PathLike[str],
    *,
    calls: int = DEFAULT_CALLS,
    seed: int = DEFAULT_SEED,
    now_ns: int | None = None,
    span_processors: Sequence[SpanProcessor] = (),
) -> DemoResult:
    """Generate the workload through OpenTelemetry into ``db_path`` and wait until it is stored.

    Args:
        db_path: the DuckDB file; created and migrated if needed.
        calls: how many LLM call spans to generate (exactly).
        seed: the same seed gives the same spans and ids.
        now_ns: end of the 14-day window, in ns since the epoch; the current time by default.
        span_processors: extra processors that see every span too (an OTLP exporter, a test's recorder).

    Returns:
        What was generated and what the processor did with it.

    Raises:
        ValueError: ``calls`` is out of range.
        otel_llm_cost.store.StoreUnavailable: the file cannot be opened for writing.
    """
    if not 1 <= calls <= MAX_CALLS:
        raise ValueError(f"calls must be between 1 and {MAX_CALLS}, got {calls}")
    began = time.monotonic()
    # Opened here, not lazily in the worker, so a locked or missing folder fails before any work.
    store = DuckDBStore(db_path)
    processor = LLMCostSpanProcessor(store=store, flush_at_exit=False)
    ids = SeededIdGenerator(seed)
    providers: list[TracerProvider] = []
    tracers: dict[str, trace.Tracer] = {}
    for name, environment, version in SERVICES:
        resource = Resource.create(
            {"service.name": name, "service.version": version, "deployment.environment.name": environment}
        )
        provider = TracerProvider(resource=resource, id_generator=ids, shutdown_on_exit=False)
        provider.add_span_processor(processor)
        for extra in span_processors:
            provider.add_span_processor(extra)
        providers.append(provider)
        tracers[name] = provider.get_tracer("otel_llm_cost.demo")
    workload = _Workload(random.Random(seed), tracers, calls, now_ns if now_ns is not None else time.time_ns())
    try:
        workload.run(processor.force_flush)
    finally:
        processor.shutdown()  # writes what is queued and closes the store
        for provider in providers:
            provider.shutdown()
    result = workload.result
    stats = processor.stats()
    result.db_path, result.seed = str(db_path), seed
    result.stored, result.already_present = stats.stored, stats.already_stored
    result.unpriced, result.dropped = stats.unpriced, stats.dropped
    result.seconds = time.monotonic() - began
    if result.dropped:
        logger.warning("%d demo spans were dropped before reaching the database", result.dropped)
    return result
