"""The analytic views, on hand-built rows: duplicates count once, unpriced calls are never $0."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from otel_llm_cost.store import DuckDBStore

UTC = dt.timezone.utc
T1, T2, T3 = "1" * 32, "2" * 32, "3" * 32


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def insert(con: duckdb.DuckDBPyConnection, **row: Any) -> None:
    row.setdefault("end_time", row["start_time"] + dt.timedelta(seconds=2))
    row.setdefault("pricing_status", "priced" if row.get("cost_usd") is not None else "unknown_model")
    names = ", ".join(row)
    con.execute(f"INSERT INTO llm_calls ({names}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    """A migrated store holding the calls every test below reasons about."""
    with DuckDBStore(":memory:") as store:
        c = store.con
        gpt = {"provider": "openai", "priced_provider": "openai", "priced_model": "gpt-4o", "request_model": "gpt-4o",
               "response_model": "gpt-4o-2024-08-06"}  # fmt: skip
        # Trace 1, 2025-03-01: two priced calls in conversation c1; s2 failed.
        insert(c, trace_id=T1, span_id="s1", start_time=at(1, 10), span_name="chat first", service_name="svc-a",
               conversation_id="c1", user_id="u1", input_tokens=1000, cache_read_tokens=400, output_tokens=100,
               reasoning_tokens=20, cost_usd=Decimal("0.001"), **gpt)  # fmt: skip
        insert(c, trace_id=T1, span_id="s2", start_time=at(1, 10, 5), span_name="chat second", service_name="svc-a",
               conversation_id="c1", user_id="u1", input_tokens=2000, output_tokens=200, cost_usd=Decimal("0.002"),
               status_code="ERROR", **gpt)  # fmt: skip
        # s3 is the same provider call as s2, reported by a second instrumentation: counted once.
        insert(c, trace_id=T1, span_id="s3", start_time=at(1, 10, 5), span_name="openai.chat", service_name="svc-a",
               conversation_id="c1", user_id="u1", input_tokens=2000, output_tokens=200, cost_usd=Decimal("0.002"),
               status_code="ERROR", **gpt)  # fmt: skip
        # Trace 2, 2025-03-01: an unknown model late in the UTC day, and a gpt-4o call that failed to price.
        insert(c, trace_id=T2, span_id="s4", start_time=at(1, 23, 30), span_name="chat mystery", service_name="svc-b",
               conversation_id="c2", user_id="u2", provider="acme", request_model="mystery-1", input_tokens=500,
               output_tokens=50, pricing_detail="no price for mystery-1")  # fmt: skip
        insert(c, trace_id=T2, span_id="s5", start_time=at(1, 12), span_name="chat gpt", service_name="svc-b",
               conversation_id="c2", provider="openai", request_model="gpt-4o", input_tokens=100, output_tokens=10,
               pricing_status="price_error", pricing_detail="boom")  # fmt: skip
        # s6 duplicates the unpriced s4: it must not show twice among unpriced calls either.
        insert(c, trace_id=T2, span_id="s6", start_time=at(1, 23, 30), span_name="acme.chat", service_name="svc-b",
               conversation_id="c2", user_id="u2", provider="acme", request_model="mystery-1", input_tokens=500,
               output_tokens=50)  # fmt: skip
        # Trace 3, 2025-03-02: a day with only an unpriced call, outside any conversation.
        insert(c, trace_id=T3, span_id="s7", start_time=at(2, 9), span_name="chat mystery", service_name="svc-b",
               provider="acme", request_model="mystery-1", input_tokens=10, output_tokens=1)  # fmt: skip
        c.execute("UPDATE llm_calls SET is_duplicate = true WHERE span_id IN ('s3', 's6')")
        yield c


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return con.execute(sql).fetchall()


def test_the_documented_views_exist(con: duckdb.DuckDBPyConnection) -> None:
    names = rows(con, "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1")
    assert names == [("budget_status",), ("llm_cost_by_agent_run",), ("llm_cost_by_conversation",),
                     ("llm_cost_by_test",), ("llm_cost_by_trace",), ("llm_daily_cost",), ("llm_unpriced_calls",),
                     ("model_prices_current",)]  # fmt: skip


def test_daily_cost(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        con,
        "SELECT day, provider, model, calls, priced_calls, unpriced_calls, input_tokens, cache_read_tokens,"
        " cache_write_tokens, output_tokens, reasoning_tokens, cost_usd FROM llm_daily_cost ORDER BY day, model",
    )
    assert got == [
        # s1 + s2 priced, s5 unpriced (its cost is left out of the sum, not added as 0); s3 is a duplicate.
        (dt.date(2025, 3, 1), "openai", "gpt-4o", 3, 2, 1, 3100, 400, None, 310, 20, Decimal("0.003")),
        (dt.date(2025, 3, 1), "acme", "mystery-1", 1, 0, 1, 500, None, None, 50, None, None),
        (dt.date(2025, 3, 2), "acme", "mystery-1", 1, 0, 1, 10, None, None, 1, None, None),
    ]


def test_a_day_with_only_unpriced_calls_costs_null_not_zero(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(con, "SELECT day, sum(cost_usd), sum(unpriced_calls) FROM llm_daily_cost GROUP BY day ORDER BY day")
    assert got == [(dt.date(2025, 3, 1), Decimal("0.003"), 2), (dt.date(2025, 3, 2), None, 1)]


def test_days_are_utc_whatever_the_session_time_zone(con: duckdb.DuckDBPyConnection) -> None:
    # s4 starts at 23:30 UTC on 2025-03-01, which is already 2025-03-02 in Tokyo.
    con.execute("SET TimeZone = 'Asia/Tokyo'")
    got = rows(con, "SELECT day, model, calls FROM llm_daily_cost WHERE model = 'mystery-1' ORDER BY day")
    assert got == [(dt.date(2025, 3, 1), "mystery-1", 1), (dt.date(2025, 3, 2), "mystery-1", 1)]


def test_cost_by_trace(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        con,
        "SELECT trace_id, service_name, first_span_name, started_at, ended_at, calls, unpriced_calls, failed_calls,"
        " input_tokens, output_tokens, cost_usd FROM llm_cost_by_trace ORDER BY trace_id",
    )
    two_s = dt.timedelta(seconds=2)
    assert got == [
        (T1, "svc-a", "chat first", at(1, 10), at(1, 10, 5) + two_s, 2, 0, 1, 3000, 300, Decimal("0.003")),
        (T2, "svc-b", "chat gpt", at(1, 12), at(1, 23, 30) + two_s, 2, 2, 0, 600, 60, None),
        (T3, "svc-b", "chat mystery", at(2, 9), at(2, 9) + two_s, 1, 1, 0, 10, 1, None),
    ]


def test_cost_by_conversation(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        con,
        "SELECT conversation_id, user_id, first_call_at, last_call_at, calls, unpriced_calls, input_tokens,"
        " output_tokens, cost_usd, models FROM llm_cost_by_conversation ORDER BY conversation_id",
    )
    two_s = dt.timedelta(seconds=2)
    assert got == [
        ("c1", "u1", at(1, 10), at(1, 10, 5) + two_s, 2, 0, 3000, 300, Decimal("0.003"), ["gpt-4o"]),
        # s5 has no user; the conversation's user is the first one known. Calls without a
        # conversation (s7) are left out.
        ("c2", "u2", at(1, 12), at(1, 23, 30) + two_s, 2, 2, 600, 60, None, ["gpt-4o", "mystery-1"]),
    ]


def test_unpriced_calls(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        con,
        "SELECT span_id, trace_id, service_name, provider, request_model, response_model, pricing_status,"
        " pricing_detail, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens"
        " FROM llm_unpriced_calls ORDER BY start_time",
    )
    assert got == [
        ("s5", T2, "svc-b", "openai", "gpt-4o", None, "price_error", "boom", 100, None, None, 10),
        ("s4", T2, "svc-b", "acme", "mystery-1", None, "unknown_model", "no price for mystery-1", 500, None, None, 50),
        ("s7", T3, "svc-b", "acme", "mystery-1", None, "unknown_model", None, 10, None, None, 1),
    ]


def test_views_on_an_empty_table_are_empty() -> None:
    with DuckDBStore(":memory:") as store:
        for view in ("llm_daily_cost", "llm_cost_by_trace", "llm_cost_by_conversation", "llm_unpriced_calls"):
            assert store.con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,)
