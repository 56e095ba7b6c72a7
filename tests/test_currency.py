"""Exchange rates: reading a user's file, storing it, converting USD at each day's rate, the rates command."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from otel_llm_cost.cli import cli
from otel_llm_cost.currency import RatesError, UnknownCurrency, convert_usd, read_rates_file, store_rates
from otel_llm_cost.store import DuckDBStore

d = Decimal
day = dt.date.fromisoformat


@pytest.fixture
def store() -> Iterator[DuckDBStore]:
    with DuckDBStore(":memory:") as s:
        yield s


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


def test_csv_and_json_files_read_the_same(tmp_path: Path) -> None:
    csv_file = write(
        tmp_path, "rates.csv", "currency,day,units_per_usd\neur,2025-03-01,0.9234\n\nJPY,2025-03-01,149.5\n"
    )
    json_file = write(
        tmp_path,
        "rates.json",
        '[\n  {"currency": "EUR", "day": "2025-03-01", "units_per_usd": "0.9234"},\n'
        '  {"currency": "JPY", "day": "2025-03-01", "units_per_usd": 149.5}\n]\n',
    )
    for path in (csv_file, json_file):
        assert [(r.currency, r.day, r.units_per_usd) for r in read_rates_file(path)] == [
            ("EUR", day("2025-03-01"), d("0.9234")),
            ("JPY", day("2025-03-01"), d("149.5")),
        ]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("r.csv", "currency,day\nEUR,2025-03-01\n", "r.csv line 1: the header needs the columns currency, day, "
         "units_per_usd (missing: units_per_usd)"),
        ("r.csv", "currency,day,units_per_usd\nEUR,2025-03-01,0.9\nEURO,2025-03-02,0.9\n",
         "r.csv line 3: currency 'EURO' is not a three-letter ISO 4217 code"),
        ("r.csv", "currency,day,units_per_usd\nEUR,2025-03-01,0.9\n\nEUR,2025-13-01,0.9\n",
         "r.csv line 4: day '2025-13-01' is not a date (YYYY-MM-DD)"),
        ("r.csv", "currency,day,units_per_usd\nEUR,2025-03-01,zero point nine\n",
         "r.csv line 2: units_per_usd 'zero point nine' is not a number"),
        ("r.csv", "currency,day,units_per_usd\nEUR,2025-03-01,-0.9\n",
         "r.csv line 2: units_per_usd '-0.9' must be a positive number"),
        ("r.csv", "currency,day,units_per_usd\nEUR,2025-03-01,0.123456789012\n",
         "r.csv line 2: units_per_usd '0.123456789012' does not fit: at most 10 digits before and 10 after the point"),
        ("r.csv", "currency,day,units_per_usd\nUSD,2025-03-01,1\n",
         "r.csv line 2: costs are already in USD; give rates for other currencies"),
        ("r.csv", "currency,day,units_per_usd\nEUR,2025-03-01,0.9\nGBP,2025-03-01,0.8\neur,2025-03-01,0.91\n",
         "r.csv line 4: EUR 2025-03-01 is already given on line 2"),
        ("r.csv", "currency,day,units_per_usd\nEUR,,0.9\n", "r.csv line 2: day is missing"),
        ("r.csv", "currency,day,units_per_usd\n", "r.csv: no rates in the file"),
        ("r.json", '[\n  {"currency": "EUR", "day": "2025-03-01", "units_per_usd": "0.9"},\n  {"currency": "EUR"\n',
         "r.json line 4: not valid JSON (Expecting ',' delimiter)"),
        ("r.json", '{"EUR": 0.9}', "r.json line 1: expected a JSON list of {currency, day, units_per_usd} objects"),
        ("r.json", '[{"currency": "EUR", "day": "2025-03-01", "units_per_usd": "0.9"},\n\n  ["EUR"]]',
         "r.json line 3: expected an object with currency, day, units_per_usd"),
        ("r.json", '[\n{"currency": "EUR", "day": "2025-03-01", "units_per_usd": "0.9"},\n'
         '{"currency": "EUR", "day": "2025-03-02", "units_per_usd": true}]',
         "r.json line 3: units_per_usd True is not a number"),
    ],
)  # fmt: skip
def test_a_bad_file_names_its_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(RatesError) as error:
        read_rates_file(path)
    assert str(error.value) == f"{path.parent}/{message}"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RatesError, match=r"cannot read .*nope.csv: No such file or directory"):
        read_rates_file(tmp_path / "nope.csv")


def test_store_replaces_the_same_currency_and_day(store: DuckDBStore, tmp_path: Path) -> None:
    first = write(tmp_path, "a.csv", "currency,day,units_per_usd\nEUR,2025-03-01,0.9\nEUR,2025-03-02,0.91\n")
    second = write(tmp_path, "b.csv", "currency,day,units_per_usd\nEUR,2025-03-02,0.92\nGBP,2025-03-02,0.79\n")
    assert store_rates(store.con, read_rates_file(first), source="a.csv") == 2
    assert store_rates(store.con, read_rates_file(second), source="b.csv") == 2
    stored = store.con.execute("SELECT currency, day, units_per_usd, source FROM exchange_rates ORDER BY 1, 2")
    assert stored.fetchall() == [
        ("EUR", day("2025-03-01"), d("0.9"), "a.csv"),
        ("EUR", day("2025-03-02"), d("0.92"), "b.csv"),
        ("GBP", day("2025-03-02"), d("0.79"), "b.csv"),
    ]  # fmt: skip


def test_convert_usd_at_the_days_rate_or_the_latest_earlier(store: DuckDBStore, tmp_path: Path) -> None:
    path = write(tmp_path, "r.csv", "currency,day,units_per_usd\nEUR,2025-03-03,0.9\nEUR,2025-03-05,0.9123456789\n")
    store_rates(store.con, read_rates_file(path))
    amounts = {
        day("2025-03-02"): d("10"),  # before the first rate: no guess
        day("2025-03-03"): d("10"),
        day("2025-03-04"): d("0.000000000000000123"),  # no rate that day: 03-03's
        day("2025-03-05"): d("12345678901234.123456789012345678"),  # exact past 28 digits, rounded to 18 places
        day("2025-03-09"): None,  # unpriced stays unpriced
    }
    assert convert_usd(store.con, amounts, "eur") == {
        day("2025-03-02"): None,
        day("2025-03-03"): d("9.0"),
        day("2025-03-04"): d("0.000000000000000111"),  # 1.107e-16 rounded half-even
        day("2025-03-05"): d("11263526798627.852413030586282578"),
        day("2025-03-09"): None,
    }
    assert convert_usd(store.con, amounts, "USD") == amounts
    with pytest.raises(UnknownCurrency, match=r"no exchange rates for CHF \(loaded: EUR\)"):
        convert_usd(store.con, amounts, "chf")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_rates_command_loads_and_lists(tmp_path: Path) -> None:
    db = str(tmp_path / "costs.duckdb")
    path = write(tmp_path, "rates.csv", "currency,day,units_per_usd\nEUR,2025-03-01,0.9\nEUR,2025-03-05,0.95\n"
                 "GBP,2025-03-01,0.8\n")  # fmt: skip
    loaded = run("rates", "load", "--db", db, str(path))
    assert loaded.exit_code == 0, loaded.output
    assert loaded.output == f"Loaded 3 rates for EUR, GBP from 2025-03-01 to 2025-03-05 into {db}.\n"
    listed = json.loads(run("rates", "list", "--db", db, "--format", "json").output)
    assert listed == [
        {"currency": "EUR", "days": 2, "first_day": "2025-03-01", "last_day": "2025-03-05",
         "latest_units_per_usd": "0.95"},
        {"currency": "GBP", "days": 1, "first_day": "2025-03-01", "last_day": "2025-03-01",
         "latest_units_per_usd": "0.8"},
    ]  # fmt: skip
    eur = run("rates", "list", "--db", db, "--currency", "eur")
    assert eur.exit_code == 0 and "EUR per US dollar" in eur.output and "2025-03-05" in eur.output
    table = run("rates", "list", "--db", db)
    assert "Exchange rates (units of the currency per US dollar)" in table.output and "GBP" in table.output
    bad = write(tmp_path, "bad.csv", "currency,day,units_per_usd\nEUR,2025-03-01,0,9\n")
    refused = run("rates", "load", "--db", db, str(bad))
    assert refused.exit_code == 1
    assert "bad.csv line 2: more fields than the header names (a decimal comma? write 0.9, not 0,9)" in refused.output
    unknown = run("rates", "list", "--db", db, "--currency", "CHF")
    assert unknown.exit_code == 1 and "Error: no exchange rates for CHF (loaded: EUR, GBP)" in unknown.output
