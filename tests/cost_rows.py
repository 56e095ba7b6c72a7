"""Rows written straight into a migrated database, for tests of what reads them (export, prune, health)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import duckdb

UTC = timezone.utc
# Money that a float would not keep: 18 places, 20 digits of dollars, a tiny price, and NULL (unpriced).
COSTS = (
    Decimal("0.000370370367037037"),
    Decimal("12345678901234567890.123456789012345678"),
    Decimal("0.000000000000000001"),
    None,
)


def add_call(
    con: duckdb.DuckDBPyConnection,
    span: int,
    start: datetime,
    cost: Decimal | None,
    *,
    trace: int = 1,
    model: str = "gpt-4o-mini",
    duplicate: bool = False,
) -> None:
    con.execute(
        "INSERT INTO llm_calls (trace_id, span_id, start_time, end_time, provider, request_model, priced_model,"
        " input_tokens, output_tokens, cost_usd, pricing_status, is_duplicate)"
        " VALUES (?, ?, ?, ?, 'openai', ?, ?, 1000, 100, ?, ?, ?)",
        [f"{trace:032x}", f"{span:016x}", start, start + timedelta(seconds=2), model,
         model if cost is not None else None, cost, "priced" if cost is not None else "unknown_model", duplicate],
    )  # fmt: skip


def add_run(con: duckdb.DuckDBPyConnection, span: int, start: datetime, *, trace: int = 1) -> None:
    con.execute(
        "INSERT INTO llm_agent_runs (trace_id, span_id, start_time, end_time, run_kind, agent_name)"
        " VALUES (?, ?, ?, ?, 'invoke_agent', 'planner')",
        [f"{trace:032x}", f"{span:016x}", start, start + timedelta(minutes=1)],
    )


def day(year: int, month: int, d: int, hour: int = 12) -> datetime:
    return datetime(year, month, d, hour, tzinfo=UTC)
