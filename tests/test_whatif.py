"""What-if: the stored usage priced on another model, exactly in Python and at base rates in SQL."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from decimal import Context, Decimal, localcontext
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner, Result
from test_reprice import DAY1, DAY2, call

from otel_llm_cost._selection import CallFilter
from otel_llm_cost.cli import cli
from otel_llm_cost.currency import ExchangeRate, UnknownCurrency, store_rates
from otel_llm_cost.migrations import migrate
from otel_llm_cost.pricing import Pricer
from otel_llm_cost.store import DuckDBStore
from otel_llm_cost.whatif import WhatIfError, what_if

d = Decimal
# fmt: off
CALLS = [
    call("w1", "gpt-4o", "openai"),  # actual 0.0035
    # 1500 * 2.5/M + 500 cache reads * 1.25/M + 300 * 10/M = 0.007375
    call("w2", "gpt-4o", "openai", when=DAY2, input_tokens=2000, cache_read_tokens=500, output_tokens=300),
    # Past 200k input tokens claude-sonnet-4-5's long-context tier prices the whole request: 1.5 + 0.0225
    call("w3", "claude-sonnet-4-5", "anthropic", input_tokens=250_000, output_tokens=1000),
    # 1000 uncached * 3/M + 1000 cache writes * 3.75/M = 0.00675
    call("w4", "claude-sonnet-4-5", "anthropic", when=DAY2, input_tokens=2000, cache_write_tokens=1000,
         output_tokens=0),
    call("w5", "mystery-1", "acme"),  # unpriced
    call("w6", "gpt-4o", "openai", duplicate_of=("a" * 32, "w1")),  # counted once: left out
    call("w7", "gpt-4o", "openai", input_tokens=None, output_tokens=None),  # no usage: left out
]
# fmt: on


@pytest.fixture
def store() -> Iterator[DuckDBStore]:
    with DuckDBStore(":memory:") as s:
        pricer = Pricer()
        s.write_batch([(r, pricer.price(r)) for r in CALLS], pricer.take_new_plans())
        yield s


def summary(store: DuckDBStore, model: str, **options: Any) -> list[tuple[Any, ...]]:
    result = what_if(store.con, Pricer(), model, **options)
    return [
        (r.provider, r.model, r.calls, r.actual_cost, r.unpriced_calls, r.target_cost, r.difference)
        for r in [*result.rows, result.total]
    ]


def test_traffic_on_a_cheaper_model_is_priced_exactly(store: DuckDBStore) -> None:
    # gpt-5-mini: input 0.25/M, cache read 0.025/M, output 2/M, no cache write price.
    # w1 0.00025 + 0.0002; w2 0.000375 + 0.0000125 + 0.0006; w3 0.0625 + 0.002; w4 2000 * 0.25/M; w5 as w1.
    assert summary(store, "gpt-5-mini") == [
        ("anthropic", "claude-sonnet-4-5", 2, d("1.52925"), 0, d("0.065"), d("-1.46425")),
        ("openai", "gpt-4o", 2, d("0.010875"), 0, d("0.0014375"), d("-0.0094375")),
        ("acme", "mystery-1", 1, None, 1, d("0.00045"), None),
        (None, None, 5, d("1.540125"), 1, d("0.0668875"), None),
    ]
    result = what_if(store.con, Pricer(), "GPT-5-MINI")
    assert (result.target_provider, result.target_model, result.currency) == ("openai", "gpt-5-mini", "USD")
    # The cache writes of w4 were charged at gpt-5-mini's input rate (2000 * 0.25/M = 0.0005), as genai-prices does.
    assert result.missing_cache_prices == ["cache write"]
    assert (result.total.input_tokens, result.total.cache_read_tokens, result.total.cache_write_tokens,
            result.total.output_tokens) == (256_000, 500, 1000, 1500)  # fmt: skip


def test_long_context_tiers_of_the_target_apply(store: DuckDBStore) -> None:
    # gemini-2.5-pro past 200k input: 2.5/M and 15/M for the whole request (base: 1.25/M and 10/M).
    rows = summary(store, "gemini-2.5-pro", selection=CallFilter(model="claude-sonnet-4-5", until=DAY2))
    assert rows[0] == ("anthropic", "claude-sonnet-4-5", 1, d("1.5225"), 0, d("0.64"), d("-0.8825"))


def test_selection_and_an_unknown_target(store: DuckDBStore) -> None:
    assert summary(store, "claude-sonnet-4-5", selection=CallFilter(model="gpt-4o", since=DAY2)) == [
        ("openai", "gpt-4o", 1, d("0.007375"), 0, d("0.00915"), d("0.001775")),
        (None, None, 1, d("0.007375"), 0, d("0.00915"), d("0.001775")),
    ]
    with pytest.raises(WhatIfError, match=r"no price for model 'gpt-17-ultra': 'gpt-17-ultra' is not in the price"):
        what_if(store.con, Pricer(), "gpt-17-ultra")


def rates(*entries: tuple[str, str, str]) -> list[ExchangeRate]:
    return [ExchangeRate(c, dt.date.fromisoformat(day), d(rate)) for c, day, rate in entries]


def test_amounts_convert_at_each_days_rate(store: DuckDBStore) -> None:
    with pytest.raises(UnknownCurrency, match=r"no exchange rates for EUR \(none are loaded\); load some with"):
        what_if(store.con, Pricer(), "gpt-5-mini", currency="eur")
    # DAY1 (03-01) takes the rate of 02-28, the latest earlier one; DAY2 (03-08) that of 03-05.
    store_rates(store.con, rates(("EUR", "2025-02-28", "0.9"), ("EUR", "2025-03-05", "0.95")))
    result = what_if(store.con, Pricer(), "gpt-5-mini", currency="eur", selection=CallFilter(model="gpt-4o"))
    [gpt] = result.rows
    assert result.currency == "EUR"
    # 0.0035 * 0.9 + 0.007375 * 0.95 and 0.00045 * 0.9 + 0.0009875 * 0.95
    assert (gpt.actual_cost, gpt.target_cost, gpt.difference) == (d("0.01015625"), d("0.001343125"),
                                                                  d("-0.008813125"))  # fmt: skip
    # A currency whose first rate is after DAY1: no guess for the calls of that day.
    store_rates(store.con, rates(("GBP", "2025-03-05", "0.8")))
    result = what_if(store.con, Pricer(), "gpt-5-mini", currency="GBP", selection=CallFilter(model="gpt-4o"))
    assert (result.rows[0].actual_cost, result.rows[0].target_cost) == (None, None)
    later = what_if(store.con, Pricer(), "gpt-5-mini", currency="GBP", selection=CallFilter(since=DAY2))
    assert [(r.model, r.actual_cost, r.target_cost) for r in later.rows] == [
        ("gpt-4o", d("0.0059"), d("0.00079")), ("claude-sonnet-4-5", d("0.0054"), d("0.0004"))]  # fmt: skip


# --- the SQL form ---------------------------------------------------------------------------------


def add_price(store: DuckDBStore, price_id: str, provider: str, model: str, rates_mtok: tuple[str | None, ...],
              effective_to: dt.date | None = None) -> None:  # fmt: skip
    store.con.execute(
        "INSERT INTO model_prices (price_id, provider_id, model_id, effective_to, input_mtok, cache_read_mtok,"
        " cache_write_mtok, output_mtok, rates, price_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '{}', 'test')",
        [price_id, provider, model, effective_to, *rates_mtok],
    )


def test_the_sql_macro_uses_current_base_rates(store: DuckDBStore) -> None:
    add_price(store, "old", "google", "gemini-2.5-pro", ("9", "9", None, "9"), effective_to=dt.date(2025, 1, 1))
    add_price(store, "now", "google", "gemini-2.5-pro", ("1.25", "0.125", None, "10"))
    rows = store.con.execute(
        "SELECT span_id, model, cost_usd, target_provider, target_model, what_if_cost_usd"
        " FROM llm_what_if('Gemini-2.5-Pro') ORDER BY span_id"
    ).fetchall()
    # Base rates only: w3's 250k-token request is not priced at the long-context tier (the CLI says 0.64).
    # w4 has no cache-write price on the target: its 1000 cache writes cost the input rate.
    assert rows == [
        ("w1", "gpt-4o", d("0.0035"), "google", "gemini-2.5-pro", d("0.00225")),
        ("w2", "gpt-4o", d("0.007375"), "google", "gemini-2.5-pro", d("0.0049375")),
        ("w3", "claude-sonnet-4-5", d("1.5225"), "google", "gemini-2.5-pro", d("0.3225")),
        ("w4", "claude-sonnet-4-5", d("0.00675"), "google", "gemini-2.5-pro", d("0.0025")),
        ("w5", "mystery-1", None, "google", "gemini-2.5-pro", d("0.00225")),
        ("w7", "gpt-4o", None, None, None, None),  # no usage: nothing to price
    ]
    grouped = store.con.execute(
        "SELECT model, sum(what_if_cost_usd) FROM llm_what_if('gemini-2.5-pro', target_provider := 'google')"
        " WHERE start_time >= '2025-03-08' GROUP BY model ORDER BY model"
    ).fetchall()
    assert grouped == [("claude-sonnet-4-5", d("0.0025")), ("gpt-4o", d("0.0049375"))]
    unknown = store.con.execute("SELECT count(*), count(what_if_cost_usd) FROM llm_what_if('nope')").fetchall()
    assert unknown == [(6, 0)]


def test_the_currency_macro_converts_daily_costs(store: DuckDBStore) -> None:
    store_rates(store.con, rates(("EUR", "2025-03-05", "0.95")))
    rows = store.con.execute(
        "SELECT day, model, cost_usd, currency, rate_day, units_per_usd, cost FROM llm_daily_cost_in('eur')"
        " WHERE model = 'gpt-4o' ORDER BY day"
    ).fetchall()
    assert rows == [
        (DAY1.date(), "gpt-4o", d("0.0035"), "EUR", None, None, None),  # before the first rate: no guess
        (DAY2.date(), "gpt-4o", d("0.007375"), "EUR", dt.date(2025, 3, 5), d("0.95"), d("0.00700625")),
    ]


def test_the_currency_macro_is_exact_to_18_places_and_large_amounts_fit() -> None:
    with DuckDBStore(":memory:") as s:
        store_rates(s.con, rates(("IDR", "2025-03-01", "16543.2109876543")))
        for span, cost in (("p1", "0.000370370367037037"), ("p2", "987654.123456789012345678")):
            s.con.execute(
                "INSERT INTO llm_calls (trace_id, span_id, start_time, end_time, provider, request_model,"
                " pricing_status, cost_usd) VALUES (?, ?, ?, ?, 'openai', ?, 'priced', ?)",
                ["c" * 32, span, DAY2, DAY2, f"model-{span}", d(cost)],
            )
        got = dict(s.con.execute("SELECT model, cost FROM llm_daily_cost_in('IDR')").fetchall())
    rate = d("16543.2109876543")
    # Rounded half-up at the 18th place, from the exact product (no early rounding of cost_usd).
    with localcontext(Context(prec=60)):
        expected = {
            f"model-{span}": (d(cost) * rate).quantize(d("1e-18"), rounding="ROUND_HALF_UP")
            for span, cost in (("p1", "0.000370370367037037"), ("p2", "987654.123456789012345678"))
        }
    assert got == expected
    assert got["model-p2"] > d("1e10")  # past what one DECIMAL(38, 28) product could hold


# --- the command ----------------------------------------------------------------------------------


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def db_file(tmp_path: Path) -> str:
    path = str(tmp_path / "costs.duckdb")
    with DuckDBStore(path) as s:
        pricer = Pricer()
        s.write_batch([(r, pricer.price(r)) for r in CALLS], pricer.take_new_plans())
    return path


def test_cli_table_json_and_currency(db_file: str, tmp_path: Path) -> None:
    table = run("whatif", "--db", db_file, "--model", "gpt-5-mini")
    assert table.exit_code == 0, table.output
    assert "The same traffic on openai/gpt-5-mini" in table.output
    assert "$1.5292" in table.output and "$0.0650" in table.output and "-$1.4642" in table.output
    assert "n/a (1 unpriced)" in table.output
    assert "openai/gpt-5-mini has no cache write price: those tokens are charged at its input rate" in table.output
    data = json.loads(run("whatif", "--db", db_file, "--model", "gpt-5-mini", "--from-model", "gpt-4o",
                          "--format", "json").output)  # fmt: skip
    assert data["total"]["actual_cost"] == "0.010875" and data["total"]["target_cost"] == "0.0014375"
    assert [m["model"] for m in data["models"]] == ["gpt-4o"]
    missing = run("whatif", "--db", db_file, "--model", "gpt-5-mini", "--currency", "EUR")
    assert missing.exit_code == 1 and "Error: no exchange rates for EUR (none are loaded)" in missing.output
    rates_file = tmp_path / "rates.csv"
    rates_file.write_text("currency,day,units_per_usd\nEUR,2025-02-28,0.9\nEUR,2025-03-05,0.95\n")
    assert run("rates", "load", "--db", db_file, str(rates_file)).exit_code == 0
    eur = run("whatif", "--db", db_file, "--model", "gpt-5-mini", "--from-model", "gpt-4o", "--currency", "eur")
    assert eur.exit_code == 0, eur.output
    assert "0.0102 EUR" in eur.output and "0.0013 EUR" in eur.output and "-0.0088 EUR" in eur.output


def test_cli_unknown_model_is_one_clear_line(db_file: str) -> None:
    result = run("whatif", "--db", db_file, "--model", "gpt-17-ultra")
    assert result.exit_code == 1 and "Error: no price for model 'gpt-17-ultra'" in result.output
    assert "Traceback" not in result.output


def test_macros_follow_their_tables_up_and_down() -> None:
    con = duckdb.connect()

    def macros() -> list[str]:
        return [name for (name,) in con.execute(
            "SELECT function_name FROM duckdb_functions() WHERE function_type = 'table_macro'"
            " AND function_name LIKE 'llm_%' ORDER BY 1").fetchall()]  # fmt: skip

    migrate(con)
    assert macros() == ["llm_daily_cost_in", "llm_month_to_date_at", "llm_what_if"]
    migrate(con, to=8)  # exchange_rates is gone, llm_calls and the catalog are not
    assert macros() == ["llm_month_to_date_at", "llm_what_if"]
    assert con.execute("SELECT count(*) FROM llm_what_if('gpt-4o')").fetchall() == [(0,)]
    migrate(con, to=0)
    assert macros() == []
    migrate(con)
    assert macros() == ["llm_daily_cost_in", "llm_month_to_date_at", "llm_what_if"]


def test_the_readme_sql_examples_run(store: DuckDBStore) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Re-pricing, what-if and currencies", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    store_rates(store.con, rates(("EUR", "2025-02-28", "0.9")))
    add_price(store, "mini", "openai", "gpt-5-mini", ("0.25", "0.025", None, "2"))
    results = [store.con.execute(sql).fetchall() for sql in blocks]
    assert results[0][0] == ("claude-sonnet-4-5", 2, d("1.52925"), d("0.0650"))  # as the exact CLI: no tier here
    on_day2 = {(model, cost_eur) for day, model, _, _, cost_eur in results[1] if day == DAY2.date()}
    assert on_day2 == {("claude-sonnet-4-5", d("0.006075")), ("gpt-4o", d("0.0066375"))}  # USD * 0.9
