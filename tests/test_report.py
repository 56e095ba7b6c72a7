"""Report queries: exact numbers on a hand-built database, and agreement with plain SQL on the demo's."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from rich.console import Console

from otel_llm_cost import migrations
from otel_llm_cost import report as r
from otel_llm_cost._report_render import format_usd, render_report, report_to_json
from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.demo import run_demo
from otel_llm_cost.pricing import PRICE_VERSION, Cost
from otel_llm_cost.store import DuckDBStore

TODAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 21, tzinfo=timezone.utc)


def at(day: date, hour: int = 12) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc).timestamp()) * 10**9


def call(span: str, day: date, **fields: Any) -> CallRecord:
    base = CallRecord(
        trace_id="a" * 32, span_id=span * 16, parent_span_id=None, start_time_ns=at(day), end_time_ns=at(day) + 10**9,
        span_name="chat", service_name="api", environment="production", provider="openai", operation="chat",
        request_model="gpt-4o-mini", response_model=None, response_id=None, input_tokens=None, output_tokens=None,
        cache_read_tokens=None, cache_write_tokens=None, reasoning_tokens=None, user_id=None, conversation_id=None,
        agent_name=None, status_code="UNSET", error_type=None, reported_cost_usd=None,
    )  # fmt: skip
    return dataclasses.replace(base, **fields)


def priced(provider: str, model: str, cost: str) -> Cost:
    return Cost("priced", cost_usd=Decimal(cost), computed_cost_usd=Decimal(cost), cost_source="computed",
                priced_provider=provider, priced_model=model)  # fmt: skip


D20, D19, D18, OLD = date(2026, 11, 20), date(2026, 11, 19), date(2026, 11, 18), date(2026, 10, 1)
ROWS = [
    # A: chat in conversation c1 for u1, with a cache read.
    (call("1", D20, input_tokens=1000, cache_read_tokens=200, output_tokens=100, user_id="u1", conversation_id="c1"),
     priced("openai", "gpt-4o-mini", "0.001")),
    # B: Anthropic with cache read and write, same conversation, an hour later.
    (call("2", D20, provider="anthropic", request_model="claude-sonnet-4-5", input_tokens=5000, cache_read_tokens=3000,
          cache_write_tokens=1000, output_tokens=500, user_id="u1", conversation_id="c1",
          start_time_ns=at(D20, 13), end_time_ns=at(D20, 13) + 10**9),
     priced("anthropic", "claude-sonnet-4-5", "0.0234")),
    # C: a batch worker, no user, no conversation.
    (call("3", D19, service_name="worker", input_tokens=2000, output_tokens=300),
     priced("openai", "gpt-4o-mini", "0.00048")),
    # D: an unknown model: stored with a NULL cost.
    (call("4", D20, service_name="lab", environment="development", provider="acme", request_model="acme-llm-2",
          response_model="acme-llm-2", input_tokens=700, output_tokens=50, user_id="u2", conversation_id="c2"),
     Cost("unknown_model", "'acme-llm-2' is not in the price catalog")),
    # E: a rate-limited call without usage.
    (call("5", D18, request_model="gpt-4o", status_code="ERROR", error_type="429", user_id="u2", conversation_id="c2"),
     Cost("no_usage", "the span reports no token usage")),
    # F: a second span for the provider call A; flagged duplicate below, so never counted.
    (call("6", D20, input_tokens=1000, output_tokens=100, user_id="u1", conversation_id="c1"),
     priced("openai", "gpt-4o-mini", "0.001")),
    # G: expensive, with reasoning, but outside the 14-day window.
    (call("7", OLD, request_model="gpt-4o", input_tokens=10000, output_tokens=1000, reasoning_tokens=400, user_id="u3"),
     priced("openai", "gpt-4o", "1.5")),
]  # fmt: skip


@pytest.fixture
def hand_built(db_path: str) -> Iterator[duckdb.DuckDBPyConnection]:
    with DuckDBStore(db_path) as store:
        assert store.write_batch(ROWS) == len(ROWS)
        store.con.execute("UPDATE llm_calls SET is_duplicate = true WHERE span_id = ?", ["6" * 16])
    con = r.open_database(db_path)
    yield con
    con.close()


def test_totals_are_exact(hand_built: duckdb.DuckDBPyConnection) -> None:
    assert r.totals(hand_built) == r.Totals(
        calls=6, priced_calls=4, unpriced_calls=2, failed_calls=1, duplicate_calls=1,
        input_tokens=18_700, cache_read_tokens=3_200, cache_write_tokens=1_000, output_tokens=1_950,
        reasoning_tokens=400, cost_usd=Decimal("1.52488"),
        first_call_at=datetime(2026, 10, 1, 12, tzinfo=timezone.utc),
        last_call_at=datetime(2026, 11, 20, 13, tzinfo=timezone.utc),
        price_versions=[PRICE_VERSION],
    )  # fmt: skip


def test_daily_rows_days_and_models_in_the_window(hand_built: duckdb.DuckDBPyConnection) -> None:
    report = r.build_report(hand_built, days=14, top=10, today=TODAY)
    assert report.since == date(2026, 11, 7)
    assert [(d.day, d.provider, d.model, d.calls, d.unpriced_calls, d.cost_usd) for d in report.daily] == [
        (D20, "anthropic", "claude-sonnet-4-5", 1, 0, Decimal("0.0234")),
        (D20, "openai", "gpt-4o-mini", 1, 0, Decimal("0.001")),
        (D20, "acme", "acme-llm-2", 1, 1, None),  # unpriced: None, never $0
        (D19, "openai", "gpt-4o-mini", 1, 0, Decimal("0.00048")),
        (D18, "openai", "gpt-4o", 1, 1, None),
    ]
    assert report.by_day == [
        r.DayCost(D20, 3, 1, Decimal("0.0244"),
                  {"anthropic": Decimal("0.0234"), "openai": Decimal("0.001"), "acme": None}),
        r.DayCost(D19, 1, 0, Decimal("0.00048"), {"openai": Decimal("0.00048")}),
        r.DayCost(D18, 1, 1, None, {"openai": None}),
    ]  # fmt: skip
    assert report.by_model == [
        r.ModelCost("anthropic", "claude-sonnet-4-5", 1, 0, 5000, 3000, 1000, 500, Decimal("0.0234")),
        r.ModelCost("openai", "gpt-4o-mini", 2, 0, 3000, 200, 0, 400, Decimal("0.00148")),
        r.ModelCost("acme", "acme-llm-2", 1, 1, 700, 0, 0, 50, None),
        r.ModelCost("openai", "gpt-4o", 1, 1, 0, 0, 0, 0, None),
    ]


def test_services_users_and_conversations(hand_built: duckdb.DuckDBPyConnection) -> None:
    assert r.cost_by_service(hand_built) == [
        r.GroupCost("api", "production", 4, 1, 2, 16_000, 1_600, Decimal("1.5244")),
        r.GroupCost("worker", "production", 1, 0, 0, 2_000, 300, Decimal("0.00048")),
        r.GroupCost("lab", "development", 1, 1, 1, 700, 50, None),
    ]
    assert r.top_users(hand_built, limit=2) == [
        r.GroupCost("u3", None, 1, 0, 0, 10_000, 1_000, Decimal("1.5")),
        r.GroupCost("u1", None, 2, 0, 1, 6_000, 600, Decimal("0.0244")),
    ]
    assert r.top_conversations(hand_built) == [
        r.ConversationCost("c1", "u1", 2, 0, 6_000, 600, Decimal("0.0244"), ["claude-sonnet-4-5", "gpt-4o-mini"],
                           datetime(2026, 11, 20, 12, tzinfo=timezone.utc),
                           datetime(2026, 11, 20, 13, 0, 1, tzinfo=timezone.utc)),
        r.ConversationCost("c2", "u2", 2, 2, 700, 50, None, ["acme-llm-2", "gpt-4o"],
                           datetime(2026, 11, 18, 12, tzinfo=timezone.utc),
                           datetime(2026, 11, 20, 12, 0, 1, tzinfo=timezone.utc)),
    ]  # fmt: skip


def test_unpriced_calls_grouped_with_their_tokens(hand_built: duckdb.DuckDBPyConnection) -> None:
    assert r.unpriced_calls(hand_built) == [
        r.UnpricedGroup("acme", "acme-llm-2", "unknown_model", 1, 700, 0, 0, 50,
                        "'acme-llm-2' is not in the price catalog"),
        r.UnpricedGroup("openai", "gpt-4o", "no_usage", 1, 0, 0, 0, 0, "the span reports no token usage"),
    ]  # fmt: skip


def test_json_has_the_same_data_with_exact_decimal_strings(hand_built: duckdb.DuckDBPyConnection) -> None:
    data = json.loads(report_to_json(r.build_report(hand_built, today=TODAY)))
    assert data["totals"]["cost_usd"] == "1.52488"
    assert data["totals"]["first_call_at"] == "2026-10-01T12:00:00+00:00"
    assert data["by_day"][0] == {
        "day": "2026-11-20", "calls": 3, "unpriced_calls": 1, "cost_usd": "0.0244",
        "cost_by_provider": {"anthropic": "0.0234", "openai": "0.001", "acme": None},
    }  # fmt: skip
    assert [u["cost_usd"] for u in data["top_users"]] == ["1.5", "0.0244", None]
    assert data["unpriced"][0]["model"] == "acme-llm-2"


def test_tables_show_money_to_four_places_and_unpriced_as_na(hand_built: duckdb.DuckDBPyConnection) -> None:
    out = io.StringIO()
    render_report(r.build_report(hand_built, today=TODAY), Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert "$1.5249" in text  # 1.52488, rounded for display only
    assert "$0.0244" in text and "$0.0005" in text
    assert "unknown_model" in text and "no_usage" in text
    for title in ("Cost by day", "Cost by provider and model", "Cost by service", "Top 3 users", "Unpriced calls"):
        assert title in text
    assert "$0.0000" not in text  # an unpriced group is n/a, not free


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("12.34564"), "$12.3456"),
        (Decimal("12.34565"), "$12.3456"),  # half-even
        (Decimal("12.34575"), "$12.3458"),
        (Decimal("1234.5"), "$1,234.5000"),
        (Decimal("0"), "$0.0000"),
        (Decimal("0.00001"), "<$0.0001"),
        (None, "n/a"),
    ],
)
def test_format_usd(value: Decimal | None, shown: str) -> None:
    assert format_usd(value) == shown


def test_an_empty_database_reports_zeros_and_no_cost(db_path: str) -> None:
    DuckDBStore(db_path).close()
    con = r.open_database(db_path)
    try:
        report = r.build_report(con, today=TODAY)
    finally:
        con.close()
    assert (report.totals.calls, report.totals.cost_usd, report.totals.price_versions) == (0, None, [])
    assert report.daily == report.by_day == report.by_model == report.by_service == report.unpriced == []
    out = io.StringIO()
    render_report(report, Console(file=out, width=200))
    assert "None: every call has a price." in out.getvalue()


def test_open_database_refuses_a_missing_file_without_creating_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.duckdb"
    with pytest.raises(r.ReportError, match="no such file"):
        r.open_database(str(path))
    assert not path.exists()


def test_open_database_refuses_an_old_schema(db_path: str) -> None:
    with duckdb.connect(db_path) as con:
        migrations.migrate(con, to=1)
    with pytest.raises(r.ReportError, match="otel-llm-cost migrate"):
        r.open_database(db_path)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("demo") / "demo.duckdb")
    run_demo(path, calls=300, seed=11, now_ns=int(NOW.timestamp()) * 10**9)
    return path


def test_report_numbers_match_plain_sql_on_the_demo(demo_db: str) -> None:
    con = r.open_database(demo_db)
    try:
        report = r.build_report(con, days=14, top=1000, today=NOW.date())
        sql = con.execute(
            "SELECT count(*), count(cost_usd), sum(cost_usd), sum(input_tokens), sum(output_tokens) FROM llm_calls"
        ).fetchone()
        users_sql = con.execute("SELECT sum(cost_usd) FROM llm_calls WHERE user_id IS NOT NULL").fetchone()
    finally:
        con.close()
    assert sql is not None and users_sql is not None
    t = report.totals
    assert (t.calls, t.priced_calls, t.cost_usd, t.input_tokens, t.output_tokens) == sql
    assert t.calls == 300
    # Every call of the demo is inside the 14-day window, and every breakdown adds up to the total.
    assert sum(d.calls for d in report.by_day) == sum(m.calls for m in report.by_model) == 300
    assert sum(d.cost_usd or 0 for d in report.by_day) == t.cost_usd
    assert sum(m.cost_usd or 0 for m in report.by_model) == t.cost_usd
    assert sum(s.cost_usd or 0 for s in report.by_service) == t.cost_usd
    assert sum(s.calls for s in report.by_service) == 300
    assert sum(u.cost_usd or 0 for u in report.top_users) == users_sql[0]
    assert sum(u.calls for u in report.unpriced) == t.unpriced_calls > 0
