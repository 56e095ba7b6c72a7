"""The writer: requests already in the journal, committed many at a time, in journal order.

Receiver threads decode a request, append it to the :class:`~._journal.Journal` and
:meth:`IngestPipeline.submit` its spans, under one lock so the queue and the journal have the same
order; then they answer. One writer thread takes everything queued (up to ``max_batch_spans``),
runs it through :class:`CostExporter` as one batch (one DuckDB transaction) and, once it is
committed (or spooled), releases the journal segments before it. A batch that cannot be written is
kept and retried with a growing delay: new requests fill the queue meanwhile and, past
``max_queued_spans``, are refused (429/UNAVAILABLE with Retry-After), so the client keeps them.
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

_RETRY_FIRST_S = 0.5
_RETRY_MAX_S = 30.0


@dataclass
class ServeCounters:
    """What the server has seen since it started; ``/metrics`` shows them."""

    requests: int = 0  #: export requests received and decoded
    spans_received: int = 0  #: spans in those requests (GenAI or not)
    spans_stored: int = 0  #: new llm_calls rows
    spans_already_stored: int = 0  #: calls whose (trace_id, span_id) was stored already (retries)
    spans_spooled: int = 0  #: calls spooled because the database could not be written
    spans_not_calls: int = 0  #: GenAI spans that are aggregates (agent runs), not calls
    spans_malformed: int = 0  #: spans that could not be read
    write_failures: int = 0  #: batches that could be neither stored nor spooled (kept and retried)
    rejected: dict[str, int] = field(default_factory=dict)  #: refused requests by reason
    spool_batches_ingested: int = 0  #: spool batches loaded (at start and while running)
    journal_records_replayed: int = 0  #: requests recovered from the journal at start
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reject(self, reason: str) -> None:
        with self.lock:
            self.rejected[reason] = self.rejected.get(reason, 0) + 1


class IngestPipeline:
    """The queue and the writer thread between the receivers and the exporter.

    Args:
        exporter: prices, stores (or spools) and forwards each batch.
        counters: updated after every batch.
        committed: called on the writer thread with the journal segment of the newest record
            committed, once its batch is durable.
        max_queued_spans: spans waiting before :meth:`has_room` says no.
        max_batch_spans: most spans per transaction.
        idle: called on the writer thread every ``idle_every_s``, between batches (the server
            ingests the spool there, on the thread that writes the store).
    """

    def __init__(
        self,
        exporter: CostExporter,
        counters: ServeCounters,
        *,
        committed: Callable[[int], None],
        max_queued_spans: int = 65536,
        max_batch_spans: int = 8192,
        idle: Callable[[], None] | None = None,
        idle_every_s: float = 10.0,
    ) -> None:
        self._exporter = exporter
        self._counters = counters
        self._committed = committed
        self._max_queued = max_queued_spans
        self._max_batch = max_batch_spans
        self._idle = idle
        self._idle_every_s = idle_every_s
        self._queue: deque[tuple[list[ReadableSpan], int]] = deque()
        self._queued_spans = 0
        self._cond = threading.Condition()
        self._closed = False
        self._all_written = True
        self._worker = threading.Thread(target=self._run, name="otel-llm-cost-serve-writer", daemon=True)
        self._worker.start()

    @property
    def queued_spans(self) -> int:
        return self._queued_spans

    def has_room(self, spans: int) -> bool:
        """Whether ``spans`` more fit in the queue (one request always fits an empty queue)."""
        return not self._closed and (not self._queue or self._queued_spans + spans <= self._max_queued)

    def submit(self, spans: list[ReadableSpan], segment: int) -> None:
        """Queue spans already in journal ``segment`` for the next transaction."""
        with self._cond:
            self._queue.append((spans, segment))
            self._queued_spans += len(spans)
            self._cond.notify()

    def close(self, timeout_s: float = 30.0) -> bool:
        """Refuse new work, write what is queued, shut the exporter down.

        True if everything queued was written in time; otherwise the journal still holds the rest.
        """
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._worker.join(timeout_s)
        return not self._worker.is_alive() and self._all_written

    def _run(self) -> None:
        next_idle = time.monotonic() + self._idle_every_s
        retry_s = 0.0
        while True:
            with self._cond:
                if retry_s:
                    self._cond.wait(retry_s)  # a failed batch: wait before trying again (close wakes us)
                elif not self._queue and not self._closed:
                    self._cond.wait(max(0.0, next_idle - time.monotonic()))
                if not self._queue and self._closed:
                    break
                items = self._peek()
                closing = self._closed
            if items:
                if self._export(items):
                    with self._cond:
                        for _ in items:
                            self._queue.popleft()
                        self._queued_spans -= sum(len(spans) for spans, _ in items)
                    self._committed(items[-1][1])
                    retry_s = 0.0
                elif closing:
                    self._all_written = False  # left in the journal: replayed at the next start
                    break
                else:
                    retry_s = min(max(retry_s * 2, _RETRY_FIRST_S), _RETRY_MAX_S)
            if self._idle is not None and time.monotonic() >= next_idle:
                self._run_idle()  # also under constant load, between two batches
                next_idle = time.monotonic() + self._idle_every_s
        self._exporter.shutdown()

    def _peek(self) -> list[tuple[list[ReadableSpan], int]]:
        """The oldest requests, up to ``max_batch_spans`` (at least one); they stay queued until written."""
        items: list[tuple[list[ReadableSpan], int]] = []
        count = 0
        for item in self._queue:
            if items and count + len(item[0]) > self._max_batch:
                break
            items.append(item)
            count += len(item[0])
        return items

    def _export(self, items: list[tuple[list[ReadableSpan], int]]) -> bool:
        spans = [span for batch, _ in items for span in batch]
        return export_batch(self._exporter, self._counters, spans)

    def _run_idle(self) -> None:
        assert self._idle is not None
        try:
            self._idle()
        except Exception:
            logger.exception("periodic spool ingest failed")


def export_batch(exporter: CostExporter, counters: ServeCounters, spans: list[ReadableSpan]) -> bool:
    """Export one batch and count what became of it; True if it is durable (stored or spooled)."""
    stats = exporter.stats
    before = (stats.stored, stats.already_stored, stats.spooled, stats.not_calls, stats.malformed)
    failed_before = stats.store_failed
    try:
        exporter.export(spans)
    except Exception:  # pragma: no cover - CostExporter.export does not raise
        logger.exception("exporting %d spans failed", len(spans))
    stats = exporter.stats
    # The forward exporter's outcome does not decide: forwarding has its own queue, retries and
    # drop counts. A store failure does; the exporter counted those calls as failed.
    durable = stats.store_failed == failed_before
    with counters.lock:
        counters.spans_stored += stats.stored - before[0]
        counters.spans_already_stored += stats.already_stored - before[1]
        counters.spans_spooled += stats.spooled - before[2]
        counters.spans_not_calls += stats.not_calls - before[3]
        counters.spans_malformed += stats.malformed - before[4]
        counters.write_failures += 0 if durable else 1
    if not durable:
        logger.warning("could not write %d spans; they stay in the journal", len(spans))
    return durable


_METRICS = (
    ("requests", "OTLP export requests received and decoded"),
    ("spans_received", "spans in those requests, GenAI or not"),
    ("spans_stored", "new llm_calls rows"),
    ("spans_already_stored", "calls already stored (client retries, replays)"),
    ("spans_spooled", "calls spooled because the database could not be written"),
    ("spans_not_calls", "GenAI spans that are aggregates (agent runs), not calls"),
    ("spans_malformed", "spans that could not be read"),
    ("write_failures", "batches neither stored nor spooled (kept in the journal and retried)"),
    ("spool_batches_ingested", "spool batches loaded into the database"),
    ("journal_records_replayed", "requests recovered from the journal at start"),
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
