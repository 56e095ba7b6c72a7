"""`otel-llm-cost health`: rows, last write, and the spans each writing process lost."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from conftest import StalledStore, chat_attributes
from opentelemetry.sdk.trace import TracerProvider

from otel_llm_cost import LLMCostSpanProcessor
from otel_llm_cost.cli import cli


def test_health_shows_rows_and_the_spans_dropped_by_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    store = StalledStore(path)
    provider = TracerProvider()
    processor = LLMCostSpanProcessor(store=store, max_queue_size=3, max_batch_size=1, flush_at_exit=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    tracer.start_span("chat", attributes=chat_attributes()).end()
    assert store.entered.wait(10)
    for _ in range(5):  # 3 fit in the queue, 2 are dropped
        tracer.start_span("chat", attributes=chat_attributes(gen_ai__request__model="acme-1")).end()
    store.release.set()
    provider.shutdown()  # writes the final counts into llm_ingest_health, then closes the file
    store.close()

    result = CliRunner().invoke(cli, ["health", "--db", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["calls"], data["unpriced_calls"], data["duplicate_calls"], data["lost"]) == (4, 3, 0, 2)
    assert data["schema"] == "0010_query_log" and data["pending_migrations"] == []
    [writer] = data["processes"]
    assert (writer["processed"], writer["stored"], writer["dropped_queue_full"], writer["lost"]) == (4, 4, 2, 2)
    assert data["file_bytes"] > 0

    table = CliRunner().invoke(cli, ["health", "--db", str(path)])
    assert table.exit_code == 0 and "Spans lost before storage" in table.output and "75.0%" in table.output


def test_health_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["health", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 1
    assert "no such file" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "none.duckdb").exists()
