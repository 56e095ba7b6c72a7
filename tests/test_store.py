"""DuckDBStore: migrates on open, idempotent Arrow writes, exact money, and clear open errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import VIEWS, lock_held_by_another_process

from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.migrations import MIGRATIONS_TABLE, applied, load_migrations
from otel_llm_cost.pricing import Cost, RatePlan
from otel_llm_cost.store import DuckDBStore, StoreUnavailable

T0_NS = 1_740_823_200_000_000_000  # 2025-03-01 10:00:00 UTC
T0 = dt.datetime(2025, 3, 1, 10, 0, tzinfo=dt.timezone.utc)


def record(span_id: str = "b7ad6b7169203331", **overrides: Any) -> CallRecord:
    fields: dict[str, Any] = {
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "span_id": span_id,
        "parent_span_id": None,
        "start_time_ns": T0_NS,
        "end_time_ns": T0_NS + 1_500_000_000,
        "span_name": "chat gpt-4o",
        "service_name": "svc",
        "environment": "test",
        "provider": "openai",
        "operation": "chat",
        "request_model": "gpt-4o",
        "response_model": "gpt-4o-2024-08-06",
        "response_id": "chatcmpl-1",
        "input_tokens": 1000,
        "output_tokens": 100,
        "cache_read_tokens": None,
        "cache_write_tokens": None,
        "reasoning_tokens": None,
        "user_id": "u1",
        "conversation_id": "c1",
        "agent_name": None,
        "status_code": "OK",
        "error_type": None,
        "reported_cost_usd": None,
    }
    fields.update(overrides)
    return CallRecord(**fields)


def cost(amount: Decimal | None = Decimal("0.0035"), **overrides: Any) -> Cost:
    fields: dict[str, Any] = {
        "pricing_status": "priced" if amount is not None else "unknown_model",
        "cost_usd": amount,
        "computed_cost_usd": amount,
        "cost_source": "computed" if amount is not None else None,
        "priced_provider": "openai" if amount is not None else None,
        "priced_model": "gpt-4o" if amount is not None else None,
        "price_version": "genai-prices==test",
    }
    fields.update(overrides)
    return Cost(**fields)


def plan(price_id: str = "p1", **overrides: Any) -> RatePlan:
    fields: dict[str, Any] = {
        "price_id": price_id,
        "provider_id": "openai",
        "model_id": "gpt-4o",
        "model_name": "GPT-4o",
        "effective_from": date(2024, 10, 1),
        "effective_to": None,
        "rates": {"input_mtok": "2.5", "output_mtok": "10 (>128000: 20)"},
        "tiered": True,
        "leaf_order": (),
        "sum_order": (),
        "price_version": "genai-prices==test",
    }
    fields.update(overrides)
    return RatePlan(**fields)


def count(store: DuckDBStore, table: str = "llm_calls") -> int:
    row = store.con.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


# --- opening migrates ------------------------------------------------------------------------


def test_fresh_file_gets_every_migration_and_view(db_path: str) -> None:
    with DuckDBStore(db_path) as store:
        assert applied(store.con) == [m.name for m in load_migrations()]
        names = store.con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()
        assert [n[0] for n in names] == VIEWS
    assert Path(db_path).is_file()


def test_reopening_keeps_data_and_migrates_nothing(db_path: str) -> None:
    with DuckDBStore(db_path) as store:
        assert store.write_batch([(record(), cost())]) == 1
    with DuckDBStore(db_path) as store:
        assert count(store) == 1
        rows = store.con.execute(f"SELECT count(*) FROM {MIGRATIONS_TABLE}").fetchone()
        assert rows == (len(load_migrations()),)


def test_sessions_use_utc_readers_included(db_path: str) -> None:
    DuckDBStore(db_path).close()
    for read_only in (False, True):
        with DuckDBStore(db_path, read_only=read_only) as store:
            assert store.con.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)


def test_read_only_store_reads_without_migrating(db_path: str) -> None:
    with duckdb.connect(db_path):
        pass  # an empty, unmigrated file
    with DuckDBStore(db_path, read_only=True) as store:
        assert applied(store.con) == []
    with DuckDBStore(db_path) as store:
        store.write_batch([(record(), cost())])
    with DuckDBStore(db_path, read_only=True) as store:
        assert count(store) == 1


def test_failed_migration_on_open_releases_the_file(db_path: str) -> None:
    with DuckDBStore(db_path) as store:
        store.con.execute(f"INSERT INTO {MIGRATIONS_TABLE} (name, number) VALUES ('0099_future', 99)")
    with pytest.raises(Exception, match="newer otel-llm-cost"):
        DuckDBStore(db_path)
    with duckdb.connect(db_path) as con:  # not left locked by the failed store
        assert con.execute("SELECT count(*) FROM llm_calls").fetchone() == (0,)


def test_close_twice_is_harmless(store: DuckDBStore) -> None:
    store.close()
    store.close()


# --- idempotent writes -----------------------------------------------------------------------


def test_writing_the_same_batch_twice_stores_it_once(store: DuckDBStore) -> None:
    batch = [(record("1111111111111111"), cost()), (record("2222222222222222"), cost(None))]
    assert store.write_batch(batch) == 2
    assert store.write_batch(batch) == 0
    assert count(store) == 2


def test_duplicates_within_one_batch_are_stored_once(store: DuckDBStore) -> None:
    batch = [(record(), cost()), (record(), cost()), (record("2222222222222222"), cost())]
    assert store.write_batch(batch) == 2
    assert store.con.execute("SELECT span_id FROM llm_calls ORDER BY span_id").fetchall() == [
        ("2222222222222222",),
        ("b7ad6b7169203331",),
    ]


def test_same_span_id_in_another_trace_is_another_row(store: DuckDBStore) -> None:
    other_trace = record(trace_id="ffffffffffffffffffffffffffffffff")
    assert store.write_batch([(record(), cost()), (other_trace, cost())]) == 2


def test_empty_batch_writes_nothing(store: DuckDBStore) -> None:
    assert store.write_batch([]) == 0
    assert count(store) == 0


def test_rate_plans_are_idempotent_on_price_id(store: DuckDBStore) -> None:
    assert store.write_batch([(record(), cost(price_id="p1"))], [plan("p1")]) == 1
    assert store.write_batch([], [plan("p1"), plan("p2", effective_from=None)]) == 0
    rows = store.con.execute(
        "SELECT price_id, provider_id, model_id, model_name, effective_from, effective_to, input_mtok,"
        " cache_read_mtok, output_mtok, rates::VARCHAR, price_version, source FROM model_prices ORDER BY price_id"
    ).fetchall()
    rates = '{"input_mtok": "2.5", "output_mtok": "10 (>128000: 20)"}'
    assert rows == [
        ("p1", "openai", "gpt-4o", "GPT-4o", date(2024, 10, 1), None, Decimal("2.5"), None, Decimal(10), rates,
         "genai-prices==test", "genai-prices"),
        ("p2", "openai", "gpt-4o", "GPT-4o", None, None, Decimal("2.5"), None, Decimal(10), rates,
         "genai-prices==test", "genai-prices"),
    ]  # fmt: skip


def test_a_failing_batch_writes_nothing_and_the_store_stays_usable(store: DuckDBStore) -> None:
    # pricing_status is NOT NULL: this row fails, and the plan written earlier in the same
    # transaction must be rolled back with it.
    bad = (record(), cost(pricing_status=None))
    with pytest.raises(duckdb.ConstraintException):
        store.write_batch([bad], [plan()])
    assert count(store, "model_prices") == 0
    assert count(store) == 0
    assert store.write_batch([(record(), cost())], [plan()]) == 1


# --- values ----------------------------------------------------------------------------------


def test_every_field_round_trips(store: DuckDBStore) -> None:
    rec = record(
        parent_span_id="00f067aa0ba902b7", cache_read_tokens=200, cache_write_tokens=0, reasoning_tokens=30,
        agent_name="planner", status_code="ERROR", error_type="Timeout", reported_cost_usd=Decimal("0.01"),
        input_excluded_cache=True, cache_write_1h_tokens=0, customer_id="acme-corp", scope_name="opentelemetry.x",
        reported_cost_error="negative", duplicate_of=("1" * 32, "2" * 16),
        test_id="tests/test_chat.py::test_reply[gpt-4o]", attributes='{"app.feature": "refunds"}',
        input_audio_tokens=11, cache_audio_read_tokens=12, output_audio_tokens=13, input_image_tokens=14,
        cache_image_read_tokens=15, output_image_tokens=16, service_tier="flex",
    )  # fmt: skip
    c = cost(
        Decimal("0.0035"), input_cost_usd=Decimal("0.002"), cache_read_cost_usd=Decimal("0.00025"),
        cache_write_cost_usd=Decimal(0), output_cost_usd=Decimal("0.00125"), other_cost_usd=None,
        pricing_detail=None, price_id="p1",
    )  # fmt: skip
    store.write_batch([(rec, c)])
    cursor = store.con.execute("SELECT * EXCLUDE (ingested_at) FROM llm_calls")
    names = [d[0] for d in cursor.description]
    row = dict(zip(names, cursor.fetchone() or (), strict=True))
    assert row == {
        "trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331",
        "parent_span_id": "00f067aa0ba902b7", "start_time": T0, "end_time": T0 + dt.timedelta(seconds=1.5),
        "span_name": "chat gpt-4o", "service_name": "svc", "environment": "test", "provider": "openai",
        "operation": "chat", "request_model": "gpt-4o", "response_model": "gpt-4o-2024-08-06",
        "priced_provider": "openai", "priced_model": "gpt-4o", "response_id": "chatcmpl-1",
        "input_tokens": 1000, "cache_read_tokens": 200, "cache_write_tokens": 0, "output_tokens": 100,
        "reasoning_tokens": 30, "cost_usd": Decimal("0.0035"), "input_cost_usd": Decimal("0.002"),
        "cache_read_cost_usd": Decimal("0.00025"), "cache_write_cost_usd": Decimal(0),
        "output_cost_usd": Decimal("0.00125"), "other_cost_usd": None, "pricing_status": "priced",
        "pricing_detail": None, "price_id": "p1", "price_version": "genai-prices==test", "is_duplicate": True,
        "user_id": "u1", "conversation_id": "c1", "agent_name": "planner", "status_code": "ERROR",
        "error_type": "Timeout", "computed_cost_usd": Decimal("0.0035"), "reported_cost_usd": Decimal("0.01"),
        "cost_source": "computed", "input_excluded_cache": True, "cache_write_1h_tokens": 0,
        "customer_id": "acme-corp", "scope_name": "opentelemetry.x", "reported_cost_error": "negative",
        "duplicate_of_trace_id": "1" * 32, "duplicate_of_span_id": "2" * 16,
        "test_id": "tests/test_chat.py::test_reply[gpt-4o]", "attributes": '{"app.feature": "refunds"}',
        "input_audio_tokens": 11, "cache_audio_read_tokens": 12, "output_audio_tokens": 13, "input_image_tokens": 14,
        "cache_image_read_tokens": 15, "output_image_tokens": 16, "service_tier": "flex",
    }  # fmt: skip


def test_unpriced_call_is_stored_with_null_cost_not_zero(store: DuckDBStore) -> None:
    store.write_batch([(record(), cost(None, pricing_detail="no price for mystery-1"))])
    row = store.con.execute(
        "SELECT cost_usd, computed_cost_usd, cost_source, pricing_status, pricing_detail, input_tokens FROM llm_calls"
    ).fetchone()
    assert row == (None, None, None, "unknown_model", "no price for mystery-1", 1000)


def test_money_is_decimal_in_and_out_exactly(store: DuckDBStore) -> None:
    tiny = Decimal("0.000000075")  # 1 token at $0.075 per million
    large = Decimal("12345678901.123456789012345678")  # needs 29 digits: more than decimal's default context
    store.write_batch(
        [
            (record("1111111111111111"), cost(tiny, input_cost_usd=tiny)),
            (record("2222222222222222", reported_cost_usd=large), cost(large)),
        ]
    )
    rows = store.con.execute("SELECT cost_usd, input_cost_usd, reported_cost_usd FROM llm_calls ORDER BY span_id")
    assert rows.fetchall() == [(tiny, tiny, None), (large, None, large)]
    value = store.con.execute("SELECT cost_usd FROM llm_calls ORDER BY span_id").fetchone()
    assert value is not None and type(value[0]) is Decimal
    assert str(value[0]) == "7.5000000000E-8"  # stored at scale 18: 0.000000075000000000
    # Sums stay exact decimals too: no float 0.30000000000000004.
    store.write_batch([(record(f"{i:016x}", trace_id="1" * 32), cost(Decimal("0.1"))) for i in range(3)])
    total = store.con.execute("SELECT sum(cost_usd) FROM llm_calls WHERE trace_id = ?", ["1" * 32]).fetchone()
    assert total == (Decimal("0.3"),)


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        # More than 18 decimals is rounded half-even at the 18th: ties go to the even digit,
        # so 0.5e-18 -> 0, 1.5e-18 -> 2e-18, 2.5e-18 -> 2e-18; non-ties round to nearest.
        (Decimal("0.0000000000000000005"), Decimal(0)),
        (Decimal("0.0000000000000000015"), Decimal("0.000000000000000002")),
        (Decimal("0.0000000000000000025"), Decimal("0.000000000000000002")),
        (Decimal("0.00000000000000000251"), Decimal("0.000000000000000003")),
        (Decimal("1.0000000000000000004999"), Decimal(1)),
    ],
)
def test_more_than_18_decimals_round_half_even(store: DuckDBStore, written: Decimal, stored: Decimal) -> None:
    store.write_batch([(record(), cost(written))])
    assert store.con.execute("SELECT cost_usd FROM llm_calls").fetchone() == (stored,)


def test_a_cost_too_large_for_the_column_is_null_not_a_failed_batch(
    store: DuckDBStore, caplog: pytest.LogCaptureFixture
) -> None:
    # DECIMAL(38, 18) holds below $1e20. One absurd reported cost must not lose the whole batch.
    absurd = record("1111111111111111", reported_cost_usd=Decimal("1e25"))
    with caplog.at_level(logging.WARNING, logger="otel_llm_cost.store"):
        assert store.write_batch([(absurd, cost(None)), (record("2222222222222222"), cost())]) == 2
    rows = store.con.execute("SELECT span_id, reported_cost_usd FROM llm_calls ORDER BY span_id").fetchall()
    assert rows == [("1111111111111111", None), ("2222222222222222", None)]
    assert "does not fit DECIMAL(38, 18)" in caplog.text


def test_sql_in_a_model_name_is_stored_verbatim(store: DuckDBStore) -> None:
    # Values travel as an Arrow batch, never interpolated into SQL text.
    evil = "gpt-4o'); DROP TABLE llm_calls; --"
    also_evil = 'x" OR 1=1; DELETE FROM model_prices; --'
    rec = record(request_model=evil, response_model=also_evil, span_name="';--", user_id="Robert'); --")
    assert store.write_batch([(rec, cost(priced_model=evil))], [plan(model_id=evil)]) == 1
    row = store.con.execute("SELECT request_model, response_model, priced_model, span_name, user_id FROM llm_calls")
    assert row.fetchall() == [(evil, also_evil, evil, "';--", "Robert'); --")]
    assert store.con.execute("SELECT model_id FROM model_prices").fetchall() == [(evil,)]
    assert store.write_batch([(record("2222222222222222"), cost())]) == 1  # the table survived


def test_unicode_and_long_text_are_stored_verbatim(store: DuckDBStore) -> None:
    name = "モデル-🚀-" + "x" * 5000
    store.write_batch([(record(request_model=name), cost())])
    assert store.con.execute("SELECT request_model FROM llm_calls").fetchone() == (name,)


def test_record_fields_match_the_table() -> None:
    """Every CallRecord field except the pricer's inputs has a column, so nothing is silently dropped."""
    with DuckDBStore(":memory:") as store:
        columns = {r[0] for r in store.con.execute("DESCRIBE llm_calls").fetchall()}
    fields = {f.name for f in dataclasses.fields(CallRecord)}
    renamed = {"start_time_ns": "start_time", "end_time_ns": "end_time", "duplicate_of": "duplicate_of_span_id"}
    not_stored = {"usage_error"}  # becomes pricing_status / pricing_detail
    assert {renamed.get(f, f) for f in fields - not_stored} <= columns


# --- open errors -----------------------------------------------------------------------------


def test_missing_folder_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "no" / "such"
    with pytest.raises(StoreUnavailable, match="does not exist") as info:
        DuckDBStore(folder / "llm-cost.duckdb")
    assert f"folder {str(folder)!r} does not exist" in str(info.value)
    assert not folder.exists()


def test_parent_that_is_a_file_is_named(tmp_path: Path) -> None:
    # Fails for root too, unlike a chmod'ed folder.
    parent = tmp_path / "not-a-folder"
    parent.write_text("x")
    with pytest.raises(StoreUnavailable, match="is a file, not a folder") as info:
        DuckDBStore(parent / "llm-cost.duckdb")
    assert repr(str(parent)) in str(info.value)


def test_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running with privileges that ignore folder permissions (root?)")
        with pytest.raises(StoreUnavailable, match="permission denied") as info:
            DuckDBStore(folder / "llm-cost.duckdb")
        assert repr(str(folder)) in str(info.value)
    finally:
        folder.chmod(0o755)


def test_read_only_open_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="for reading: no such file"):
        DuckDBStore(tmp_path / "absent.duckdb", read_only=True)
    assert not (tmp_path / "absent.duckdb").exists()


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("hello")
    with pytest.raises(StoreUnavailable, match="not a valid DuckDB database file"):
        DuckDBStore(path)


@pytest.fixture
def locked_db(db_path: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """db_path held open for writing by another process until the test ends."""
    with lock_held_by_another_process(db_path) as holder:
        yield db_path, holder


def test_file_locked_by_another_process(locked_db: tuple[str, subprocess.Popen[str]]) -> None:
    path, holder = locked_db
    with pytest.raises(StoreUnavailable, match="locked by another process") as info:
        DuckDBStore(path)
    message = str(info.value)
    assert message.startswith(f"cannot open DuckDB file {path!r}: it is locked by another process")
    assert f"(PID {holder.pid})" in message  # DuckDB names the holder; we pass it on
    with pytest.raises(StoreUnavailable, match="locked by another process"):
        DuckDBStore(path, read_only=True)


def test_lock_is_released_when_the_store_closes(db_path: str) -> None:
    with DuckDBStore(db_path):
        pass
    probe = subprocess.run(
        [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).close()", db_path],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr


def test_block_in_an_error_is_not_mistaken_for_a_lock() -> None:
    from otel_llm_cost.store import _reason

    corrupt = duckdb.IOException("IO Error: Failed to read block 42 of the database file")
    assert _reason(corrupt, None, read_only=False) == "IO Error: Failed to read block 42 of the database file"


def test_permission_error_names_the_folder() -> None:
    """The message a non-root user gets from a read-only folder (test_read_only_folder skips as root)."""
    from otel_llm_cost.store import _reason

    denied = duckdb.IOException('IO Error: Cannot open file "/srv/ro/llm-cost.duckdb": Permission denied')
    assert _reason(denied, Path("/srv/ro"), read_only=False) == (
        "permission denied (check that this user can write the file and its folder '/srv/ro')"
    )
    assert _reason(denied, Path("/srv/ro"), read_only=True) == (
        "permission denied (check that this user can read the file and its folder '/srv/ro')"
    )


def test_merge_from_copies_another_file_once(tmp_path: Path) -> None:
    worker = tmp_path / "worker's file.duckdb"  # a quote in the path must not break the SQL
    with DuckDBStore(worker) as other:
        other.write_batch([(record("1111111111111111"), cost()), (record("2222222222222222"), cost(None))])
    with DuckDBStore(tmp_path / "main.duckdb") as main:
        main.write_batch([(record("1111111111111111"), cost())])
        main.merge_from(worker)
        main.merge_from(worker)  # merging twice adds nothing
        assert count(main) == 2
        assert main.con.execute("SELECT count(cost_usd), sum(cost_usd) FROM llm_calls").fetchone() == (
            1,
            Decimal("0.0035"),
        )
