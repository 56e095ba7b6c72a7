"""``otel-llm-cost serve``: OTLP/HTTP and gRPC in, priced rows out; refusals, auth, TLS, reads.

Every server here is a real one on 127.0.0.1, started by the test; clients are the SDK's own OTLP
exporters or raw HTTP/gRPC requests.
"""

from __future__ import annotations

import datetime
import gzip
import http.client
import json
import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import duckdb
import grpc
import pytest
from click.testing import CliRunner
from conftest import StalledStore, chat_attributes, lock_held_by_another_process
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from otlp_receiver import HTTPReceiver

from otel_llm_cost import DuckDBStore
from otel_llm_cost.cli import cli
from otel_llm_cost.currency import ExchangeRate, store_rates
from otel_llm_cost.serve import ServeConfig, Server
from otel_llm_cost.serve import _server as server_module
from otel_llm_cost.serve._journal import Journal

# gpt-4o-mini: $0.15 / M input, $0.60 / M output; chat_attributes() is 1,000 in and 100 out.
CALL_COST = Decimal("0.000210000000000000")
_TRACES = "opentelemetry.proto.collector.trace.v1.TraceService"


@pytest.fixture
def start(db_path: str) -> Iterator[Any]:
    """``start(**config)`` -> a running Server on free ports; every one is stopped afterwards."""
    servers: list[Server] = []

    def _start(**overrides: Any) -> Server:
        config = ServeConfig(db_path=db_path, http_port=0, grpc_port=0, **overrides)
        server = Server(config)
        server.start()
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.stop()


def send_spans(exporter: SpanExporter, *attributes: dict[str, Any]) -> list[tuple[str, str]]:
    """End one span per attribute set through ``exporter``; return their (trace_id, span_id) hex."""
    provider = TracerProvider(resource=Resource.create({"service.name": "billing"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    ids = []
    for attrs in attributes:
        with provider.get_tracer("my.scope").start_as_current_span("chat gpt-4o-mini", attributes=attrs) as span:
            ids.append((f"{span.get_span_context().trace_id:032x}", f"{span.get_span_context().span_id:016x}"))
    provider.shutdown()
    return ids


def encoded(*attributes: dict[str, Any]) -> tuple[bytes, list[tuple[str, str]]]:
    """An OTLP protobuf request (the SDK's own encoding) of one ended span per attribute set."""
    provider = TracerProvider(resource=Resource.create({"service.name": "billing"}))
    spans = []
    for attrs in attributes:
        span = provider.get_tracer("my.scope").start_span("chat gpt-4o-mini", attributes=attrs)
        span.end()
        spans.append(span)
    ids = [(f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}") for s in spans]
    return encode_spans(spans).SerializeToString(), ids


def rows(db_path: str, sql: str = "SELECT trace_id, span_id, service_name, scope_name, cost_usd FROM llm_calls"):
    with duckdb.connect(db_path, read_only=True) as con:
        return con.execute(sql + " ORDER BY ALL").fetchall()


def request(
    port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, *, tls: Any = None
) -> tuple[int, dict[str, str], bytes]:
    if tls is not None:
        connection: http.client.HTTPConnection = http.client.HTTPSConnection("127.0.0.1", port, context=tls, timeout=10)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body, headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), data


def post_traces(port: int, body: bytes, content_type: str = "application/x-protobuf", **headers: str):
    return request(port, "POST", "/v1/traces", body, {"Content-Type": content_type, **headers})


def wait_written(server: Server, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while server.pipeline.queued_spans and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.pipeline.queued_spans == 0


def metric(server: Server, line_start: str) -> int:
    status, _, body = request(server.http_port or 0, "GET", "/metrics")
    assert status == 200
    for line in body.decode().splitlines():
        if line.startswith(line_start + " "):
            return int(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {line_start!r} in:\n{body.decode()}")


def grpc_export(port: int, payload: bytes, metadata: tuple[tuple[str, str], ...] = ()) -> grpc.RpcError | None:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        export = channel.unary_unary(f"/{_TRACES}/Export")
        try:
            export(payload, metadata=metadata, timeout=10)
        except grpc.RpcError as error:
            return error
    return None


def test_http_and_grpc_exporters_store_priced_calls(start: Any, db_path: str) -> None:
    server = start()
    http_ids = send_spans(
        HTTPSpanExporter(endpoint=f"http://127.0.0.1:{server.http_port}/v1/traces"),
        chat_attributes(),
        chat_attributes(),
    )
    grpc_ids = send_spans(
        GRPCSpanExporter(endpoint=f"http://127.0.0.1:{server.grpc_port}", insecure=True),
        chat_attributes(),
        {"http.request.method": "GET"},  # not an LLM span: received, not stored
    )
    gzip_ids = send_spans(
        HTTPSpanExporter(endpoint=f"http://127.0.0.1:{server.http_port}/v1/traces", compression=Compression.Gzip),
        chat_attributes(),
    )
    wait_written(server)
    assert metric(server, "otel_llm_cost_serve_spans_received_total") == 5
    assert metric(server, "otel_llm_cost_serve_spans_stored_total") == 4
    server.stop()
    expected = [(t, s, "billing", "my.scope", CALL_COST) for t, s in http_ids + grpc_ids[:1] + gzip_ids]
    assert rows(db_path) == sorted(expected)
    assert not list(Path(f"{db_path}.journal").iterdir())  # a clean stop empties the journal


def test_otlp_json_with_hex_ids_is_stored(start: Any, db_path: str) -> None:
    server = start()
    trace_id, span_id = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "js-app"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "@opentelemetry/instrumentation-openai"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "parentSpanId": "eee19b7ec3c1b173",
                                "name": "chat gpt-4o-mini",
                                "kind": 3,
                                "startTimeUnixNano": "1763798400000000000",
                                "endTimeUnixNano": "1763798401000000000",
                                "attributes": [
                                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                                    {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
                                    {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1000"}},
                                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 100}},
                                ],
                                "status": {"code": 1},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    status, headers, body = post_traces(server.http_port, json.dumps(document).encode(), "application/json")
    assert (status, headers["Content-Type"], body) == (200, "application/json", b"{}")
    server.stop()
    assert rows(db_path, "SELECT trace_id, span_id, parent_span_id, service_name, status_code, cost_usd, "
                         "start_time::VARCHAR FROM llm_calls") == [
        (trace_id, span_id, "eee19b7ec3c1b173", "js-app", "OK", CALL_COST, "2025-11-22 08:00:00+00")
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "status", "message"),
    [
        (b"\xff\xff\xff garbage", "application/x-protobuf", None, 400, "not an OTLP protobuf"),
        (b"{not json", "application/json", None, 400, "not JSON: "),
        (b'{"resourceSpans": 3}', "application/json", None, 400, "expected a list of objects"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', "application/json", None, 400,
         "not an OTLP JSON ExportTraceServiceRequest"),
        (b"not gzip at all", "application/x-protobuf", "gzip", 400, "body is not valid gzip"),
        (b"", "application/x-protobuf", "br", 400, "unsupported Content-Encoding 'br'"),
        (b"", "text/plain", None, 415, "Content-Type must be application/x-protobuf or application/json"),
    ],
)  # fmt: skip
def test_malformed_requests_are_rejected_and_counted(
    start: Any, body: bytes, content_type: str, encoding: str | None, status: int, message: str
) -> None:
    server = start()
    headers = {"Content-Encoding": encoding} if encoding else {}
    got_status, _, got_body = post_traces(server.http_port, body, content_type, **headers)
    assert got_status == status
    assert message in json.loads(got_body)["message"]
    reason = "malformed" if status == 400 else "unsupported_media_type"
    assert metric(server, f'otel_llm_cost_serve_requests_rejected_total{{reason="{reason}"}}') == 1


def test_malformed_grpc_message_is_invalid_argument(start: Any) -> None:
    server = start()
    error = grpc_export(server.grpc_port, b"\xff\xff\xff garbage")
    assert error is not None and error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "not an OTLP protobuf ExportTraceServiceRequest" in (error.details() or "")
    assert metric(server, 'otel_llm_cost_serve_requests_rejected_total{reason="malformed"}') == 1


def test_request_size_limit_applies_before_and_after_decompression(start: Any) -> None:
    server = start(max_request_bytes=4096)
    status, headers, body = post_traces(server.http_port, b"\0" * 5000)
    assert (status, headers["Connection"]) == (413, "close")
    assert json.loads(body)["message"] == "request body of 5000 bytes is over the limit of 4096"
    bomb = gzip.compress(b"\0" * 1_000_000)  # ~1 kB on the wire
    status, _, body = post_traces(server.http_port, bomb, **{"Content-Encoding": "gzip"})
    assert (status, json.loads(body)["message"]) == (413, "decompressed body is over the limit of 4096 bytes")
    assert metric(server, 'otel_llm_cost_serve_requests_rejected_total{reason="too_large"}') == 2


def test_bearer_token_is_required_except_for_healthz(start: Any, db_path: str) -> None:
    server = start(auth_token="s3cret")
    port = server.http_port
    assert post_traces(port, b"")[0] == 401
    assert post_traces(port, b"", Authorization="Bearer wrong")[0] == 401
    assert request(port, "GET", "/metrics")[0] == 401
    assert request(port, "GET", "/v1/views")[0] == 401
    status, _, body = request(port, "GET", "/healthz")
    assert (status, json.loads(body)["status"]) == (200, "ok")
    error = grpc_export(server.grpc_port, b"")
    assert error is not None and error.code() is grpc.StatusCode.UNAUTHENTICATED
    endpoint = f"http://127.0.0.1:{port}/v1/traces"
    ids = send_spans(HTTPSpanExporter(endpoint=endpoint, headers={"Authorization": "Bearer s3cret"}), chat_attributes())
    ids += send_spans(
        GRPCSpanExporter(
            endpoint=f"http://127.0.0.1:{server.grpc_port}", insecure=True, headers={"authorization": "Bearer s3cret"}
        ),
        chat_attributes(),
    )
    status, _, _ = request(port, "GET", "/metrics", headers={"Authorization": "Bearer s3cret"})
    assert status == 200
    server.stop()
    assert [(t, s) for t, s, *_ in rows(db_path)] == sorted(ids)


def test_over_capacity_answers_429_and_unavailable_with_retry_after(start: Any, db_path: str) -> None:
    stalled = StalledStore(db_path)
    with mock.patch.object(server_module, "open_store", lambda path, **_: stalled):
        server = start(max_queued_spans=1, retry_after_s=3)
    payload, _ = encoded(chat_attributes())
    assert post_traces(server.http_port, payload)[0] == 200  # queued; the writer is stuck in it
    assert stalled.entered.wait(10)
    status, headers, body = post_traces(server.http_port, payload)
    assert (status, headers["Retry-After"]) == (429, "3")
    assert json.loads(body)["message"] == "over capacity: more than 1 spans are waiting to be written"
    error = grpc_export(server.grpc_port, payload)
    assert error is not None and error.code() is grpc.StatusCode.UNAVAILABLE
    assert dict(error.trailing_metadata() or ())["google.rpc.retryinfo-bin"]
    assert metric(server, 'otel_llm_cost_serve_requests_rejected_total{reason="over_capacity"}') == 2
    stalled.release.set()
    wait_written(server)
    assert post_traces(server.http_port, payload)[0] == 200  # room again (and stored once: same span)
    server.stop()
    assert len(rows(db_path)) == 1


def test_read_api_serves_report_and_views_while_the_server_owns_the_file(start: Any, db_path: str) -> None:
    with DuckDBStore(db_path) as store:  # rates loaded before the server takes the file
        store_rates(store.con, [ExchangeRate("EUR", datetime.date(2000, 1, 1), Decimal("0.5"))])
    server = start()
    send_spans(HTTPSpanExporter(endpoint=f"http://127.0.0.1:{server.http_port}/v1/traces"), *[chat_attributes()] * 3)
    wait_written(server)
    port = server.http_port
    status, _, body = request(port, "GET", "/v1/views")
    assert status == 200
    # Every view the schema defines (one per file in sql/views, whose macros are not views).
    with DuckDBStore(":memory:") as fresh:
        sql = "SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = 'main' ORDER BY 1"
        defined = [name for (name,) in fresh.con.execute(sql).fetchall()]
    assert "llm_daily_cost" in defined and json.loads(body) == defined
    status, _, body = request(port, "GET", "/v1/views/llm_daily_cost?limit=5")
    daily = json.loads(body)
    assert status == 200 and daily["view"] == "llm_daily_cost"
    row = dict(zip(daily["columns"], daily["rows"][0], strict=True))
    assert (row["model"], row["calls"], row["cost_usd"]) == ("gpt-4o-mini", 3, "0.000630000000000000")
    status, _, body = request(port, "GET", "/v1/report?days=3")
    report = json.loads(body)
    assert (status, report["totals"]["calls"], report["period"]) == (200, 3, {"since": None, "until": None})
    window = report["window"]  # ?days=3: the daily table covers the last 3 days
    assert window["until"] is not None and window["since"] is not None
    status, _, body = request(port, "GET", "/v1/report?currency=eur")
    in_eur = json.loads(body)
    assert (status, in_eur["currency"], in_eur["totals"]["converted"]["cost"]) == (200, "EUR", "0.000315")
    status, _, body = request(port, "GET", "/v1/report?currency=GBP")
    assert (status, json.loads(body)["message"]) == (
        400,
        "no exchange rates for GBP (loaded: EUR); load some with: otel-llm-cost rates load FILE",
    )
    assert request(port, "GET", "/v1/views/llm_calls;DROP%20TABLE%20llm_calls")[0] == 404
    assert request(port, "GET", "/v1/views/llm_calls")[0] == 404  # a table, not a view
    status, _, body = request(port, "GET", "/v1/views/llm_daily_cost?limit=many")
    assert (status, json.loads(body)["message"]) == (400, "limit must be an integer, got 'many'")
    assert request(port, "GET", "/nowhere")[0] == 404


def test_journal_left_by_a_crash_is_committed_at_start_and_a_torn_tail_ignored(
    start: Any, db_path: str, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal")
    first, ids = encoded(chat_attributes(), chat_attributes())
    second, more_ids = encoded(chat_attributes())
    journal.append(first)
    journal.append(second)
    journal.append(first)  # a request retried: stored once
    journal.close()
    segment = next((tmp_path / "journal").iterdir())
    with segment.open("ab") as f:
        f.write(b"\x40\x00\x00\x00\x00\x00")  # a record header the crash cut short
    server = start(journal_dir=str(tmp_path / "journal"))
    assert server.replayed_at_start == 3
    assert metric(server, "otel_llm_cost_serve_journal_records_replayed_total") == 3
    assert not segment.exists()
    server.stop()
    assert [(t, s) for t, s, *_ in rows(db_path)] == sorted(ids + more_ids)


def test_forward_to_sends_every_span_on_with_its_cost(start: Any, db_path: str) -> None:
    with HTTPReceiver() as upstream:
        with mock.patch.dict(os.environ, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{upstream.endpoint}/v1/traces"}):
            server = start(forward_to="otlp_http")
        send_spans(
            HTTPSpanExporter(endpoint=f"http://127.0.0.1:{server.http_port}/v1/traces"),
            chat_attributes(),
            {"http.request.method": "GET"},
        )
        server.stop()
        received = upstream.wait_for(2)
    llm, other = sorted(received, key=lambda span: "http.request.method" in span.attributes)
    assert llm.attributes["gen_ai.usage.cost"] == float(CALL_COST)
    assert llm.resource["service.name"] == "billing"
    assert other.attributes == {"http.request.method": "GET"}  # forwarded unchanged
    assert len(rows(db_path)) == 1


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls(start: Any, db_path: str, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server = start(tls_cert=str(cert), tls_key=str(key))
    client = ssl.create_default_context(cafile=str(cert))
    status, _, _ = request(server.http_port, "GET", "/healthz", tls=client)
    assert status == 200
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        request(server.http_port, "GET", "/healthz")  # plain HTTP to the TLS port
    payload, ids = encoded(chat_attributes())
    status, _, _ = request(
        server.http_port, "POST", "/v1/traces", payload, {"Content-Type": "application/x-protobuf"}, tls=client
    )
    assert status == 200
    ids += send_spans(
        GRPCSpanExporter(
            endpoint=f"https://127.0.0.1:{server.grpc_port}",
            credentials=grpc.ssl_channel_credentials(cert.read_bytes()),
        ),
        chat_attributes(),
    )
    server.stop()
    assert [(t, s) for t, s, *_ in rows(db_path)] == sorted(ids)


class FailingStore(DuckDBStore):
    """A store whose writes fail (like a full disk) while ``failing`` is set."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.failing = True
        self.attempts = 0

    def write_batch(self, rows: Any, plans: Any = (), runs: Any = ()) -> int:
        self.attempts += 1
        if self.failing:
            raise duckdb.IOException("IO Error: No space left on device")
        return super().write_batch(rows, plans, runs)


def test_a_batch_that_cannot_be_written_is_retried_and_survives_a_stop(start: Any, db_path: str) -> None:
    failing = FailingStore(db_path)
    with mock.patch.object(server_module, "open_store", lambda path, **_: failing):
        server = start()
    first, first_ids = encoded(chat_attributes())
    assert post_traces(server.http_port, first)[0] == 200  # in the journal: acknowledged
    deadline = time.monotonic() + 10
    while failing.attempts < 2 and time.monotonic() < deadline:  # tried, then retried
        time.sleep(0.02)
    assert failing.attempts >= 2
    assert metric(server, "otel_llm_cost_serve_write_failures_total") >= 2
    failing.failing = False
    wait_written(server)
    second, second_ids = encoded(chat_attributes())
    failing.failing = True
    assert post_traces(server.http_port, second)[0] == 200
    server.stop(grace_s=5)  # cannot write it: it stays in the journal
    assert [p.suffix for p in Path(f"{db_path}.journal").iterdir()] == [".otlp"]

    restarted = start()  # a store that works: the journal is committed before anything else
    # The segment is deleted whole, so it still held the first request, which is stored once.
    assert restarted.replayed_at_start == 2
    assert metric(restarted, "otel_llm_cost_serve_spans_already_stored_total") == 1
    assert metric(restarted, "otel_llm_cost_serve_spans_stored_total") == 1
    restarted.stop()
    assert [(t, s) for t, s, *_ in rows(db_path)] == sorted(first_ids + second_ids)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--http-port", "web"], "Error: ports must be numbers or 'off'"),
        (
            ["--http-port", "off", "--grpc-port", "off"],
            "Error: both receivers are off: give either a port",
        ),
        (["--tls-cert", __file__], "Error: --tls-cert and --tls-key go together"),
    ],
)
def test_serve_command_rejects_bad_options_in_one_line(db_path: str, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["serve", "--db", db_path, *args])
    assert (result.exit_code, result.output.strip()) == (1, message)


def test_serve_command_on_a_locked_database_says_so(db_path: str) -> None:
    DuckDBStore(db_path).close()
    with lock_held_by_another_process(db_path):
        result = CliRunner().invoke(cli, ["serve", "--db", db_path, "--http-port", "0", "--grpc-port", "off"])
    assert result.exit_code == 1
    assert result.output.startswith(
        f"Error: cannot start: cannot open DuckDB file {db_path!r}: it is locked by another"
    )
