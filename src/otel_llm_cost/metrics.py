"""Cost, token and health metrics through the OpenTelemetry metrics API.

Nothing here configures metrics: the instruments come from the ``MeterProvider`` the processor is
given, else the global one. With none configured they are the API's no-ops, and start reporting
when the application sets a provider later (the API's proxy instruments), so metrics cost nothing
until someone collects them.

Instruments (names and units follow what OpenLIT emits, which Grafana's GenAI dashboards query):

``gen_ai.usage.cost`` (histogram, ``USD``)
    The cost of each call that has one. In Prometheus: ``gen_ai_usage_cost_USD_sum`` is the cost
    counter (use ``increase()``/``rate()``), ``_count`` the number of priced calls, ``_bucket`` the
    distribution. Attributes: ``gen_ai.provider.name``, ``gen_ai.operation.name``,
    ``gen_ai.request.model``, ``gen_ai.response.model``, ``service.name``,
    ``deployment.environment`` (OpenLIT's spelling), ``llm.cost.pricing_status``. Each one only
    when known.
``otel_llm_cost.calls`` (counter, ``{call}``)
    Every call, priced or not, with the same attributes: unpriced calls stay visible (a histogram
    of costs cannot show a call without a cost, and we never record one as 0).
``gen_ai.client.token.usage`` (histogram, ``{token}``; opt-in, see below)
    The semconv metric, by ``gen_ai.token.type`` = ``input`` | ``output``.
``otel_llm_cost.queued`` (up-down counter, ``{span}``), ``otel_llm_cost.dropped``,
``otel_llm_cost.exported``, ``otel_llm_cost.failed`` (counters, ``{span}``)
    The processor's health, observed from ``processor.stats()`` at each collection. ``queued`` and
    ``dropped`` (a full queue) by ``otel_llm_cost.queue`` = ``price`` | ``forward``; ``exported`` and
    ``failed`` by ``otel_llm_cost.destination`` = ``duckdb`` | ``forward``.

A call that another span already reported (``is_duplicate``) is not recorded again. Metrics
count the calls the worker priced, whether or not the database write then succeeded.

Why token usage is off by default: the instrumentation libraries (openai-v2, OpenLLMetry, OpenLIT,
...) already record ``gen_ai.client.token.usage`` themselves, and the API offers no way to see
which instruments exist, so we cannot detect it. Recording it again would double every sum; turn it
on (``token_usage_metrics=True``) when your instrumentation does not emit it.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import version as _metadata_version
from typing import Final, Protocol

from opentelemetry import metrics as metrics_api
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from opentelemetry.util.types import AttributeValue

from otel_llm_cost import attributes as a
from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.pricing import Cost

logger = logging.getLogger(__name__)

COST: Final = "gen_ai.usage.cost"
CALLS: Final = "otel_llm_cost.calls"
TOKEN_USAGE: Final = "gen_ai.client.token.usage"
QUEUED: Final = "otel_llm_cost.queued"
DROPPED: Final = "otel_llm_cost.dropped"
EXPORTED: Final = "otel_llm_cost.exported"
FAILED: Final = "otel_llm_cost.failed"

# Metric attributes. deployment.environment is OpenLIT's (deprecated) spelling: the dashboards
# filter on deployment_environment.
DEPLOYMENT_ENVIRONMENT: Final = a.DEPLOYMENT_ENVIRONMENT
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
QUEUE: Final = "otel_llm_cost.queue"
DESTINATION: Final = "otel_llm_cost.destination"

# Most calls cost fractions of a cent: the SDK's default buckets (0, 5, 10, ... 10000) would put
# them all in the first one.
COST_BUCKETS_USD: Final = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 50.0)
# The semconv advisory for gen_ai.client.token.usage.
TOKEN_BUCKETS: Final = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)


class HealthStats(Protocol):
    """What the health instruments read (``ProcessorStats`` has these)."""

    @property
    def queued(self) -> int: ...
    @property
    def forward_queued(self) -> int: ...
    @property
    def dropped_queue_full(self) -> int: ...
    @property
    def forward_dropped_queue_full(self) -> int: ...
    @property
    def stored(self) -> int: ...
    @property
    def already_stored(self) -> int: ...
    @property
    def forwarded(self) -> int: ...
    @property
    def store_failed(self) -> int: ...
    @property
    def malformed(self) -> int: ...
    @property
    def forward_failed(self) -> int: ...


class _Instruments:
    """One set of instruments per MeterProvider: the SDK returns an existing instrument for a
    second create call but ignores the second one's callbacks, so the health callbacks are
    registered once and read every live processor."""

    def __init__(self, provider: MeterProvider) -> None:
        try:
            version: str | None = _metadata_version("otel_llm_cost")
        except Exception:  # pragma: no cover - not installed (a bare checkout on sys.path)
            version = None
        meter = provider.get_meter("otel_llm_cost", version)
        self.cost = meter.create_histogram(
            COST, unit="USD", description="Cost of a GenAI call", explicit_bucket_boundaries_advisory=COST_BUCKETS_USD
        )
        self.calls = meter.create_counter(CALLS, unit="{call}", description="GenAI calls seen, priced or not")
        self.tokens = meter.create_histogram(
            TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        # Weak references to each processor's stats method (see CostMetrics.observe).
        self._sources: list[Callable[[], Callable[[], HealthStats] | None]] = []
        self._lock = threading.Lock()
        meter.create_observable_up_down_counter(
            QUEUED, [self._observe_queued], unit="{span}", description="Spans waiting in a queue"
        )
        meter.create_observable_counter(
            DROPPED, [self._observe_dropped], unit="{span}", description="Spans dropped because a queue was full"
        )
        meter.create_observable_counter(
            EXPORTED, [self._observe_exported], unit="{span}", description="Spans delivered to a destination"
        )
        meter.create_observable_counter(
            FAILED, [self._observe_failed], unit="{span}", description="Spans a destination failed to take"
        )

    def add_source(self, source: Callable[[], Callable[[], HealthStats] | None]) -> None:
        with self._lock:
            self._sources.append(source)

    def _totals(self, pick: Callable[[HealthStats], tuple[int, int]]) -> tuple[int, int]:
        first = second = 0
        with self._lock:
            # A processor that was garbage collected is forgotten here.
            self._sources = [source for source in self._sources if source() is not None]
            sources = list(self._sources)
        for source in sources:
            stats = source()
            if stats is not None:
                one, two = pick(stats())
                first, second = first + one, second + two
        return first, second

    def _observe_queued(self, _: CallbackOptions) -> Iterable[Observation]:
        price, forward = self._totals(lambda s: (s.queued, s.forward_queued))
        return [Observation(price, {QUEUE: "price"}), Observation(forward, {QUEUE: "forward"})]

    def _observe_dropped(self, _: CallbackOptions) -> Iterable[Observation]:
        price, forward = self._totals(lambda s: (s.dropped_queue_full, s.forward_dropped_queue_full))
        return [Observation(price, {QUEUE: "price"}), Observation(forward, {QUEUE: "forward"})]

    def _observe_exported(self, _: CallbackOptions) -> Iterable[Observation]:
        duckdb, forward = self._totals(lambda s: (s.stored + s.already_stored, s.forwarded))
        return [Observation(duckdb, {DESTINATION: "duckdb"}), Observation(forward, {DESTINATION: "forward"})]

    def _observe_failed(self, _: CallbackOptions) -> Iterable[Observation]:
        duckdb, forward = self._totals(lambda s: (s.store_failed + s.malformed, s.forward_failed))
        return [Observation(duckdb, {DESTINATION: "duckdb"}), Observation(forward, {DESTINATION: "forward"})]


_by_provider: weakref.WeakKeyDictionary[MeterProvider, _Instruments] = weakref.WeakKeyDictionary()
_by_provider_lock = threading.Lock()


def _instruments(provider: MeterProvider) -> _Instruments:
    with _by_provider_lock:
        found = _by_provider.get(provider)
        if found is None:
            found = _by_provider[provider] = _Instruments(provider)
        return found


class CostMetrics:
    """Records each priced batch's cost, calls and (optionally) tokens; reports processor health.

    Args:
        meter_provider: where the instruments come from; the global ``MeterProvider`` by default.
        token_usage: also record ``gen_ai.client.token.usage`` (off by default: instrumentation
            libraries already do, see the module docstring).
    """

    def __init__(self, meter_provider: MeterProvider | None = None, *, token_usage: bool = False) -> None:
        self._instruments = _instruments(meter_provider or metrics_api.get_meter_provider())
        self.token_usage = token_usage

    def record(self, priced: Sequence[tuple[CallRecord, Cost]]) -> None:
        """Record one batch (the worker thread calls this after pricing)."""
        instruments = self._instruments
        for record, cost in priced:
            if record.duplicate_of is not None:
                continue  # the same provider call, already recorded from another span
            attributes = _call_attributes(record)
            attributes[a.LLM_COST_PRICING_STATUS] = cost.pricing_status
            instruments.calls.add(1, attributes)
            if cost.cost_usd is not None:
                instruments.cost.record(float(cost.cost_usd), attributes)
            if self.token_usage:
                self._record_tokens(record)

    def _record_tokens(self, record: CallRecord) -> None:
        attributes = _call_attributes(record, token_usage=True)
        for token_type, count in (("input", record.input_tokens), ("output", record.output_tokens)):
            if count is not None:
                attributes[GEN_AI_TOKEN_TYPE] = token_type
                self._instruments.tokens.record(count, dict(attributes))

    def observe(self, stats: Callable[[], HealthStats]) -> None:
        """Report ``stats()`` through the health instruments, for as long as its owner lives.

        ``stats`` is usually a bound method; it is held weakly, so a processor that is garbage
        collected stops being reported instead of being kept alive by the meter."""
        if hasattr(stats, "__self__"):
            self._instruments.add_source(weakref.WeakMethod(stats))
        else:
            self._instruments.add_source(lambda: stats)


def _call_attributes(record: CallRecord, *, token_usage: bool = False) -> dict[str, AttributeValue]:
    values: tuple[tuple[str, str | None], ...] = (
        (a.GEN_AI_PROVIDER_NAME, record.provider),
        (a.GEN_AI_OPERATION_NAME, record.operation),
        (a.GEN_AI_REQUEST_MODEL, record.request_model),
        (a.GEN_AI_RESPONSE_MODEL, record.response_model),
    )
    if not token_usage:  # the semconv token metric has no service or environment attribute
        values += ((a.SERVICE_NAME, record.service_name), (DEPLOYMENT_ENVIRONMENT, record.environment))
    return {name: value for name, value in values if value is not None}
