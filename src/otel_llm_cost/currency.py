"""Exchange rates for showing USD costs in another currency.

Costs are stored and summed in USD only. A display currency converts a sum at the rate of its
call's UTC day: ``amount = cost_usd * units_per_usd`` from ``exchange_rates`` (how many units of
the currency one US dollar buys, EUR 0.92 for example). A day without a rate takes the latest
earlier one (rates are often published on working days only); a day before the currency's first
rate gets no amount (``None``), never a guess.

Rates come from a file the user keeps, CSV or JSON, with the fields ``currency``, ``day`` and
``units_per_usd``; a bad file is refused as a whole, naming its line. Nothing is fetched.

The SQL form is the table macro ``llm_daily_cost_in(currency)`` (``sql/views``).
"""

from __future__ import annotations

import bisect
import csv
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

import duckdb
import pyarrow as pa

USD: Final = "USD"
FIELDS: Final = ("currency", "day", "units_per_usd")
_CODE = re.compile(r"^[A-Z]{3}$")
# exchange_rates.units_per_usd is DECIMAL(20, 10): up to 10 digits each side of the point.
_RATE_PLACES: Final = 10
_RATE_LIMIT: Final = Decimal(10) ** 10
_QUANTUM: Final = Decimal(1).scaleb(-18)  # converted amounts keep the 18 places costs have
_EXACT: Final = Context(prec=80)  # 38 + 20 digits: a product never rounds before the final quantize


class RatesError(ValueError):
    """A rates file cannot be used; the message names the file, the line and the field."""


class UnknownCurrency(LookupError):
    """No rate at all is loaded for the currency asked for."""


@dataclass(frozen=True)
class ExchangeRate:
    """One row of ``exchange_rates``: from ``day`` on, one US dollar buys ``units_per_usd`` of ``currency``."""

    currency: str
    day: date
    units_per_usd: Decimal
    line: int = 0  #: where it was read, for messages


def read_rates_file(path: str | Path) -> list[ExchangeRate]:
    """Read and validate a CSV (header ``currency,day,units_per_usd``) or JSON rates file.

    JSON is a list of objects with the same three keys; ``units_per_usd`` may be a string or a
    number (a string keeps every digit as written).

    Raises:
        RatesError: the file is missing, unreadable or has a bad value; the first problem is named.
    """
    file = Path(path)
    try:
        text = file.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RatesError(f"cannot read {file}: {exc.strerror if isinstance(exc, OSError) else exc}") from None
    entries = _json_entries(file, text) if file.suffix.lower() == ".json" else _csv_entries(file, text)
    if not entries:
        raise RatesError(f"{file}: no rates in the file")
    rates: list[ExchangeRate] = []
    seen: dict[tuple[str, date], int] = {}
    for line, entry in entries:
        rate = _validate(file, line, entry)
        first = seen.setdefault((rate.currency, rate.day), line)
        if first != line:
            raise RatesError(f"{file} line {line}: {rate.currency} {rate.day} is already given on line {first}")
        rates.append(rate)
    return rates


def _csv_entries(file: Path, text: str) -> list[tuple[int, Mapping[str, Any]]]:
    reader = csv.DictReader(text.splitlines())
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [f for f in FIELDS if f not in header]
    if missing:
        raise RatesError(
            f"{file} line 1: the header needs the columns {', '.join(FIELDS)} (missing: {', '.join(missing)})"
        )
    entries: list[tuple[int, Mapping[str, Any]]] = []
    for row in reader:
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue  # a blank line
        # line_num counts physical lines read so far, the header included.
        if None in row:  # DictReader files surplus fields under None
            raise RatesError(
                f"{file} line {reader.line_num}: more fields than the header names"
                " (a decimal comma? write 0.9, not 0,9)"
            )
        entries.append((reader.line_num, {(k or "").strip(): v for k, v in row.items()}))
    return entries


def _json_entries(file: Path, text: str) -> list[tuple[int, Mapping[str, Any]]]:
    """The objects of a JSON list, each with the line it starts on."""
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise RatesError(f"{file} line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise RatesError(f"{file} line 1: expected a JSON list of {{currency, day, units_per_usd}} objects")
    # json gives no positions, so find where each element starts by decoding them one by one.
    decoder = json.JSONDecoder(parse_float=Decimal)
    entries: list[tuple[int, Mapping[str, Any]]] = []
    position = text.index("[") + 1
    for item in data:
        position = _skip(text, position)
        line = text.count("\n", 0, position) + 1
        _, position = decoder.raw_decode(text, position)
        position = _skip(text, position) + 1  # past the comma
        if not isinstance(item, dict):
            raise RatesError(f"{file} line {line}: expected an object with {', '.join(FIELDS)}")
        entries.append((line, item))
    return entries


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _validate(file: Path, line: int, entry: Mapping[str, Any]) -> ExchangeRate:
    where = f"{file} line {line}"
    for name in FIELDS:
        if entry.get(name) in (None, ""):
            raise RatesError(f"{where}: {name} is missing")
    currency = str(entry["currency"]).strip().upper()
    if not _CODE.match(currency):
        raise RatesError(f"{where}: currency {entry['currency']!r} is not a three-letter ISO 4217 code")
    if currency == USD:
        raise RatesError(f"{where}: costs are already in USD; give rates for other currencies")
    try:
        day = date.fromisoformat(str(entry["day"]).strip())
    except ValueError:
        raise RatesError(f"{where}: day {entry['day']!r} is not a date (YYYY-MM-DD)") from None
    raw = entry["units_per_usd"]
    try:
        if isinstance(raw, (bool, float)):
            raise InvalidOperation  # a float has already lost digits; JSON numbers arrive as Decimal
        rate = Decimal(str(raw).strip())
    except InvalidOperation:
        raise RatesError(f"{where}: units_per_usd {raw!r} is not a number") from None
    if not rate.is_finite() or rate <= 0:
        raise RatesError(f"{where}: units_per_usd {raw!r} must be a positive number")
    if rate >= _RATE_LIMIT or -rate.as_tuple().exponent > _RATE_PLACES:  # type: ignore[operator]
        raise RatesError(
            f"{where}: units_per_usd {raw!r} does not fit: at most 10 digits before and 10 after the point"
        )
    return ExchangeRate(currency, day, rate, line)


def store_rates(con: duckdb.DuckDBPyConnection, rates: Sequence[ExchangeRate], *, source: str | None = None) -> int:
    """Insert the rates in one statement, replacing any already stored for the same currency and day.

    Returns:
        The number of rows written.
    """
    if not rates:
        return 0
    batch = pa.RecordBatch.from_pydict(
        {
            "currency": pa.array([r.currency for r in rates], pa.string()),
            "day": pa.array([r.day for r in rates], pa.date32()),
            "units_per_usd": pa.array([r.units_per_usd for r in rates], pa.decimal128(20, 10)),
            "source": pa.array([source] * len(rates), pa.string()),
        }
    )
    con.register("_incoming_rates", batch)
    try:
        row = con.execute("INSERT OR REPLACE INTO exchange_rates BY NAME SELECT * FROM _incoming_rates").fetchone()
    finally:
        con.unregister("_incoming_rates")
    return int(row[0]) if row else 0


def rates_for(con: duckdb.DuckDBPyConnection, currency: str) -> list[tuple[date, Decimal]]:
    """Every stored rate of ``currency``, by day.

    Raises:
        UnknownCurrency: none is stored.
    """
    code = currency.strip().upper()
    rows = con.execute(
        "SELECT day, units_per_usd FROM exchange_rates WHERE currency = ? ORDER BY day", [code]
    ).fetchall()
    if not rows:
        known = [c for (c,) in con.execute("SELECT DISTINCT currency FROM exchange_rates ORDER BY 1").fetchall()]
        have = f"loaded: {', '.join(known)}" if known else "none are loaded"
        raise UnknownCurrency(f"no exchange rates for {code} ({have}); load some with: otel-llm-cost rates load FILE")
    return [(day, rate) for day, rate in rows]


def convert_usd(
    con: duckdb.DuckDBPyConnection, amounts_by_day: Mapping[date, Decimal | None], currency: str
) -> dict[date, Decimal | None]:
    """Convert USD amounts, each at the rate of its UTC day, into ``currency``.

    This is what a ``--currency`` option calls: sum the costs per day in USD, convert, then add
    the converted amounts up. The result is exact, rounded half-even to 18 decimal places.

    Args:
        con: a connection to a migrated database.
        amounts_by_day: USD amounts by UTC day; ``None`` (unpriced) stays ``None``.
        currency: an ISO 4217 code; ``USD`` returns the amounts unchanged.

    Returns:
        The amounts in ``currency`` by day. A day with no rate of its own takes the latest earlier
        one; a day before the first rate gets ``None``.

    Raises:
        UnknownCurrency: no rate of ``currency`` is stored at all.
    """
    if currency.strip().upper() == USD:
        return dict(amounts_by_day)
    rates = rates_for(con, currency)
    days = [day for day, _ in rates]
    converted: dict[date, Decimal | None] = {}
    for day, amount in amounts_by_day.items():
        index = bisect.bisect_right(days, day) - 1  # the latest rate on or before the day
        if amount is None or index < 0:
            converted[day] = None
        else:
            exact = _EXACT.multiply(amount, rates[index][1])
            converted[day] = exact.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN, context=_EXACT)
    return converted
