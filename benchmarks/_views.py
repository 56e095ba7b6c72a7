"""Figure 5: the analytic views (sql/views) and the report over a table of 1M (optionally 10M) calls.

The rows are generated inside DuckDB with SQL over ``range(n)``, not through spans: the ingest
figure measures that path, and 10M spans through it would take ten minutes. The table is the one
the store's own migrations create, with its primary key, so the views read what they read in use.
The data is shaped like a busy service's 90 days, as the issue asks: 50 models over 3 providers
(each with its own effective rates in ``model_prices``, and the cost split by token kind), 1,000
users, 10 services, 4 calls per trace, 10 calls per conversation, latencies from 0.2 to 30 s, 2%
unpriced, 2% failed, 1% duplicates, an agent run over every tenth trace and a test id on 5% of the
calls.

Every view is found by globbing ``sql/views/*.sql``, so views added later are timed too. Each is
timed two ways: its full result fetched as Arrow (what a dashboard that reads it whole does), and,
for views with a ``cost_usd`` column, its 100 most expensive rows (what a report asks it). The
report (``otel_llm_cost.report.build_report``) is timed whole. The baseline, timed in the same
rounds, is one aggregate scan of ``llm_calls`` (count, cost and token sums of every row, distinct
traces): the least a question about all calls can cost. Ratio = time / scan time. The database
file's size after a checkpoint is reported per million calls.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

from _common import interleaved, median, ratio_summary

from otel_llm_cost import DuckDBStore
from otel_llm_cost.catalog import load_catalog
from otel_llm_cost.pricing import Pricer
from otel_llm_cost.report import build_report

BASELINE_SQL = (
    "SELECT count(*), sum(cost_usd), sum(input_tokens), sum(output_tokens), count(DISTINCT trace_id) FROM llm_calls"
)
MODELS, USERS, DAYS = 50, 1_000, 90
FIRST_DAY = date(2026, 8, 1)
LAST_DAY = date(2026, 10, 29)  # FIRST_DAY + 89 days: the report's "today"
VIEW_TARGET_MS = 1000  # the target for every view at 10M calls

# One statement each: DuckDB fills the table in parallel, and the primary key index is built as it goes.
_PRICES_SQL = """
INSERT INTO model_prices BY NAME
SELECT
    'price-' || m                                                   AS price_id,
    ['openai', 'anthropic', 'google'][m % 3 + 1]                    AS provider_id,
    'model-' || m                                                   AS model_id,
    ((m + 1) * 0.1)::DECIMAL(38, 18)                                AS input_mtok,
    ((m + 1) * 0.01)::DECIMAL(38, 18)                               AS cache_read_mtok,
    ((m + 1) * 0.4)::DECIMAL(38, 18)                                AS output_mtok,
    '{}'                                                            AS rates,
    'bench'                                                         AS price_version
FROM range($models) t(m)
"""

_CALLS_SQL = """
INSERT INTO llm_calls BY NAME
SELECT
    printf('%032x', i // 4)                                         AS trace_id,
    printf('%016x', i + 1)                                          AS span_id,
    printf('%016x', (i // 4) * 4 + 1_000_000_000_000)               AS parent_span_id,
    start_time,
    start_time + to_milliseconds(200 + hash(i + 2) % 29_800)        AS end_time,
    'chat model-' || m                                              AS span_name,
    'service-' || (i % 10)                                          AS service_name,
    'prod'                                                          AS environment,
    provider,
    'chat'                                                          AS operation,
    'model-' || m                                                   AS request_model,
    'model-' || m                                                   AS response_model,
    CASE WHEN unpriced THEN NULL ELSE provider END                  AS priced_provider,
    CASE WHEN unpriced THEN NULL ELSE 'model-' || m END             AS priced_model,
    CASE WHEN unpriced THEN NULL ELSE 'price-' || m END             AS price_id,
    input_tokens,
    cache_read_tokens,
    0                                                               AS cache_write_tokens,
    output_tokens,
    output_tokens // 5                                              AS reasoning_tokens,
    CASE WHEN NOT unpriced THEN input_cost + cache_cost + output_cost END AS cost_usd,
    CASE WHEN NOT unpriced THEN input_cost + cache_cost + output_cost END AS computed_cost_usd,
    CASE WHEN NOT unpriced THEN input_cost END                      AS input_cost_usd,
    CASE WHEN NOT unpriced THEN cache_cost END                      AS cache_read_cost_usd,
    CASE WHEN NOT unpriced THEN 0::DECIMAL(38, 18) END              AS cache_write_cost_usd,
    CASE WHEN NOT unpriced THEN output_cost END                     AS output_cost_usd,
    CASE WHEN unpriced THEN NULL ELSE 'computed' END                AS cost_source,
    CASE WHEN unpriced THEN 'unknown_model' ELSE 'priced' END       AS pricing_status,
    CASE WHEN unpriced THEN 'not in the price catalog' END          AS pricing_detail,
    'bench'                                                         AS price_version,
    i % 100 = 1                                                     AS is_duplicate,
    'user-' || (hash(i // 40) % $users)                             AS user_id,
    'conv-' || (i // 10)                                            AS conversation_id,
    CASE WHEN i % 3 = 0 THEN 'agent-' || (i % 7) END                AS agent_name,
    CASE WHEN i % 50 = 0 THEN 'ERROR' ELSE 'OK' END                 AS status_code,
    CASE WHEN i % 50 = 0 THEN 'RateLimitError' END                  AS error_type,
    CASE WHEN i % 20 = 0 THEN 'tests/test_app.py::test_' || (i % 500) END AS test_id
FROM (
    SELECT
        i,
        m,
        ['openai', 'anthropic', 'google'][m % 3 + 1]                AS provider,
        TIMESTAMPTZ '2026-08-01 00:00:00+00' + to_microseconds(i * ($days * 86_400_000_000 // $n)) AS start_time,
        i % 50 = 7                                                  AS unpriced,
        input_tokens,
        cache_read_tokens,
        output_tokens,
        ((input_tokens - cache_read_tokens) * rate)::DECIMAL(38, 18)  AS input_cost,
        (cache_read_tokens * rate / 10)::DECIMAL(38, 18)            AS cache_cost,
        (output_tokens * rate * 4)::DECIMAL(38, 18)                 AS output_cost
    FROM (
        SELECT
            i,
            i % $models                                             AS m,
            ((i % $models + 1) * 0.0000001)::DECIMAL(38, 18)        AS rate,  -- input USD per token
            100 + (hash(i) % 20_000)::BIGINT                        AS input_tokens,
            (100 + (hash(i) % 20_000)::BIGINT) * (hash(i + 3) % 50)::BIGINT // 100 AS cache_read_tokens,
            10 + (hash(i + 1) % 2_000)::BIGINT                      AS output_tokens
        FROM range($n) t(i)
    )
)
"""

_RUNS_SQL = """
INSERT INTO llm_agent_runs BY NAME
SELECT
    printf('%032x', t)                                              AS trace_id,
    printf('%016x', t * 4 + 1_000_000_000_000)                      AS span_id,
    TIMESTAMPTZ '2026-08-01 00:00:00+00' + to_microseconds(t * 4 * ($days * 86_400_000_000 // $n)) AS start_time,
    TIMESTAMPTZ '2026-08-01 00:01:00+00' + to_microseconds(t * 4 * ($days * 86_400_000_000 // $n)) AS end_time,
    'invoke_agent agent-' || (t % 7)                                AS span_name,
    'service-' || (t % 10)                                          AS service_name,
    'invoke_agent'                                                  AS run_kind,
    'agent-' || (t % 7)                                             AS agent_name,
    'conv-' || (t * 4 // 10)                                        AS conversation_id,
    'user-' || (hash(t // 10) % $users)                             AS user_id,
    'OK'                                                            AS status_code
FROM range(0, ($n + 3) // 4, 10) r(t)
"""


# Budgets, so budget_status has work: the total ones read every call of their scope.
_BUDGETS_SQL = """
INSERT INTO llm_budgets (name, scope, scope_value, tag_key, period, timezone, limit_usd, thresholds_pct, channels)
VALUES ('all', 'global', NULL, NULL, 'total', 'UTC', 1000000, [50, 100], '[]'),
       ('service-3', 'service', 'service-3', NULL, 'total', 'UTC', 1000, [100], '[]'),
       ('model-5', 'model', 'model-5', NULL, 'total', 'UTC', 1000, [100], '[]'),
       ('agent-2', 'tag', 'agent-2', 'agent_name', 'total', 'UTC', 1000, [100], '[]'),
       ('monthly', 'global', NULL, NULL, 'month', 'Europe/Paris', 100, [80, 100], '[]')
"""


def view_names(store: DuckDBStore) -> list[str]:
    rows = store.con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND database_name = current_database() ORDER BY 1"
    ).fetchall()
    return [row[0] for row in rows]


def fill(store: DuckDBStore, rows: int) -> dict[str, Any]:
    """Generate ``rows`` calls (and their agent runs and prices) straight into the tables; return what was made."""
    store.con.execute("SET enable_progress_bar = false")  # it would draw on the table's terminal
    params = {"n": rows, "models": MODELS, "users": USERS, "days": DAYS}
    started = time.perf_counter()
    store.con.execute(_PRICES_SQL, {"models": MODELS})
    store.con.execute(_CALLS_SQL, params)
    store.con.execute(_RUNS_SQL, {key: params[key] for key in ("n", "users", "days")})
    load_catalog(store.con, Pricer())  # model_prices_current, as a processor's first batch loads it
    store.con.execute(_BUDGETS_SQL)
    store.con.execute("CHECKPOINT")
    seconds = time.perf_counter() - started
    calls, unpriced, duplicates, models, users, days = store.con.execute(
        "SELECT count(*), count(*) - count(cost_usd), count(*) FILTER (WHERE is_duplicate),"
        " count(DISTINCT request_model), count(DISTINCT user_id), count(DISTINCT start_time::DATE) FROM llm_calls"
    ).fetchone() or (0, 0, 0, 0, 0, 0)
    runs = store.con.execute("SELECT count(*) FROM llm_agent_runs").fetchone()
    return {"calls": calls, "unpriced": unpriced, "duplicates": duplicates, "agent_runs": runs[0] if runs else 0,
            "models": models, "users": users, "days": days, "generate_s": round(seconds, 2)}  # fmt: skip


def _time(store: DuckDBStore, sql: str) -> tuple[float, int]:
    started = time.perf_counter()
    table = store.con.execute(sql).to_arrow_table()
    return time.perf_counter() - started, table.num_rows


def _time_report(store: DuckDBStore) -> tuple[float, int]:
    started = time.perf_counter()
    report = build_report(store.con, days=14, top=10, today=LAST_DAY)
    return time.perf_counter() - started, report.totals.calls


def _top_sql(store: DuckDBStore, view: str) -> str | None:
    """The view's 100 most expensive rows, if it has a cost_usd column."""
    row = store.con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = ? AND column_name = 'cost_usd'", [view]
    ).fetchone()
    if not row or not row[0]:
        return None
    if view == "llm_top_calls":  # ordered by cost already: LIMIT alone is its top-N (a second ORDER BY sorts it all)
        return f"SELECT * FROM {view} LIMIT 100"
    return f"SELECT * FROM {view} ORDER BY cost_usd DESC NULLS LAST LIMIT 100"


def run_size(rows: int, rounds: int, db_dir: Path) -> dict[str, Any]:
    """Every view's and the report's time over a fresh file of ``rows`` calls, against the aggregate scan."""
    path = db_dir / f"views-{rows}.duckdb"
    with DuckDBStore(path) as store:
        made = fill(store, rows)
        file_bytes = path.stat().st_size
        views = view_names(store)
        # (name, how to time it): each view whole, each view's top 100 by cost, and the report.
        timed: dict[str, Any] = {}
        for view in views:
            timed[view] = lambda sql=f"SELECT * FROM {view}": _time(store, sql)
            top = _top_sql(store, view)
            if top is not None:
                timed[f"{view} top 100"] = lambda sql=top: _time(store, sql)
        timed["report"] = lambda: _time_report(store)
        for measure in timed.values():  # warm: the first query pays for planning and cold pages
            measure()
        _time(store, BASELINE_SQL)
        seconds: dict[str, list[float]] = {name: [] for name in timed}
        baseline_s: list[float] = []
        ratios: dict[str, list[float]] = {name: [] for name in timed}
        result_rows: dict[str, int] = {}
        for _, baseline_first in interleaved(rounds):
            if baseline_first:
                baseline_s.append(_time(store, BASELINE_SQL)[0])
            for name, measure in timed.items():
                elapsed, result_rows[name] = measure()
                seconds[name].append(elapsed)
            if not baseline_first:
                baseline_s.append(_time(store, BASELINE_SQL)[0])
            for name in timed:
                ratios[name].append(seconds[name][-1] / baseline_s[-1])
    path.unlink(missing_ok=True)

    def figure(name: str) -> dict[str, Any]:
        return {"ms": round(median(seconds[name]) * 1000, 2), "result_rows": result_rows[name],
                "vs_scan": ratio_summary(ratios[name])}  # fmt: skip

    view_figures = {name: figure(name) for name in timed if name != "report"}
    slowest = max(views, key=lambda name: view_figures[name]["ms"])
    ms = view_figures[slowest]["ms"]
    slowest_view = {"view": slowest, "ms": ms, "target_ms": VIEW_TARGET_MS, "met": ms < VIEW_TARGET_MS}
    return {
        **made,
        "rounds": rounds,
        "file_bytes": file_bytes,
        "file_mb_per_million_calls": round(file_bytes / 2**20 / (rows / 1_000_000), 1),
        "baseline_ms": round(median(baseline_s) * 1000, 2),
        "views": view_figures,
        "report": figure("report"),
        "slowest_view": slowest_view,
    }


def run(sizes: tuple[int, ...], rounds: int, db_dir: Path) -> dict[str, Any]:
    return {str(rows): run_size(rows, rounds, db_dir) for rows in sizes}
