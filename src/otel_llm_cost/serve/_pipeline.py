"""Group commit: requests wait until their spans are committed (or spooled), many per transaction.

Receiver threads decode a request, :meth:`IngestPipeline.submit` its spans and wait on the ticket.
One worker thread takes everything queued (up to ``max_batch_spans``), runs it through
:class:`CostExporter` as one batch (one DuckDB transaction) and then answers every ticket. A
request is acknowledged only once its batch is durable, yet a busy server still writes few, large
transactions. When more than ``max_queued_spans`` are waiting, ``submit`` refuses at once: the
receiver answers 429/RESOURCE_EXHAUSTED with Retry-After and the client retries later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan

from otel_llm_cost.exporter import CostExporter

logger = logging.getLogger(__name__)


class Ticket:
    """One request's place in the queue; ``wait`` returns True once its spans are durable."""

    __slots__ = ("_done", "durable", "spans")

    def __init__(self, spans: list[ReadableSpan]) -> None:
        self.spans = spans
        self.durable = False
        self._done = threading.Event()

    def wait(self, timeout_s: float) -> bool:
        """True if the batch was committed (or spooled) within ``timeout_s``."""
        return self._done.wait(timeout_s) and self.durable

    def _finish(self, durable: bool) -> None:
        self.durable = durable
        self._done.set()


@dataclass
class ServeCounters:
    """What the server has seen since it started; ``/metrics`` shows them."""

    requests: int = 0  #: export requests accepted for processing
    spans_received: int = 0  #: spans in those requests (GenAI or not)
    spans_stored: int = 0  #: new llm_calls rows
    spans_already_stored: int = 0  #: calls whose (trace_id, span_id) was stored already (retries)
    spans_spooled: int = 0  #: calls spooled because the database could not be written
    spans_not_calls: int = 0  #: GenAI spans that are aggregates (agent runs), not calls
    spans_malformed: int = 0  #: spans that could not be read
    spans_store_failed: int = 0  #: calls in batches that could be neither stored nor spooled (answered 503)
    rejected: dict[str, int] = field(default_factory=dict)  #: refused requests by reason
    spool_batches_ingested: int = 0  #: spool batches loaded (at start and while running)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reject(self, reason: str) -> None:
        with self.lock:
            self.rejected[reason] = self.rejected.get(reason, 0) + 1


class IngestPipeline:
    """The queue and the worker between the receivers and the exporter.

    Args:
        exporter: prices, stores (or spools) and forwards each batch.
        counters: updated after every batch.
        max_queued_spans: spans waiting before ``submit`` refuses.
        max_batch_spans: most spans per transaction.
        idle: called on the worker thread every ``idle_every_s``, between batches (the server
            ingests the spool there, on the thread that writes the store).
    """

    def __init__(
        self,
        exporter: CostExporter,
        counters: ServeCounters,
        *,
        max_queued_spans: int = 65536,
        max_batch_spans: int = 8192,
        idle: Callable[[], None] | None = None,
        idle_every_s: float = 10.0,
    ) -> None:
        self._exporter = exporter
        self._counters = counters
        self._max_queued = max_queued_spans
        self._max_batch = max_batch_spans
        self._idle = idle
        self._idle_every_s = idle_every_s
        self._queue: deque[Ticket] = deque()
        self._queued_spans = 0
        self._cond = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="otel-llm-cost-serve-writer", daemon=True)
        self._worker.start()

    @property
    def queued_spans(self) -> int:
        return self._queued_spans

    def submit(self, spans: list[ReadableSpan]) -> Ticket | None:
        """Queue spans for the next transaction; None when over capacity or closing."""
        ticket = Ticket(spans)
        with self._cond:
            if self._closed or (self._queue and self._queued_spans + len(spans) > self._max_queued):
                return None
            self._queue.append(ticket)
            self._queued_spans += len(spans)
            self._cond.notify()
        return ticket

    def close(self, timeout_s: float = 30.0) -> bool:
        """Refuse new work, write what is queued, shut the exporter down; True if done in time."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._worker.join(timeout_s)
        return not self._worker.is_alive()

    def _run(self) -> None:
        next_idle = time.monotonic() + self._idle_every_s
        while True:
            with self._cond:
                if not self._queue and not self._closed:
                    self._cond.wait(max(0.0, next_idle - time.monotonic()))
                if not self._queue and self._closed:
                    break
                tickets = self._take() if self._queue else []
            if tickets:
                self._export(tickets)
            if self._idle is not None and time.monotonic() >= next_idle:
                self._run_idle()  # also under constant load, between two batches
                next_idle = time.monotonic() + self._idle_every_s
        self._exporter.shutdown()

    def _take(self) -> list[Ticket]:
        tickets = [self._queue.popleft()]
        count = len(tickets[0].spans)
        while self._queue and count + len(self._queue[0].spans) <= self._max_batch:
            ticket = self._queue.popleft()
            count += len(ticket.spans)
            tickets.append(ticket)
        self._queued_spans -= count
        return tickets

    def _export(self, tickets: list[Ticket]) -> None:
        spans = [span for ticket in tickets for span in ticket.spans]
        stats = self._exporter.stats
        before = (stats.stored, stats.already_stored, stats.spooled, stats.not_calls, stats.malformed)
        failed_before = stats.store_failed
        try:
            self._exporter.export(spans)
        except Exception:  # pragma: no cover - CostExporter.export does not raise
            logger.exception("exporting %d spans failed", len(spans))
        stats = self._exporter.stats
        # The forward exporter's outcome does not decide the answer: the spans are stored, and
        # forwarding has its own queue, retries and drop counts.
        durable = stats.store_failed == failed_before
        counters = self._counters
        with counters.lock:
            counters.spans_stored += stats.stored - before[0]
            counters.spans_already_stored += stats.already_stored - before[1]
            counters.spans_spooled += stats.spooled - before[2]
            counters.spans_not_calls += stats.not_calls - before[3]
            counters.spans_malformed += stats.malformed - before[4]
            counters.spans_store_failed += stats.store_failed - failed_before
        for ticket in tickets:
            ticket._finish(durable)

    def _run_idle(self) -> None:
        assert self._idle is not None
        try:
            self._idle()
        except Exception:
            logger.exception("periodic spool ingest failed")


_METRICS = (
    ("requests", "OTLP export requests received and decoded"),
    ("spans_received", "spans in those requests, GenAI or not"),
    ("spans_stored", "new llm_calls rows"),
    ("spans_already_stored", "calls already stored (client retries, replays)"),
    ("spans_spooled", "calls spooled because the database could not be written"),
    ("spans_not_calls", "GenAI spans that are aggregates (agent runs), not calls"),
    ("spans_malformed", "spans that could not be read"),
    ("spans_store_failed", "calls neither stored nor spooled (their requests were answered 503)"),
    ("spool_batches_ingested", "spool batches loaded into the database"),
)


def prometheus_text(counters: ServeCounters, queued_spans: int) -> str:
    """The counters in the Prometheus text exposition format (version 0.0.4)."""
    lines: list[str] = []
    with counters.lock:
        for name, help_text in _METRICS:
            metric = f"otel_llm_cost_serve_{name}_total"
            lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter", f"{metric} {getattr(counters, name)}"]
        metric = "otel_llm_cost_serve_requests_rejected_total"
        lines += [f"# HELP {metric} requests refused, by reason", f"# TYPE {metric} counter"]
        lines += [f'{metric}{{reason="{reason}"}} {count}' for reason, count in sorted(counters.rejected.items())]
    metric = "otel_llm_cost_serve_queued_spans"
    lines += [f"# HELP {metric} spans waiting to be written", f"# TYPE {metric} gauge", f"{metric} {queued_spans}"]
    return "\n".join(lines) + "\n"
