"""CostExporter: normalise -> price -> store -> metrics -> forward, for one batch, on the worker thread.

It is a standard OTel ``SpanExporter``, so it also works under the SDK's own span processors.
Each stage has its own ``try``: a broken database does not stop forwarding, a failing collector
does not stop storage, and nothing raises out of ``export``.

Forwarding sends every span of the batch on: a copy with its cost attributes for each call
(``_enrich``), the span itself for anything else. :class:`SpanForwarder` is the exporter
``LLMCostSpanProcessor`` forwards through: a bounded queue and a thread of its own in front of the
real exporter, so a slow or failing collector delays neither the application nor the DuckDB writes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from opentelemetry import baggage
from opentelemetry.context import (
    _SUPPRESS_HTTP_INSTRUMENTATION_KEY,
    _SUPPRESS_INSTRUMENTATION_KEY,
    Context,
    attach,
    detach,
    set_value,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_llm_cost import _enrich
from otel_llm_cost._duplicates import DuplicateDetector
from otel_llm_cost.conventions import AgentRun, CallRecord, to_agent_run, to_call_record
from otel_llm_cost.metrics import CostMetrics
from otel_llm_cost.pricing import Cost, Pricer
from otel_llm_cost.store import DuckDBStore, StoreUnavailable

logger = logging.getLogger(__name__)

# Spans per export call of the forward worker: the SDK BatchSpanProcessor's default, a safe OTLP
# request size.
FORWARD_BATCH_SIZE: Final = 512
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
    """

    def __init__(
        self,
        store: DuckDBStore | Callable[[], DuckDBStore],
        *,
        pricer: Pricer | None = None,
        forward_to: SpanExporter | None = None,
        metrics: CostMetrics | None = None,
    ) -> None:
        self._store: DuckDBStore | None = store if isinstance(store, DuckDBStore) else None
        self._open_store = None if isinstance(store, DuckDBStore) else store
        self._pricer = pricer or Pricer()
        self._forward_to = forward_to
        self._metrics = metrics
        self._duplicates = DuplicateDetector()
        self._store_error: str | None = None
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
        return True

    def _ensure_store(self) -> DuckDBStore:
        if self._store is None:
            if self._open_store is None:
                raise StoreUnavailable("the store was closed")
            self._store = self._open_store()
        return self._store

    def _report_store_error(self, exc: Exception) -> None:
        message = str(exc) if isinstance(exc, StoreUnavailable) else f"{type(exc).__name__}: {exc}"
        if message != self._store_error:
            # Logged once per distinct error, so a dead disk cannot flood the application's logs.
            logger.error("LLM cost records are being dropped: %s", message)
            self._store_error = message
        if self._open_store is not None and self._store is not None:
            # Reopen on the next batch: the connection may be unusable after an I/O error.
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
            try:
                self._store.close()
            except Exception:
                logger.exception("closing the DuckDB store failed")
            self._store = None
        self._open_store = None

    def reset_after_fork(self) -> None:
        """In a forked child: forget the parent's connection (it belongs to the parent) and lock."""
        self._lock = threading.Lock()
        if self._store is not None and self._open_store is not None:
            self._store = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if self._forward_to is not None:
            return self._forward_to.force_flush(timeout_millis)
        return True


@contextlib.contextmanager
def suppressed_instrumentation() -> Iterator[None]:
    """Instrumentation is off inside: exporting must not trace itself (an instrumented HTTP or gRPC
    client would otherwise make a span per export, which would be exported, and so on). The keys
    are the ones ``opentelemetry.instrumentation.utils.suppress_instrumentation`` and the SDK's
    batch processor set, without depending on the instrumentation package."""
    context = set_value(_SUPPRESS_INSTRUMENTATION_KEY, True)
    context = set_value("suppress_instrumentation", True, context)  # the older, plain-string key
    context = set_value(_SUPPRESS_HTTP_INSTRUMENTATION_KEY, True, context)
    token = attach(context)
    try:
        yield
    finally:
        detach(token)


class SpanForwarder(SpanExporter):
    """Forwards spans to another exporter from a thread of its own, through a bounded queue.

    ``export`` (and :meth:`offer`, for one span) only enqueue: no I/O, no waiting, so neither the
    application's thread nor the pricing worker ever waits for a collector. A full queue drops the
    spans and counts them. The worker sends batches of up to ``max_batch_size`` every
    ``schedule_delay_millis`` (sooner when a batch is full), with instrumentation suppressed.
    Retrying is the wrapped exporter's job: the OTLP exporters retry the retryable codes (HTTP 429,
    502, 503, 504; gRPC UNAVAILABLE, RESOURCE_EXHAUSTED, ...) with backoff, within their timeout
    (``OTEL_EXPORTER_OTLP_TIMEOUT``, 10 s), and honour Retry-After.

    Args:
        exporter: the exporter to forward to; it is shut down with this forwarder.
        max_queue_size: spans held before dropping.
        max_batch_size: most spans per ``exporter.export`` call.
        schedule_delay_millis: longest wait before a queued span is sent.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue_size: int = 8192,
        max_batch_size: int = FORWARD_BATCH_SIZE,
        schedule_delay_millis: int = 1000,
    ) -> None:
        self.exporter = exporter
        self._worker: threading.Thread
        self._max_queue_size = max_queue_size
        self._max_batch_size = max_batch_size
        self._delay_s = schedule_delay_millis / 1000
        self.forwarded = 0  #: spans the exporter accepted
        self.failed = 0  #: spans in batches the exporter rejected or raised on
        self.dropped_queue_full = 0  #: spans dropped because the queue was full
        self._queue: deque[ReadableSpan] = deque()
        self._closed = False
        self._exporter_shut_down = False
        self._init_worker()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def offer(self, span: ReadableSpan) -> None:
        """Enqueue one span; drop and count it if the queue is full. Never blocks or raises."""
        queue = self._queue
        if len(queue) >= self._max_queue_size:
            self._count_dropped(1)
            return
        queue.append(span)
        if len(queue) >= self._max_batch_size and not self._wake.is_set():
            self._wake.set()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Enqueue a batch. ``FAILURE`` when some spans had to be dropped (a full queue, or shut down)."""
        if self._closed:
            return SpanExportResult.FAILURE
        room = max(self._max_queue_size - len(self._queue), 0)
        self._queue.extend(spans[:room])
        if len(spans) > room:
            self._count_dropped(len(spans) - room)
        if len(self._queue) >= self._max_batch_size:
            self._wake.set()
        return SpanExportResult.SUCCESS if len(spans) <= room else SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Send every span queued before this call; False if that took longer than the timeout."""
        if self._closed:
            return not self._queue
        deadline = time.monotonic() + max(timeout_millis, 0) / 1000
        done = threading.Event()
        self._flush_requests.append(done)
        self._wake.set()
        if not done.wait(max(deadline - time.monotonic(), 0)):
            logger.warning("forwarding: force_flush timed out with %d spans queued", len(self._queue))
            return False
        try:
            return self.exporter.force_flush(max(int((deadline - time.monotonic()) * 1000), 0))
        except Exception:
            logger.exception("forward exporter force_flush failed")
            return False

    def shutdown(self, timeout_millis: int = 30000) -> None:
        """Send what is queued, then shut the exporter down, within ``timeout_millis``.

        A collector that hangs cannot hold this up: past the deadline the worker sends nothing
        more, and the exporter is shut down anyway, which makes the OTLP exporters abandon their
        retries (and gRPC its call); the daemon worker ends when the call it is in returns."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + max(timeout_millis, 0) / 1000
        self._wake.set()
        if self._worker is not threading.current_thread():
            self._worker.join(max(deadline - time.monotonic(), 0))
        if self._worker.is_alive():
            self._abandon = True
            logger.warning(
                "forwarding: shutdown timed out after %d ms; %d spans not sent", timeout_millis, len(self._queue)
            )
        self._shutdown_exporter()

    def reset_after_fork(self) -> None:
        """In a forked child: start empty, with a worker of its own."""
        self._queue = deque()
        if not self._closed:
            self._init_worker()

    # -- the forward worker -----------------------------------------------------------------------

    def _init_worker(self) -> None:
        self._wake = threading.Event()
        self._counter_lock = threading.Lock()
        self._flush_requests: deque[threading.Event] = deque()
        self._abandon = False
        self._worker = threading.Thread(target=self._run, name="otel-llm-cost-forward", daemon=True)
        self._worker.start()

    def _count_dropped(self, count: int) -> None:
        with self._counter_lock:
            first = self.dropped_queue_full == 0
            self.dropped_queue_full += count
        if first:
            logger.warning("forwarding queue is full (%d spans); dropping and counting", self._max_queue_size)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._delay_s)
            self._wake.clear()
            # As in the processor: every span queued before a flush request is sent before it is answered.
            requests = [self._flush_requests.popleft() for _ in range(len(self._flush_requests))]
            closing = self._closed
            self._drain()
            for request in requests:
                request.set()
            if closing:
                break
        for request in self._flush_requests:
            request.set()

    def _drain(self) -> None:
        queue = self._queue
        while queue and not self._abandon:
            batch = [queue.popleft() for _ in range(min(self._max_batch_size, len(queue)))]
            try:
                with suppressed_instrumentation():
                    result = self.exporter.export(batch)
            except Exception:
                logger.exception("forwarding %d spans failed", len(batch))
                result = SpanExportResult.FAILURE
            if result is SpanExportResult.SUCCESS:
                self.forwarded += len(batch)
            else:
                self.failed += len(batch)

    def _shutdown_exporter(self) -> None:
        with self._counter_lock:
            if self._exporter_shut_down:
                return
            self._exporter_shut_down = True
        try:
            self.exporter.shutdown()
        except Exception:
            logger.exception("forward exporter failed to shut down")


# Names accepted by forward_to= and OTEL_LLM_COST_FORWARD.
FORWARD_NAMES: Final = ("otlp", "otlp_http", "otlp_grpc", "otlp_proto_http", "otlp_proto_grpc", "console", "none")


def exporter_from_name(name: str) -> SpanExporter | None:
    """Build the exporter a ``forward_to`` name stands for; ``None`` for ``none``.

    The OTLP exporters read the standard ``OTEL_EXPORTER_OTLP_*`` variables themselves. ``otlp``
    picks the protocol the way the SDK does for ``OTEL_TRACES_EXPORTER=otlp`` (its own function, so
    the variables are not parsed twice): ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` or
    ``OTEL_EXPORTER_OTLP_PROTOCOL``, gRPC when neither is set.

    Raises:
        ValueError: an unknown name.
    """
    key = name.strip().lower()
    if key not in FORWARD_NAMES:
        raise ValueError(f"forward_to must be a SpanExporter or one of {', '.join(FORWARD_NAMES)}; got {name!r}")
    if key == "none":
        return None
    if key == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if key == "otlp":
        key = _otlp_protocol_entry_point()
    if key in ("otlp_http", "otlp_proto_http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPExporter

        return HTTPExporter()
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCExporter

    return GRPCExporter()


def _otlp_protocol_entry_point() -> str:
    try:
        from opentelemetry.sdk._configuration import _get_exporter_entry_point

        return str(_get_exporter_entry_point("otlp", "traces"))
    except RuntimeError as exc:  # an unsupported protocol (http/json): logged, and the default used
        logger.warning("forwarding over OTLP/gRPC: %s", exc)
        return "otlp_proto_grpc"
