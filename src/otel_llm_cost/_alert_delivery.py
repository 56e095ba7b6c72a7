"""Alert delivery on a thread of its own, so a slow or dead channel delays neither the application
nor the writes to DuckDB.

The ingest worker hands each fired alert over with :meth:`AlertDispatcher.submit`, which only
appends to a bounded deque (full: dropped, counted, logged). The delivery thread sends each
(alert, channel) pair with a timeout, retries a failure ``max_attempts - 1`` times with doubling
backoff, then gives up: it logs the masked target and the error, counts it, and keeps an outcome
row that the ingest worker writes to ``llm_budget_deliveries`` with its next batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from otel_llm_cost._alert_channels import AlertChannel
from otel_llm_cost._worker import QueueWorker
from otel_llm_cost.budgets import Alert

logger = logging.getLogger(__name__)


@dataclass
class DeliveryStats:
    """Counts since start; every submitted (alert, channel) ends in one of the first three."""

    delivered: int = 0
    failed: int = 0  #: gave up after max_attempts (each failure logged)
    dropped_queue_full: int = 0
    retries: int = 0  #: attempts after a first failure


class AlertDispatcher(QueueWorker):
    """Delivers alerts to their channels with timeouts and bounded retries.

    Args:
        timeout_s: per attempt (HTTP and SMTP socket timeout).
        max_attempts: tries per channel and alert, at least 1.
        backoff_s: wait before the first retry; doubled before each next one.
        max_queue_size: pending deliveries held before dropping.
        clock: the time stamped on outcomes (UTC); tests pass their own.
    """

    def __init__(
        self,
        *,
        timeout_s: float = 10.0,
        max_attempts: int = 3,
        backoff_s: float = 1.0,
        max_queue_size: int = 1000,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._max_queue_size = max_queue_size
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._queue: deque[tuple[Alert, AlertChannel]] = deque()
        self._outcomes: deque[tuple[object, ...]] = deque()
        self._stop = threading.Event()  # cuts a backoff short at shutdown
        self._closed = False
        self._delay_s = 1.0
        self.stats = DeliveryStats()
        self._init_worker("otel-llm-cost-alerts")

    def submit(self, alert: Alert, channels: Sequence[AlertChannel]) -> None:
        """Queue the alert for each channel; never blocks."""
        for channel in channels:
            if self._closed or len(self._queue) >= self._max_queue_size:
                self.stats.dropped_queue_full += 1
                logger.error("budget alert %r for %s %s dropped: the alert queue is full or closed",
                             alert.budget, channel.kind, channel.target)  # fmt: skip
                continue
            self._queue.append((alert, channel))
        self._wake.set()

    def take_outcomes(self) -> list[tuple[object, ...]]:
        """Outcome rows finished since the last call, for ``llm_budget_deliveries``."""
        return [self._outcomes.popleft() for _ in range(len(self._outcomes))]

    def force_flush(self, timeout_s: float = 30.0) -> bool:
        """Deliver (or give up on) everything queued now; False if that took longer than ``timeout_s``."""
        return self._flushed_within(timeout_s)

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Deliver what is queued within ``timeout_s``, then stop; later backoffs are cut short."""
        if self._closed:
            return
        self._closed = True
        if not self._stopped_by(time.monotonic() + timeout_s):
            self._stop.set()
            logger.warning("budget alert delivery did not finish within %.1f s; %d pending", timeout_s,
                           len(self._queue))  # fmt: skip

    def reset_after_fork(self) -> None:
        """In a forked child: the parent's pending alerts stay with the parent; a new thread."""
        self._queue = deque()
        self._outcomes = deque()
        self._stop = threading.Event()
        self.stats = DeliveryStats()
        if not self._closed:
            self._init_worker("otel-llm-cost-alerts")

    def _drain(self) -> None:
        while self._queue:
            alert, channel = self._queue.popleft()
            self._deliver(alert, channel)

    def _deliver(self, alert: Alert, channel: AlertChannel) -> None:
        error = ""
        for attempt in range(1, self._max_attempts + 1):
            if attempt > 1:
                self.stats.retries += 1
                if self._stop.wait(self._backoff_s * 2 ** (attempt - 2)):
                    break
            try:
                channel.send(alert, self._timeout_s)
            except Exception as exc:  # any failure of a channel is the channel's, never ingestion's
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                logger.debug("budget alert to %s %s failed (attempt %d): %s", channel.kind, channel.target,
                             attempt, error)  # fmt: skip
                continue
            self.stats.delivered += 1
            self._outcome(alert, channel, True, attempt, None)
            return
        self.stats.failed += 1
        logger.error("budget alert %r (%d%%) could not be delivered to %s %s after %d attempts: %s",
                     alert.budget, alert.threshold_pct, channel.kind, channel.target, attempt, error)  # fmt: skip
        self._outcome(alert, channel, False, attempt, error)

    def _outcome(self, alert: Alert, channel: AlertChannel, delivered: bool, attempts: int, error: str | None) -> None:
        self._outcomes.append(
            (alert.budget, alert.window_start, alert.threshold_pct, channel.kind, channel.target, delivered,
             attempts, error, self._clock())
        )  # fmt: skip
