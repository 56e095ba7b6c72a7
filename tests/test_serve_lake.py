"""``serve`` and ``ingest`` writing a DuckLake (``--store ducklake:postgres:DSN --data-path DIR``).

Against a real PostgreSQL on 127.0.0.1 (tests/postgres_server.py): requests received over
OTLP/HTTP, and spool batches ingested, are stored in the lake exactly once however often they
arrive, and the read API answers from the lake.
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import chat_attributes
from test_serve import CALL_COST, encoded, metric, post_traces, request, wait_written
from test_store import cost, plan, record

from otel_llm_cost.cli import cli
from otel_llm_cost.ducklake import DuckLakeStore
from otel_llm_cost.serve import ServeConfig, Server
from otel_llm_cost.serve._journal import Journal, JournalInUse
from otel_llm_cost.spool import SpoolWriter, pending_batches


def lake_rows(spec: str, sql: str) -> list[tuple[Any, ...]]:
    with DuckLakeStore(spec, read_only=True) as store:
        return store.con.execute(sql).fetchall()


def lake_server(spec: str, data_path: str, journal: Path, **overrides: Any) -> Server:
    config = ServeConfig(
        store_spec=spec, data_path=data_path, journal_dir=str(journal), http_port=0, grpc_port=None, **overrides
    )
    server = Server(config)
    server.start()
    return server


def test_serve_stores_each_received_span_in_the_lake_once_and_reads_its_views(
    lake: tuple[str, str], tmp_path: Path
) -> None:
    spec, data_path = lake
    body, ids = encoded(chat_attributes(), chat_attributes(), chat_attributes())
    server = lake_server(spec, data_path, tmp_path / "journal-a")
    try:
        assert post_traces(server.http_port or 0, body)[0] == 200
        assert post_traces(server.http_port or 0, body)[0] == 200  # the client retried: stored once
        wait_written(server)
        assert (metric(server, "otel_llm_cost_serve_spans_stored_total"),
                metric(server, "otel_llm_cost_serve_spans_already_stored_total")) == (3, 3)  # fmt: skip
        port = server.http_port or 0
        status, _, views = request(port, "GET", "/v1/views")
        assert status == 200 and "llm_daily_cost" in json.loads(views)
        status, _, body_daily = request(port, "GET", "/v1/views/llm_daily_cost")
        daily = json.loads(body_daily)
        assert status == 200 and daily["view"] == "llm_daily_cost"
        assert len(daily["rows"]) == 1
        row = dict(zip(daily["columns"], daily["rows"][0], strict=True))
        assert (row["model"], row["calls"], row["cost_usd"]) == ("gpt-4o-mini", 3, "0.000630000000000000")
        status, _, report = request(port, "GET", "/v1/report?days=3")
        assert (status, json.loads(report)["totals"]["calls"]) == (200, 3)
    finally:
        server.stop()
    # A second server (another host, say) receiving the same request adds nothing either.
    other = lake_server(spec, data_path, tmp_path / "journal-b")
    try:
        assert post_traces(other.http_port or 0, body)[0] == 200
        wait_written(other)
        assert metric(other, "otel_llm_cost_serve_spans_already_stored_total") == 3
    finally:
        other.stop()
    stored = lake_rows(spec, "SELECT trace_id, span_id, service_name, cost_usd FROM llm_calls ORDER BY ALL")
    assert stored == sorted((t, s, "billing", CALL_COST) for t, s in ids)
    assert not list((tmp_path / "journal-a").iterdir())  # a clean stop empties the journal


def test_ingest_into_a_lake_twice_stores_each_row_once(lake: tuple[str, str], tmp_path: Path) -> None:
    spec, data_path = lake
    spool = tmp_path / "spool"
    writer = SpoolWriter(spool)
    writer.write([(record("00000000000000a1"), cost()), (record("00000000000000a2"), cost())], plans=[plan()])
    writer.write([(record("00000000000000a2"), cost()), (record("00000000000000a3"), cost(None))])
    damaged = writer.write([(record("00000000000000a4"), cost())])
    (damaged / "llm_calls.parquet").write_bytes(b"not parquet")
    replay = tmp_path / "replay"
    shutil.copytree(spool, replay)  # as if a crash came between the commit and the delete

    args = ["--store", spec, "--data-path", data_path, "--format", "json"]
    first = CliRunner().invoke(cli, ["ingest", str(spool), *args])
    assert first.exit_code == 1, first.output
    summary = json.loads(first.stdout)
    assert (summary["batches"], summary["calls_inserted"], summary["calls_already_stored"]) == (2, 3, 1)
    assert summary["failed"] == [damaged.name]
    assert first.stderr.endswith(f"Error: 1 batches could not be read and were renamed *.failed: {damaged.name}\n")
    assert pending_batches(spool) == []

    (replay / damaged.name).rename(replay / damaged.name.replace(".batch", ".skip"))
    again = CliRunner().invoke(cli, ["ingest", str(replay), *args])
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert (summary["batches"], summary["calls_inserted"], summary["calls_already_stored"]) == (2, 0, 4)

    assert lake_rows(spec, "SELECT span_id, cost_usd FROM llm_calls ORDER BY span_id") == [
        ("00000000000000a1", Decimal("0.003500000000000000")),
        ("00000000000000a2", Decimal("0.003500000000000000")),
        ("00000000000000a3", None),  # unpriced stays NULL, never 0
    ]
    assert lake_rows(spec, "SELECT price_id, count(*) FROM model_prices GROUP BY ALL") == [("p1", 1)]


def test_serve_with_a_lake_ingests_its_spool_at_start(lake: tuple[str, str], tmp_path: Path) -> None:
    spec, data_path = lake
    SpoolWriter(tmp_path / "spool").write([(record("00000000000000b1"), cost())])
    server = lake_server(spec, data_path, tmp_path / "journal", spool_dir=str(tmp_path / "spool"))
    try:
        started = server.ingested_at_start
        assert started is not None and (started.batches, started.calls_inserted) == (1, 1)
    finally:
        server.stop()
    assert lake_rows(spec, "SELECT span_id FROM llm_calls") == [("00000000000000b1",)]
    assert pending_batches(tmp_path / "spool") == []


def test_a_lake_journal_defaults_to_a_per_user_folder_and_is_one_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    config = ServeConfig(store_spec="ducklake:postgres:dbname=llm_cost password=secret")
    same_lake = ServeConfig(store_spec="ducklake:postgres:dbname=llm_cost password=other")
    path = config.journal_path()
    assert path.parent == tmp_path / "state" / "otel-llm-cost" / "journal"
    assert path.name.startswith("lake-") and len(path.name) == len("lake-") + 16
    assert same_lake.journal_path() == path  # named after the spec without its password
    assert ServeConfig(store_spec="ducklake:postgres:dbname=other").journal_path() != path
    assert ServeConfig(db_path="x.duckdb").journal_path() == Path("x.duckdb.journal")
    assert config.store_name == "ducklake:postgres:dbname=llm_cost password=***"

    first = Journal(path)
    with pytest.raises(JournalInUse) as refused:
        Journal(path)
    assert str(refused.value) == (
        f"the journal '{path}' is in use by another running server; give each server its own --journal-dir"
    )
    first.close()
    Journal(path).close()  # free again once the first one is closed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--data-path", "d"], "Invalid value for --data-path: --data-path goes with --store"),
        (["ingest", "sp", "--store", "x.duckdb"], "Invalid value for --store: expected ducklake:postgres:<dsn>"),
        (["ingest", "sp", "--store", "ducklake:sqlite:x"], "Invalid value for --store: unsupported store"),
    ],
)
def test_store_options_are_checked_before_anything_opens(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_ingest_into_an_unreachable_lake_is_one_line(tmp_path: Path) -> None:
    spec = "ducklake:postgres:host=127.0.0.1 port=1 dbname=x user=u password=hunter2 connect_timeout=2"
    result = CliRunner().invoke(cli, ["ingest", str(tmp_path), "--store", spec])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot open DuckLake"), result.output
    assert "hunter2" not in result.output and "password=***" in result.output
