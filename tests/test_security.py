"""Security and privacy: what the cost database holds, who can read it, what reaches SQL text and logs.

* Prompts and completions are never stored: the store keeps no raw attributes at all, only the
  columns of ``llm_calls`` and ``llm_agent_runs``. Proven by planting unique markers in every
  message attribute of every dialect and scanning every text column of every table, and the file's
  bytes after a checkpoint.
* No value from a span is put into SQL text: every statement the store runs is recorded while
  spans full of SQL are written, and none contains a span's value.
* Secrets (OTLP headers, credentials in the endpoint) never reach our logs or ``stats()``.
* The database file (and its write-ahead log) is created readable by its owner only (0600).
"""

from __future__ import annotations

import logging
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import duckdb
import pytest
from conftest import chat_attributes, query
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from otlp_receiver import HTTPReceiver, Reply

from otel_llm_cost import CostExporter, DuckDBStore, LLMCostSpanProcessor

# --- prompts and completions are not stored -----------------------------------------------------------

# Where each instrumentation library puts message content (OTel GenAI current and older conventions,
# OpenLLMetry, OpenInference, Vercel AI SDK, Langfuse, Logfire).
MESSAGE_ATTRIBUTES = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.prompt.0.content",
    "gen_ai.prompt.0.role",
    "gen_ai.completion.0.content",
    "gen_ai.completion.0.tool_calls.0.arguments",
    "llm.input_messages.0.message.content",
    "llm.output_messages.0.message.content",
    "llm.prompts",
    "input.value",
    "output.value",
    "ai.prompt",
    "ai.prompt.messages",
    "ai.response.text",
    "ai.response.toolCalls",
    "langfuse.observation.input",
    "langfuse.observation.output",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "all_messages_events",
    "events",
)


def _marker(name: str) -> str:
    # Unique and unmistakable; long enough that a compressed page cannot hide all of it by chance.
    return f"SECRET-PROMPT-{uuid.uuid4().hex}-{name}"


def _text_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    rows = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns()"
        " WHERE database_name = current_database() AND NOT internal"
        " AND table_name IN (SELECT table_name FROM duckdb_tables() WHERE database_name = current_database())"
        " AND (data_type LIKE 'VARCHAR%' OR data_type = 'JSON'"
        " OR data_type LIKE '%[]' OR data_type LIKE 'STRUCT%' OR data_type LIKE 'MAP%')"
    ).fetchall()
    return [(table, column) for table, column in rows]


def _rows_holding(con: duckdb.DuckDBPyConnection, needle: str) -> list[tuple[str, str]]:
    """Every (table, column) whose values contain ``needle``: the needle is a parameter, the names
    come from the catalog."""
    found = []
    for table, column in _text_columns(con):
        hit = con.execute(f'SELECT count(*) FROM "{table}" WHERE CAST("{column}" AS VARCHAR) LIKE ?', [f"%{needle}%"])
        row = hit.fetchone()
        if row and row[0]:
            found.append((table, column))
    return found


@pytest.mark.parametrize("with_run_span", [False, True])
def test_no_message_content_is_stored_by_default(tmp_path: Path, with_run_span: bool) -> None:
    path = str(tmp_path / "privacy.duckdb")
    markers = {name: _marker(name) for name in MESSAGE_ATTRIBUTES}
    provider = TracerProvider(resource=Resource.create({"service.name": "privacy"}))
    processor = LLMCostSpanProcessor(db_path=path, flush_at_exit=False, metrics=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("privacy")
    # A positive control: a value we do store, planted the same way, must be found by the same scan.
    control = _marker("model")
    with tracer.start_as_current_span(
        "invoke_agent", attributes={"gen_ai.operation.name": "invoke_agent", **markers} if with_run_span else {}
    ):
        tracer.start_span("chat", attributes={**chat_attributes(), **markers}).end()
        tracer.start_span("chat", attributes={**chat_attributes(gen_ai__request__model=control), **markers}).end()
        attrs = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.token_count.prompt": 5, **markers}
        tracer.start_span("ChatCompletion", attributes=attrs).end()
    provider.shutdown()

    with duckdb.connect(path) as con:
        assert con.execute("SELECT count(*) FROM llm_calls").fetchone() == (3,)
        if with_run_span:
            assert con.execute("SELECT count(*) FROM llm_agent_runs").fetchone() == (1,)
        # The unknown model is quoted in pricing_detail too ("... is not in the price catalog").
        expected = [("llm_calls", "request_model"), ("llm_calls", "pricing_detail")]
        assert sorted(_rows_holding(con, control)) == sorted(expected)
        assert len(_text_columns(con)) > 30  # the scan really covers the schema
        leaked = {name: _rows_holding(con, marker) for name, marker in markers.items()}
        assert {name: where for name, where in leaked.items() if where} == {}
        assert sorted(_rows_holding(con, "SECRET-PROMPT-")) == sorted(expected)
        con.execute("CHECKPOINT")

    # The bytes on disk, after the last checkpoint: no page, free block or WAL holds a marker.
    files = [p for p in tmp_path.iterdir() if p.name.startswith("privacy.duckdb")]
    data = b"".join(p.read_bytes() for p in files)
    assert control.encode() in data, "the byte scan would not see a stored string"
    assert not [name for name, marker in markers.items() if marker.encode() in data]


def test_no_message_content_is_stored_from_any_dialect_through_the_exporter() -> None:
    """Every attribute name a span may carry, a marker in each: only the columns we read hold any."""
    markers = {name: _marker(name) for name in MESSAGE_ATTRIBUTES}
    with DuckDBStore(":memory:") as store:
        exporter = CostExporter(store)
        from test_hostile_input import hand_made_span

        exporter.export([hand_made_span({**chat_attributes(), **markers}, name="chat")])
        assert store.con.execute("SELECT count(*) FROM llm_calls").fetchone() == (1,)
        assert _rows_holding(store.con, "SECRET-PROMPT-") == []


# --- no span value in SQL text --------------------------------------------------------------------------

SQL = "x'); DROP TABLE llm_calls; SELECT ('"


class RecordingConnection:
    """Wraps a DuckDB connection and keeps the text of every statement run through it."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self.statements: list[str] = []

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self.statements.append(sql)
        return self._con.execute(sql, *args, **kwargs)

    def register(self, name: str, data: Any) -> Any:
        self.statements.append(f"register {name}")
        return self._con.register(name, data)

    def __getattr__(self, name: str) -> Any:
        if name in ("sql", "query", "executemany", "from_query"):
            raise AssertionError(f"the store used con.{name}, which this recorder does not watch")
        return getattr(self._con, name)


def test_span_values_never_enter_sql_text_and_every_text_column_keeps_them_verbatim() -> None:
    tag = uuid.uuid4().hex[:8]

    def fragment(column: str) -> str:
        return f"{column}-{tag}{SQL}"

    from test_hostile_input import hand_made_span

    span = hand_made_span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": fragment("provider"),
            "gen_ai.request.model": fragment("request_model"),
            "gen_ai.response.model": fragment("response_model"),
            "gen_ai.response.id": fragment("response_id"),
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 5,
            "user.id": fragment("user_id"),
            "gen_ai.conversation.id": fragment("conversation_id"),
            "gen_ai.agent.name": fragment("agent_name"),
            "error.type": fragment("error_type"),
            "customer.id": fragment("customer_id"),
            "otel_llm_cost.test_id": fragment("test_id"),
        },
        name=fragment("span_name"),
        resource={"service.name": fragment("service_name"), "deployment.environment.name": fragment("environment")},
    )
    run = hand_made_span(
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": fragment("run_agent_name"),
         "user.id": fragment("run_user_id"), "gen_ai.conversation.id": fragment("run_conversation_id")},
        name=fragment("run_span_name"),
    )  # fmt: skip
    with DuckDBStore(":memory:") as store:
        tables_before = store.con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
        recorder = RecordingConnection(store.con)
        store.con = recorder  # type: ignore[assignment]
        exporter = CostExporter(store)
        exporter.export([span, run])
        store.con = recorder._con
        assert exporter.stats.stored == 1 and exporter.stats.malformed == 0

        assert recorder.statements, "nothing was recorded"
        assert [s for s in recorder.statements if tag in s or "DROP" in s] == []
        assert store.con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall() == tables_before
        columns = (
            "provider", "request_model", "response_model", "response_id", "user_id", "conversation_id",
            "agent_name", "error_type", "customer_id", "test_id", "span_name", "service_name", "environment",
        )  # fmt: skip
        row = store.con.execute(f"SELECT {', '.join(columns)} FROM llm_calls").fetchone()
        assert row == tuple(fragment(c) for c in columns)
        run_row = store.con.execute("SELECT agent_name, user_id, conversation_id, span_name FROM llm_agent_runs")
        assert run_row.fetchone() == tuple(fragment(c) for c in ("run_agent_name", "run_user_id",
                                                                  "run_conversation_id", "run_span_name"))  # fmt: skip
        # The unpriced model's detail quotes it: stored as a value too.
        detail = store.con.execute("SELECT pricing_detail FROM llm_calls").fetchone()
        assert detail is not None and fragment("request_model") in detail[0]
        for view in ("llm_daily_cost", "llm_unpriced_calls", "llm_cost_by_trace", "llm_cost_by_conversation",
                     "llm_cost_by_agent_run", "llm_cost_by_test"):  # fmt: skip
            assert store.con.execute(f"SELECT count(*) FROM {view}").fetchone() == (1,), view


# --- secrets stay out of logs ------------------------------------------------------------------------------

SECRET = "s3cr3t-" + uuid.uuid4().hex


@pytest.fixture(autouse=True)
def _loopback_only() -> Iterator[None]:
    with mock.patch.dict(os.environ, {"no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}):
        yield


def _run_forwarding(db_path: str, env: dict[str, str], forward_to: str | None) -> LLMCostSpanProcessor:
    with mock.patch.dict(os.environ, env):
        provider = TracerProvider()
        processor = LLMCostSpanProcessor(db_path=db_path, forward_to=forward_to, flush_at_exit=False)
        provider.add_span_processor(processor)
        for _ in range(3):
            provider.get_tracer("app").start_span("chat", attributes=chat_attributes()).end()
        processor.force_flush(5_000)
        provider.shutdown()
    return processor


@pytest.mark.parametrize("reply", [Reply("error", 401), Reply("error", 400), None], ids=["401", "400", "no-collector"])
@pytest.mark.parametrize("route", ["argument", "environment"])
def test_otlp_headers_and_endpoint_credentials_are_never_logged(
    db_path: str, caplog: pytest.LogCaptureFixture, reply: Reply | None, route: str
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, ours and the SDK's, at every level
    with HTTPReceiver(lambda _, __: reply or Reply()) as receiver:
        endpoint = receiver.endpoint if reply is not None else "http://127.0.0.1:9"  # nothing listens on 9
        host = endpoint.removeprefix("http://")
        env = {
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://user:{SECRET}-url@{host}/v1/traces",
            "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer {SECRET}-header,x-api-key={SECRET}-key",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
        }
        if route == "environment":
            env["OTEL_LLM_COST_FORWARD"] = "otlp"
        processor = _run_forwarding(db_path, env, "otlp" if route == "argument" else None)
    stats = processor.stats()
    assert stats.forwarded == 0 and stats.forward_failed + stats.forward_dropped_queue_full == 3, stats
    assert stats.stored == 3  # a failing collector costs the forwarding only
    assert caplog.records, "nothing was logged: the failure path did not run"
    assert SECRET not in caplog.text
    for record in caplog.records:  # formatted or not, arguments included
        assert SECRET not in record.getMessage() and SECRET not in repr(record.args)
    assert SECRET not in repr(stats) and SECRET not in repr(processor.forwarder)


def test_a_bad_forward_setting_is_logged_without_the_secrets_next_to_it(
    db_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = {"OTEL_LLM_COST_FORWARD": "otlp_websocket", "OTEL_EXPORTER_OTLP_HEADERS": f"authorization={SECRET}"}
    _run_forwarding(db_path, env, None)
    assert "otlp_websocket" in caplog.text  # the bad value is named...
    assert SECRET not in caplog.text  # ...the headers are not


# --- file permissions -----------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def default_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: files 0644 unless we say otherwise
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("default_umask")
def test_a_new_store_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    with DuckDBStore(path):
        assert _mode(path) == 0o600
    assert _mode(path) == 0o600


@pytest.mark.usefixtures("default_umask")
def test_the_processor_creates_its_file_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "processor.duckdb"
    provider = TracerProvider()
    processor = LLMCostSpanProcessor(db_path=path, flush_at_exit=False, metrics=False)
    provider.add_span_processor(processor)
    provider.get_tracer("t").start_span("chat", attributes=chat_attributes()).end()
    assert processor.force_flush(10_000)
    modes = {p.name: _mode(p) for p in tmp_path.iterdir()}
    provider.shutdown()
    assert modes == dict.fromkeys(modes, 0o600) and "processor.duckdb" in modes, modes
    assert query(str(path), "SELECT count(*) FROM llm_calls") == [(1,)]


@pytest.mark.usefixtures("default_umask")
def test_the_write_ahead_log_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "wal.duckdb"
    from test_hostile_input import hand_made_span

    with DuckDBStore(path) as store:
        exporter = CostExporter(store)
        for _ in range(2):  # a checkpoint in between: DuckDB deletes the WAL and creates a new one
            exporter.export([hand_made_span(chat_attributes())])
            wal = Path(f"{path}.wal")
            assert wal.exists()
            assert _mode(wal) == 0o600
            store.con.execute("CHECKPOINT")


@pytest.mark.usefixtures("default_umask")
def test_an_existing_files_permissions_are_left_as_the_user_set_them(tmp_path: Path) -> None:
    path = tmp_path / "shared.duckdb"
    DuckDBStore(path).close()
    os.chmod(path, 0o640)  # e.g. readable by a reporting group, on purpose
    with DuckDBStore(path):
        pass
    assert _mode(path) == 0o640
