"""CostExporter: normalise -> price -> store -> metrics -> forward, for one batch, on the worker thread.

It is a standard OTel ``SpanExporter``, so it also works under the SDK's own span processors.
Each stage has its own ``try``: a broken database does not stop forwarding, a failing collector
does not stop storage, and nothing raises out of ``export``.

Forwarding sends every span of the batch on: a copy with its cost attributes for each call
(``_enrich``), the span itself for anything else, to ``forward_to`` (in ``LLMCostSpanProcessor``,
a :class:`~otel_llm_cost.forwarding.SpanForwarder`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import duckdb
from opentelemetry import baggage
from opentelemetry.context import (
    Context,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_llm_cost import _enrich
from otel_llm_cost._capture import AttributeCapture
from otel_llm_cost._duplicates import DuplicateDetector
from otel_llm_cost.catalog import CatalogLoader
from otel_llm_cost.conventions import AgentRun, CallRecord, to_agent_run, to_call_record
from otel_llm_cost.forwarding import suppressed_instrumentation
from otel_llm_cost.metrics import CostMetrics
from otel_llm_cost.pricing import Cost, Pricer, RatePlan
from otel_llm_cost.spool import SpoolWriter
from otel_llm_cost.store import DuckDBStore, StoreUnavailable
from otel_llm_cost.stores import CostStore

if TYPE_CHECKING:
    from otel_llm_cost.budget_monitor import BudgetMonitor

logger = logging.getLogger(__name__)

HEALTH_INTERVAL_S: Final = 5.0  # how often a busy worker refreshes its llm_ingest_health row

# What each forwarded span became, in batch order: (record, cost) for a call, None otherwise.
_Outcome = tuple[CallRecord, Cost] | None


@dataclass
class ExportStats:
    """Counts since start. Every span handed to ``export`` ends in exactly one of the first five."""

    stored: int = 0  #: new rows written to llm_calls
    already_stored: int = 0  #: spans whose (trace_id, span_id) was already in the table
    not_calls: int = 0  #: GenAI spans that are not provider calls (agent/tool aggregates)
    store_failed: int = 0  #: calls lost because the database could not be written
    malformed: int = 0  #: spans that could not be read at all
    unpriced: int = 0  #: stored calls without a cost (a subset of stored)
    duplicates: int = 0  #: stored calls flagged is_duplicate (a subset of stored)
    forwarded: int = 0  #: spans the forward exporter accepted
    forward_failed: int = 0  #: spans the forward exporter rejected (or raised on)
    spooled: int = 0  #: calls written to the spool because the database could not be written


class CostExporter(SpanExporter):
    """Prices LLM spans and writes them to DuckDB; optionally forwards spans to another exporter.

    Args:
        store: a :class:`DuckDBStore`, or a zero-argument callable that opens one. A callable is
            called lazily on the first batch (on the worker thread) and again after a failure, so a
            locked or missing database recovers when it becomes available.
        pricer: the :class:`Pricer` to use; a new one over the bundled catalog by default.
        forward_to: an exporter (OTLP, console, ...) that receives every exported span, calls with
            their cost attributes added (see ``otel_llm_cost._enrich``). It is called inline, with
            instrumentation suppressed; wrap it in a :class:`SpanForwarder` to take it off this
            thread.
        metrics: a :class:`CostMetrics` that records each batch's costs.
        spool: where a batch goes when the database cannot be written (locked by another
            process, ...), instead of being dropped; see :mod:`otel_llm_cost.spool`.
        budgets: a :class:`~otel_llm_cost.budget_monitor.BudgetMonitor` told about each batch
            once it is stored.
    """

    def __init__(
        self,
        store: CostStore | Callable[[], CostStore],
        *,
        pricer: Pricer | None = None,
        forward_to: SpanExporter | None = None,
        metrics: CostMetrics | None = None,
        capture: AttributeCapture | None = None,
        health: Callable[[], Mapping[str, object]] | None = None,
        spool: SpoolWriter | None = None,
        budgets: BudgetMonitor | None = None,
    ) -> None:
        # A store object is used as is; a callable opens one (a DuckDBStore or a DuckLakeStore).
        self._store: CostStore | None = None if callable(store) else store
        self._store_path = None if callable(store) else store.path
        self._open_store = store if callable(store) else None
        self._pricer = pricer or Pricer()
        self._forward_to = forward_to
        self._metrics = metrics
        self._capture = capture if capture else None
        self._budgets = budgets
        # A row for llm_ingest_health, written at most every HEALTH_INTERVAL_S and when closing.
        self._health = health
        self._health_written_at = 0.0
        self._spool = spool
        self._duplicates = DuplicateDetector()
        self._store_error: str | None = None
        # Loads the price catalog into the store, a slice after each batch (see CatalogLoader).
        self._catalog: tuple[DuckDBStore, CatalogLoader] | None = None
        self._no_store_reason = "the store was closed"
        self._lock = threading.Lock()  # export() may be called from flush and worker threads
        self.stats = ExportStats()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Price, store and forward a batch (the ``SpanExporter`` interface: no baggage known)."""
        return self.export_with_context([(span, None) for span in spans])

    def export_with_context(self, items: Sequence[tuple[ReadableSpan, Context | None]]) -> SpanExportResult:
        """Like :meth:`export`, for spans paired with the context current when they ended, whose
        baggage can name the user, session or customer."""
        with self._lock:
            # Only a forwarding exporter needs each span's outcome, in order.
            outcomes: list[_Outcome] | None = [] if self._forward_to is not None else None
            priced, runs = self._price(items, outcomes)
            stored_ok = self._write(priced, runs)
            self._record_metrics(priced)
            forwarded_ok = self._forward(items, outcomes)
        return SpanExportResult.SUCCESS if stored_ok and forwarded_ok else SpanExportResult.FAILURE

    def _price(
        self, items: Sequence[tuple[ReadableSpan, Context | None]], outcomes: list[_Outcome] | None
    ) -> tuple[list[tuple[CallRecord, Cost]], list[AgentRun]]:
        priced: list[tuple[CallRecord, Cost]] = []
        runs: list[AgentRun] = []
        for span, context in items:
            outcome: _Outcome = None
            try:
                record = to_call_record(span, baggage.get_all(context) if context is not None else None)
                if record is None:
                    self.stats.not_calls += 1
                    run = to_agent_run(span)
                    if run is not None:
                        runs.append(run)
                else:
                    cost = self._pricer.price(record)
                    model = cost.priced_model or record.response_model or record.request_model
                    record.duplicate_of = self._duplicates.original_of(record, model)
                    if self._capture is not None:
                        record.attributes = self._capture.capture(span.attributes or {})
                    outcome = (record, cost)
                    priced.append(outcome)
            except Exception:
                self.stats.malformed += 1
                logger.exception("could not read span %r; it is skipped", getattr(span, "name", None))
            if outcomes is not None:
                outcomes.append(outcome)
        return priced, runs

    def _write(self, priced: list[tuple[CallRecord, Cost]], runs: list[AgentRun]) -> bool:
        plans = self._pricer.take_new_plans()
        if not priced and not plans and not runs:
            return True
        try:
            store = self._ensure_store()
            inserted = store.write_batch(priced, plans, runs)
        except Exception as exc:
            if self._spool is not None and self._spooled(priced, plans, runs, exc):
                return True
            self.stats.store_failed += len(priced)
            self._report_store_error(exc)
            self._pricer.requeue_plans(plans)
            return False
        if self._store_error is not None:
            logger.warning("DuckDB store is writable again; storing resumed")
            self._store_error = None
        self.stats.stored += inserted
        self.stats.already_stored += len(priced) - inserted
        self.stats.unpriced += sum(1 for _, cost in priced if cost.cost_usd is None)
        self.stats.duplicates += sum(1 for record, _ in priced if record.duplicate_of is not None)
        if self._budgets is not None:
            self._budgets.observe(store, priced, inserted)  # never raises
        self._load_catalog(store)
        if time.monotonic() - self._health_written_at >= HEALTH_INTERVAL_S:
            self._write_health(store)
        return True

    def _load_catalog(self, store: CostStore) -> None:
        # After the batch is committed. A failure loses no call (the plans that priced the batch
        # were written with it) and is not retried for this store. A DuckLake gets the rates that
        # price its calls (write_batch) but not the whole catalog: its loader relies on keys.
        if not isinstance(store, DuckDBStore):
            return
        if self._catalog is None or self._catalog[0] is not store:
            self._catalog = (store, CatalogLoader(self._pricer))
        loader = self._catalog[1]
        if loader.done:
            return
        try:
            loader.step(store.con)
        except Exception:
            loader.done = True
            logger.warning("could not load the price catalog into model_prices", exc_info=True)

    def _spooled(
        self, priced: list[tuple[CallRecord, Cost]], plans: list[RatePlan], runs: list[AgentRun], exc: Exception
    ) -> bool:
        """Write the batch to the spool instead; False if that failed too (then it is dropped)."""
        assert self._spool is not None
        try:
            self._spool.write(priced, plans, runs)
        except Exception:
            logger.exception("spooling %d LLM cost records to %s failed", len(priced), self._spool.directory)
            return False
        message = f"spooling to {str(self._spool.directory)!r}: {exc}"
        if message != self._store_error:
            logger.warning("LLM cost database not writable; %s", message)
            self._store_error = message
        if self._store is not None and self._open_store is not None and _connection_is_lost(exc):
            with contextlib.suppress(Exception):
                self._store.close()
            self._store = None
        self.stats.spooled += len(priced)
        return True

    def load_budgets(self) -> None:
        """Open the store and load the budgets before the first batch (a budget check asked)."""
        if self._budgets is None:
            return
        with self._lock:
            try:
                store = self._ensure_store()
            except Exception as exc:
                self._report_store_error(exc)
                return
            self._budgets.observe(store, [], 0)  # never raises

    def _write_health(self, store: CostStore) -> None:
        if self._health is None:
            return
        try:
            store.record_health(self._health())
        except Exception:
            logger.debug("could not record ingest health", exc_info=True)
        self._health_written_at = time.monotonic()

    def _ensure_store(self) -> CostStore:
        if self._store is None:
            if self._open_store is None:
                raise StoreUnavailable(self._no_store_reason)
            self._store = self._open_store()
        return self._store

    def _report_store_error(self, exc: Exception) -> None:
        message = str(exc) if isinstance(exc, StoreUnavailable) else f"{type(exc).__name__}: {exc}"
        if message != self._store_error:
            # Logged once per distinct error, so a dead disk cannot flood the application's logs.
            logger.error("LLM cost records are being dropped: %s", message)
            self._store_error = message
        if self._open_store is not None and self._store is not None and _connection_is_lost(exc):
            # Reopen on the next batch, but only when DuckDB says the connection is gone. After a
            # failed commit (a full disk) the open connection is fine: its next commit, once there
            # is room, replaces the torn end of the WAL.
            with contextlib.suppress(Exception):
                self._store.close()
            self._store = None

    def _record_metrics(self, priced: list[tuple[CallRecord, Cost]]) -> None:
        if self._metrics is None or not priced:
            return
        try:
            self._metrics.record(priced)
        except Exception:
            logger.exception("recording cost metrics failed")

    def _forward(self, items: Sequence[tuple[ReadableSpan, Context | None]], outcomes: list[_Outcome] | None) -> bool:
        if self._forward_to is None or outcomes is None or not items:
            return True
        spans: list[ReadableSpan] = []
        for (span, _), outcome in zip(items, outcomes, strict=True):
            try:
                spans.append(_enrich.enriched(span, outcome))
            except Exception:  # an odd span object: forward it as it is rather than not at all
                logger.exception("could not add the cost to span %r; forwarding it unchanged", span.name)
                spans.append(span)
        try:
            with suppressed_instrumentation():
                result = self._forward_to.export(spans)
        except Exception:
            logger.exception("forwarding %d spans failed", len(spans))
            result = SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            self.stats.forward_failed += len(spans)
            return False
        self.stats.forwarded += len(spans)
        return True

    def shutdown(self) -> None:
        """Shut the forward exporter down and close the store."""
        with self._lock:
            if self._forward_to is not None:
                try:
                    self._forward_to.shutdown()
                except Exception:
                    logger.exception("forward exporter failed to shut down")
            self._close_store()

    def close_store(self) -> None:
        """Close the store only (``LLMCostSpanProcessor`` shuts its forwarder down itself, within
        its own deadline)."""
        with self._lock:
            self._close_store()

    def _close_store(self) -> None:
        if self._store is not None:
            self._write_health(self._store)  # the final counts, drops at shutdown included
            if self._budgets is not None:
                self._budgets.close(self._store)
            try:
                self._store.close()
            except Exception:
                logger.exception("closing the DuckDB store failed")
            self._store = None
        self._open_store = None

    def reset_after_fork(self) -> None:
        """In a forked child: a new lock (the parent's worker may have held it at the fork), counts
        of its own, and never the parent's connection.

        A store opened from a path is opened again, lazily (the parent's lock on the file then
        makes it fail and count its spans as dropped, unless the path differs per process). A store
        passed in belongs to the parent: this child counts its spans as dropped.
        """
        self._lock = threading.Lock()
        self.stats = ExportStats()
        self._store_error = None
        if self._store is not None:
            self._store = None  # the store module keeps it open: see DuckDBStore after a fork
            if self._open_store is None:
                self._no_store_reason = (
                    f"the DuckDB store {self._store_path!r} was opened by the parent process before it forked; "
                    "a forked child cannot write to it (pass db_path, with a file per process, or create the "
                    "processor after the fork)"
                )

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if self._forward_to is not None:
            return self._forward_to.force_flush(timeout_millis)
        return True


def _connection_is_lost(exc: Exception) -> bool:
    """DuckDB invalidated the database (a fatal or internal error): only a new connection can write."""
    return isinstance(exc, (duckdb.FatalException, duckdb.InternalException, duckdb.ConnectionException)) or (
        "invalidated" in str(exc)
    )
