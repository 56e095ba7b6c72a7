"""``report --currency``: every cost converted at its UTC day's rate, exact, with what cannot be converted named.

The database (EUR rates on 2026-11-10 and 2026-11-12 only):

    call  day    user  model              USD       rate               EUR
    A     11-09  u1    gpt-4o-mini        2.5       none yet           not converted
    B     11-10  u1    gpt-4o-mini        0.001234  0.9234             0.0011394756
    C     11-11  u1    claude-sonnet-4-5  0.0234    0.9234 (of 11-10)  0.02160756
    D     11-12  u2    gpt-4o-mini        1.5       0.9512             1.4268
    E     11-12  u2    acme-llm-2         unpriced  -                  -
    F     11-12  u2    gpt-4o-mini        a duplicate of D, never counted
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Iterator
from datetime import date, datetime, timezone
from decimal import Context, Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from otel_llm_cost import report as r
from otel_llm_cost._report_currency import convert_sql
from otel_llm_cost._report_groups import build_grouped
from otel_llm_cost._report_html import cache_savings, render_html
from otel_llm_cost._report_period import Period
from otel_llm_cost._report_rows import Converted
from otel_llm_cost.cli import cli
from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.currency import ExchangeRate, UnknownCurrency, convert_usd, store_rates
from otel_llm_cost.pricing import Cost
from otel_llm_cost.store import DuckDBStore

d = Decimal
D09, D10, D11, D12 = (date(2026, 11, n) for n in (9, 10, 11, 12))
NOW = datetime(2026, 11, 21, tzinfo=timezone.utc)
NOVEMBER = Period(datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 12, 1, tzinfo=timezone.utc))
NONE = Converted(None, 0, None)


def call(span: str, day: date, user: str, model: str, cost: str | None) -> tuple[CallRecord, Cost]:
    start = int(datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc).timestamp()) * 10**9
    provider = "anthropic" if model.startswith("claude") else "acme" if model.startswith("acme") else "openai"
    record = CallRecord(
        trace_id="c" * 32, span_id=span * 16, parent_span_id=None, start_time_ns=start, end_time_ns=start + 10**9,
        span_name="chat", service_name="api", environment="production", provider=provider, operation="chat",
        request_model=model, response_model=None, response_id=None, input_tokens=100, output_tokens=10,
        cache_read_tokens=None, cache_write_tokens=None, reasoning_tokens=None, user_id=user,
        conversation_id=f"conv-{user}", agent_name=None, status_code="UNSET", error_type=None, reported_cost_usd=None,
    )  # fmt: skip
    if cost is None:
        return record, Cost("unknown_model", f"{model!r} is not in the price catalog")
    return record, Cost("priced", cost_usd=d(cost), computed_cost_usd=d(cost), cost_source="computed",
                        priced_provider=provider, priced_model=model)  # fmt: skip


@pytest.fixture
def db(db_path: str) -> Iterator[str]:
    with DuckDBStore(db_path) as store:
        store.write_batch([
            call("a", D09, "u1", "gpt-4o-mini", "2.5"),
            call("b", D10, "u1", "gpt-4o-mini", "0.001234"),
            call("c", D11, "u1", "claude-sonnet-4-5", "0.0234"),
            call("d", D12, "u2", "gpt-4o-mini", "1.5"),
            call("e", D12, "u2", "acme-llm-2", None),
            call("f", D12, "u2", "gpt-4o-mini", "1.5"),
        ])  # fmt: skip
        store.con.execute("UPDATE llm_calls SET is_duplicate = true WHERE span_id = ?", ["f" * 16])
        rates = [ExchangeRate("EUR", D10, d("0.9234")), ExchangeRate("EUR", D12, d("0.9512"))]
        assert store_rates(store.con, rates) == 2
    yield db_path


@pytest.fixture
def con(db: str) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = r.open_database(db)
    yield connection
    connection.close()


def test_the_overview_converts_each_day_at_its_rate(con: duckdb.DuckDBPyConnection) -> None:
    report = r.build_report(con, period=NOVEMBER, now=NOW, currency="eur")
    assert report.currency == "EUR"
    # B + C + D; A's day has no rate yet: counted apart, in USD. The USD total is unchanged.
    assert report.totals.converted == Converted(d("1.4495470356"), 1, d("2.5"))
    assert report.totals.cost_usd == d("4.024634")
    assert [(m.model, m.cost_usd, m.converted) for m in report.by_model] == [
        ("gpt-4o-mini", d("4.001234"), Converted(d("1.4279394756"), 1, d("2.5"))),
        ("claude-sonnet-4-5", d("0.0234"), Converted(d("0.02160756"), 0, None)),
        ("acme-llm-2", None, NONE),  # unpriced: no cost in any currency, never 0
    ]
    assert [(day.day, day.converted) for day in report.by_day] == [
        (D12, Converted(d("1.4268"), 0, None)),
        (D11, Converted(d("0.02160756"), 0, None)),  # no rate of its own: the latest earlier one, 11-10's
        (D10, Converted(d("0.0011394756"), 0, None)),
        (D09, Converted(None, 1, d("2.5"))),  # before the first rate
    ]
    assert report.by_day[0].converted_by_provider == {
        "acme": NONE, "openai": Converted(d("1.4268"), 0, None)
    }  # fmt: skip
    # u1 spans three days, each at its own rate: the sum of the per-day conversions.
    assert [(u.name, u.converted) for u in report.top_users] == [
        ("u1", Converted(d("0.0227470356"), 1, d("2.5"))),
        ("u2", Converted(d("1.4268"), 0, None)),
    ]
    assert [(c.conversation_id, c.converted) for c in report.top_conversations] == [
        ("conv-u1", Converted(d("0.0227470356"), 1, d("2.5"))),
        ("conv-u2", Converted(d("1.4268"), 0, None)),
    ]
    assert [(s.name, s.converted) for s in report.by_service] == [("api", Converted(d("1.4495470356"), 1, d("2.5")))]
    # November so far: 20 of 30 days, so x 1.5, floored to 10^-9 as the USD projection is; October had nothing.
    mtd = report.month_to_date
    assert (mtd.converted, mtd.converted_projected, mtd.converted_previous_month) == (
        Converted(d("1.4495470356"), 1, d("2.5")), d("2.174320553"), Converted(d(0), 0, None),
    )  # fmt: skip


def test_the_sums_equal_convert_usd_over_the_per_day_sums(con: duckdb.DuckDBPyConnection) -> None:
    report = r.build_report(con, period=NOVEMBER, now=NOW, currency="EUR")
    per_day = {day.day: day.cost_usd for day in report.by_day}
    converted = convert_usd(con, per_day, "EUR")
    assert converted == {D12: d("1.4268"), D11: d("0.02160756"), D10: d("0.0011394756"), D09: None}
    assert sum(v for v in converted.values() if v is not None) == report.totals.converted.cost  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("usd", "rate"),
    [
        ("0.000000000000000001", "0.5"),  # rounds at the 18th place
        ("1000000.123456789012345678", "16000.1234567891"),  # 1.6e10 rupiah: one DECIMAL(38) product overflows
        ("-0.0025", "0.9234"),  # a net cache saving can be negative
    ],
)
def test_conversion_is_exact_to_18_places_and_does_not_overflow(usd: str, rate: str) -> None:
    [(value,)] = (
        duckdb.connect()
        .execute(
            f"SELECT {convert_sql('u', 'rate')}"
            " FROM (SELECT CAST($1 AS DECIMAL(38, 18)) AS u, CAST($2 AS DECIMAL(20, 10)) AS rate)",
            [usd, rate],
        )
        .fetchall()
    )
    exact = Context(prec=80).multiply(d(usd), d(rate))  # Python's default 28 digits would round it
    assert abs(value - exact) <= d("5E-19")  # exact to the 18th place, rounded there


def test_by_group_converts_the_rest_and_the_total(con: duckdb.DuckDBPyConnection) -> None:
    grouped = build_grouped(con, "user", top=1, period=NOVEMBER, currency="EUR")
    assert grouped.currency == "EUR"
    assert [(g.key, g.cost_usd, g.converted) for g in grouped.rows] == [
        ("u1", d("2.524634"), Converted(d("0.0227470356"), 1, d("2.5")))
    ]
    assert grouped.rest is not None and grouped.rest.converted == Converted(d("1.4268"), 0, None)
    assert grouped.totals.converted == Converted(d("1.4495470356"), 1, d("2.5"))
    by_day = build_grouped(con, "day", top=10, period=NOVEMBER, currency="EUR")
    assert [(g.key, g.converted) for g in by_day.rows] == [
        ("2026-11-12", Converted(d("1.4268"), 0, None)),
        ("2026-11-11", Converted(d("0.02160756"), 0, None)),
        ("2026-11-10", Converted(d("0.0011394756"), 0, None)),
        ("2026-11-09", Converted(None, 1, d("2.5"))),
    ]
    # Without a currency nothing changes: no conversion, and the same groups in the same order.
    usd = build_grouped(con, "user", top=1, period=NOVEMBER)
    assert usd.currency is None and usd.rows[0].converted is None and usd.totals.converted is None
    assert [dataclasses.replace(g, converted=None) for g in grouped.rows] == usd.rows


def test_an_unknown_currency_is_refused(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(UnknownCurrency, match=r"^no exchange rates for GBP \(loaded: EUR\); load some with: "):
        r.build_report(con, now=NOW, currency="GBP")


def test_html_page_and_cache_savings_in_the_currency(con: duckdb.DuckDBPyConnection) -> None:
    pytest.importorskip("plotly")
    report = r.build_report(con, period=NOVEMBER, now=NOW, currency="EUR")
    page = render_html(report, cache_savings(con, report.window, "EUR"), generated_at=NOW)
    assert "<th>Total cost (priced calls)</th><td>EUR 1.4495 + $2.5000 (no EUR rate)</td>" in page
    assert "<th>Not converted to EUR</th>" in page
    assert '"ticksuffix":" EUR"' in page


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["report", *args, "--since", "2026-11-01", "--until", "2026-11-30"])


def test_cli_json_names_the_currency_and_keeps_exact_decimals(db: str) -> None:
    result = run("--db", db, "--by", "model", "--format", "json", "--currency", "eur")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["currency"] == "EUR"
    assert data["totals"]["cost_usd"] == "4.024634"
    assert data["totals"]["converted"] == {
        "cost": "1.4495470356", "unconverted_calls": 1, "unconverted_cost_usd": "2.5"
    }  # fmt: skip
    assert [(g["key"], g["converted"]["cost"]) for g in data["rows"]] == [
        ("gpt-4o-mini", "1.4279394756"), ("claude-sonnet-4-5", "0.02160756"), ("acme-llm-2", None),
    ]  # fmt: skip


def test_cli_usd_output_is_unchanged(db: str) -> None:
    plain = run("--db", db, "--by", "model", "--format", "json", "--no-query-log")
    usd = run("--db", db, "--by", "model", "--format", "json", "--no-query-log", "--currency", "usd")
    assert plain.exit_code == usd.exit_code == 0, plain.output + usd.output
    assert usd.output == plain.output
    assert '"currency"' not in plain.output and '"converted"' not in plain.output


def test_cli_table_csv_and_markdown_show_the_currency(db: str) -> None:
    table = run("--db", db, "--currency", "EUR")
    assert table.exit_code == 0, table.output
    assert "Cost (EUR)" in table.output
    assert "EUR 1.4495 + $2.5000 (no EUR rate)" in table.output
    assert "1 priced call, $2.5000, on days before the first EUR rate: shown in USD, not converted" in (
        " ".join(table.output.split())
    )
    text = run("--db", db, "--by", "day", "--format", "csv", "--currency", "EUR").output
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(x["row"], x["day"], x["cost_usd"], x["cost_eur"], x["unconverted_calls"], x["unconverted_cost_usd"])
            for x in rows] == [
        ("group", "2026-11-12", "1.5", "1.4268", "0", ""),
        ("group", "2026-11-11", "0.0234", "0.02160756", "0", ""),
        ("group", "2026-11-10", "0.001234", "0.0011394756", "0", ""),
        ("group", "2026-11-09", "2.5", "", "1", "2.5"),
        ("total", "", "4.024634", "1.4495470356", "1", "2.5"),
    ]  # fmt: skip
    markdown = run("--db", db, "--by", "user", "--format", "markdown", "--currency", "EUR").output
    assert "| User | Calls | Unpriced | Input | Output | Cost (EUR) |" in markdown
    assert "| u2 | 2 | 1 | 200 | 20 | EUR 1.4268 |" in markdown
    assert "1 priced call ($2.5000) before the first EUR rate, not converted" in markdown


def test_cli_unknown_currency_is_one_line(db: str, tmp_path: Path) -> None:
    result = run("--db", db, "--currency", "GBP")
    assert result.exit_code == 1
    assert result.output == (
        "Error: no exchange rates for GBP (loaded: EUR); load some with: otel-llm-cost rates load FILE\n"
    )
    html = run("--db", db, "--currency", "GBP", "--html", str(tmp_path / "cost.html"))
    assert html.exit_code == 1 and "otel-llm-cost rates load" in html.output
    assert not (tmp_path / "cost.html").exists()
