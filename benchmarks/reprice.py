"""Re-pricing and what-if over stored calls: ``.venv/bin/python benchmarks/reprice.py [--rows N] [--rounds R]``.

The baseline is ingestion of the same calls, measured in the same round on the same machine:
pricing each ``CallRecord`` and writing it with ``DuckDBStore.write_batch`` in batches of 50,000
(what the processor's worker does, without spans). Against it, per round, on the file just written:

* ``reprice`` when every row changes (a 10% discount: every cost column of every row is updated);
* ``reprice`` when nothing changes (read, rebuild, price and compare only);
* ``reprice --dry-run``;
* ``whatif`` onto gpt-5-mini.

Ratio = time / baseline time; the median over rounds is printed. Nothing is asserted: figures.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from otel_llm_cost import DuckDBStore
from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.pricing import Cost, Pricer
from otel_llm_cost.reprice import reprice
from otel_llm_cost.whatif import what_if

MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5"),
          ("anthropic", "claude-haiku-4-5"), ("google", "gemini-2.5-flash"), ("acme", "unknown-model")]  # fmt: skip
T0_NS = 1_740_823_200_000_000_000  # 2025-03-01 UTC


def records(n: int) -> list[CallRecord]:
    out = []
    for i in range(n):
        provider, model = MODELS[i % len(MODELS)]
        start = T0_NS + i * 10**9
        out.append(CallRecord(
            trace_id=f"{i // 4:032x}", span_id=f"{i + 1:016x}", parent_span_id=None, start_time_ns=start,
            end_time_ns=start + 10**9, span_name="chat", service_name=f"svc-{i % 5}", environment="prod",
            provider=provider, operation="chat", request_model=model, response_model=None, response_id=None,
            input_tokens=500 + i % 3000, output_tokens=50 + i % 700, cache_read_tokens=(i % 4) * 100,
            cache_write_tokens=None, reasoning_tokens=None, user_id=f"u{i % 1000}", conversation_id=None,
            agent_name=None, status_code="OK", error_type=None, reported_cost_usd=None,
        ))  # fmt: skip
    return out


@dataclass
class Discounted(Pricer):
    def price(self, record: CallRecord) -> Cost:
        cost = super().price(record)
        for name in ("cost_usd", "computed_cost_usd", "input_cost_usd", "cache_read_cost_usd", "output_cost_usd"):
            value = getattr(cost, name)
            if value is not None:
                setattr(cost, name, value * Decimal("0.9"))
        return cost


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def one_round(store: DuckDBStore, calls: list[CallRecord]) -> dict[str, float]:
    con = store.con

    def ingest() -> None:
        pricer = Pricer()
        for start in range(0, len(calls), 50_000):
            chunk = calls[start : start + 50_000]
            store.write_batch([(r, pricer.price(r)) for r in chunk], pricer.take_new_plans())

    return {
        "ingest (baseline)": timed(ingest),
        "reprice, every row changes": timed(lambda: reprice(con, Discounted())),
        "reprice, nothing changes": timed(lambda: reprice(con, Discounted())),
        "reprice --dry-run": timed(lambda: reprice(con, Pricer(), dry_run=True)),
        "whatif --model gpt-5-mini": timed(lambda: what_if(con, Pricer(), "gpt-5-mini")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    calls = records(args.rows)
    times: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder, DuckDBStore(Path(folder) / "bench.duckdb") as store:
            measured = one_round(store, calls)
        for name, seconds in measured.items():
            times.setdefault(name, []).append(seconds)
    baseline = statistics.median(times["ingest (baseline)"])
    print(f"{args.rows:,} stored calls, median of {args.rounds} rounds")
    print(f"{'':30} {'seconds':>8} {'rows/s':>10} {'vs ingest':>10}")
    for name, values in times.items():
        seconds = statistics.median(values)
        print(f"{name:30} {seconds:8.2f} {args.rows / seconds:10,.0f} {seconds / baseline:9.2f}x")


if __name__ == "__main__":
    main()
