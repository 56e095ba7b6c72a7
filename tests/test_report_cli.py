"""``otel-llm-cost report`` on the command line: filters, --by, every format, and one-line errors."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from click.testing import CliRunner, Result

from otel_llm_cost.cli import cli
from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.pricing import Cost
from otel_llm_cost.store import DuckDBStore

NOW = datetime.now(timezone.utc)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["report", *args])


def call(span: str, hours_ago: float, cost: str | None, **fields: object) -> tuple[CallRecord, Cost]:
    start = int((NOW - timedelta(hours=hours_ago)).timestamp() * 1e9)
    record = CallRecord(
        trace_id=span * 32, span_id=span * 16, parent_span_id=None, start_time_ns=start, end_time_ns=start + 10**9,
        span_name="chat", service_name="api", environment="production", provider="openai", operation="chat",
        request_model="gpt-4o", response_model=None, response_id=None, input_tokens=100, output_tokens=10,
        cache_read_tokens=None, cache_write_tokens=None, reasoning_tokens=None, user_id="u1", conversation_id=None,
        agent_name=None, status_code="UNSET", error_type=None, reported_cost_usd=None,
    )  # fmt: skip
    for name, value in fields.items():
        object.__setattr__(record, name, value)
    if cost is None:
        return record, Cost("unknown_model", "not in the catalog")
    return record, Cost("priced", cost_usd=Decimal(cost), computed_cost_usd=Decimal(cost), cost_source="computed",
                        priced_provider="openai", priced_model="gpt-4o")  # fmt: skip


@pytest.fixture
def db(db_path: str) -> Iterator[str]:
    """Three calls in the last day (one unpriced), one 3 days ago, one 40 days ago."""
    with DuckDBStore(db_path) as store:
        store.write_batch([
            call("1", 1, "0.25"),
            call("2", 2, "0.5", user_id="u2"),
            call("3", 3, None, provider="acme", request_model="acme-1", user_id="u2"),
            call("4", 72, "1"),
            call("5", 40 * 24, "2"),
        ])  # fmt: skip
    yield db_path


def test_since_filters_totals_and_json_keeps_exact_money(db: str) -> None:
    result = run("--db", db, "--since", "24h", "--by", "user", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["totals"]["calls"], data["totals"]["unpriced_calls"], data["totals"]["cost_usd"]) == (3, 1, "0.75")
    assert [(row["key"], row["calls"], row["cost_usd"]) for row in data["rows"]] == [
        ("u2", 2, "0.5"),
        ("u1", 1, "0.25"),
    ]
    assert data["unpriced"][0]["model"] == "acme-1"


def test_until_and_a_date(db: str) -> None:
    since = (NOW - timedelta(days=10)).date().isoformat()
    result = run("--db", db, "--since", since, "--until", "2d", "--by", "model", "--format", "csv")
    assert result.exit_code == 0, result.output
    lines = list(csv.reader(io.StringIO(result.output)))
    assert lines[1][:4] == ["group", "gpt-4o", "openai", "1"] and lines[1][-1] == "1"  # only the 3-day-old call
    assert lines[-1][0] == "total" and lines[-1][-1] == "1"


def test_csv_without_by_is_one_row_per_day(db: str) -> None:
    result = run("--db", db, "--format", "csv", "--since", "7d")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("row,day,calls,")
    assert result.output.splitlines()[-1].startswith("total,,4,3,1,")


def test_markdown_overview_and_grouped(db: str) -> None:
    overview = run("--db", db, "--format", "markdown")
    assert overview.exit_code == 0, overview.output
    assert overview.output.startswith("### LLM cost\n\n**$3.7500** over 5 calls (all time) · 1 unpriced call")
    grouped = run("--db", db, "--format", "markdown", "--by", "service", "--since", "24h")
    assert "| api | production | 3 | 1 | 300 | 30 | $0.7500 |" in grouped.output


def test_table_by_agent_counts_the_calls_without_one(db: str) -> None:
    result = run("--db", db, "--by", "agent")
    assert result.exit_code == 0, result.output
    assert "(no agent)" in result.output and "$3.7500" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "7x"], "Error: --since '7x' is not a duration (30m, 24h, 7d, 2w), a date (2026-11-01)"),
        (["--since", "1d", "--until", "2d"], "Error: --since ("),
    ],
)
def test_bad_periods_are_one_line_errors(db: str, args: list[str], message: str) -> None:
    result = run("--db", db, *args)
    assert result.exit_code == 1 and result.output.startswith(message), result.output
    assert len(result.output.splitlines()) == 1 and "Traceback" not in result.output


def test_a_bad_by_is_a_usage_error(db: str) -> None:
    result = run("--db", db, "--by", "team")
    assert result.exit_code == 2 and "'team' is not one of 'model', 'user', 'conversation'" in result.output


def test_html_to_a_missing_folder_is_a_clean_error(db: str, tmp_path: object) -> None:
    result = run("--db", db, "--html", "/nonexistent-folder/x.html")
    assert result.exit_code == 1 and result.output.startswith("Error: cannot write /nonexistent-folder/x.html")


def test_help_has_examples() -> None:
    result = run("--help")
    assert "--since 7d --by model" in result.output and "GITHUB_STEP_SUMMARY" in result.output
