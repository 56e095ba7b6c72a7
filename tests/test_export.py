"""`otel-llm-cost export`: every format read back, exact money, --since, hive partitions, errors, query log."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from unittest import mock

import duckdb
import pyarrow.dataset as ds
import pytest
from click.testing import CliRunner
from cost_rows import COSTS, UTC, add_call, day

from otel_llm_cost import DuckDBStore, LLMCostSpanProcessor
from otel_llm_cost.cli import cli
from otel_llm_cost.export import ExportError, ExportSpec, export
from otel_llm_cost.migrations import migrate

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# Eight calls on four days (two each), one cost of each kind per day pair; span 8 is a duplicate.
CALLS = [(span, day(2026, 11, 17 + (span - 1) // 2, 8 + span), COSTS[(span - 1) % 4]) for span in range(1, 9)]


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "cost.duckdb")
    with DuckDBStore(path) as store:
        for span, start, cost in CALLS:
            add_call(store.con, span, start, cost, duplicate=span == 8)
    return path


def costs_by_span(rows: list[tuple[str, Decimal | None]]) -> dict[int, Decimal | None]:
    return {int(span, 16): cost for span, cost in rows}


EXPECTED = {span: cost for span, _, cost in CALLS}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["export", *args])
    return result.exit_code, result.stdout, result.stderr


def test_csv_to_stdout_keeps_every_digit_and_null(db: str) -> None:
    code, out, err = run("--db", db)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 8
    got = {int(r["span_id"], 16): Decimal(r["cost_usd"]) if r["cost_usd"] else None for r in rows}
    assert got == EXPECTED
    assert Decimal("12345678901234567890.123456789012345678") in got.values()


def test_json_lines_carry_money_as_exact_strings(db: str, tmp_path: Path) -> None:
    out = tmp_path / "calls.json"
    code, _, err = run("--db", db, "-o", str(out))
    assert code == 0, err
    assert err.startswith("Exported 8 rows of llm_calls to ") and "(json)" in err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 8
    assert {int(r["span_id"], 16): None if r["cost_usd"] is None else Decimal(r["cost_usd"]) for r in rows} == EXPECTED
    assert all(isinstance(r["cost_usd"], (str, type(None))) for r in rows)
    assert rows[0]["input_tokens"] == 1000 and rows[0]["start_time"] == "2026-11-17 09:00:00+00"


def test_parquet_keeps_decimal_38_18(db: str, tmp_path: Path) -> None:
    out = tmp_path / "calls.parquet"
    code, _, err = run("--db", db, "--output", str(out))
    assert code == 0, err
    con = duckdb.connect()
    kind = con.execute(f"SELECT typeof(cost_usd) FROM '{out}' LIMIT 1").fetchone()
    assert kind == ("DECIMAL(38,18)",)
    assert costs_by_span(con.execute(f"SELECT span_id, cost_usd FROM '{out}'").fetchall()) == EXPECTED


def test_since_filters_on_the_time_column_of_each_source(db: str, tmp_path: Path) -> None:
    with DuckDBStore(db, read_only=True) as store:
        calls = export(store.con, ExportSpec(tmp_path / "c.csv", source="llm_calls", since="2d"), now=NOW)
        assert (calls.rows, calls.time_column, calls.since) == (5, "start_time", NOW - timedelta(days=2))
        # llm_daily_cost has a day (a DATE): since 2026-11-19 keeps that day whole; the duplicate is left out.
        daily = export(store.con, ExportSpec(tmp_path / "d.parquet", source="llm_daily_cost", since="2026-11-19"))
        assert (daily.rows, daily.time_column) == (2, "day")
    spans = [int(row["span_id"], 16) for row in csv.DictReader(io.StringIO((tmp_path / "c.csv").read_text()))]
    assert spans == [4, 5, 6, 7, 8]  # 2026-11-18 12:00 UTC onwards
    rows = (
        duckdb.connect().execute(f"SELECT day, calls, cost_usd FROM '{tmp_path / 'd.parquet'}' ORDER BY 1").fetchall()
    )
    assert rows == [
        (date(2026, 11, 19), 2, Decimal("12345678901234567890.123827159379382715")),
        (date(2026, 11, 20), 1, Decimal("0.000000000000000001")),
    ]


def test_partition_by_day_is_read_back_by_duckdb_and_pyarrow(db: str, tmp_path: Path) -> None:
    lake = tmp_path / "lake" / "llm_calls"
    lake.parent.mkdir()
    code, _, err = run("--db", db, "--partition-by", "day", "-o", str(lake))
    assert code == 0, err
    assert sorted(p.name for p in lake.iterdir()) == [f"day=2026-11-{d}" for d in (17, 18, 19, 20)]
    read = duckdb.connect().execute(
        f"SELECT day, count(*), span_id FROM read_parquet('{lake}/*/*.parquet', hive_partitioning = true)"
        " GROUP BY ALL ORDER BY span_id"
    )
    assert [(d, n) for d, n, _ in read.fetchall()] == [(date(2026, 11, 17 + (s - 1) // 2), 1) for s in range(1, 9)]
    table = ds.dataset(lake, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 8
    assert str(table.schema.field("cost_usd").type) == "decimal128(38, 18)"
    assert {
        int(s, 16): c for s, c in zip(table["span_id"].to_pylist(), table["cost_usd"].to_pylist(), strict=True)
    } == EXPECTED

    code, _, err = run("--db", db, "--partition-by", "day", "-o", str(lake))
    assert code == 1 and f"Error: folder {lake} is not empty; choose a new one, or overwrite its days" in err
    code, _, err = run("--db", db, "--partition-by", "day", "-o", str(lake), "--since", "2026-11-20", "--overwrite")
    assert code == 0, err
    # --overwrite replaces the day folders this export writes and keeps the others: an incremental lake.
    assert sorted(p.name for p in lake.iterdir()) == [f"day=2026-11-{d}" for d in (17, 18, 19, 20)]
    assert ds.dataset(lake, format="parquet", partitioning="hive").to_table().num_rows == 8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--source", "nope"],
            "Error: no table or view named 'nope'; choose one of: budget_status, exchange_rates, llm_agent_runs, ",
        ),
        (["--source", "model_prices", "--since", "7d"], "Error: model_prices has no time column (start_time, day,"),
        (["--since", "last week"], "Error: since: 'last week' is neither an age nor a date (e.g. 7d, 12h, 2w,"),
        (["--format", "parquet"], "Error: Parquet is binary: give a file with --output"),
        (["--partition-by", "day"], "Error: --partition-by day writes a folder: give it with --output"),
        (["--partition-by", "day", "--format", "csv", "-o", "x"], "Error: partitioning by day is for Parquet only"),
        (["--source", "model_prices", "--partition-by", "day", "-o", "x"], "Error: cannot partition model_prices by"),
        (["-o", "/no/such/folder/x.csv"], "Error: folder /no/such/folder does not exist"),
    ],
)
def test_bad_requests_are_one_line_errors(db: str, args: list[str], message: str) -> None:
    code, out, err = run("--db", db, *args)
    assert code in (1, 2) and message in err, err
    assert "Traceback" not in err and out == ""


def test_a_missing_database_is_not_created(tmp_path: Path) -> None:
    code, _, err = run("--db", str(tmp_path / "none.duckdb"))
    assert code == 1 and "no such file" in err
    assert not (tmp_path / "none.duckdb").exists()


def test_a_failed_export_leaves_the_previous_file(db: str, tmp_path: Path) -> None:
    out = tmp_path / "calls.csv"
    out.write_text("previous export\n")
    code, _, _ = run("--db", db, "-o", str(out), "--source", "nope")
    assert code == 1 and out.read_text() == "previous export\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def query_log(path: str) -> list[tuple[object, ...]]:
    with duckdb.connect(path, read_only=True) as con:
        return con.execute(
            "SELECT source, name, row_count, ok, error, sql_text FROM query_log ORDER BY logged_at"
        ).fetchall()


def test_each_export_is_recorded_in_the_query_log(db: str, tmp_path: Path) -> None:
    assert run("--db", db, "-o", str(tmp_path / "a.csv"))[0] == 0
    assert run("--db", db, "-o", str(tmp_path / "b.csv"))[0] == 0
    assert (
        run("--db", db, "--source", "llm_daily_cost", "--since", "2026-11-19", "-o", str(tmp_path / "c.json"))[0] == 0
    )
    log = query_log(db)
    assert [row[:5] for row in log] == [
        ("export", "llm_calls", 8, True, None),
        ("export", "llm_calls", 8, True, None),
        ("export", "llm_daily_cost", 2, True, None),
    ]
    assert log[0][5] == log[1][5] and log[0][5].startswith('COPY (SELECT "trace_id", ') and " TO <file> " in log[0][5]
    with duckdb.connect(db, read_only=True) as con:
        assert con.execute("SELECT count(DISTINCT sql_hash), min(duration_ms) > 0 FROM query_log").fetchone() == (
            2,
            True,
        )


def test_the_query_log_can_be_turned_off(db: str, tmp_path: Path) -> None:
    assert run("--db", db, "--no-query-log", "-o", str(tmp_path / "a.csv"))[0] == 0
    with mock.patch.dict("os.environ", {"OTEL_LLM_COST_QUERY_LOG": "false"}):
        assert run("--db", db, "-o", str(tmp_path / "b.csv"))[0] == 0
    with mock.patch.dict("os.environ", {"OTEL_LLM_COST_QUERY_LOG": "false"}):
        assert run("--db", db, "--query-log", "-o", str(tmp_path / "c.csv"))[0] == 0  # the option wins
    assert len(query_log(db)) == 1


def test_a_database_without_query_log_still_exports_and_says_why_nothing_was_logged(tmp_path: Path) -> None:
    path = str(tmp_path / "old.duckdb")
    with duckdb.connect(path) as con:
        migrate(con, to=7)
        add_call(con, 1, NOW, COSTS[0])
    code, out, err = run("--db", path)
    assert code == 0 and len(out.splitlines()) == 2
    assert f"Note: query log not saved: {path} has no query_log table (run: otel-llm-cost migrate --db {path})" in err


def test_export_spec_rejects_an_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"cannot tell the format from '.*calls.txt': give one of csv, json, parquet"):
        ExportSpec(tmp_path / "calls.txt").resolved_format()


# A process that ends three calls and exits normally: its atexit hook flushes, then exports.
EXIT_SCRIPT = """
import sys
from opentelemetry.sdk.trace import TracerProvider
from otel_llm_cost import LLMCostSpanProcessor
from otel_llm_cost.export import ExportSpec
db, out = sys.argv[1], sys.argv[2]
spec = None if out == "env" else ExportSpec(out, source="llm_daily_cost")
provider = TracerProvider(shutdown_on_exit=False)  # only our own atexit hook may save the spans
provider.add_span_processor(LLMCostSpanProcessor(db_path=db, export_on_exit=spec, schedule_delay_millis=60_000))
attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
         "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100}
for _ in range(3):
    provider.get_tracer("t").start_span("chat", attributes=attrs).end()
"""


def test_export_on_exit_writes_after_the_final_flush(tmp_path: Path) -> None:
    db, out = tmp_path / "app.duckdb", tmp_path / "daily.parquet"
    subprocess.run([sys.executable, "-c", EXIT_SCRIPT, str(db), str(out)], check=True, timeout=120)
    rows = duckdb.connect().execute(f"SELECT model, calls, cost_usd FROM '{out}'").fetchall()
    # gpt-4o-mini: 1000 input tokens at $0.15 and 100 output at $0.60 per million = $0.00021 a call.
    assert rows == [("gpt-4o-mini", 3, Decimal("0.00063"))]
    assert query_log(str(db))[0][:4] == ("export_on_exit", "llm_daily_cost", 1, True)


def test_export_on_exit_from_the_environment(tmp_path: Path) -> None:
    db, out = tmp_path / "app.duckdb", tmp_path / "calls.json"
    env = {**os.environ, "OTEL_LLM_COST_EXPORT_ON_EXIT": str(out)}
    subprocess.run([sys.executable, "-c", EXIT_SCRIPT, str(db), "env"], check=True, timeout=120, env=env)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["request_model"], Decimal(r["cost_usd"])) for r in rows] == [("gpt-4o-mini", Decimal("0.00021"))] * 3


def test_export_on_exit_is_checked_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"export_on_exit: cannot tell the format from '.*costs.txt'"):
        LLMCostSpanProcessor(db_path=str(tmp_path / "a.duckdb"), export_on_exit=tmp_path / "costs.txt")
    with mock.patch.dict("os.environ", {"OTEL_LLM_COST_EXPORT_ON_EXIT": "costs.txt"}):
        processor = LLMCostSpanProcessor(db_path=str(tmp_path / "a.duckdb"), flush_at_exit=False)
        assert processor._upkeep is None  # logged and ignored, as every malformed environment value
        processor.shutdown()
