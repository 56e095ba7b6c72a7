"""Re-pricing stored calls: a model unknown last week gets priced, changed prices, filters, the audit, atomicity."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner, Result

from otel_llm_cost._selection import CallFilter
from otel_llm_cost.cli import cli
from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.pricing import PRICE_VERSION, UNKNOWN_MODEL, Cost, Pricer
from otel_llm_cost.reprice import reprice
from otel_llm_cost.store import DuckDBStore

UTC = dt.timezone.utc
DAY1 = dt.datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
DAY2 = dt.datetime(2025, 3, 8, 10, 0, tzinfo=UTC)
OLD_VERSION = "genai-prices==0.0.1"


def call(span_id: str, model: str, provider: str, when: dt.datetime = DAY1, **fields: Any) -> CallRecord:
    start_ns = int(when.timestamp()) * 10**9
    values: dict[str, Any] = {
        "trace_id": "a" * 32, "span_id": span_id, "parent_span_id": None, "start_time_ns": start_ns,
        "end_time_ns": start_ns + 10**9, "span_name": f"chat {model}", "service_name": "svc", "environment": None,
        "provider": provider, "operation": "chat", "request_model": model, "response_model": None,
        "response_id": None, "input_tokens": 1000, "output_tokens": 100, "cache_read_tokens": None,
        "cache_write_tokens": None, "reasoning_tokens": None, "user_id": None, "conversation_id": None,
        "agent_name": None, "status_code": "OK", "error_type": None, "reported_cost_usd": None,
    }  # fmt: skip
    values.update(fields)
    return CallRecord(**values)


@dataclass
class CatalogWithout(Pricer):
    """Last week's catalog: it did not know ``missing`` yet, and was an older version."""

    missing: tuple[str, ...] = ()

    def price(self, record: CallRecord) -> Cost:
        if record.request_model not in self.missing:
            return super().price(record)
        cost = Cost(UNKNOWN_MODEL, f"{record.request_model!r} is not in the price catalog", price_version=OLD_VERSION)
        if record.reported_cost_usd is not None:  # the exporter's rule: a reported cost counts when ours is missing
            cost.cost_usd, cost.cost_source = record.reported_cost_usd, "reported"
        return cost


@dataclass
class Discounted(Pricer):
    """A negotiated discount on every computed cost, as an overrides file gives one."""

    factor: Decimal = Decimal("0.5")

    def price(self, record: CallRecord) -> Cost:
        cost = super().price(record)
        for name in ("cost_usd", "computed_cost_usd", "input_cost_usd", "cache_read_cost_usd", "cache_write_cost_usd",
                     "output_cost_usd", "other_cost_usd"):  # fmt: skip
            value = getattr(cost, name)
            if value is not None:
                setattr(cost, name, value * self.factor)
        return cost


# fmt: off
CALLS = [
    call("s1", "claude-sonnet-4-5", "anthropic"),  # 1000 * $3/M + 100 * $15/M = 0.0045
    # 1500 * $3/M + 500 cache reads * $0.30/M + 300 * $15/M = 0.0045 + 0.00015 + 0.0045 = 0.00915
    call("s2", "claude-sonnet-4-5", "anthropic", when=DAY2, input_tokens=2000, cache_read_tokens=500,
         output_tokens=300),
    # The same provider call as s2, reported by a second instrumentation.
    call("s3", "claude-sonnet-4-5", "anthropic", when=DAY2, input_tokens=2000, cache_read_tokens=500,
         output_tokens=300, duplicate_of=("a" * 32, "s2")),
    call("s4", "gpt-4o", "openai"),  # 1000 * $2.50/M + 100 * $10/M = 0.0035, known all along
]
# fmt: on


@pytest.fixture
def store() -> Iterator[DuckDBStore]:
    """Calls stored last week, when the catalog did not know claude-sonnet-4-5."""
    with DuckDBStore(":memory:") as s:
        pricer = CatalogWithout(missing=("claude-sonnet-4-5",))
        assert s.write_batch([(r, pricer.price(r)) for r in CALLS], pricer.take_new_plans()) == 4
        yield s


def rows(store: DuckDBStore, sql: str) -> list[tuple[Any, ...]]:
    return store.con.execute(sql).fetchall()


def pricing_of(store: DuckDBStore) -> list[tuple[Any, ...]]:
    return rows(
        store,
        "SELECT span_id, pricing_status, cost_usd, computed_cost_usd, cost_source, input_cost_usd, cache_read_cost_usd,"
        " output_cost_usd, priced_provider, priced_model, price_version, is_duplicate FROM llm_calls ORDER BY span_id",
    )


def test_a_model_unknown_last_week_gets_priced(store: DuckDBStore) -> None:
    assert rows(store, "SELECT count(*), sum(cost_usd) FROM llm_calls WHERE NOT is_duplicate") == [
        (3, Decimal("0.0035"))
    ]
    result = reprice(store.con, Pricer(), CallFilter(unpriced=True), command="reprice --unpriced")
    assert (result.rows, result.updated_rows, result.dry_run) == (3, 3, False)  # s1, s2 and the duplicate s3
    [claude] = result.models
    assert (claude.provider, claude.model, claude.calls, claude.changed_calls) == (
        "anthropic", "claude-sonnet-4-5", 2, 2)  # fmt: skip
    assert (claude.newly_priced, claude.newly_unpriced, claude.old_cost_usd) == (2, 0, None)
    assert claude.new_cost_usd == Decimal("0.01365") and claude.delta_usd == Decimal("0.01365")
    d = Decimal
    assert pricing_of(store) == [
        ("s1", "priced", d("0.0045"), d("0.0045"), "computed", d("0.003"), 0, d("0.0015"), "anthropic",
         "claude-sonnet-4-5", PRICE_VERSION, False),
        ("s2", "priced", d("0.00915"), d("0.00915"), "computed", d("0.0045"), d("0.00015"), d("0.0045"), "anthropic",
         "claude-sonnet-4-5", PRICE_VERSION, False),
        # The duplicate is priced too, and still flagged: the views count it once.
        ("s3", "priced", d("0.00915"), d("0.00915"), "computed", d("0.0045"), d("0.00015"), d("0.0045"), "anthropic",
         "claude-sonnet-4-5", PRICE_VERSION, True),
        ("s4", "priced", d("0.0035"), d("0.0035"), "computed", d("0.0025"), 0, d("0.001"), "openai", "gpt-4o",
         PRICE_VERSION, False),
    ]  # fmt: skip
    assert rows(store, "SELECT sum(cost_usd), sum(unpriced_calls) FROM llm_daily_cost") == [(d("0.01715"), 0)]
    # The rate plan that priced them is stored, and every row points at an existing one.
    assert rows(store, "SELECT count(*) FROM llm_calls c ANTI JOIN model_prices p USING (price_id)"
                       " WHERE c.price_id IS NOT NULL") == [(0,)]  # fmt: skip
    assert rows(store, "SELECT model_id, input_mtok, output_mtok FROM model_prices ORDER BY model_id") == [
        ("claude-sonnet-4-5", d("3"), d("15")), ("gpt-4o", d("2.5"), d("10"))]  # fmt: skip
    assert rows(
        store,
        "SELECT run_id, command, provider, model, calls, changed_calls, newly_priced, newly_unpriced, old_cost_usd,"
        " new_cost_usd, old_price_versions, new_price_versions, run_at IS NOT NULL FROM llm_price_audit",
    ) == [(result.run_id, "reprice --unpriced", "anthropic", "claude-sonnet-4-5", 2, 2, 2, 0, None, d("0.01365"),
           [OLD_VERSION], [PRICE_VERSION], True)]  # fmt: skip
    # Nothing is unpriced any more: a second run selects nothing and records nothing.
    again = reprice(store.con, Pricer(), CallFilter(unpriced=True))
    assert (again.rows, again.models) == (0, [])
    assert rows(store, "SELECT count(*) FROM llm_price_audit") == [(1,)]


def test_dry_run_shows_the_change_and_writes_nothing(store: DuckDBStore) -> None:
    before = pricing_of(store)
    result = reprice(store.con, Pricer(), dry_run=True)
    assert (result.rows, result.updated_rows) == (4, 3)
    assert [(m.model, m.calls, m.changed_calls, m.newly_priced, m.old_cost_usd, m.new_cost_usd, m.delta_usd)
            for m in result.models] == [
        ("claude-sonnet-4-5", 2, 2, 2, None, Decimal("0.01365"), Decimal("0.01365")),
        ("gpt-4o", 1, 0, 0, Decimal("0.0035"), Decimal("0.0035"), Decimal("0")),
    ]  # fmt: skip
    assert pricing_of(store) == before
    assert rows(store, "SELECT count(*) FROM llm_price_audit") == [(0,)]
    assert rows(store, "SELECT count(*) FROM model_prices WHERE model_id = 'claude-sonnet-4-5'") == [(0,)]


def test_progress_is_reported_per_chunk(store: DuckDBStore) -> None:
    done: list[int] = []
    result = reprice(store.con, Pricer(), chunk_rows=3, progress=done.append)
    assert done == [3, 1] and result.rows == 4


def test_a_price_change_reprices_every_row_and_is_audited(store: DuckDBStore) -> None:
    reprice(store.con, Pricer(), CallFilter(unpriced=True))
    result = reprice(store.con, Discounted(), command="reprice --discounted")
    assert [(m.model, m.calls, m.changed_calls, m.old_cost_usd, m.new_cost_usd) for m in result.models] == [
        ("claude-sonnet-4-5", 2, 2, Decimal("0.01365"), Decimal("0.006825")),
        ("gpt-4o", 1, 1, Decimal("0.0035"), Decimal("0.00175")),
    ]  # fmt: skip
    assert rows(store, "SELECT span_id, cost_usd, input_cost_usd, output_cost_usd FROM llm_calls ORDER BY 1") == [
        ("s1", Decimal("0.00225"), Decimal("0.0015"), Decimal("0.00075")),
        ("s2", Decimal("0.004575"), Decimal("0.00225"), Decimal("0.00225")),
        ("s3", Decimal("0.004575"), Decimal("0.00225"), Decimal("0.00225")),
        ("s4", Decimal("0.00175"), Decimal("0.00125"), Decimal("0.0005")),
    ]
    assert rows(store, "SELECT model, old_cost_usd, new_cost_usd FROM llm_price_audit "
                       " WHERE command = 'reprice --discounted' ORDER BY model") == [
        ("claude-sonnet-4-5", Decimal("0.01365"), Decimal("0.006825")),
        ("gpt-4o", Decimal("0.0035"), Decimal("0.00175")),
    ]  # fmt: skip
    # Unchanged prices change nothing: the run is audited with 0 changed calls.
    same = reprice(store.con, Discounted())
    assert same.updated_rows == 0 and [m.changed_calls for m in same.models] == [0, 0]


@pytest.mark.parametrize(
    ("selection", "spans"),
    [
        (CallFilter(model="CLAUDE-SONNET-4-5"), ["s1", "s2", "s3"]),
        (CallFilter(provider="openai"), ["s4"]),
        (CallFilter(since=DAY2), ["s2", "s3"]),
        (CallFilter(until=DAY2), ["s1", "s4"]),
        (CallFilter(since=DAY1, until=DAY2, model="claude-sonnet-4-5"), ["s1"]),
        (CallFilter(unpriced=True, provider="openai"), []),
    ],
)
def test_filters_select_exactly_their_rows(store: DuckDBStore, selection: CallFilter, spans: list[str]) -> None:
    # Doubled prices change every row they touch (the claude rows were unpriced, s4 cost 0.0035).
    before = pricing_of(store)
    result = reprice(store.con, Discounted(factor=Decimal(2)), selection)
    after = pricing_of(store)
    assert [b[0] for b, a in zip(before, after, strict=True) if a != b] == spans
    assert result.updated_rows == len(spans)


class FailingPricer(Pricer):
    """Fails on the third call: after earlier chunks were already written."""

    calls = 0

    def price(self, record: CallRecord) -> Cost:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("disk on fire")
        return super().price(record)


def test_an_error_midway_leaves_the_database_unchanged(store: DuckDBStore) -> None:
    before = pricing_of(store)
    with pytest.raises(RuntimeError, match="disk on fire"):
        reprice(store.con, FailingPricer(), chunk_rows=1)
    assert pricing_of(store) == before
    assert rows(store, "SELECT count(*) FROM llm_price_audit") == [(0,)]
    assert rows(store, "SELECT count(*) FROM model_prices WHERE model_id = 'claude-sonnet-4-5'") == [(0,)]
    # No transaction was left open: the next run works.
    assert reprice(store.con, Pricer(), chunk_rows=1).updated_rows == 3


def test_reported_cost_and_invalid_usage_keep_the_exporters_rules() -> None:
    with DuckDBStore(":memory:") as s:
        reported = call("r1", "claude-sonnet-4-5", "anthropic", reported_cost_usd=Decimal("0.004"))
        invalid = call("r2", "gpt-4o", "openai", input_tokens=None, output_tokens=None,
                       usage_error="gen_ai.usage.input_tokens is negative (-5)")  # fmt: skip
        old = CatalogWithout(missing=("claude-sonnet-4-5",))
        s.write_batch([(r, old.price(r)) for r in (reported, invalid)])
        assert rows(s, "SELECT span_id, cost_usd, cost_source, computed_cost_usd FROM llm_calls ORDER BY 1") == [
            ("r1", Decimal("0.004"), "reported", None), ("r2", None, None, None)]  # fmt: skip
        reprice(s.con, Pricer(prefer="reported"))
        assert rows(s, "SELECT cost_usd, cost_source, computed_cost_usd FROM llm_calls WHERE span_id = 'r1'") == [
            (Decimal("0.004"), "reported", Decimal("0.0045"))]  # fmt: skip
        reprice(s.con, Pricer())
        assert rows(s, "SELECT span_id, cost_usd, cost_source, pricing_status, pricing_detail FROM llm_calls"
                       " ORDER BY 1") == [
            ("r1", Decimal("0.0045"), "computed", "priced", None),
            ("r2", None, None, "invalid_usage", "gen_ai.usage.input_tokens is negative (-5)"),
        ]  # fmt: skip


# --- the command ---------------------------------------------------------------------------------


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def db_file(tmp_path: Any) -> str:
    path = str(tmp_path / "costs.duckdb")
    with DuckDBStore(path) as s:
        pricer = CatalogWithout(missing=("claude-sonnet-4-5",))
        s.write_batch([(r, pricer.price(r)) for r in CALLS], pricer.take_new_plans())
    return path


def test_cli_dry_run_then_reprice(db_file: str) -> None:
    dry = run("reprice", "--db", db_file, "--unpriced", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Would change 3 of 3 rows (--unpriced)" in dry.output
    assert "claude-sonnet-4-5" in dry.output and "$0.0136 " in dry.output and "+$0.0136" in dry.output
    assert "Dry run: nothing was written." in dry.output
    done = run("reprice", "--db", db_file, "--unpriced", "--format", "json")
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    assert data["command"] == "reprice --unpriced" and data["rows"] == 3 and data["new_price_rows"] == 1
    [model] = data["models"]
    assert (model["model"], model["old_cost_usd"], model["new_cost_usd"]) == ("claude-sonnet-4-5", None, "0.01365")
    with DuckDBStore(db_file, read_only=True) as s:
        assert rows(s, "SELECT run_id, newly_priced FROM llm_price_audit") == [(data["run_id"], 2)]
    since = run("reprice", "--db", db_file, "--since", "2025-03-08", "--until", "2025-03-08")
    assert since.exit_code == 0, since.output
    assert "Changed 0 of 2 rows (--since 2025-03-08T00:00:00+00:00 --until 2025-03-09T00:00:00+00:00)" in since.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last week"], "Error: --since: 'last week' is not a date (2025-03-01)"),
        (["--since", "2025-03-08", "--until", "2025-03-01"], "Error: --until 2025-03-01 is not after --since"),
    ],
)
def test_cli_bad_input_is_one_clear_line(db_file: str, args: list[str], message: str) -> None:
    result = run("reprice", "--db", db_file, *args)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_cli_missing_file_is_not_created(tmp_path: Any) -> None:
    path = tmp_path / "none.duckdb"
    result = run("reprice", "--db", str(path))
    assert result.exit_code == 1 and f"cannot reprice {path}: no such file" in result.output
    dry = run("reprice", "--db", str(path), "--dry-run")
    assert dry.exit_code == 1 and "no such file" in dry.output
    assert not path.exists()


def test_cli_reprice_under_a_changed_overrides_file(db_file: str, tmp_path: Any) -> None:
    """The issue's check: store rows, change the overrides file, reprice, exact totals and audit rows."""
    run("reprice", "--db", db_file, "--unpriced")  # today's catalog prices the claude rows: 0.01365 + 0.0035
    prices = tmp_path / "prices.toml"
    # 10 % off anthropic; gpt-4o input fixed at $2/M (was $2.50) from 2025-03-01 on.
    prices.write_text(
        '[discounts]\nanthropic = 10\n\n[[fixes]]\nprovider = "openai"\nmodel = "gpt-4o"\n'
        "effective_from = 2025-03-01\ninput_mtok = 2.0\n"
    )
    result = run("reprice", "--db", db_file, "--prices-file", str(prices), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # claude: 0.01365 * 0.9 = 0.012285; gpt-4o: 1000 * $2/M + 100 * $10/M = 0.003
    assert [(m["model"], m["changed_calls"], m["old_cost_usd"], m["new_cost_usd"]) for m in data["models"]] == [
        ("claude-sonnet-4-5", 2, "0.01365", "0.012285"),
        ("gpt-4o", 1, "0.0035", "0.003"),
    ]
    with DuckDBStore(db_file, read_only=True) as s:
        assert rows(s, "SELECT sum(cost_usd) FROM llm_calls WHERE NOT is_duplicate") == [(Decimal("0.015285"),)]
        [(versions,)] = rows(s, "SELECT DISTINCT price_version FROM llm_calls")
        assert versions.startswith(PRICE_VERSION + "+overrides-")
        assert rows(s, "SELECT count(*) FROM model_prices WHERE source = 'overrides'")[0][0] >= 1
        audit = rows(
            s,
            "SELECT model, calls, changed_calls, old_cost_usd, new_cost_usd, old_price_versions, new_price_versions"
            f" FROM llm_price_audit WHERE run_id = '{data['run_id']}' ORDER BY model",
        )
    assert audit == [
        ("claude-sonnet-4-5", 2, 2, Decimal("0.01365"), Decimal("0.012285"), [PRICE_VERSION], [versions]),
        ("gpt-4o", 1, 1, Decimal("0.0035"), Decimal("0.003"), [PRICE_VERSION], [versions]),
    ]
    # A bad overrides file is one line naming the key, before anything is written.
    prices.write_text("[discounts]\nanthropic = 250\n")
    bad = run("reprice", "--db", db_file, "--prices-file", str(prices))
    assert bad.exit_code == 1 and "prices.toml line 2: discounts.anthropic" in bad.output, bad.output
