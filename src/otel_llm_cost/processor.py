"""LLMCostSpanProcessor: the one object users add to their tracing.

``on_end`` runs on the application's thread, inside the user's ``span.end()``. The SDK does not
catch what a processor raises, so it must never raise, never block and never do I/O. It checks
for GenAI attributes with one set scan, then appends the span to a bounded deque; when the deque
is full the span is dropped and counted. Everything else (normalising, pricing, DuckDB, forwarding)
happens in :class:`CostExporter` on one worker thread, in batches.

Forwarding (``forward_to``) goes through a :class:`SpanForwarder`: a second bounded queue and a
second thread in front of the forward exporter. The pricing worker hands it the cost-enriched
copies without waiting, so a collector that is slow, retrying or hung delays neither the
application nor the DuckDB writes; it only fills the forward queue, which drops and counts. With
``forward_all_spans`` the spans that are not LLM calls go straight from ``on_end`` to that queue,
unchanged, and the processor can stand in for the application's ``BatchSpanProcessor``.

Why not subclass the SDK's ``BatchSpanProcessor``: its ``force_flush`` ignores ``timeout_millis``
and runs the export on the caller's thread, its ``shutdown`` has no timeout, and its drops are
only counted when SDK-internal metrics are enabled. This worker keeps the same shape (bounded
deque, daemon thread, fork re-init) and adds those guarantees.
"""

from __future__ import annotations

import atexit
import logging
import os
import time
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from opentelemetry.context import Context, get_current
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk import trace as _sdk_trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter

from otel_llm_cost._capture import Redactor
from otel_llm_cost._dialects import MARKERS as _MARKERS
from otel_llm_cost._processor_config import DEFAULT_DB_PATH as DEFAULT_DB_PATH  # the public name
from otel_llm_cost._processor_config import resolve_config
from otel_llm_cost._worker import QueueWorker
from otel_llm_cost.budget_monitor import BudgetMonitor
from otel_llm_cost.budgets import Budget, BudgetDecision, BudgetStatus
from otel_llm_cost.export import ExportSpec
from otel_llm_cost.exporter import CostExporter
from otel_llm_cost.forwarding import SpanForwarder
from otel_llm_cost.health import ingest_health_row
from otel_llm_cost.metrics import CostMetrics
from otel_llm_cost.pricing import Pricer
from otel_llm_cost.spool import SpoolWriter
from otel_llm_cost.store import DuckDBStore

logger = logging.getLogger(__name__)

# The span class the SDK's tracer creates (always with a BoundedAttributes mapping); on_end reads
# that mapping directly. getattr: if a future SDK renames the class, every span takes the property.
_SDK_SPAN: type | None = getattr(_sdk_trace, "_Span", None)


@dataclass(frozen=True)
class ProcessorStats:
    """A snapshot of the processor's counters. ``accepted = processed + dropped + queued``."""

    queued: int  #: spans waiting for the worker now
    processed: int  #: spans the worker has taken from the queue
    dropped_queue_full: int  #: spans dropped because the queue was full
    stored: int  #: new llm_calls rows
    already_stored: int  #: spans that were already in the database (replays, retries)
    not_calls: int  #: GenAI spans that are aggregates, not provider calls
    unpriced: int  #: stored calls without a cost
    duplicates: int  #: stored calls flagged is_duplicate (another span reported the same call)
    store_failed: int  #: calls lost because the database could not be written
    malformed: int  #: spans that could not be read
    forward_failed: int  #: spans the forward exporter rejected (after its own retries)
    forwarded: int = 0  #: spans the forward exporter accepted
    forward_queued: int = 0  #: spans waiting for the forward worker now
    forward_dropped_queue_full: int = 0  #: spans not forwarded because the forward queue was full
    spooled: int = 0  #: calls written to the spool (spool_dir) because the database was not writable

    @property
    def dropped(self) -> int:
        """Every LLM span that did not reach the database."""
        return self.dropped_queue_full + self.store_failed + self.malformed

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "dropped": self.dropped}


class LLMCostSpanProcessor(QueueWorker, SpanProcessor):
    """Prices the LLM calls among ended spans and stores them in a DuckDB file.

    Example::

        provider = TracerProvider()
        provider.add_span_processor(LLMCostSpanProcessor(db_path="llm-cost.duckdb"))

    Args:
        db_path: DuckDB file to write; :envvar:`OTEL_LLM_COST_DB`, else ``llm-cost.duckdb``. The
            file is opened lazily on the worker thread, so a bad path never fails ``span.end()``:
            it is logged once and the spans are counted as dropped. ``{pid}`` in the path is
            replaced by the id of the process that opens it: after a fork, each child writes a
            file of its own (DuckDB allows one writing process per file).
        store: an already-open :class:`DuckDBStore` to use instead of ``db_path``, or a store spec
            that each process opens lazily: ``"ducklake:postgres:<dsn>"`` for a DuckLake that many
            processes and hosts write at once (see :mod:`otel_llm_cost.ducklake`).
        data_path: with a DuckLake ``store``, the folder of its Parquet files.
        forward_to: where to forward the LLM spans, each a copy with its cost attributes added:
            any ``SpanExporter``, or ``"otlp"``, ``"otlp_http"``, ``"otlp_grpc"``, ``"console"``
            (an SDK exporter, configured by the standard ``OTEL_EXPORTER_OTLP_*`` variables), or
            ``"none"``; :envvar:`OTEL_LLM_COST_FORWARD`, else no forwarding. The exporter runs on a
            thread of its own behind a queue of ``max_queue_size`` spans, and is shut down with
            the processor.
        forward_all_spans: forward every sampled span, the ones that are not LLM calls unchanged,
            so this processor can replace a ``BatchSpanProcessor``;
            :envvar:`OTEL_LLM_COST_FORWARD_ALL_SPANS`, else False. Needs ``forward_to``.
        pricer: a :class:`Pricer` to use; by default one over genai-prices' bundled catalog.
        prices_file: a prices overrides file (TOML, JSON or YAML: custom models, discounts, fixes);
            :envvar:`OTEL_LLM_COST_PRICES_FILE`, else none. Read and checked here: a bad file
            raises ``ValueError`` naming the line and key, whichever way it was given.
        max_queue_size: spans held before dropping; :envvar:`OTEL_LLM_COST_MAX_QUEUE_SIZE`, 8192.
        max_batch_size: most spans per DuckDB transaction; :envvar:`OTEL_LLM_COST_MAX_BATCH_SIZE`, 4096.
            The worker wakes once a quarter of this many spans are queued, and then writes
            up to this many per transaction: a transaction's fixed cost is milliseconds.
        schedule_delay_millis: longest wait before a queued span is written;
            :envvar:`OTEL_LLM_COST_SCHEDULE_DELAY_MILLIS`, 1000.
        flush_at_exit: flush and close at interpreter exit (default True).
        metrics: record cost and health metrics (see :mod:`otel_llm_cost.metrics`);
            :envvar:`OTEL_LLM_COST_METRICS`, else True. Free when no ``MeterProvider`` is set.
        meter_provider: where the metrics go; the global ``MeterProvider`` by default.
        token_usage_metrics: also record ``gen_ai.client.token.usage``;
            :envvar:`OTEL_LLM_COST_TOKEN_USAGE_METRICS`, else False (instrumentations record it).
        store_attributes: span attributes to keep in ``llm_calls.attributes`` (JSON), by name or
            ``*`` pattern; :envvar:`OTEL_LLM_COST_STORE_ATTRIBUTES`, else none. Prompts and
            completions are never stored unless listed here.
        redact: ``redact(name, value)`` returns what to store for an allowed attribute, or None to
            leave it out; if it raises, the attribute is left out (never stored unredacted).
        spool_dir: when the database cannot be written (another process holds its lock, as in a
            pre-fork server), write each priced batch to this folder instead of dropping it;
            ``otel-llm-cost ingest`` or ``otel-llm-cost serve`` loads it later, exactly once;
            :envvar:`OTEL_LLM_COST_SPOOL_DIR`, else no spool.
        budgets: :class:`Budget` objects to watch, or a :class:`BudgetMonitor` with options; the
            budgets of the ``llm_budgets`` table are watched too (see README, Budgets and alerts).
        budgets_file: a TOML file of budgets; :envvar:`OTEL_LLM_COST_BUDGETS_FILE`, else none.
        export_on_exit, retention_days, retention_archive_dir: an export written at shutdown (a file
            or an ``ExportSpec``), and a daily archive-then-delete of older calls; see
            :mod:`otel_llm_cost._upkeep` and their ``OTEL_LLM_COST_*`` variables.

    Raises:
        ValueError: an argument is malformed (configuration time, never span time).
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str] | None = None,
        *,
        store: DuckDBStore | str | None = None,
        data_path: str | os.PathLike[str] | None = None,
        forward_to: SpanExporter | str | None = None,
        forward_all_spans: bool | None = None,
        pricer: Pricer | None = None,
        prices_file: str | os.PathLike[str] | None = None,
        max_queue_size: int | None = None,
        max_batch_size: int | None = None,
        schedule_delay_millis: int | None = None,
        flush_at_exit: bool = True,
        metrics: bool | None = None,
        meter_provider: MeterProvider | None = None,
        token_usage_metrics: bool | None = None,
        store_attributes: Sequence[str] | None = None,
        redact: Redactor | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
        budgets: Sequence[Budget] | BudgetMonitor | None = None,
        budgets_file: str | os.PathLike[str] | None = None,
        export_on_exit: ExportSpec | str | os.PathLike[str] | None = None,
        retention_days: int | None = None,
        retention_archive_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        config = resolve_config(
            db_path=db_path, store=store, data_path=data_path, forward_to=forward_to,
            forward_all_spans=forward_all_spans, pricer=pricer, prices_file=prices_file,
            max_queue_size=max_queue_size, max_batch_size=max_batch_size,
            schedule_delay_millis=schedule_delay_millis, metrics=metrics, token_usage_metrics=token_usage_metrics,
            store_attributes=store_attributes, redact=redact, spool_dir=spool_dir, budgets=budgets,
            budgets_file=budgets_file, export_on_exit=export_on_exit, retention_days=retention_days,
            retention_archive_dir=retention_archive_dir,
        )  # fmt: skip
        self.db_path = config.db_path
        self._max_queue_size = config.max_queue_size
        self._max_batch_size = config.max_batch_size
        # Wake the worker at a quarter batch: writing starts before the batch is full, and one
        # transaction still carries many spans.
        self._wake_at = max(1, self._max_batch_size // 4)
        self._delay_s = config.delay_millis / 1000
        self.budgets = config.budgets
        self._upkeep = config.upkeep

        # Configuration is valid from here on: start threads.
        self.forwarder: SpanForwarder | None = None
        if config.forward_exporter is not None:
            self.forwarder = SpanForwarder(
                config.forward_exporter, max_queue_size=self._max_queue_size, schedule_delay_millis=config.delay_millis
            )
        self._metrics = _cost_metrics(meter_provider, config.token_usage) if config.with_metrics else None
        self.exporter = CostExporter(
            config.store,
            pricer=config.pricer,
            forward_to=self.forwarder,
            metrics=self._metrics,
            capture=config.capture,
            health=self._health_row,
            spool=SpoolWriter(config.spool_dir) if config.spool_dir else None,
            budgets=self.budgets,
        )
        if config.forward_all and self.forwarder is not None:
            self._offer_forward = self.forwarder.offer
            # Chosen once, here, so the usual on_end stays one set test for a span that is not an
            # LLM call (an instance attribute is found before the class's method).
            setattr(self, "on_end", self._on_end_forwarding_all)  # noqa: B010

        self._queue: deque[tuple[ReadableSpan, Context]] = deque()
        # (pid, start ns) naming this process's llm_ingest_health row; a forked child starts its own.
        self._health_key = (os.getpid(), time.time_ns())
        self._closed = False
        self._dropped_queue_full = 0
        self._processed = 0
        self._init_worker("otel-llm-cost-worker")
        self.budgets.load_on_request(lambda: self._wake.set())  # late-bound: a forked child has a new event

        # Weak references: registering the bound methods would keep every processor alive forever.
        weak_self = weakref.ref(self)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=lambda: _after_fork_in_child(weak_self))
        if flush_at_exit:
            atexit.register(_shutdown_at_exit, weak_self)
        if self._metrics is not None:
            self._metrics.observe(self.stats)

    # -- the application's thread -----------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        """Enqueue an LLM span for pricing. Never raises, never blocks."""
        try:
            # This line runs for every span the application ends, so it is inlined and reads the
            # SDK span's own attribute mapping: the public ``attributes`` property wraps it in a new
            # MappingProxyType per call (~150 ns). Other ReadableSpan types use the property.
            attributes = span._attributes if type(span) is _SDK_SPAN else span.attributes
            if _MARKERS.isdisjoint(attributes) or self._closed:  # type: ignore[arg-type]
                return
            if not span.context.trace_flags.sampled:
                return
            queue = self._queue
            if len(queue) >= self._max_queue_size:
                with self._counter_lock:
                    self._dropped_queue_full += 1
                    first = self._dropped_queue_full == 1
                if first:
                    logger.warning("LLM cost queue is full (%d spans); dropping and counting", self._max_queue_size)
                return
            # The context current at end() is the caller's, so it carries the baggage the app set
            # around the call (user.id, session.id, ...); the worker reads it from there.
            queue.append((span, get_current()))
            if len(queue) >= self._wake_at and not self._wake.is_set():
                self._wake.set()
        except Exception:  # e.g. a span without attributes or context; the SDK would re-raise it into span.end()
            pass

    def _on_end_forwarding_all(self, span: ReadableSpan) -> None:
        """``on_end`` with ``forward_all_spans``: other spans go to the forward queue unchanged."""
        try:
            attributes = span._attributes if type(span) is _SDK_SPAN else span.attributes
            if _MARKERS.isdisjoint(attributes):  # type: ignore[arg-type]
                if not self._closed and span.context.trace_flags.sampled:
                    self._offer_forward(span)
                return
        except Exception:
            return
        LLMCostSpanProcessor.on_end(self, span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Write (and forward) every span ended before this call; False if that took longer than
        the timeout."""
        if self._closed:
            return not self._queue
        deadline = time.monotonic() + max(timeout_millis, 0) / 1000
        if not self._flushed_within(max(timeout_millis, 0) / 1000):
            logger.warning("force_flush timed out after %d ms with %d spans queued", timeout_millis, len(self._queue))
            return False
        if self.forwarder is not None:
            return self.forwarder.force_flush(max(int((deadline - time.monotonic()) * 1000), 0))
        return True

    def shutdown(self, timeout_millis: int = 30000) -> None:
        """Write what is queued, close the store, and stop the worker, within ``timeout_millis``."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + max(timeout_millis, 0) / 1000
        if not self._stopped_by(deadline):
            logger.warning(
                "LLM cost processor shutdown timed out after %d ms; %d spans not written",
                timeout_millis,
                len(self._queue),
            )
        if self.forwarder is not None:
            # After the pricing worker, which hands the forwarder its last copies; within what is left.
            self.forwarder.shutdown(max(int((deadline - time.monotonic()) * 1000), 0))
        self.budgets.shutdown(max(deadline - time.monotonic(), 0.0))  # alerts still being delivered

    def check_budget(self, **scope: Any) -> BudgetDecision:
        """Whether a call for this scope is within its budgets, e.g. ``check_budget(user="u1",
        model="gpt-4o")``; from memory, in microseconds. The processor never blocks a call itself."""
        return self.budgets.check(**scope)

    def budget_status(self, **scope: Any) -> list[BudgetStatus]:
        """Each budget's current window (spend, limit, percent, projection), filtered by
        ``name``, ``scope`` and ``value``."""
        return self.budgets.status(**scope)

    def stats(self) -> ProcessorStats:
        """Counters since start: queued, processed, dropped and what became of the processed spans."""
        export = self.exporter.stats
        forwarder = self.forwarder
        return ProcessorStats(
            queued=len(self._queue),
            processed=self._processed,
            dropped_queue_full=self._dropped_queue_full,
            stored=export.stored,
            already_stored=export.already_stored,
            not_calls=export.not_calls,
            unpriced=export.unpriced,
            duplicates=export.duplicates,
            store_failed=export.store_failed,
            malformed=export.malformed,
            # Through the forwarder, the exporter's counts would be what the forward queue took.
            forward_failed=forwarder.failed if forwarder is not None else export.forward_failed,
            forwarded=forwarder.forwarded if forwarder is not None else export.forwarded,
            forward_queued=forwarder.queued if forwarder is not None else 0,
            forward_dropped_queue_full=forwarder.dropped_queue_full if forwarder is not None else 0,
            spooled=export.spooled,
        )

    def _health_row(self) -> dict[str, object]:
        """This process's row of ``llm_ingest_health``: its counters since it started (or forked)."""
        if self._health_key[0] != os.getpid():
            self._health_key = (os.getpid(), time.time_ns())
        return ingest_health_row(self.stats(), *self._health_key)

    # -- the worker thread ------------------------------------------------------------------------

    def _after_last_drain(self) -> None:
        # The forwarder is shut down by shutdown(), within its deadline; only the store is closed here.
        if self._upkeep is not None:
            self._upkeep.at_exit()
        self.exporter.close_store()

    def _drain(self) -> None:
        if self.budgets.load_requested:
            self.exporter.load_budgets()
        queue = self._queue
        while queue:
            batch = [queue.popleft() for _ in range(min(self._max_batch_size, len(queue)))]
            self._processed += len(batch)
            try:
                self.exporter.export_with_context(batch)
            except Exception:  # pragma: no cover - CostExporter.export does not raise
                logger.exception("exporting %d LLM spans failed", len(batch))
        if self._upkeep is not None:
            self._upkeep.after_drain()

    def _after_fork_in_child(self) -> None:
        # The parent's queue, worker and connection stay with the parent: the child starts empty,
        # with counts of its own, so its stats() account for the spans it ended itself.
        self._queue = deque()
        self._processed = 0
        self._dropped_queue_full = 0
        self.exporter.reset_after_fork()
        self.budgets.reset_after_fork()
        if self.forwarder is not None:
            self.forwarder.reset_after_fork()
        if not self._closed:
            self._init_worker("otel-llm-cost-worker")


def _after_fork_in_child(weak_processor: weakref.ReferenceType[Any]) -> None:
    processor = weak_processor()
    if processor is not None:
        processor._after_fork_in_child()


def _shutdown_at_exit(weak_processor: weakref.ReferenceType[Any]) -> None:
    processor = weak_processor()
    if processor is not None:
        processor.shutdown()


def _cost_metrics(meter_provider: MeterProvider | None, token_usage: bool) -> CostMetrics | None:
    try:
        return CostMetrics(meter_provider, token_usage=token_usage)
    except Exception:  # a broken MeterProvider costs the metrics, not the application
        logger.exception("LLM cost metrics are off: the meter provider failed")
        return None
