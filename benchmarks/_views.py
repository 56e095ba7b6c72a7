"""Figure 5: the analytic views (sql/views) over a table of 1M (optionally 10M) calls.

The rows are generated inside DuckDB with SQL over ``range(n)``, not through spans: the ingest
figure measures that path, and 10M spans through it would take ten minutes. The table is the one
the store's own migrations create, with its primary key, so the views read what they read in use.
The data is shaped like a busy service's 90 days: 4 calls per trace, 20 models over 3 providers,
10 services, 10,000 users, 100,000 conversations, 2% unpriced, 1% duplicates, an agent run over
every tenth trace and a test id on 5% of the calls.

Each view's full result is fetched as Arrow (what a report or a dashboard does). The baseline,
timed in the same rounds, is one aggregate scan of ``llm_calls`` (count, cost and token sums of
every row): the least a question about all calls can cost. Ratio = view time / scan time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from _common import interleaved, median, ratio_summary

from otel_llm_cost import DuckDBStore
from otel_llm_cost.catalog import load_catalog
from otel_llm_cost.pricing import Pricer

BASELINE_SQL = (
    "SELECT count(*), sum(cost_usd), sum(input_tokens), sum(output_tokens), count(DISTINCT trace_id) FROM llm_calls"
)

# One statement: DuckDB fills the table in parallel, and the primary key index is built as it goes.
_CALLS_SQL = """
INSERT INTO llm_calls BY NAME
SELECT
    printf('%032x', i // 4)                                         AS trace_id,
    printf('%016x', i + 1)                                          AS span_id,
    printf('%016x', (i // 4) * 4 + 1_000_000_000_000)               AS parent_span_id,
    TIMESTAMPTZ '2026-08-01 00:00:00+00' + to_microseconds(i * (7_776_000_000_000 // $n)) AS start_time,
    TIMESTAMPTZ '2026-08-01 00:00:01+00' + to_microseconds(i * (7_776_000_000_000 // $n)) AS end_time,
    'chat ' || model                                                AS span_name,
    'service-' || (i % 10)                                          AS service_name,
    'prod'                                                          AS environment,
    provider,
    'chat'                                                          AS operation,
    model                                                           AS request_model,
    model                                                           AS response_model,
    CASE WHEN unpriced THEN NULL ELSE provider END                  AS priced_provider,
    CASE WHEN unpriced THEN NULL ELSE model END                     AS priced_model,
    input_tokens,
    cache_read_tokens,
    0                                                               AS cache_write_tokens,
    output_tokens,
    output_tokens // 5                                              AS reasoning_tokens,
    CASE WHEN unpriced THEN NULL ELSE cost END                      AS cost_usd,
    CASE WHEN unpriced THEN NULL ELSE cost END                      AS computed_cost_usd,
    CASE WHEN unpriced THEN NULL ELSE 'computed' END                AS cost_source,
    CASE WHEN unpriced THEN 'unknown_model' ELSE 'priced' END       AS pricing_status,
    CASE WHEN unpriced THEN 'not in the price catalog' END          AS pricing_detail,
    i % 100 = 1                                                     AS is_duplicate,
    'user-' || (hash(i // 40) % 10_000)                             AS user_id,
    'conv-' || (i // 10)                                            AS conversation_id,
    CASE WHEN i % 3 = 0 THEN 'agent-' || (i % 7) END                AS agent_name,
    CASE WHEN i % 50 = 0 THEN 'ERROR' ELSE 'OK' END                 AS status_code,
    CASE WHEN i % 20 = 0 THEN 'tests/test_app.py::test_' || (i % 500) END AS test_id
FROM (
    SELECT
        i,
        ['openai', 'anthropic', 'google'][i % 3 + 1]                AS provider,
        'model-' || (i % 20)                                        AS model,
        i % 50 = 7                                                  AS unpriced,
        100 + (hash(i) % 20_000)::BIGINT                            AS input_tokens,
        (hash(i) % 5_000)::BIGINT                                   AS cache_read_tokens,
        10 + (hash(i + 1) % 2_000)::BIGINT                          AS output_tokens,
        ((100 + hash(i) % 20_000) * 0.0000025 + (10 + hash(i + 1) % 2_000) * 0.00001)::DECIMAL(38, 18) AS cost
    FROM range($n) t(i)
)
"""

_RUNS_SQL = """
INSERT INTO llm_agent_runs BY NAME
SELECT
    printf('%032x', t)                                              AS trace_id,
    printf('%016x', t * 4 + 1_000_000_000_000)                      AS span_id,
    TIMESTAMPTZ '2026-08-01 00:00:00+00' + to_microseconds(t * 4 * (7_776_000_000_000 // $n)) AS start_time,
    TIMESTAMPTZ '2026-08-01 00:01:00+00' + to_microseconds(t * 4 * (7_776_000_000_000 // $n)) AS end_time,
    'invoke_agent agent-' || (t % 7)                                AS span_name,
    'service-' || (t % 10)                                          AS service_name,
    'invoke_agent'                                                  AS run_kind,
    'agent-' || (t % 7)                                             AS agent_name,
    'conv-' || (t * 4 // 10)                                        AS conversation_id,
    'user-' || (hash(t // 10) % 10_000)                             AS user_id,
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
    """Generate ``rows`` calls (and their agent runs) straight into the tables; return what was made."""
    store.con.execute("SET enable_progress_bar = false")  # it would draw on the table's terminal
    started = time.perf_counter()
    store.con.execute(_CALLS_SQL, {"n": rows})
    store.con.execute(_RUNS_SQL, {"n": rows})
    load_catalog(store.con, Pricer())  # model_prices, as a processor's first batch loads it
    store.con.execute(_BUDGETS_SQL)
    store.con.execute("CHECKPOINT")
    seconds = time.perf_counter() - started
    calls, unpriced, duplicates = store.con.execute(
        "SELECT count(*), count(*) - count(cost_usd), count(*) FILTER (WHERE is_duplicate) FROM llm_calls"
    ).fetchone() or (0, 0, 0)
    runs = store.con.execute("SELECT count(*) FROM llm_agent_runs").fetchone()
    return {"calls": calls, "unpriced": unpriced, "duplicates": duplicates, "agent_runs": runs[0] if runs else 0,
            "generate_s": round(seconds, 2)}  # fmt: skip


def _time(store: DuckDBStore, sql: str) -> tuple[float, int]:
    started = time.perf_counter()
    table = store.con.execute(sql).to_arrow_table()
    return time.perf_counter() - started, table.num_rows


def run_size(rows: int, rounds: int, db_dir: Path) -> dict[str, Any]:
    """Every view's time over a fresh file of ``rows`` calls, against the aggregate scan."""
    path = db_dir / f"views-{rows}.duckdb"
    with DuckDBStore(path) as store:
        made = fill(store, rows)
        views = view_names(store)
        for view in views:  # warm: the first query of a view pays for planning and cold pages
            _time(store, f"SELECT * FROM {view}")
        _time(store, BASELINE_SQL)
        view_s: dict[str, list[float]] = {view: [] for view in views}
        baseline_s: list[float] = []
        ratios: dict[str, list[float]] = {view: [] for view in views}
        result_rows: dict[str, int] = {}
        for _, baseline_first in interleaved(rounds):
            if baseline_first:
                baseline_s.append(_time(store, BASELINE_SQL)[0])
            for view in views:
                seconds, result_rows[view] = _time(store, f"SELECT * FROM {view}")
                view_s[view].append(seconds)
            if not baseline_first:
                baseline_s.append(_time(store, BASELINE_SQL)[0])
            for view in views:
                ratios[view].append(view_s[view][-1] / baseline_s[-1])
    path.unlink(missing_ok=True)
    return {
        **made,
        "rounds": rounds,
        "baseline_ms": round(median(baseline_s) * 1000, 2),
        "views": {
            view: {
                "ms": round(median(view_s[view]) * 1000, 2),
                "result_rows": result_rows[view],
                "vs_scan": ratio_summary(ratios[view]),
            }
            for view in views
        },
    }


def run(sizes: tuple[int, ...], rounds: int, db_dir: Path) -> dict[str, Any]:
    return {str(rows): run_size(rows, rounds, db_dir) for rows in sizes}
