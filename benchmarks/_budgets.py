"""Figure 6: ``LLMCostSpanProcessor.check_budget(...)``, the pre-call enforcement check, vs a dict lookup.

The processor watches 1 global, 100 per-user, 5 per-model and 10 tag budgets, seeded from a
store holding calls of every user (so some are over their limit). Each timed call asks about one
user and one model, as an application would before an LLM call; the baseline is the least any
check could do: one ``dict.get`` of that user's spend and one comparison. Both loops cycle over
the same user ids. Before timing, every decision is compared with the spend written: a wrong
answer fails the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from _common import gc_paused, interleaved, median, ratio_summary

from otel_llm_cost import Budget, BudgetMonitor, DuckDBStore, LLMCostSpanProcessor
from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.pricing import Cost

USERS = 100
LIMIT = Decimal("1.00")


def _calls() -> list[tuple[CallRecord, Cost]]:
    now_ns = time.time_ns()
    rows = []
    for index in range(USERS):
        # User i spent i * $0.02: users 50 and up have reached their $1.00 limit.
        record = CallRecord(
            trace_id=f"{index:032x}", span_id=f"{index + 1:016x}", parent_span_id=None, start_time_ns=now_ns,
            end_time_ns=now_ns + 1, span_name="chat", service_name="svc", environment="prod", provider="openai",
            operation="chat", request_model="gpt-4o", response_model="gpt-4o", response_id=None, input_tokens=1,
            output_tokens=1, cache_read_tokens=None, cache_write_tokens=None, reasoning_tokens=None,
            user_id=f"user-{index}", conversation_id=None, agent_name=None, status_code="OK", error_type=None,
            reported_cost_usd=None,
        )  # fmt: skip
        rows.append((record, Cost("priced", cost_usd=Decimal("0.02") * index, priced_model="gpt-4o")))
    return rows


def run(calls_per_round: int, rounds: int) -> dict[str, Any]:
    budgets = [Budget("all", Decimal(1_000_000), period="day")]
    budgets += [Budget(f"user-{i}", LIMIT, scope="user", value=f"user-{i}", period="day") for i in range(USERS)]
    budgets += [Budget(f"model-{i}", Decimal(1000), scope="model", value=f"model-{i}") for i in range(5)]
    budgets += [Budget(f"tag-{i}", Decimal(1000), scope="tag", tag="customer_id", value=f"c{i}") for i in range(10)]
    monitor = BudgetMonitor(budgets)
    # Seeding fires the crossed thresholds, each logged as a warning: not the benchmark's output.
    logging.getLogger("otel_llm_cost.budget_monitor").setLevel(logging.ERROR)
    store = DuckDBStore(":memory:")
    processor = LLMCostSpanProcessor(store=store, budgets=monitor, flush_at_exit=False, metrics=False)
    try:
        rows = _calls()
        monitor.observe(store, rows, store.write_batch(rows))
        spend = {record.user_id: cost.cost_usd for record, cost in rows}
        users = [f"user-{i}" for i in range(USERS)]
        wrong = [u for u in users if processor.check_budget(user=u, model="gpt-4o").allowed != (spend[u] < LIMIT)]

        check = processor.check_budget

        def candidate(n: int) -> None:
            for i in range(n):
                check(user=users[i % USERS], model="gpt-4o")

        def baseline(n: int) -> None:
            for i in range(n):
                spend.get(users[i % USERS], Decimal(0)) < LIMIT  # noqa: B015 - the lookup is the work

        candidate(1000)
        baseline(1000)
        candidate_ns: list[float] = []
        baseline_ns: list[float] = []
        for _, baseline_first in interleaved(rounds):
            order: list[tuple[Callable[[int], None], list[float]]] = [
                (baseline, baseline_ns),
                (candidate, candidate_ns),
            ]
            for function, into in order if baseline_first else reversed(order):
                with gc_paused():
                    started = time.perf_counter_ns()
                    function(calls_per_round)
                    into.append((time.perf_counter_ns() - started) / calls_per_round)
    finally:
        processor.shutdown()
        store.close()
    return {
        "budgets": len(budgets),
        "calls_per_round": calls_per_round,
        "rounds": rounds,
        "candidate_ns_per_op": median(candidate_ns),
        "baseline_ns_per_op": median(baseline_ns),
        "ratio": ratio_summary([c / b for c, b in zip(candidate_ns, baseline_ns, strict=True)]),
        "wrong_decisions": len(wrong),
        "denied": sum(1 for u in users if spend[u] >= LIMIT),
    }
