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
from otel_llm_cost._report_groups import GroupRow, build_grouped
from otel_llm_cost._report_period import Period
from otel_llm_cost._report_render import format_usd, render_grouped, render_report, report_to_json
from otel_llm_cost._report_text import grouped_to_csv, grouped_to_markdown, report_to_markdown
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
    (call("1", D20, input_tokens=1000, cache_read_tokens=200, output_tokens=100, user_id="u1", conversation_id="c1",
          agent_name="planner"),
     priced("openai", "gpt-4o-mini", "0.001")),
    # B: Anthropic with cache read and write, same conversation, an hour later.
    (call("2", D20, provider="anthropic", request_model="claude-sonnet-4-5", input_tokens=5000, cache_read_tokens=3000,
          cache_write_tokens=1000, output_tokens=500, user_id="u1", conversation_id="c1", agent_name="planner",
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
    assert report.window == Period(
        datetime(2026, 11, 7, tzinfo=timezone.utc), datetime(2026, 11, 21, tzinfo=timezone.utc)
    )
    assert report.period == Period()  # totals, services, users: every call
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


# --- a period, --by, CSV and markdown --------------------------------------------------------------

SINCE_D19 = Period(datetime(2026, 11, 19, tzinfo=timezone.utc))
UTC = timezone.utc


def test_a_period_filters_every_number(hand_built: duckdb.DuckDBPyConnection) -> None:
    assert r.totals(hand_built, SINCE_D19) == r.Totals(
        calls=4, priced_calls=3, unpriced_calls=1, failed_calls=0, duplicate_calls=1, input_tokens=8_700,
        cache_read_tokens=3_200, cache_write_tokens=1_000, output_tokens=950, reasoning_tokens=0,
        cost_usd=Decimal("0.02488"), first_call_at=datetime(2026, 11, 19, 12, tzinfo=UTC),
        last_call_at=datetime(2026, 11, 20, 13, tzinfo=UTC), price_versions=[PRICE_VERSION],
    )  # fmt: skip
    report = r.build_report(hand_built, period=SINCE_D19, today=TODAY)
    assert report.window == report.period == SINCE_D19  # a period replaces the --days window
    assert [(s.name, s.calls, s.cost_usd) for s in report.by_service] == [
        ("api", 2, Decimal("0.0244")), ("worker", 1, Decimal("0.00048")), ("lab", 1, None)
    ]  # fmt: skip
    assert [u.pricing_status for u in report.unpriced] == ["unknown_model"]  # the D18 no_usage call is before


def test_the_reports_daily_rows_are_the_views(hand_built: duckdb.DuckDBPyConnection) -> None:
    report = r.build_report(hand_built, days=14, today=TODAY)
    view = hand_built.execute(
        "SELECT day, provider, model, calls, unpriced_calls, coalesce(input_tokens, 0), coalesce(cache_read_tokens, 0),"
        " coalesce(cache_write_tokens, 0), coalesce(output_tokens, 0), cost_usd FROM llm_daily_cost"
        " WHERE day >= DATE '2026-11-07' ORDER BY day DESC, cost_usd DESC NULLS LAST"
    ).fetchall()
    assert [dataclasses.astuple(d)[:-1] for d in report.daily] == view  # [:-1]: converted, None in USD


def test_month_to_date_is_projected_linearly(hand_built: duckdb.DuckDBPyConnection) -> None:
    # 2026-11-21 00:00: 20 of November's 30 days are over; 0.02488 x 30 / 20. October had the $1.5 call.
    mtd = r.month_to_date(hand_built, now=datetime(2026, 11, 21, tzinfo=UTC))
    assert mtd == r.MonthToDate(
        date(2026, 11, 1), 5, 2, Decimal("0.02488"), Decimal("0.03732"), Decimal("1.5"), 20.0, 30
    )


def group(key: str | None, detail: str | None, *counts: int, cost: str | None) -> GroupRow:
    return GroupRow(key, detail, *counts, cost_usd=None if cost is None else Decimal(cost))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        # (key, detail, calls, priced, unpriced, failed, input, cache read, cache write, output, reasoning)
        ("model", [group("gpt-4o", "openai", 2, 1, 1, 1, 10_000, 0, 0, 1_000, 400, cost="1.5"),
                   group("claude-sonnet-4-5", "anthropic", 1, 1, 0, 0, 5_000, 3_000, 1_000, 500, 0, cost="0.0234"),
                   group("gpt-4o-mini", "openai", 2, 2, 0, 0, 3_000, 200, 0, 400, 0, cost="0.00148"),
                   group("acme-llm-2", "acme", 1, 0, 1, 0, 700, 0, 0, 50, 0, cost=None)]),
        # The calls without a user are a group of their own, so the rows add up to the total.
        ("user", [group("u3", None, 1, 1, 0, 0, 10_000, 0, 0, 1_000, 400, cost="1.5"),
                  group("u1", None, 2, 2, 0, 0, 6_000, 3_200, 1_000, 600, 0, cost="0.0244"),
                  group(None, None, 1, 1, 0, 0, 2_000, 0, 0, 300, 0, cost="0.00048"),
                  group("u2", None, 2, 0, 2, 1, 700, 0, 0, 50, 0, cost=None)]),
        ("service", [group("api", "production", 4, 3, 1, 1, 16_000, 3_200, 1_000, 1_600, 400, cost="1.5244"),
                     group("worker", "production", 1, 1, 0, 0, 2_000, 0, 0, 300, 0, cost="0.00048"),
                     group("lab", "development", 1, 0, 1, 0, 700, 0, 0, 50, 0, cost=None)]),
        ("conversation", [group(None, None, 2, 2, 0, 0, 12_000, 0, 0, 1_300, 400, cost="1.50048"),
                          group("c1", None, 2, 2, 0, 0, 6_000, 3_200, 1_000, 600, 0, cost="0.0244"),
                          group("c2", None, 2, 0, 2, 1, 700, 0, 0, 50, 0, cost=None)]),
        ("agent", [group(None, None, 4, 2, 2, 1, 12_700, 0, 0, 1_350, 400, cost="1.50048"),
                   group("planner", None, 2, 2, 0, 0, 6_000, 3_200, 1_000, 600, 0, cost="0.0244")]),
        # Days: newest first, whatever they cost.
        ("day", [group("2026-11-20", None, 3, 2, 1, 0, 6_700, 3_200, 1_000, 650, 0, cost="0.0244"),
                 group("2026-11-19", None, 1, 1, 0, 0, 2_000, 0, 0, 300, 0, cost="0.00048"),
                 group("2026-11-18", None, 1, 0, 1, 1, 0, 0, 0, 0, 0, cost=None),
                 group("2026-10-01", None, 1, 1, 0, 0, 10_000, 0, 0, 1_000, 400, cost="1.5")]),
    ],
)  # fmt: skip
def test_grouped_by_each_key_adds_up_to_the_total(
    hand_built: duckdb.DuckDBPyConnection, by: str, expected: list[GroupRow]
) -> None:
    report = build_grouped(hand_built, by, top=10, period=Period())
    assert report.rows == expected
    assert (report.rest_groups, report.rest) == (0, None)
    assert sum(g.calls for g in report.rows) == report.totals.calls == 6


def test_groups_past_top_are_summed_into_one_rest_row(hand_built: duckdb.DuckDBPyConnection) -> None:
    report = build_grouped(hand_built, "day", top=2, period=Period())
    assert [g.key for g in report.rows] == ["2026-11-20", "2026-11-19"]
    # 2026-11-18 (unpriced, failed) and 2026-10-01 ($1.5): the rest is priced in part, so $1.5.
    assert (report.rest_groups, report.rest) == (2, group(None, None, 2, 1, 1, 1, 10_000, 0, 0, 1_000, 400, cost="1.5"))
    all_unpriced = build_grouped(hand_built, "model", top=2, period=SINCE_D19)
    assert all_unpriced.rest == group(None, None, 1, 0, 1, 0, 700, 0, 0, 50, 0, cost=None)  # NULL, not $0


def test_csv_has_groups_rest_and_total_with_exact_money(hand_built: duckdb.DuckDBPyConnection) -> None:
    text = grouped_to_csv(build_grouped(hand_built, "model", top=2, period=SINCE_D19))
    assert text == (
        "row,model,provider,calls,priced_calls,unpriced_calls,failed_calls,input_tokens,cache_read_tokens,"
        "cache_write_tokens,output_tokens,reasoning_tokens,cost_usd\n"
        "group,claude-sonnet-4-5,anthropic,1,1,0,0,5000,3000,1000,500,0,0.0234\n"
        "group,gpt-4o-mini,openai,2,2,0,0,3000,200,0,400,0,0.00148\n"
        "rest,1 more,,1,0,1,0,700,0,0,50,0,\n"
        "total,,,4,3,1,0,8700,3200,1000,950,0,0.02488\n"
    )


def test_markdown_section_for_a_pull_request(hand_built: duckdb.DuckDBPyConnection) -> None:
    text = grouped_to_markdown(build_grouped(hand_built, "model", top=2, period=SINCE_D19))
    assert text.splitlines()[:10] == [
        "### LLM cost by model",
        "",
        "**$0.0249** over 4 calls (since 2026-11-19 00:00 UTC) · 1 unpriced call (cost unknown, not $0)"
        " · 8,700 input and 950 output tokens",
        "",
        "| Model | Provider | Calls | Unpriced | Input | Output | Cost |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        "| claude-sonnet-4-5 | anthropic | 1 | 0 | 5,000 | 500 | $0.0234 |",
        "| gpt-4o-mini | openai | 2 | 0 | 3,000 | 400 | $0.0015 |",
        "| (1 more) |  | 1 | 1 | 700 | 50 | n/a |",
        "| **Total** |  | **4** | **1** | **8,700** | **950** | **$0.0249** |",
    ]
    assert "<details><summary>Unpriced calls (1)</summary>" in text
    assert "| acme | acme-llm-2 | unknown_model | 1 | 700 | 50 |" in text


def test_markdown_escapes_pipes_in_names(db_path: str) -> None:
    with DuckDBStore(db_path) as store:
        store.write_batch([(call("1", D20, user_id="a|b", input_tokens=1), priced("openai", "gpt-4o-mini", "0.1"))])
    con = r.open_database(db_path)
    try:
        text = grouped_to_markdown(build_grouped(con, "user", top=5, period=Period()))
    finally:
        con.close()
    assert "| a\\|b | 1 | 0 | 1 | 0 | $0.1000 |" in text


def test_overview_markdown_has_totals_models_users_and_month_to_date(hand_built: duckdb.DuckDBPyConnection) -> None:
    text = report_to_markdown(r.build_report(hand_built, today=TODAY, now=datetime(2026, 11, 21, tzinfo=UTC)))
    assert text.startswith("### LLM cost\n\n**$1.5249** over 6 calls (all time) · 2 unpriced calls")
    assert "Month to date: $0.0249 in 2026-11 (20.0 of 30 days), plus 2 unpriced calls, projected $0.0373" in text
    assert "| anthropic | claude-sonnet-4-5 | 1 | 0 | 5,000 | 500 | $0.0234 |" in text
    assert "| u3 | 1 | 0 | 10,000 | 1,000 | $1.5000 |" in text


def test_grouped_tables_show_rest_and_total(hand_built: duckdb.DuckDBPyConnection) -> None:
    out = io.StringIO()
    render_grouped(build_grouped(hand_built, "user", top=2, period=Period()), Console(file=out, width=200))
    text = out.getvalue()
    assert "(2 more)" in text and "Total" in text and "(no user)" not in text  # it is in the rest
    out = io.StringIO()
    render_grouped(build_grouped(hand_built, "user", top=10, period=Period()), Console(file=out, width=200))
    assert "(no user)" in out.getvalue()


def test_open_database_asks_to_migrate_when_views_are_older(db_path: str) -> None:
    with DuckDBStore(db_path) as store:
        store.con.execute("DROP VIEW llm_cache_savings")  # as a version without it left the file
    with pytest.raises(r.ReportError, match=r"lacks the views llm_cache_savings .*run: otel-llm-cost migrate"):
        r.open_database(db_path)
    with duckdb.connect(db_path) as con:
        migrations.migrate(con)  # re-creates every view
    r.open_database(db_path).close()
