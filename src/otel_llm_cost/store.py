"""DuckDB storage: the only module that writes SQL against the cost tables.

The store migrates itself when it opens. A batch of priced calls becomes one Arrow RecordBatch
and one ``INSERT OR IGNORE ... BY NAME`` statement, which is 50-100x faster than row-by-row
inserts and idempotent on ``(trace_id, span_id)``, so an OTLP retry or a replayed file stores each
span once.

DuckDB allows one writing process per file. Open the store in one process only (the one that runs
the processor, or ``otel-llm-cost serve``); other processes can read with ``read_only=True`` only
while no writer holds the file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.migrations import migrate
from otel_llm_cost.pricing import Cost, RatePlan

logger = logging.getLogger(__name__)

# DECIMAL(38, 18): 20 digits of dollars, 18 of fractions. One token at $0.01 per million is
# $1e-8, so 18 places keep every real price exact; anything finer is rounded half-even.
MONEY = pa.decimal128(38, 18)
_QUANTUM = Decimal(1).scaleb(-18)
_TIMESTAMP = pa.timestamp("ns", tz="UTC")

_TEXT_COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "span_name", "service_name", "environment", "provider",
    "operation", "request_model", "response_model", "response_id", "user_id", "conversation_id",
    "agent_name", "status_code", "error_type",
)  # fmt: skip
_TOKEN_COLUMNS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
_COST_TEXT_COLUMNS = ("priced_provider", "priced_model", "pricing_status", "pricing_detail", "price_id",
                      "price_version", "cost_source")  # fmt: skip
_MONEY_COLUMNS = ("cost_usd", "computed_cost_usd", "input_cost_usd", "cache_read_cost_usd", "cache_write_cost_usd",
                  "output_cost_usd", "other_cost_usd")  # fmt: skip


class StoreUnavailable(RuntimeError):
    """The DuckDB file cannot be opened for writing (missing folder, read-only, locked...)."""


def _money(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)


def calls_to_arrow(rows: Sequence[tuple[CallRecord, Cost]]) -> pa.RecordBatch:
    """Build the Arrow batch for ``llm_calls``; column names match the table's."""
    records = [r for r, _ in rows]
    costs = [c for _, c in rows]
    columns: dict[str, pa.Array] = {}
    for name in _TEXT_COLUMNS:
        columns[name] = pa.array([getattr(r, name) for r in records], pa.string())
    columns["start_time"] = pa.array([r.start_time_ns for r in records], _TIMESTAMP)
    columns["end_time"] = pa.array([r.end_time_ns for r in records], _TIMESTAMP)
    for name in _TOKEN_COLUMNS:
        columns[name] = pa.array([getattr(r, name) for r in records], pa.int64())
    columns["input_excluded_cache"] = pa.array([r.input_excluded_cache for r in records], pa.bool_())
    columns["reported_cost_usd"] = pa.array([_money(r.reported_cost_usd) for r in records], MONEY)
    for name in _COST_TEXT_COLUMNS:
        columns[name] = pa.array([getattr(c, name) for c in costs], pa.string())
    for name in _MONEY_COLUMNS:
        columns[name] = pa.array([_money(getattr(c, name)) for c in costs], MONEY)
    return pa.RecordBatch.from_pydict(columns)


def plans_to_arrow(plans: Sequence[RatePlan]) -> pa.RecordBatch:
    """Build the Arrow batch for ``model_prices``."""

    def base_rate(plan: RatePlan, key: str) -> Decimal | None:
        text = plan.rates.get(key)
        return None if text is None else _money(Decimal(text.split(" ", 1)[0]))

    return pa.RecordBatch.from_pydict(
        {
            "price_id": pa.array([p.price_id for p in plans], pa.string()),
            "provider_id": pa.array([p.provider_id for p in plans], pa.string()),
            "model_id": pa.array([p.model_id for p in plans], pa.string()),
            "model_name": pa.array([p.model_name for p in plans], pa.string()),
            "effective_from": pa.array([p.effective_from for p in plans], pa.date32()),
            "effective_to": pa.array([p.effective_to for p in plans], pa.date32()),
            "input_mtok": pa.array([base_rate(p, "input_mtok") for p in plans], MONEY),
            "cache_read_mtok": pa.array([base_rate(p, "cache_read_mtok") for p in plans], MONEY),
            "cache_write_mtok": pa.array([base_rate(p, "cache_write_mtok") for p in plans], MONEY),
            "output_mtok": pa.array([base_rate(p, "output_mtok") for p in plans], MONEY),
            "rates": pa.array([json.dumps(p.rates, sort_keys=True) for p in plans], pa.string()),
            "price_version": pa.array([p.price_version for p in plans], pa.string()),
        }
    )


class DuckDBStore:
    """A DuckDB file holding ``llm_calls``, ``model_prices`` and the analytic views.

    Args:
        path: the database file, or ``":memory:"``. Its folder must exist.
        read_only: open for reading only; no migration is run.

    Raises:
        StoreUnavailable: the file cannot be opened (folder missing, permissions, locked by
            another process); the message says which.
    """

    def __init__(self, path: str | os.PathLike[str] = "llm-cost.duckdb", *, read_only: bool = False) -> None:
        self.path = str(path)
        self.con = _connect(self.path, read_only=read_only)
        if not read_only:
            try:
                # UTC for every session so date_trunc and ::DATE in views mean UTC days.
                self.con.execute("SET TimeZone = 'UTC'")
                migrate(self.con)
            except Exception:
                self.con.close()
                raise

    def write_batch(self, rows: Sequence[tuple[CallRecord, Cost]], plans: Sequence[RatePlan] = ()) -> int:
        """Insert priced calls (and the rate plans they used) in one transaction.

        Returns the number of new rows; spans already stored are skipped, not duplicated.
        """
        if not rows and not plans:
            return 0
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            if plans:
                con.register("_incoming_prices", plans_to_arrow(plans))
                con.execute("INSERT OR IGNORE INTO model_prices BY NAME SELECT * FROM _incoming_prices")
                con.unregister("_incoming_prices")
            inserted = 0
            if rows:
                con.register("_incoming_calls", calls_to_arrow(rows))
                result = con.execute("INSERT OR IGNORE INTO llm_calls BY NAME SELECT * FROM _incoming_calls")
                inserted = int(result.fetchone()[0])  # type: ignore[index]
                con.unregister("_incoming_calls")
            con.execute("COMMIT")
        except BaseException:
            # The transaction may already be gone with a failed connection.
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        return inserted

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _connect(path: str, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    if path != ":memory:":
        folder = Path(path).expanduser().resolve().parent
        if not folder.is_dir():
            raise StoreUnavailable(f"cannot open DuckDB file {path!r}: folder {str(folder)!r} does not exist")
        if read_only and not Path(path).exists():
            raise StoreUnavailable(f"cannot open DuckDB file {path!r} for reading: no such file")
    try:
        return duckdb.connect(path, read_only=read_only)
    except duckdb.Error as exc:
        text = str(exc)
        if "lock" in text.lower():
            reason = "it is locked by another process (DuckDB allows one writing process per file; see README)"
        elif "permission" in text.lower() or "read-only" in text.lower():
            reason = "permission denied"
        else:
            reason = text.splitlines()[0] if text else type(exc).__name__
        raise StoreUnavailable(f"cannot open DuckDB file {path!r}: {reason}") from exc
