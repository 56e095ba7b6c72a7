"""Budget evaluation: running sums seeded from the table, one alert per crossing, restarts, new
windows, replays, duplicates, unpriced calls, the in-memory check and the budget_status view."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from otel_llm_cost import Alert, Budget, BudgetMonitor, DuckDBStore
from otel_llm_cost._alert_delivery import AlertDispatcher
from otel_llm_cost.budgets import EPOCH
from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.pricing import Cost

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
_ids = itertools.count(1)


class Clock:
    """The monitor's idea of now, moved by the test instead of by sleeping."""

    def __init__(self, now: datetime = NOON) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def call(amount: str | None, *, at: datetime = NOON, duplicate: bool = False, **fields: Any) -> tuple[CallRecord, Cost]:
    ns = int(at.timestamp()) * 1_000_000_000
    record_fields: dict[str, Any] = {
        "trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": f"{next(_ids):016x}", "parent_span_id": None,
        "start_time_ns": ns, "end_time_ns": ns + 1_000_000, "span_name": "chat", "service_name": "svc",
        "environment": "prod", "provider": "openai", "operation": "chat", "request_model": "gpt-4o",
        "response_model": "gpt-4o-2024-08-06", "response_id": None, "input_tokens": 10, "output_tokens": 5,
        "cache_read_tokens": None, "cache_write_tokens": None, "reasoning_tokens": None, "user_id": "u1",
        "conversation_id": "c1", "agent_name": None, "status_code": "OK", "error_type": None,
        "reported_cost_usd": None,
    }  # fmt: skip
    record_fields.update(fields)
    record = CallRecord(**record_fields)
    if duplicate:
        record.duplicate_of = ("0" * 32, "0" * 16)
    cost = (
        Cost("priced", cost_usd=Decimal(amount), priced_provider="openai", priced_model="gpt-4o")
        if amount is not None
        else Cost("unknown_model", pricing_detail="no price")
    )
    return record, cost


class Harness:
    """A store, a monitor and what its callback channel received."""

    def __init__(self, path: str, budgets: list[Budget], clock: Clock) -> None:
        self.path, self.budgets, self.clock = path, budgets, clock
        self.alerts: list[Alert] = []
        self.open()

    def open(self) -> None:
        self.store = DuckDBStore(self.path)
        self.dispatcher = AlertDispatcher(backoff_s=0.01)
        budgets = [dataclasses.replace(b, channels=(self.alerts.append,)) for b in self.budgets]
        self.monitor = BudgetMonitor(budgets, clock=self.clock, dispatcher=self.dispatcher)

    def write(self, *rows: tuple[CallRecord, Cost]) -> int:
        inserted = self.store.write_batch(list(rows))
        self.monitor.observe(self.store, list(rows), inserted)
        assert self.dispatcher.force_flush(10)
        return inserted

    def restart(self) -> None:
        self.close()
        self.open()

    def close(self) -> None:
        self.monitor.shutdown(10)
        self.store.close()

    def fired(self) -> list[tuple[str, int, Decimal]]:
        return [(a.budget, a.threshold_pct, a.spend_usd) for a in self.alerts]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def harness(tmp_path: Path, clock: Clock) -> Iterator[Harness]:
    budgets = [Budget("u1-daily", Decimal("1.00"), scope="user", value="u1", period="day", thresholds_pct=(50, 100))]
    h = Harness(str(tmp_path / "b.duckdb"), budgets, clock)
    yield h
    h.close()


def make(tmp_path: Path, clock: Clock, *budgets: Budget) -> Harness:
    return Harness(str(tmp_path / "b.duckdb"), list(budgets), clock)


def test_exactly_one_alert_per_crossing(harness: Harness) -> None:
    harness.write(call("0.30"))
    assert harness.fired() == []
    harness.write(call("0.30"))
    assert harness.fired() == [("u1-daily", 50, Decimal("0.60"))]
    harness.write(call("0.10"), call("0.05"))
    assert harness.fired() == [("u1-daily", 50, Decimal("0.60"))]
    harness.write(call("0.40"))
    assert harness.fired() == [("u1-daily", 50, Decimal("0.60")), ("u1-daily", 100, Decimal("1.15"))]
    harness.write(call("5"))
    assert len(harness.alerts) == 2
    alert = harness.alerts[1]
    assert (alert.window_start, alert.window_end) == (
        datetime(2026, 3, 10, tzinfo=timezone.utc),
        datetime(2026, 3, 11, tzinfo=timezone.utc),
    )
    assert alert.summary() == "Budget 'u1-daily' (user=u1, day) crossed 100%: $1.15 of $1.00 (115.00%)"
    rows = harness.store.con.execute(
        "SELECT threshold_pct, spend_usd FROM llm_budget_alerts ORDER BY threshold_pct"
    ).fetchall()
    assert rows == [(50, Decimal("0.60")), (100, Decimal("1.15"))]


def test_one_batch_crossing_two_thresholds_fires_both(harness: Harness) -> None:
    harness.write(call("0.70"), call("0.70"))
    assert harness.fired() == [("u1-daily", 50, Decimal("1.40")), ("u1-daily", 100, Decimal("1.40"))]


def test_a_restart_does_not_fire_again_and_seeds_from_the_table(harness: Harness) -> None:
    harness.write(call("0.60"))
    assert len(harness.alerts) == 1
    harness.restart()
    harness.write(call("0.01"))
    assert len(harness.alerts) == 1  # 50 % fired before the restart
    [status] = harness.monitor.status()
    assert (status.spend_usd, status.fired_thresholds_pct) == (Decimal("0.61"), (50,))
    harness.write(call("0.39"))
    assert harness.fired()[-1] == ("u1-daily", 100, Decimal("1.00"))


def test_a_new_window_resets_and_fires_again(harness: Harness, clock: Clock) -> None:
    harness.write(call("0.60"))
    clock.now = NOON + timedelta(days=1)
    harness.write(call("0.20", at=clock.now))
    assert len(harness.alerts) == 1
    [status] = harness.monitor.status()
    assert (status.window_start, status.spend_usd) == (datetime(2026, 3, 11, tzinfo=timezone.utc), Decimal("0.20"))
    harness.write(call("0.35", at=clock.now))
    assert harness.fired()[-1] == ("u1-daily", 50, Decimal("0.55"))
    assert harness.alerts[-1].window_start == datetime(2026, 3, 11, tzinfo=timezone.utc)


def test_calls_outside_the_scope_or_window_do_not_count(harness: Harness) -> None:
    harness.write(call("0.90", user_id="u2"), call("0.90", at=NOON - timedelta(days=1)), call("0.90", duplicate=True))
    [status] = harness.monitor.status()
    assert (status.spend_usd, status.unpriced_calls) == (Decimal(0), 0)
    assert harness.alerts == []


def test_a_replayed_batch_is_counted_once(harness: Harness) -> None:
    rows = [call("0.30"), call("0.10")]
    assert harness.write(*rows) == 2
    assert harness.write(*rows, call("0.05")) == 1
    [status] = harness.monitor.status()
    assert status.spend_usd == Decimal("0.45")


def test_unpriced_calls_are_counted_beside_the_spend(harness: Harness) -> None:
    harness.write(call(None), call(None), call("0.60"))
    [status] = harness.monitor.status()
    assert (status.spend_usd, status.unpriced_calls) == (Decimal("0.60"), 2)
    assert harness.alerts[0].unpriced_calls == 2
    assert harness.alerts[0].summary().endswith("(60.00%); 2 unpriced calls not included")


def test_scopes_match_as_documented(tmp_path: Path, clock: Clock) -> None:
    h = make(
        tmp_path, clock,
        Budget("all", Decimal(100)),
        Budget("priced-model", Decimal(100), scope="model", value="gpt-4o"),
        Budget("response-model", Decimal(100), scope="model", value="gpt-4o-2024-08-06"),
        Budget("provider", Decimal(100), scope="provider", value="openai"),
        Budget("service", Decimal(100), scope="service", value="svc"),
        Budget("env", Decimal(100), scope="environment", value="staging"),
        Budget("conv", Decimal(100), scope="conversation", value="c1"),
        Budget("agent", Decimal(100), scope="tag", tag="agent_name", value="planner"),
        Budget("tier", Decimal(100), scope="tag", tag="user.tier", value="gold"),
    )  # fmt: skip
    try:
        h.write(
            call("1", agent_name="planner"),
            call("2", environment="staging", attributes='{"user.tier": "gold"}'),
            call("4", service_name="other", conversation_id="c2", attributes='{"user.tier": "silver"}'),
        )
        spend = {s.budget: s.spend_usd for s in h.monitor.status()}
        assert spend == {
            "all": 7, "priced-model": 7, "response-model": 7, "provider": 7, "service": 3, "env": 2, "conv": 3,
            "agent": 1, "tier": 2,
        }  # fmt: skip
        # The view applies the same rules to the same rows (given the same window).
        windows = {s.budget: (s.window_start, s.window_end) for s in h.monitor.status()}
        from otel_llm_cost._budget_sql import seed_windows

        budgets = {b.name: b for b in h.budgets}
        seeded = seed_windows(h.store.con, [(budgets[n], *windows[n]) for n in budgets])
        assert {n: s for n, (s, _) in seeded.items()} == spend
    finally:
        h.close()


def test_check_budget_reads_memory(harness: Harness, clock: Clock) -> None:
    assert harness.monitor.check(user="u1").allowed  # nothing loaded yet: nothing to exceed
    harness.write(call("0.75"))
    decision = harness.monitor.check(user="u1", model="gpt-4o")
    assert (decision.allowed, decision.exceeded, decision.remaining_usd) == (True, (), Decimal("0.25"))
    assert harness.monitor.check(user="u2").remaining_usd is None
    harness.write(call("0.25"))
    decision = harness.monitor.check(user="u1")
    assert (decision.allowed, decision.exceeded, decision.remaining_usd) == (False, ("u1-daily",), Decimal("0.00"))
    clock.now = NOON + timedelta(days=1)  # a new day, before any batch of it
    assert harness.monitor.check(user="u1").allowed
    [status] = harness.monitor.status()
    assert (status.spend_usd, status.window_start) == (Decimal(0), datetime(2026, 3, 11, tzinfo=timezone.utc))


def test_projection_and_percent(harness: Harness, clock: Clock) -> None:
    clock.now = datetime(2026, 3, 10, 6, 0, tzinfo=timezone.utc)  # a quarter of the day gone
    harness.write(call("0.10", at=clock.now))
    [status] = harness.monitor.status()
    assert (status.percent, status.projected_usd) == (Decimal("10.00"), Decimal("0.400000000"))


def test_budget_status_view_matches(tmp_path: Path) -> None:
    now = datetime.now(timezone.utc)
    h = make(
        tmp_path, Clock(now),
        Budget("all-time", Decimal("2"), period="total", thresholds_pct=(25,)),
        Budget("u2-today", Decimal("4"), scope="user", value="u2", period="day", timezone="Asia/Tokyo"),
    )  # fmt: skip
    try:
        h.write(call("0.5", at=now), call(None, at=now), call("0.25", at=now, duplicate=True))
        h.write(call("1", at=now, user_id="u2"), call("5", at=now - timedelta(days=2), user_id="u2"))
        rows = h.store.con.execute(
            "SELECT budget, spend_usd, limit_usd, percent, calls, unpriced_calls, last_alert_threshold_pct,"
            " window_start, window_end FROM budget_status ORDER BY budget"
        ).fetchall()
        tokyo = Budget("x", Decimal(1), period="day", timezone="Asia/Tokyo").window(now)
        assert rows == [
            ("all-time", Decimal("6.5"), Decimal(2), Decimal("325.00"), 4, 1, 25, EPOCH, None),
            ("u2-today", Decimal(1), Decimal(4), Decimal("25.00"), 1, 0, None, *tokyo),
        ]  # fmt: skip
        # The projection is the spend so far stretched over the whole day: at least the spend, exact decimals.
        [(projected,)] = h.store.con.execute(
            "SELECT projected_usd FROM budget_status WHERE budget = 'u2-today'"
        ).fetchall()
        assert isinstance(projected, Decimal) and projected >= 1
    finally:
        h.close()


def test_code_budgets_replace_earlier_code_budgets(tmp_path: Path, clock: Clock) -> None:
    h = make(tmp_path, clock, Budget("a", Decimal(1)), Budget("b", Decimal(1)))
    h.write(call("0.1"))
    h.budgets = [Budget("b", Decimal(2))]
    h.restart()
    h.write(call("0.1"))
    rows = h.store.con.execute("SELECT name, limit_usd, source FROM llm_budgets").fetchall()
    assert rows == [("b", Decimal(2), "code")]
    h.close()


def test_a_malformed_stored_budget_is_skipped_and_named(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    harness.store.con.execute(
        "INSERT INTO llm_budgets (name, scope, scope_value, period, timezone, limit_usd, thresholds_pct, channels)"
        " VALUES ('typo', 'user', 'u1', 'fortnight', 'UTC', 1, [100], '[]')"
    )
    harness.write(call("0.60"))
    assert [s.budget for s in harness.monitor.status()] == ["u1-daily"]
    assert "ignoring stored budget: budget 'typo': unknown period 'fortnight'" in caplog.text
    assert harness.fired() == [("u1-daily", 50, Decimal("0.60"))]


def test_a_broken_budget_table_costs_alerts_not_rows(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    harness.store.con.execute("DROP VIEW budget_status")
    harness.store.con.execute("DROP TABLE llm_budget_alerts")
    for _ in range(3):
        assert harness.write(call("0.60")) == 1  # every row stored
    assert harness.store.con.execute("SELECT count(*) FROM llm_calls").fetchone() == (3,)
    assert harness.alerts == []
    assert caplog.text.count("evaluating budgets failed") == 1  # once, not once per batch


def test_an_alert_that_cannot_be_recorded_is_still_delivered(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.write(call("0.10"))  # budgets loaded
    harness.store.con.execute("DROP VIEW budget_status")
    harness.store.con.execute("DROP TABLE llm_budget_alerts")
    harness.write(call("0.50"))
    assert harness.fired() == [("u1-daily", 50, Decimal("0.60"))]  # a missed alert is worse than a repeat
    assert "could not record budget alert 'u1-daily' at 50%" in caplog.text


def test_secrets_stay_out_of_the_repr() -> None:
    budget = Budget("b", Decimal(1), channels=("slack:https://hooks.slack.com/services/T0/B0/SECRET",))
    assert "SECRET" not in repr(budget)


def test_a_forked_child_watches_its_own_file_and_delivers(tmp_path: Path) -> None:
    """A pre-fork server: the child's budgets start from its own file and its alerts are delivered
    (the delivery thread is restarted in the child)."""
    import subprocess
    import sys

    script = """
import json, os, sys
from decimal import Decimal
from opentelemetry.sdk.trace import TracerProvider
from otel_llm_cost import Budget, LLMCostSpanProcessor

def alert(a):
    line = {"pid": os.getpid(), "threshold": a.threshold_pct, "spend": str(a.spend_usd.normalize())}
    os.write(1, (json.dumps(line) + "\\n").encode())

ATTRS = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
         "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100}
provider = TracerProvider(shutdown_on_exit=False)
processor = LLMCostSpanProcessor(db_path=sys.argv[1], flush_at_exit=False,
                                 budgets=[Budget("b", Decimal("0.0005"), thresholds_pct=(50,), channels=(alert,))])
provider.add_span_processor(processor)
tracer = provider.get_tracer("t")

def two_calls():
    for _ in range(2):
        tracer.start_span("chat", attributes=ATTRS).end()
    assert processor.force_flush(10_000)
    assert processor.budgets._dispatcher.force_flush(10)

two_calls()  # the parent fires its alert, and has a delivery thread, before it forks
pid = os.fork()
if pid == 0:
    two_calls()
    processor.shutdown(10_000)
    os._exit(0)
os.waitpid(pid, 0)
processor.shutdown(10_000)
"""
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "cost-{pid}.duckdb")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["threshold"], line["spend"]) for line in lines] == [(50, "0.00042"), (50, "0.00042")]
    assert len({line["pid"] for line in lines}) == 2


def test_a_check_before_the_first_batch_loads_the_budgets(tmp_path: Path) -> None:
    """After a restart the spend is in the file: the first check asks the worker to load it, and
    the checks after that see it, before any span of the new process is written."""
    from otel_llm_cost import LLMCostSpanProcessor

    path = str(tmp_path / "restart.duckdb")
    budget = Budget("u1-total", Decimal("1"), scope="user", value="u1", period="total")
    with DuckDBStore(path) as store:
        rows = [call("1.50")]
        BudgetMonitor([budget]).observe(store, rows, store.write_batch(rows))
    processor = LLMCostSpanProcessor(db_path=path, budgets=[budget], flush_at_exit=False)
    try:
        assert processor.check_budget(user="u1").allowed  # not loaded yet: the worker is asked to
        assert processor.force_flush(10_000)  # the worker has drained since
        decision = processor.check_budget(user="u1")
        assert (decision.allowed, decision.exceeded, decision.remaining_usd) == (False, ("u1-total",), Decimal("-0.5"))
        assert processor.check_budget(user="u2").allowed
    finally:
        processor.shutdown()
