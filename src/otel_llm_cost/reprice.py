"""Price stored calls again under the current catalog (and overrides): ``otel-llm-cost reprice``.

A model that was unknown last week and has a price now, a corrected price, a negotiated discount:
the cost fixed at ingestion is recomputed from the usage each row stores, with the same
:class:`~otel_llm_cost.pricing.Pricer` the exporter uses, so the same rules hold (a reported cost
counts only as the pricer's ``prefer`` says, an unpriceable call gets NULL and a reason).

Bulk and atomic: rows are read in chunks through a second cursor (its own snapshot), and each
chunk's changed rows are written with one ``UPDATE ... FROM`` an Arrow table, all inside ONE
transaction on the store's connection, with the audit rows and any new ``model_prices`` rows. An
error or an interrupt rolls everything back, so the file is left as it was. ``is_duplicate`` is
never touched: a duplicate row is re-priced like any other and stays flagged.

The audit (``llm_price_audit``) has one row per run and model, see migration 0009 for why.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from otel_llm_cost._selection import STORED_CALL_COLUMNS, CallFilter, record_from_row
from otel_llm_cost.catalog import plans_to_arrow
from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.pricing import Cost, Pricer
from otel_llm_cost.store import calls_to_arrow

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_ROWS: Final = 50_000

# Every llm_calls column a price decides, in the order compared and written.
PRICING_COLUMNS: Final = (
    "cost_usd", "computed_cost_usd", "cost_source", "input_cost_usd", "cache_read_cost_usd", "cache_write_cost_usd",
    "output_cost_usd", "other_cost_usd", "priced_provider", "priced_model", "pricing_status", "pricing_detail",
    "price_id", "price_version",
)  # fmt: skip
# The stored pricing is read as old_<column>: two of its columns are also among STORED_CALL_COLUMNS.
_SELECT: Final = ", ".join((*STORED_CALL_COLUMNS, *(f"{c} AS old_{c}" for c in PRICING_COLUMNS), "is_duplicate"))
_UPDATE: Final = (
    "UPDATE llm_calls SET "
    + ", ".join(f"{c} = u.{c}" for c in PRICING_COLUMNS)
    + " FROM _repriced u WHERE llm_calls.trace_id = u.trace_id AND llm_calls.span_id = u.span_id"
)

Progress = Callable[[int], None]  # called with the number of rows just done


@dataclass
class ModelChange:
    """What re-pricing did (or would do) to one model's calls; duplicates are left out of the counts."""

    provider: str | None
    model: str | None  #: the model the span named (response model, else request model)
    calls: int = 0
    changed_calls: int = 0
    newly_priced: int = 0
    newly_unpriced: int = 0
    old_cost_usd: Decimal | None = None  #: NULL when none of the calls was priced
    new_cost_usd: Decimal | None = None
    old_price_versions: set[str] = field(default_factory=set)
    new_price_versions: set[str] = field(default_factory=set)

    @property
    def delta_usd(self) -> Decimal | None:
        """New total minus old, counting a missing total as nothing; None when neither exists."""
        if self.old_cost_usd is None and self.new_cost_usd is None:
            return None
        return (self.new_cost_usd or Decimal(0)) - (self.old_cost_usd or Decimal(0))


@dataclass
class RepriceResult:
    """The outcome of one run. With ``dry_run`` nothing was written and ``run_id`` is not stored."""

    run_id: str
    command: str
    dry_run: bool
    rows: int = 0  #: rows selected, duplicates included
    updated_rows: int = 0  #: rows whose stored pricing changed (or would change)
    new_price_rows: int = 0  #: rate plans added to model_prices
    models: list[ModelChange] = field(default_factory=list)


def count_selected(con: duckdb.DuckDBPyConnection, selection: CallFilter) -> int:
    """How many rows ``selection`` takes: the total for a progress bar."""
    where, params = selection.where()
    row = con.execute(f"SELECT count(*) FROM llm_calls WHERE {where}", params).fetchone()
    return int(row[0]) if row else 0


def reprice(
    con: duckdb.DuckDBPyConnection,
    pricer: Pricer,
    selection: CallFilter | None = None,
    *,
    dry_run: bool = False,
    command: str = "reprice",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Progress | None = None,
) -> RepriceResult:
    """Price the selected ``llm_calls`` rows again and store the new costs, in one transaction.

    Args:
        con: a connection to a migrated database, not inside a transaction (read-only is fine
            with ``dry_run``).
        pricer: prices each rebuilt call; pass the one carrying your overrides.
        selection: which rows; all of them by default.
        dry_run: compute the change per model but write nothing.
        command: how the run was asked for, kept in the audit table.
        chunk_rows: rows read, priced and written at a time.
        progress: called after each chunk with the rows it held.

    Returns:
        Per model: calls, how many changed, old and new totals, price versions.

    Raises:
        duckdb.Error: reading or writing failed; nothing was changed.
    """
    selection = selection or CallFilter()
    result = RepriceResult(run_id=uuid.uuid4().hex, command=command, dry_run=dry_run)
    by_model: dict[tuple[str | None, str | None], ModelChange] = {}
    where, params = selection.where()
    # A second cursor streams the rows from its own snapshot while this connection's transaction
    # updates them: the same connection cannot run an UPDATE while a result is still being read.
    # Rows arrive as Arrow: turning 46 columns into Python tuples would cost more than pricing them.
    reader = con.cursor()
    try:
        batches = reader.execute(f"SELECT {_SELECT} FROM llm_calls WHERE {where}", params).to_arrow_reader(chunk_rows)
        if not dry_run:
            con.execute("BEGIN TRANSACTION")
        try:
            for stored in batches:
                if not stored.num_rows:
                    continue
                changed = _price_chunk(stored, pricer, by_model, result)
                if changed is not None and not dry_run:
                    _write(con, "_repriced", changed, _UPDATE)
                if progress is not None:
                    progress(stored.num_rows)
            if not dry_run:
                plans = pricer.take_new_plans()
                if plans:
                    result.new_price_rows = _write(
                        con, "_new_plans", plans_to_arrow(plans),
                        "INSERT OR IGNORE INTO model_prices BY NAME SELECT * FROM _new_plans",
                    )  # fmt: skip
                _record_audit(con, result, list(by_model.values()))
                con.execute("COMMIT")
        except BaseException:
            if not dry_run:
                # BaseException: Ctrl-C mid-run must not leave half the rows re-priced.
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
            raise
    finally:
        reader.close()
    result.models = sorted(by_model.values(), key=lambda m: (m.provider or "", m.model or ""))
    return result


def _price_chunk(
    stored: pa.RecordBatch,
    pricer: Pricer,
    by_model: dict[tuple[str | None, str | None], ModelChange],
    result: RepriceResult,
) -> pa.RecordBatch | None:
    """Price one chunk, count it per model; return the rows whose pricing changed, as Arrow."""
    columns = [stored.column(i).to_pylist() for i in range(len(STORED_CALL_COLUMNS))]
    priced: list[tuple[CallRecord, Cost]] = []
    for row in zip(*columns, strict=True):
        record = record_from_row(row)
        priced.append((record, pricer.price(record)))
    # calls_to_arrow rounds money as the store does, so an unchanged value compares equal.
    new = calls_to_arrow(priced).select(["trace_id", "span_id", *PRICING_COLUMNS])
    changed_mask = _differs(stored, new)
    changed = changed_mask.to_pylist()
    old_costs, new_costs = stored.column("old_cost_usd").to_pylist(), new.column("cost_usd").to_pylist()
    old_versions = stored.column("old_price_version").to_pylist()
    new_versions = new.column("price_version").to_pylist()
    duplicates = stored.column("is_duplicate").to_pylist()
    result.rows += stored.num_rows
    result.updated_rows += sum(changed)
    for i, (record, _) in enumerate(priced):
        if duplicates[i]:  # re-priced, never counted
            continue
        key = (record.provider, record.response_model or record.request_model)
        change = by_model.get(key)
        if change is None:
            change = by_model[key] = ModelChange(*key)
        old_cost, new_cost = old_costs[i], new_costs[i]
        change.calls += 1
        change.changed_calls += changed[i]
        change.newly_priced += old_cost is None and new_cost is not None
        change.newly_unpriced += old_cost is not None and new_cost is None
        if old_cost is not None:
            change.old_cost_usd = (change.old_cost_usd or Decimal(0)) + old_cost
        if new_cost is not None:
            change.new_cost_usd = (change.new_cost_usd or Decimal(0)) + new_cost
        if old_versions[i] is not None:
            change.old_price_versions.add(old_versions[i])
        change.new_price_versions.add(new_versions[i])
    return new.filter(changed_mask) if any(changed) else None


def _differs(old: pa.RecordBatch, new: pa.RecordBatch) -> pa.BooleanArray:
    """Per row: does any pricing column differ? NULL equals NULL here, unlike in SQL."""
    mask = pa.array([False] * old.num_rows)
    for name in PRICING_COLUMNS:
        before = old.column(f"old_{name}")
        after = new.column(name).cast(before.type)
        unequal = pc.fill_null(pc.not_equal(before, after), False)
        mask = pc.or_(mask, pc.or_(unequal, pc.xor(pc.is_null(before), pc.is_null(after))))
    return mask


def _write(con: duckdb.DuckDBPyConnection, name: str, batch: pa.RecordBatch, sql: str) -> int:
    """Run ``sql`` reading ``batch`` as ``name``; values never enter the SQL text."""
    con.register(name, batch)
    try:
        row = con.execute(sql).fetchone()
    finally:
        con.unregister(name)
    return int(row[0]) if row else 0


def _record_audit(con: duckdb.DuckDBPyConnection, result: RepriceResult, models: list[ModelChange]) -> None:
    if not models:
        return
    run_at = datetime.now(timezone.utc)
    # fmt: off
    con.executemany(
        "INSERT INTO llm_price_audit (run_id, run_at, command, provider, model, calls, changed_calls, newly_priced,"
        " newly_unpriced, old_cost_usd, new_cost_usd, old_price_versions, new_price_versions)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [result.run_id, run_at, result.command, m.provider, m.model, m.calls, m.changed_calls, m.newly_priced,
             m.newly_unpriced, m.old_cost_usd, m.new_cost_usd, sorted(m.old_price_versions),
             sorted(m.new_price_versions)]
            for m in models
        ],
    )
    # fmt: on
