"""The drain loop behind a bounded queue, shared by the pricing worker and the forward worker.

One daemon thread sleeps until woken (a batch is ready, a flush is asked for, shutdown) or until
the schedule delay passes, then drains its queue. Flush requests are taken *before* draining:
every item queued before a request was made is then in the queue, so it is handled before the
request is answered. The owner provides ``_drain`` (and may provide ``_after_last_drain``); it
keeps its queue, its hot path and its counters itself.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class QueueWorker:
    """Mixin: a worker thread, its wake event and its flush requests."""

    _closed: bool
    _delay_s: float

    def _init_worker(self, name: str) -> None:
        """Start (or, in a forked child, restart) the worker with fresh synchronisation objects."""
        self._wake = threading.Event()
        self._counter_lock = threading.Lock()
        self._flush_requests: deque[threading.Event] = deque()
        self._worker = threading.Thread(target=self._run, name=name, daemon=True)
        self._worker.start()

    def _drain(self) -> None:
        raise NotImplementedError

    def _after_last_drain(self) -> None:
        """Runs on the worker thread once the queue is drained for the last time."""

    def _run(self) -> None:
        while True:
            self._wake.wait(self._delay_s)
            self._wake.clear()
            requests = [self._flush_requests.popleft() for _ in range(len(self._flush_requests))]
            closing = self._closed
            self._drain()
            for request in requests:
                request.set()
            if closing:
                break
        self._after_last_drain()
        for request in self._flush_requests:
            request.set()

    def _flushed_within(self, timeout_s: float) -> bool:
        """Ask the worker to drain what is queued now; True if it did within ``timeout_s``."""
        done = threading.Event()
        self._flush_requests.append(done)
        self._wake.set()
        return done.wait(max(timeout_s, 0.0))

    def _stopped_by(self, deadline: float) -> bool:
        """Wake the worker (``_closed`` must be set) and wait for it until ``deadline`` (monotonic)."""
        self._wake.set()
        if self._worker is not threading.current_thread():
            self._worker.join(max(0.0, deadline - time.monotonic()))
        return not self._worker.is_alive()
