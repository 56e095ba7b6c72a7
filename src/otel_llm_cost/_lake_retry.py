"""Retry a DuckLake transaction that lost a commit conflict, with jittered backoff, within a deadline.

DuckLake retries a commit by itself when the other snapshots' changes do not touch what this one
changed (two appends, say: ``ducklake_max_retry_count``). When they do (two writers moving the
write fence, two processes creating the same table), it aborts with a ``TransactionException``
and the whole transaction must run again against the newer snapshot. Each step retried here is
idempotent (it re-reads what is already there), so running it again never writes anything twice.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

import duckdb

logger = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_WAIT_S = 0.02
MAX_WAIT_S = 1.0


class CommitConflict(RuntimeError):
    """A transaction still lost its commit conflicts when the retry deadline passed."""


def is_conflict(exc: BaseException) -> bool:
    """DuckLake aborted the commit because another snapshot changed the same things."""
    text = str(exc)
    return isinstance(exc, duckdb.TransactionException) or "Transaction conflict" in text


def in_transaction(con: duckdb.DuckDBPyConnection, step: Callable[[], T]) -> T:
    """Run ``step`` between BEGIN and COMMIT on ``con``; roll back if anything fails."""
    con.execute("BEGIN TRANSACTION")
    try:
        result = step()
        con.execute("COMMIT")
    except BaseException:
        # A failed COMMIT has already ended the transaction; then ROLLBACK itself fails.
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    return result


def retry_conflicts(step: Callable[[], T], *, what: str, deadline_s: float) -> T:
    """Call ``step`` (one whole transaction) until it commits, retrying commit conflicts.

    Each wait is drawn at random up to a bound that starts at the failed attempt's length (or
    40 ms) and doubles with each loss, to at most 1 s, so writers that collided spread out.

    Raises:
        CommitConflict: it still conflicted after ``deadline_s`` seconds.
    """
    deadline = time.monotonic() + deadline_s
    bound = FIRST_WAIT_S
    attempts = 0
    while True:
        attempts += 1
        began = time.monotonic()
        try:
            return step()
        except duckdb.Error as exc:
            if not is_conflict(exc):
                raise
            if time.monotonic() >= deadline:
                raise CommitConflict(
                    f"{what}: still conflicting with other writers after {attempts} attempts in {deadline_s:g} s"
                ) from exc
            logger.debug("%s lost a commit conflict (attempt %d); retrying", what, attempts)
        # The winner's transaction took about as long as ours: retrying sooner would only collide
        # with the next winner. So the wait is at least one attempt's length, doubling per loss.
        bound = min(max(bound * 2, time.monotonic() - began), MAX_WAIT_S)
        time.sleep(random.uniform(0, bound))
