"""Forwarding spans to another exporter (OTLP, console, ...) without ever waiting for it.

:class:`SpanForwarder` is the exporter ``LLMCostSpanProcessor`` forwards through: a bounded queue
and a thread of its own in front of the real exporter, so a slow or failing collector delays
neither the application nor the DuckDB writes. :func:`exporter_from_name` builds the exporter that
``forward_to="otlp"`` (or ``OTEL_LLM_COST_FORWARD``) names, from the SDK's own classes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Final

from opentelemetry.context import (
    _SUPPRESS_HTTP_INSTRUMENTATION_KEY,
    _SUPPRESS_INSTRUMENTATION_KEY,
    attach,
    detach,
    set_value,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_llm_cost._worker import QueueWorker

logger = logging.getLogger(__name__)

# Spans per export call of the forward worker: the SDK BatchSpanProcessor's default, a safe OTLP
# request size.
FORWARD_BATCH_SIZE: Final = 512


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


class SpanForwarder(QueueWorker, SpanExporter):
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
        if not self._flushed_within(deadline - time.monotonic()):
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
        if not self._stopped_by(deadline):
            self._abandon = True
            logger.warning(
                "forwarding: shutdown timed out after %d ms; %d spans not sent", timeout_millis, len(self._queue)
            )
        self._shutdown_exporter()

    def reset_after_fork(self) -> None:
        """In a forked child: start empty, with counts and a worker of its own."""
        self._queue = deque()
        self.forwarded = self.failed = self.dropped_queue_full = 0
        if not self._closed:
            self._init_worker()

    # -- the forward worker -----------------------------------------------------------------------

    def _init_worker(self, name: str = "otel-llm-cost-forward") -> None:
        self._abandon = False  # set when shutdown gives up on a hung collector
        super()._init_worker(name)

    def _count_dropped(self, count: int) -> None:
        with self._counter_lock:
            first = self.dropped_queue_full == 0
            self.dropped_queue_full += count
        if first:
            logger.warning("forwarding queue is full (%d spans); dropping and counting", self._max_queue_size)

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
