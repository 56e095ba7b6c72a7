"""The analytic views, on hand-built rows: duplicates count once, unpriced calls are never $0.

Every expected number below is computed by hand from the rows of the ``con`` fixture.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import VIEWS

from otel_llm_cost._providers import PROVIDER_ALIASES, catalog_provider_id
from otel_llm_cost.store import DuckDBStore

UTC = dt.timezone.utc
T1, T2, T3 = "1" * 32, "2" * 32, "3" * 32
S = dt.timedelta(seconds=1)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def insert(con: duckdb.DuckDBPyConnection, **row: Any) -> None:
    row.setdefault("end_time", row["start_time"] + 2 * S)
    row.setdefault("pricing_status", "priced" if row.get("cost_usd") is not None else "unknown_model")
    row.setdefault("parent_span_id", "f" * 16)  # the trace's root is not stored, unless a row says so
    names = ", ".join(row)
    con.execute(f"INSERT INTO llm_calls ({names}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def insert_price(con: duckdb.DuckDBPyConnection, price_id: str, provider: str, model: str, **rates: str) -> None:
    con.execute(
        "INSERT INTO model_prices (price_id, provider_id, model_id, input_mtok, rates, price_version)"
        " VALUES (?, ?, ?, ?, ?, 'test')",
        [price_id, provider, model, Decimal(rates["input_mtok"].split(" ")[0]), json.dumps(rates)],
    )


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    """A migrated store holding the calls every test below reasons about."""
    with DuckDBStore(":memory:") as store:
        c = store.con
        gpt = {"provider": "openai", "priced_provider": "openai", "priced_model": "gpt-4o", "request_model": "gpt-4o",
               "response_model": "gpt-4o-2024-08-06"}  # fmt: skip
        # Trace 1, 2025-03-01, service svc-a in prod: two priced calls in conversation c1; s1 is the
        # trace's root and read 400 cached tokens; s2 failed.
        insert(c, trace_id=T1, span_id="s1", parent_span_id=None, start_time=at(1, 10), end_time=at(1, 10) + S,
               span_name="chat first", service_name="svc-a", environment="prod", conversation_id="c1",
               user_id="u1", input_tokens=1000, cache_read_tokens=400, output_tokens=100, reasoning_tokens=20,
               cost_usd=Decimal("0.001"), cache_read_cost_usd=Decimal("0.0005"), price_id="p-gpt4o", **gpt)  # fmt: skip
        insert(c, trace_id=T1, span_id="s2", start_time=at(1, 10, 5), end_time=at(1, 10, 5) + 5 * S,
               span_name="chat second", service_name="svc-a", environment="prod", conversation_id="c1",
               user_id="u1", input_tokens=2000, output_tokens=200, cost_usd=Decimal("0.002"), status_code="ERROR",
               error_type="500", **gpt)  # fmt: skip
        # s3 is the same provider call as s2, reported by a second instrumentation: counted once.
        insert(c, trace_id=T1, span_id="s3", start_time=at(1, 10, 5), span_name="openai.chat", service_name="svc-a",
               environment="prod", conversation_id="c1", user_id="u1", input_tokens=2000, output_tokens=200,
               cost_usd=Decimal("0.002"), status_code="ERROR", error_type="500", **gpt)  # fmt: skip
        # Trace 2, 2025-03-01: an unknown model late in the UTC day, and a gpt-4o call that failed to price.
        insert(c, trace_id=T2, span_id="s4", start_time=at(1, 23, 30), span_name="chat mystery", service_name="svc-b",
               conversation_id="c2", user_id="u2", provider="acme", request_model="mystery-1", input_tokens=500,
               output_tokens=50, pricing_detail="no price for mystery-1")  # fmt: skip
        insert(c, trace_id=T2, span_id="s5", start_time=at(1, 12), end_time=at(1, 12) + S / 2, span_name="chat gpt",
               service_name="svc-b", conversation_id="c2", provider="openai", request_model="gpt-4o",
               input_tokens=100, output_tokens=10, pricing_status="price_error", pricing_detail="boom")  # fmt: skip
        # s6 duplicates the unpriced s4: it must not show twice among unpriced calls either.
        insert(c, trace_id=T2, span_id="s6", start_time=at(1, 23, 30), span_name="acme.chat", service_name="svc-b",
               conversation_id="c2", user_id="u2", provider="acme", request_model="mystery-1", input_tokens=500,
               output_tokens=50)  # fmt: skip
        # Trace 3, 2025-03-02, inside the agent run 'planner' (the trace's root): outside any conversation.
        insert(c, trace_id=T3, span_id="s7", start_time=at(2, 9), end_time=at(2, 9) + 3 * S, span_name="chat mystery",
               service_name="svc-b", provider="acme", request_model="mystery-1", input_tokens=10,
               cache_read_tokens=5, output_tokens=1)  # fmt: skip
        # Gemini 2.5 Pro above its 200k-token tier (input $2.5, cache read $0.25 per Mtok there):
        # 200,000 uncached = $0.5, 100,000 cached = $0.025, 10 output at $15 = $0.00015.
        insert(c, trace_id=T3, span_id="s8", start_time=at(2, 9, 1), end_time=at(2, 9, 1) + 4 * S,
               span_name="chat gemini", service_name="svc-b", user_id="u3", provider="google",
               priced_provider="google", priced_model="gemini-2.5-pro", request_model="gemini-2.5-pro",
               input_tokens=300_000, cache_read_tokens=100_000, output_tokens=10, cost_usd=Decimal("0.52515"),
               input_cost_usd=Decimal("0.5"), cache_read_cost_usd=Decimal("0.025"),
               output_cost_usd=Decimal("0.00015"), price_id="p-gemini")  # fmt: skip
        # The same model through another instrumentation's provider name, unpriced and failed:
        # grouped with the priced 'google' call, not apart from it.
        insert(c, trace_id=T3, span_id="s9", start_time=at(2, 9, 2), span_name="gemini chat", service_name="svc-b",
               provider="gcp.gemini", request_model="gemini-2.5-pro", input_tokens=40, output_tokens=4,
               status_code="ERROR", error_type="timeout")  # fmt: skip
        # Claude 3 Haiku with a cache write: 7,000 uncached at $0.25 = $0.00175, 2,000 cache reads at
        # $0.03 = $0.00006, 1,000 cache writes at $0.30 = $0.0003, 100 output at $1.25 = $0.000125.
        haiku = {"trace_id": T3, "start_time": at(2, 9, 3), "span_name": "chat haiku", "service_name": "svc-b",
                 "user_id": "u3", "provider": "anthropic", "priced_provider": "anthropic",
                 "priced_model": "claude-3-haiku", "request_model": "claude-3-haiku-20240307", "input_tokens": 10_000,
                 "cache_read_tokens": 2_000, "cache_write_tokens": 1_000, "output_tokens": 100,
                 "cost_usd": Decimal("0.002235"), "input_cost_usd": Decimal("0.00175"),
                 "cache_read_cost_usd": Decimal("0.00006"), "cache_write_cost_usd": Decimal("0.0003"),
                 "output_cost_usd": Decimal("0.000125"), "price_id": "p-haiku"}  # fmt: skip
        insert(c, span_id="s10", **haiku)
        insert(c, span_id="s11", **haiku)  # its duplicate
        c.execute("UPDATE llm_calls SET is_duplicate = true WHERE span_id IN ('s3', 's6', 's11')")
        c.execute(
            "INSERT INTO llm_agent_runs (trace_id, span_id, parent_span_id, start_time, end_time, span_name,"
            " service_name, run_kind, agent_name, status_code) VALUES (?, 'r1', NULL, ?, ?, 'invoke_agent planner',"
            " 'svc-b', 'invoke_agent', 'planner', 'OK')",
            [T3, at(2, 9), at(2, 9, 10)],
        )
        insert_price(c, "p-gpt4o", "openai", "gpt-4o", input_mtok="2.5", cache_read_mtok="1.25", output_mtok="10")
        insert_price(c, "p-gemini", "google", "gemini-2.5-pro", input_mtok="1.25 (>200000: 2.5)",
                     cache_read_mtok="0.125 (>200000: 0.25)", output_mtok="10 (>200000: 15)")  # fmt: skip
        insert_price(c, "p-haiku", "anthropic", "claude-3-haiku", input_mtok="0.25", cache_write_mtok="0.3",
                     cache_read_mtok="0.03", output_mtok="1.25", cache_write_1h_mtok="0.5")  # fmt: skip
        yield c


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    return con.execute(sql, params).fetchall()


def test_the_documented_views_exist(con: duckdb.DuckDBPyConnection) -> None:
    names = rows(con, "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1")
    assert [n for (n,) in names] == VIEWS


def test_provider_id_macro_normalises_as_pricing_does(con: duckdb.DuckDBPyConnection) -> None:
    names = [*PROVIDER_ALIASES, "GCP.Gemini", " OpenAI ", "openai.chat", "anthropic.messages", "xai.chat",
             "google.vertex", "acme", "", None]  # fmt: skip
    got = rows(con, "SELECT name, llm_provider_id(name) FROM unnest(?) t(name)", [names])
    assert got == [(name, catalog_provider_id(name)) for name in names]
    assert dict(rows(con, "SELECT span_provider, provider_id FROM llm_aliased_providers")) == PROVIDER_ALIASES


def test_daily_cost(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        con,
        "SELECT day, provider, model, calls, priced_calls, unpriced_calls, input_tokens, cache_read_tokens,"
        " cache_write_tokens, output_tokens, reasoning_tokens, cost_usd FROM llm_daily_cost ORDER BY day, model",
    )
    d1, d2 = dt.date(2025, 3, 1), dt.date(2025, 3, 2)
    assert got == [
        # s1 + s2 priced, s5 unpriced (its cost is left out of the sum, not added as 0); s3 is a duplicate.
        (d1, "openai", "gpt-4o", 3, 2, 1, 3100, 400, None, 310, 20, Decimal("0.003")),
        (d1, "acme", "mystery-1", 1, 0, 1, 500, None, None, 50, None, None),
        (d2, "anthropic", "claude-3-haiku", 1, 1, 0, 10_000, 2_000, 1_000, 100, None, Decimal("0.002235")),
        # s8 (priced, provider google) and s9 (unpriced, provider gcp.gemini) are one row.
        (d2, "google", "gemini-2.5-pro", 2, 1, 1, 300_040, 100_000, None, 14, None, Decimal("0.52515")),
        (d2, "acme", "mystery-1", 1, 0, 1, 10, 5, None, 1, None, None),
    ]


def test_a_group_with_only_unpriced_calls_costs_null_not_zero(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(con, "SELECT model, sum(cost_usd), sum(unpriced_calls) FROM llm_daily_cost GROUP BY 1 ORDER BY 1")
    assert got == [
        ("claude-3-haiku", Decimal("0.002235"), 0),
        ("gemini-2.5-pro", Decimal("0.52515"), 1),
        ("gpt-4o", Decimal("0.003"), 1),
        ("mystery-1", None, 2),
    ]


def test_days_are_utc_whatever_the_session_time_zone(con: duckdb.DuckDBPyConnection) -> None:
    # s4 starts at 23:30 UTC on 2025-03-01, which is already 2025-03-02 in Tokyo.
    con.execute("SET TimeZone = 'Asia/Tokyo'")
    got = rows(con, "SELECT day, model, calls FROM llm_daily_cost WHERE model = 'mystery-1' ORDER BY day")
    assert got == [(dt.date(2025, 3, 1), "mystery-1", 1), (dt.date(2025, 3, 2), "mystery-1", 1)]


def test_cost_by_service_and_environment(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(con, "SELECT * FROM llm_cost_by_service ORDER BY service_name")
    assert got == [
        ("svc-a", "prod", 2, 2, 0, 1, 1, 3000, 400, None, 300, 20, Decimal("0.003"), at(1, 10), at(1, 10, 5)),
        # s4, s5, s7, s8, s9, s10: users u2 and u3.
        ("svc-b", None, 6, 2, 4, 1, 2, 310_650, 102_005, 1_000, 175, None, Decimal("0.527385"), at(1, 12),
         at(2, 9, 3)),
    ]  # fmt: skip


def test_cost_by_user(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(con, "SELECT * FROM llm_cost_by_user ORDER BY user_id")
    assert got == [
        ("u1", 2, 2, 0, 1, 1, 3000, 400, None, 300, 20, Decimal("0.003"), at(1, 10), at(1, 10, 5)),
        ("u2", 1, 0, 1, 0, 1, 500, None, None, 50, None, None, at(1, 23, 30), at(1, 23, 30)),
        ("u3", 2, 2, 0, 0, 0, 310_000, 102_000, 1_000, 110, None, Decimal("0.527385"), at(2, 9, 1), at(2, 9, 3)),
    ]


def test_cost_by_trace_names_the_root_when_it_is_stored(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        con,
        "SELECT trace_id, service_name, first_span_name, root_span_name, started_at, ended_at, calls,"
        " unpriced_calls, failed_calls, input_tokens, output_tokens, cost_usd, cache_read_tokens, reasoning_tokens"
        " FROM llm_cost_by_trace ORDER BY trace_id",
    )
    assert got == [
        (T1, "svc-a", "chat first", "chat first", at(1, 10), at(1, 10, 5) + 5 * S, 2, 0, 1, 3000, 300,
         Decimal("0.003"), 400, 20),
        # Trace 2's root is not an LLM span, so it is not stored.
        (T2, "svc-b", "chat gpt", None, at(1, 12), at(1, 23, 30) + 2 * S, 2, 2, 0, 600, 60, None, None, None),
        # Trace 3's root is the agent run.
        (T3, "svc-b", "chat mystery", "invoke_agent planner", at(2, 9), at(2, 9, 3) + 2 * S, 4, 2, 1, 310_050, 115,
         Decimal("0.527385"), 102_005, None),
    ]  # fmt: skip


def test_cost_by_conversation(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        con,
        "SELECT conversation_id, user_id, first_call_at, last_call_at, calls, unpriced_calls, input_tokens,"
        " output_tokens, cost_usd, models, failed_calls, cache_read_tokens, reasoning_tokens"
        " FROM llm_cost_by_conversation ORDER BY conversation_id",
    )
    assert got == [
        ("c1", "u1", at(1, 10), at(1, 10, 5) + 5 * S, 2, 0, 3000, 300, Decimal("0.003"), ["gpt-4o"], 1, 400, 20),
        # s5 has no user; the conversation's user is the first one known. Calls without a
        # conversation (trace 3) are left out.
        ("c2", "u2", at(1, 12), at(1, 23, 30) + 2 * S, 2, 2, 600, 60, None, ["gpt-4o", "mystery-1"], 0, None, None),
    ]


def test_cost_by_agent_run(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        con,
        "SELECT run_span_id, agent_name, calls, unpriced_calls, input_tokens, output_tokens, cost_usd"
        " FROM llm_cost_by_agent_run",
    )
    # s7, s8, s9 and s10 ran inside the run; s11 duplicates s10.
    assert got == [("r1", "planner", 4, 2, 310_050, 115, Decimal("0.527385"))]


def test_top_calls_most_expensive_first_without_duplicates_or_unpriced(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(con, "SELECT span_id, provider, model, cost_usd, cache_read_cost_usd FROM llm_top_calls")
    assert got == [
        ("s8", "google", "gemini-2.5-pro", Decimal("0.52515"), Decimal("0.025")),
        ("s10", "anthropic", "claude-3-haiku", Decimal("0.002235"), Decimal("0.00006")),
        ("s2", "openai", "gpt-4o", Decimal("0.002"), None),
        ("s1", "openai", "gpt-4o", Decimal("0.001"), Decimal("0.0005")),
    ]
    assert rows(con, "SELECT span_id FROM llm_top_calls LIMIT 2") == [("s8",), ("s10",)]


def test_latency_by_model_over_calls_that_did_not_fail(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(con, "SELECT * FROM llm_latency_by_model ORDER BY provider, model")
    assert got == [
        # s4 took 2 s, s7 3 s: the median interpolates, p95 = 2000 + 0.95 * 1000.
        ("acme", "mystery-1", 2, 0, 2500.0, 2950.0, 2990.0, 2000 + 1000),
        ("anthropic", "claude-3-haiku", 1, 0, 2000.0, 2000.0, 2000.0, 2000),
        # s9 failed, so only s8 (4 s) is timed, though the two are one provider.
        ("google", "gemini-2.5-pro", 1, 1, 4000.0, 4000.0, 4000.0, 4000),
        # s1 took 1 s and s5 0.5 s; s2 failed (5 s) and s3 is its duplicate.
        ("openai", "gpt-4o", 2, 1, 750.0, 975.0, 995.0, 1000),
    ]


def test_error_cost(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(con, "SELECT * FROM llm_error_cost ORDER BY day")
    assert got == [
        (dt.date(2025, 3, 1), "openai", "gpt-4o", "500", 1, 0, 2000, 200, Decimal("0.002")),
        # Unpriced: counted, its cost NULL rather than 0, and its provider normalised.
        (dt.date(2025, 3, 2), "google", "gemini-2.5-pro", "timeout", 1, 1, 40, 4, None),
    ]


def test_cache_savings_priced_at_each_calls_own_tier(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(con, "SELECT * FROM llm_cache_savings ORDER BY day, provider")
    zero = Decimal(0)
    assert got == [
        # s1: 400 reads would have cost 400 x $2.5/M = $0.001 as input; they cost $0.0005.
        (dt.date(2025, 3, 1), "openai", "gpt-4o", 1, 0, 400, Decimal("0.0005"), Decimal("0.001"),
         Decimal("0.0005"), None, zero, zero, Decimal("0.0005")),
        # s7: unpriced, so what its 5 cached tokens saved is unknown: NULL, not 0.
        (dt.date(2025, 3, 2), "acme", "mystery-1", 1, 1, 5, None, None, None, None, None, None, None),
        # s10: reads 2,000 x ($0.25 - $0.03)/M = $0.00044 saved; writes cost 1,000 x ($0.30 - $0.25)/M
        # = $0.00005 more than input would have.
        (dt.date(2025, 3, 2), "anthropic", "claude-3-haiku", 1, 0, 2_000, Decimal("0.00006"), Decimal("0.0005"),
         Decimal("0.00044"), 1_000, Decimal("0.0003"), Decimal("0.00005"), Decimal("0.00039")),
        # s8: 300,000 input tokens put the whole request in the >200k tier: 100,000 reads at $2.5/M
        # = $0.25 as input, against the $0.025 they cost.
        (dt.date(2025, 3, 2), "google", "gemini-2.5-pro", 1, 0, 100_000, Decimal("0.025"), Decimal("0.25"),
         Decimal("0.225"), None, zero, zero, Decimal("0.225")),
    ]  # fmt: skip


def test_cache_savings_below_the_tier_and_without_a_cache_rate() -> None:
    with DuckDBStore(":memory:") as store:
        c = store.con
        insert_price(c, "p-tiered", "google", "gemini-2.5-pro", input_mtok="1.25 (>200000: 2.5)",
                     cache_read_mtok="0.125 (>200000: 0.25)")  # fmt: skip
        insert_price(c, "p-flat", "acme", "flat-1", input_mtok="1")
        # Exactly 200,000 input tokens is not above the tier: the base rate, $1.25/M, applies.
        insert(c, trace_id=T1, span_id="a", start_time=at(1, 1), provider="google", priced_provider="google",
               priced_model="gemini-2.5-pro", input_tokens=200_000, cache_read_tokens=1_000,
               cost_usd=Decimal("0.2490125"), cache_read_cost_usd=Decimal("0.000125"), price_id="p-tiered")  # fmt: skip
        # A price with no cache read rate bills cached tokens as input: they saved nothing.
        insert(c, trace_id=T1, span_id="b", start_time=at(1, 2), provider="acme", priced_provider="acme",
               priced_model="flat-1", input_tokens=1_000, cache_read_tokens=100, cost_usd=Decimal("0.001"),
               input_cost_usd=Decimal("0.001"), cache_read_cost_usd=Decimal(0), price_id="p-flat")  # fmt: skip
        got = rows(c, "SELECT model, cache_read_at_input_price_usd, cache_read_savings_usd FROM llm_cache_savings"
                      " ORDER BY model")  # fmt: skip
    assert got == [
        ("flat-1", Decimal("0.0001"), Decimal(0)),
        ("gemini-2.5-pro", Decimal("0.00125"), Decimal("0.001125")),
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
        ("s7", T3, "svc-b", "acme", "mystery-1", None, "unknown_model", None, 10, 5, None, 1),
        ("s9", T3, "svc-b", "gcp.gemini", "gemini-2.5-pro", None, "unknown_model", None, 40, None, None, 4),
    ]


def test_unpriced_by_model_with_token_totals(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(con, "SELECT * FROM llm_unpriced_by_model ORDER BY calls DESC, provider")
    assert got == [
        ("acme", "mystery-1", "unknown_model", 2, 510, 5, None, 51, None, at(1, 23, 30), at(2, 9),
         "no price for mystery-1"),
        ("google", "gemini-2.5-pro", "unknown_model", 1, 40, None, None, 4, None, at(2, 9, 2), at(2, 9, 2), None),
        ("openai", "gpt-4o", "price_error", 1, 100, None, None, 10, None, at(1, 12), at(1, 12), "boom"),
    ]  # fmt: skip


def test_month_to_date_and_its_linear_projection(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("SET TimeZone = 'America/New_York'")  # month bounds are UTC whatever the session says
    march_2 = dt.datetime(2025, 3, 2, 12, tzinfo=UTC)
    got = rows(con, "SELECT * FROM llm_month_to_date_at(?)", [march_2])
    # 8 calls in March (s3, s6, s11 are duplicates), 4 priced: $0.003 + $0.527385. 1.5 of 31 days
    # have passed: 0.530385 x 2,678,400 s / 129,600 s.
    assert got == [(dt.date(2025, 3, 1), march_2, 8, 4, 4, Decimal("0.530385"), 1.5, 31, Decimal("10.96129"),
                    Decimal(0))]  # fmt: skip
    april_10 = dt.datetime(2025, 4, 10, tzinfo=UTC)
    got = rows(con, "SELECT month, calls, cost_usd, projected_cost_usd, previous_month_cost_usd"
                    " FROM llm_month_to_date_at(?)", [april_10])  # fmt: skip
    # No call yet this month: it has cost $0, and March is the previous month.
    assert got == [(dt.date(2025, 4, 1), 0, Decimal(0), Decimal(0), Decimal("0.530385"))]


def test_month_to_date_view_is_the_current_month(con: duckdb.DuckDBPyConnection) -> None:
    (month, as_of), *_ = rows(con, "SELECT month, as_of FROM llm_month_to_date")
    now = dt.datetime.now(UTC)
    assert month == now.date().replace(day=1) and abs(as_of - now) < dt.timedelta(minutes=5)


def test_views_on_an_empty_table_are_empty() -> None:
    with DuckDBStore(":memory:") as store:
        for view in VIEWS:
            if view in ("llm_aliased_providers", "llm_month_to_date"):
                continue  # a constant list, and always one row for this month
            assert store.con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,), view


def test_every_view_has_a_readme_example_that_runs(con: duckdb.DuckDBPyConnection) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    examples = dict(re.findall(r"^\| `(\w+)` \|.*\| `(SELECT [^`]+)` \|$", readme, re.M))
    assert sorted(examples) == [v for v in VIEWS if v != "llm_aliased_providers"]
    for view, sql in examples.items():
        assert view in sql
        con.execute(sql).fetchall()
