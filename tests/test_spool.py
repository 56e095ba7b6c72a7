"""The spool: a processor whose database is locked by another process writes its batches to
disk instead of dropping them; ``otel-llm-cost ingest`` (or ``serve``) loads each exactly once."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from unittest import mock

from click.testing import CliRunner
from conftest import chat_attributes, lock_held_by_another_process, query
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from otel_llm_cost import DuckDBStore, LLMCostSpanProcessor
from otel_llm_cost.cli import cli
from otel_llm_cost.serve import ServeConfig, Server
from otel_llm_cost.spool import pending_batches

CALL_COST = Decimal("0.000210000000000000")  # gpt-4o-mini, 1,000 in + 100 out


def spool_while_locked(db_path: str, spool: Path, calls: int, **processor_args: object) -> LLMCostSpanProcessor:
    """End ``calls`` LLM spans in a processor while another process holds ``db_path``."""
    DuckDBStore(db_path).close()
    with lock_held_by_another_process(db_path):
        processor = LLMCostSpanProcessor(db_path=db_path, flush_at_exit=False, **processor_args)  # type: ignore[arg-type]
        provider = TracerProvider(resource=Resource.create({"service.name": "worker"}))
        provider.add_span_processor(processor)
        for _ in range(calls):
            with provider.get_tracer("t").start_as_current_span("chat", attributes=chat_attributes()):
                pass
        assert processor.force_flush()
        provider.shutdown()
    return processor


def ingest(spool: Path, db_path: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["ingest", str(spool), "--db", db_path, *args])
    return result.exit_code, result.output


def test_locked_database_spools_and_ingest_loads_each_call_once(db_path: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    processor = spool_while_locked(db_path, spool, 10, spool_dir=str(spool))
    stats = processor.stats()
    assert (stats.spooled, stats.store_failed, stats.stored, stats.dropped) == (10, 0, 0, 0)
    assert len(pending_batches(spool)) == 1
    assert query(db_path, "SELECT count(*) FROM llm_calls") == [(0,)]

    code, output = ingest(spool, db_path)
    assert (code, output.splitlines()[-1]) == (0, "1 batches loaded: 10 new calls, 0 already stored")
    assert query(db_path, "SELECT count(*), sum(cost_usd), any_value(service_name) FROM llm_calls") == [
        (10, 10 * CALL_COST, "worker")
    ]
    assert query(db_path, "SELECT count(*) FROM model_prices") == [(1,)]  # the rate plan came along
    assert pending_batches(spool) == []
    code, output = ingest(spool, db_path, "--format", "json")  # again: nothing left to load
    assert code == 0 and json.loads(output[output.index("{") :])["batches"] == 0


def test_the_environment_variable_turns_the_spool_on(db_path: str, tmp_path: Path) -> None:
    spool = tmp_path / "env-spool"
    with mock.patch.dict(os.environ, {"OTEL_LLM_COST_SPOOL_DIR": str(spool)}):
        processor = spool_while_locked(db_path, spool, 3)
    assert processor.stats().spooled == 3
    assert len(pending_batches(spool)) == 1
    assert oct(spool.stat().st_mode & 0o777) == "0o700"  # it holds what the database holds


def test_without_a_spool_the_calls_are_counted_as_lost(db_path: str) -> None:
    processor = spool_while_locked(db_path, Path("unused"), 2)
    assert (processor.stats().spooled, processor.stats().store_failed) == (0, 2)


def test_a_crash_between_commit_and_delete_stores_nothing_twice(db_path: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool_while_locked(db_path, spool, 4, spool_dir=str(spool))
    [batch] = pending_batches(spool)
    kept = tmp_path / "kept"
    shutil.copytree(batch, kept)
    assert ingest(spool, db_path)[0] == 0
    shutil.copytree(kept, batch)  # as if the process died after COMMIT, before deleting the folder
    code, output = ingest(spool, db_path)
    assert (code, output.splitlines()[-1]) == (0, "1 batches loaded: 0 new calls, 4 already stored")
    assert query(db_path, "SELECT count(*), count(DISTINCT span_id) FROM llm_calls") == [(4, 4)]


def test_half_written_batches_are_never_loaded(db_path: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool_while_locked(db_path, spool, 2, spool_dir=str(spool))
    [batch] = pending_batches(spool)
    host = socket.gethostname()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    # A writer that died mid-batch (its pid is gone) and one still writing (this process).
    shutil.copytree(batch, spool / f".{host}-{dead_pid}-1-0.tmp")
    shutil.copytree(batch, spool / f".{host}-{os.getpid()}-1-1.tmp")
    code, output = ingest(spool, db_path, "--format", "json")
    result = json.loads(output[output.index("{") :])
    assert code == 0
    assert result["partial_removed"] == [f".{host}-{dead_pid}-1-0.tmp"]
    assert result["partial_in_progress"] == 1
    assert sorted(p.name for p in spool.iterdir()) == [f".{host}-{os.getpid()}-1-1.tmp"]
    assert query(db_path, "SELECT count(*) FROM llm_calls") == [(2,)]


def test_an_unreadable_batch_is_set_aside_and_the_others_load(db_path: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool_while_locked(db_path, spool, 3, spool_dir=str(spool))
    [good] = pending_batches(spool)
    bad = spool / "zz-bad.batch"
    bad.mkdir()
    (bad / "llm_calls.parquet").write_bytes(b"PAR1 this is not parquet")
    code, output = ingest(spool, db_path)
    assert code == 1
    assert "Error: 1 batches could not be read and were renamed *.failed: zz-bad.batch" in output
    assert not good.exists() and (spool / "zz-bad.failed").is_dir()
    assert query(db_path, "SELECT count(*) FROM llm_calls") == [(3,)]


def test_ingest_of_a_locked_database_is_a_clear_error(db_path: str, tmp_path: Path) -> None:
    DuckDBStore(db_path).close()
    with lock_held_by_another_process(db_path):
        code, output = ingest(tmp_path, db_path)
    assert code == 1
    assert output.startswith(f"Error: cannot open DuckDB file {db_path!r}: it is locked by another process")


def test_serve_loads_the_spool_at_start(db_path: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool_while_locked(db_path, spool, 5, spool_dir=str(spool))
    server = Server(ServeConfig(db_path=db_path, http_port=0, grpc_port=None, spool_dir=str(spool)))
    server.start()
    try:
        assert server.ingested_at_start is not None and server.ingested_at_start.calls_inserted == 5
    finally:
        server.stop()
    assert query(db_path, "SELECT count(*), sum(cost_usd) FROM llm_calls") == [(5, 5 * CALL_COST)]
    assert pending_batches(spool) == []
