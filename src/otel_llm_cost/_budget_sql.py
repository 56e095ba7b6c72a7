"""SQL for budgets (migration 0011): declare, list and remove budgets; seed the running sums;
persist fired alerts and delivery outcomes. Values always go in as parameters."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import duckdb

from otel_llm_cost.budgets import SCOPE_FIELDS, TAG_COLUMNS, Alert, Budget, BudgetError

logger = logging.getLogger(__name__)
_COLUMNS = "name, scope, scope_value, tag_key, period, timezone, limit_usd, thresholds_pct, channels, source"


def save_budgets(con: duckdb.DuckDBPyConnection, budgets: Iterable[Budget], source: str) -> None:
    """Insert or replace budgets by name (in one transaction)."""
    rows = [
        [b.name, b.scope, b.value, b.tag, b.period, b.timezone, b.limit_usd, list(b.thresholds_pct),
         json.dumps(b.stored_channels), source]
        for b in budgets
    ]  # fmt: skip
    if not rows:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        con.executemany(
            f"INSERT OR REPLACE INTO llm_budgets ({_COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
            rows,
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def load_budgets(con: duckdb.DuckDBPyConnection) -> list[tuple[Budget, str]]:
    """Every stored budget with its source. A callback channel lives in code only: it is left out."""
    rows = con.execute(f"SELECT {_COLUMNS} FROM llm_budgets ORDER BY name").fetchall()
    result = []
    for name, scope, value, tag, period, zone, limit, thresholds, channels, source in rows:
        specs = tuple(c for c in json.loads(channels) if not c.startswith("callback:"))
        try:
            budget = Budget(name, limit, scope=scope, value=value, tag=tag, period=period, timezone=zone,
                            thresholds_pct=tuple(thresholds), channels=specs)  # fmt: skip
        except BudgetError as exc:  # a row written by hand, or a zone this machine lacks: skip it, say so
            logger.error("ignoring stored budget: %s", exc)
            continue
        result.append((budget, source))
    return result


def remove_budget(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Delete a budget and its alert history; False if there was none of that name."""
    con.execute("BEGIN TRANSACTION")
    try:
        row = con.execute("DELETE FROM llm_budgets WHERE name = ?", [name]).fetchone()
        con.execute("DELETE FROM llm_budget_alerts WHERE budget_name = ?", [name])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return bool(row and row[0])


def scope_predicate(budget: Budget) -> tuple[str, list[Any]]:
    """The WHERE condition on llm_calls for the budget's scope, and its parameters."""
    if budget.scope == "global":
        return "true", []
    if budget.scope == "tag":
        assert budget.tag is not None
        if budget.tag in TAG_COLUMNS:  # a fixed list of our own column names: safe in the SQL text
            return f"{budget.tag} = ?", [budget.value]
        return "json_extract_string(attributes, ?) = ?", [f'$."{budget.tag}"', budget.value]
    columns = SCOPE_FIELDS[budget.scope]
    return f"? IN ({', '.join(columns)})", [budget.value]


def seed_windows(
    con: duckdb.DuckDBPyConnection, windows: Sequence[tuple[Budget, datetime, datetime | None]]
) -> dict[str, tuple[Decimal, int]]:
    """Priced spend and unpriced calls of each budget in its window, in one query."""
    if not windows:
        return {}
    parts: list[str] = []
    params: list[Any] = []
    for budget, start, end in windows:
        condition, values = scope_predicate(budget)
        upper = " AND start_time < ?" if end is not None else ""
        parts.append(
            "SELECT ? AS name, sum(cost_usd) AS spend, count(*) - count(cost_usd) AS unpriced FROM llm_calls"
            f" WHERE NOT is_duplicate AND start_time >= ?{upper} AND ({condition})"
        )
        params += [budget.name, start, *([end] if end is not None else []), *values]
    rows = con.execute(" UNION ALL ".join(parts), params).fetchall()
    return {name: (spend if spend is not None else Decimal(0), int(unpriced)) for name, spend, unpriced in rows}


def fired_thresholds(con: duckdb.DuckDBPyConnection, names: Sequence[str]) -> set[tuple[str, datetime, int]]:
    """(budget, window start, threshold) of every alert already fired for these budgets."""
    if not names:
        return set()
    rows = con.execute(
        "SELECT budget_name, window_start, threshold_pct FROM llm_budget_alerts WHERE list_contains(?, budget_name)",
        [list(names)],
    ).fetchall()
    return {(name, start, int(threshold)) for name, start, threshold in rows}


def record_alert(con: duckdb.DuckDBPyConnection, alert: Alert) -> bool:
    """Persist a fired alert; False if this budget, window and threshold had fired already."""
    row = con.execute(
        "INSERT OR IGNORE INTO llm_budget_alerts VALUES (?, ?, ?, ?, ?, ?, ?)",
        [alert.budget, alert.window_start, alert.threshold_pct, alert.fired_at, alert.spend_usd, alert.limit_usd,
         alert.unpriced_calls],
    ).fetchone()  # fmt: skip
    return bool(row and row[0])


def record_deliveries(con: duckdb.DuckDBPyConnection, rows: Sequence[Sequence[object]]) -> None:
    """Append delivery outcomes: (budget, window_start, threshold, channel, target, delivered, attempts,
    error, finished_at)."""
    if rows:
        con.executemany("INSERT INTO llm_budget_deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", list(rows))


def status_rows(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The ``budget_status`` view, one dict per budget."""
    cursor = con.execute("SELECT * FROM budget_status ORDER BY budget")
    names = [d[0] for d in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
