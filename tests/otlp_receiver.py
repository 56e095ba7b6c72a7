"""A real OTLP trace receiver on 127.0.0.1 for the tests: OTLP/HTTP (protobuf) and OTLP/gRPC.

It decodes ``opentelemetry-proto`` requests exactly as a collector does, and can misbehave on
purpose: answer a retryable error for a while, reject, or hang. Nothing leaves the loopback
interface.

    with HTTPReceiver() as receiver:          # or GRPCReceiver()
        exporter = receiver.exporter()        # the SDK's OTLPSpanExporter pointed at it
        ...
        receiver.spans                        # every span received, decoded (ReceivedSpan)
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPSpanExporter
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan


@dataclass(frozen=True)
class Reply:
    """What the receiver does with one request."""

    kind: str = "ok"  # "ok", "error" (status below) or "hang" (until released)
    status: int = 200  # HTTP status for "error"; the gRPC code is UNAVAILABLE for 503, else INVALID_ARGUMENT
    retry_after_s: float | None = None  # Retry-After (HTTP) / google.rpc.RetryInfo (gRPC)


OK = Reply()
HANG = Reply("hang")


def unavailable_for(seconds: float, retry_after_s: float | None = None) -> Callable[[int, float], Reply]:
    """Answer 503 / UNAVAILABLE until ``seconds`` after the first request, then accept."""
    error = Reply("error", 503, retry_after_s)
    return lambda _, elapsed: error if elapsed < seconds else OK


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the collector saw it, with attributes decoded to Python values."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    start_time: int
    end_time: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str
    events: tuple[str, ...]
    status_code: int
    dropped_attributes_count: int
    proto: ProtoSpan = field(repr=False, compare=False)


def value(any_value: AnyValue) -> Any:
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(value(v) for v in any_value.array_value.values)
    if kind == "kvlist_value":
        return attributes(any_value.kvlist_value.values)
    return getattr(any_value, kind)


def attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in pairs}


def decode(request: trace_service_pb2.ExportTraceServiceRequest) -> list[ReceivedSpan]:
    out = []
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    ReceivedSpan(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        kind=span.kind,
                        start_time=span.start_time_unix_nano,
                        end_time=span.end_time_unix_nano,
                        attributes=attributes(span.attributes),
                        resource=resource,
                        scope=scope_spans.scope.name,
                        events=tuple(event.name for event in span.events),
                        status_code=span.status.code,
                        dropped_attributes_count=span.dropped_attributes_count,
                        proto=span,
                    )
                )
    return out


class _Receiver:
    def __init__(self, reply: Callable[[int, float], Reply] | None = None) -> None:
        self.reply = reply or (lambda _, __: OK)
        self.spans: list[ReceivedSpan] = []
        self.metric_names: set[str] = set()  # OTLP/HTTP /v1/metrics: the names of the metrics received
        self.replies: list[Reply] = []  # what each request got, in order
        self.released = threading.Event()  # ends every "hang"
        self._lock = threading.Lock()
        self._first_request: float | None = None

    def _next(self) -> Reply:
        with self._lock:
            now = time.monotonic()
            if self._first_request is None:
                self._first_request = now
            reply = self.reply(len(self.replies), now - self._first_request)
            self.replies.append(reply)
            return reply

    def _accept(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        with self._lock:
            self.spans.extend(decode(request))

    def by_name(self) -> dict[str, ReceivedSpan]:
        with self._lock:
            return {span.name: span for span in self.spans}

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[ReceivedSpan]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.spans) >= count:
                    return list(self.spans)
            time.sleep(0.01)
        raise AssertionError(f"received {len(self.spans)} spans, expected {count}")


class HTTPReceiver(_Receiver):
    """OTLP/HTTP: POST /v1/traces (and /v1/metrics, kept as names), application/x-protobuf, gzip
    and deflate bodies too."""

    def __enter__(self) -> HTTPReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                if self.path == "/v1/metrics":
                    request = metrics_service_pb2.ExportMetricsServiceRequest.FromString(body)
                    with receiver._lock:
                        receiver.metric_names.update(
                            metric.name
                            for rm in request.resource_metrics
                            for sm in rm.scope_metrics
                            for metric in sm.metrics
                        )
                    self._reply(metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString())
                    return
                reply = receiver._next()
                if self.path != "/v1/traces":
                    reply = Reply("error", 404)
                if reply.kind == "hang":
                    receiver.released.wait(60)
                    self.close_connection = True
                    return
                if reply.kind == "error":
                    self.send_response(reply.status)
                    if reply.retry_after_s is not None:
                        self.send_header("Retry-After", str(reply.retry_after_s))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                receiver._accept(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
                self._reply(trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

            def _reply(self, payload: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def exporter(self, **kwargs: Any) -> HTTPSpanExporter:
        return HTTPSpanExporter(endpoint=f"{self.endpoint}/v1/traces", **kwargs)

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()


class GRPCReceiver(_Receiver):
    """OTLP/gRPC: opentelemetry.proto.collector.trace.v1.TraceService/Export, insecure."""

    def __enter__(self) -> GRPCReceiver:
        receiver = self

        class Servicer(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                reply = receiver._next()
                if reply.kind == "hang":
                    receiver.released.wait(60)
                    context.abort(grpc.StatusCode.UNAVAILABLE, "released")
                if reply.kind == "error":
                    if reply.retry_after_s is not None:
                        seconds = int(reply.retry_after_s)
                        delay = Duration(seconds=seconds, nanos=int((reply.retry_after_s - seconds) * 1e9))
                        info = RetryInfo(retry_delay=delay).SerializeToString()
                        context.set_trailing_metadata((("google.rpc.retryinfo-bin", info),))
                    code = grpc.StatusCode.UNAVAILABLE if reply.status == 503 else grpc.StatusCode.INVALID_ARGUMENT
                    context.abort(code, f"test receiver: {reply.status}")
                receiver._accept(request)
                return trace_service_pb2.ExportTraceServiceResponse()

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Servicer(), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server.start()
        return self

    def exporter(self, **kwargs: Any) -> GRPCSpanExporter:
        return GRPCSpanExporter(endpoint=self.endpoint, insecure=True, **kwargs)

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self._server.stop(grace=None)
