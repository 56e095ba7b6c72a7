"""``report --currency``: the report in EUR vs the same report in USD, over 1M generated calls.

``.venv/bin/python benchmarks/report_currency.py [--calls N] [--rounds R]``

The calls are those of the views benchmark (``_views.fill``: 90 days, 50 models, 1,000 users);
EUR has a rate on weekdays only, from the 11th day on, so weekend days take Friday's rate and the
first ten days cannot be converted. Each round times the overview (``build_report``) and
``--by user`` (``build_grouped``), USD then EUR, interleaved; the median of the rounds is printed
with the EUR/USD ratio. The EUR and USD reports must agree on every count (a correctness check).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the _helpers live next to this file
    sys.path.insert(0, str(HERE))

import _views  # noqa: E402

from otel_llm_cost import DuckDBStore  # noqa: E402
from otel_llm_cost._report_groups import build_grouped  # noqa: E402
from otel_llm_cost._report_period import Period  # noqa: E402
from otel_llm_cost.currency import ExchangeRate, store_rates  # noqa: E402
from otel_llm_cost.report import build_report  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, DuckDBStore(str(Path(tmp) / "bench.duckdb")) as store:
        made = _views.fill(store, args.calls)
        days = [_views.FIRST_DAY + timedelta(days=n) for n in range(10, _views.DAYS)]
        rates = [ExchangeRate("EUR", d, Decimal("0.9") + Decimal(n) / 10_000) for n, d in enumerate(days)]
        store_rates(store.con, [r for r in rates if r.day.weekday() < 5])
        store.con.execute("SET TimeZone = 'UTC'")
        timings: dict[str, list[float]] = {name: [] for name in ("overview USD", "overview EUR", "by user USD",
                                                                  "by user EUR")}  # fmt: skip
        for _ in range(args.rounds):
            for currency in (None, "EUR"):
                started = time.perf_counter()
                overview = build_report(store.con, days=14, top=10, today=_views.LAST_DAY, currency=currency)
                timings[f"overview {currency or 'USD'}"].append(time.perf_counter() - started)
                started = time.perf_counter()
                grouped = build_grouped(store.con, "user", top=20, period=Period(), currency=currency)
                timings[f"by user {currency or 'USD'}"].append(time.perf_counter() - started)
                if currency and (overview.totals.calls, len(grouped.rows)) != (made["calls"] - made["duplicates"], 20):
                    print("mismatch: the EUR report does not count the same calls", file=sys.stderr)
                    return 1
        print(f"{made['calls']:,} calls, {len(days)} days of EUR rates (weekdays), median of {args.rounds} rounds")
        for report in ("overview", "by user"):
            usd, eur = (statistics.median(timings[f"{report} {c}"]) for c in ("USD", "EUR"))
            print(f"  {report:9} USD {usd * 1000:8.1f} ms   EUR {eur * 1000:8.1f} ms   EUR/USD {eur / usd:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
