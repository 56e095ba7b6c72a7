"""OTLP/HTTP receiver (``POST /v1/traces``), ``/healthz``, ``/metrics`` and the read API.

The standard library's ``ThreadingHTTPServer`` with HTTP/1.1 keep-alive: one thread per client
connection. At OTLP batch sizes (512 spans a request) the HTTP layer is a few percent of the
work; pricing and storing dominate (see ``benchmarks/_serve.py``), so a faster server would not
change the throughput, and this one adds no dependency.
"""

from __future__ import annotations

import hmac
import json
import logging
import select
import ssl
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import duckdb
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from otel_llm_cost.serve import _reads
from otel_llm_cost.serve._decode import MalformedRequest, parse_json, parse_protobuf, span_count, to_readable_spans

if TYPE_CHECKING:
    from otel_llm_cost.serve._server import Server

logger = logging.getLogger(__name__)

_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
_KEEP_ALIVE_S = 60.0  # an idle kept-alive connection is closed after this long


class ReceiverHTTPServer(ThreadingHTTPServer):
    """Joins its request threads on close (in-flight requests finish), and runs the TLS handshake
    on the request's own thread, so a slow client cannot stall ``accept``."""

    daemon_threads = False
    block_on_close = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], server: Server, tls: ssl.SSLContext | None) -> None:
        self.receiver = server
        self.tls = tls
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        # The wrapper takes the socket over, so it is the one to close (shutdown_request would
        # close the emptied original).
        wrapped = self.tls.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        try:
            wrapped.settimeout(_Handler.timeout)
            wrapped.do_handshake()
            super().finish_request(wrapped, client_address)
        except (OSError, ssl.SSLError) as exc:
            logger.info("TLS connection from %s failed: %s", client_address[0], exc)
        finally:
            wrapped.close()

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="otel-llm-cost-serve-http", daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the OTLP exporter reuses its connection
    timeout = 15  # seconds a client may take to send a request (socket timeout): no slowloris
    # The status line and headers go out in one write and the body in another: with Nagle's
    # algorithm the second waits for the client's delayed ACK (40 ms a request on Linux).
    disable_nagle_algorithm = True
    server: ReceiverHTTPServer
    connection: socket

    def handle(self) -> None:
        # BaseHTTPRequestHandler.handle, except that between two requests on a kept-alive
        # connection it polls, so that stop() is not held up by clients that keep idle
        # connections open. (A pipelined request already read into rfile's buffer would wait;
        # OTLP exporters send one request at a time per connection.)
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection and self._next_request_arrives():
            self.handle_one_request()

    def _next_request_arrives(self) -> bool:
        deadline = time.monotonic() + _KEEP_ALIVE_S
        connection = self.connection
        while not self.server.receiver.stopping and time.monotonic() < deadline:
            if isinstance(connection, ssl.SSLSocket) and connection.pending():
                return True
            if select.select([connection], [], [], 0.25)[0]:
                return True
        return False

    def do_POST(self) -> None:
        receiver = self.server.receiver
        path = urlsplit(self.path).path
        if path != "/v1/traces":
            self._discard_body()
            self._error(404, f"no such endpoint {path!r}; OTLP traces go to POST /v1/traces")
            return
        if not self._authorized():
            return
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.isdigit():
            receiver.counters.reject("no_length")
            self._error(411, "Content-Length is required", close=True)
            return
        length = int(length_text)
        limit = receiver.config.max_request_bytes
        if length > limit:
            receiver.counters.reject("too_large")
            logger.warning("rejected a %d-byte request from %s: the limit is %d", length, self.client_address[0], limit)
            self._error(413, f"request body of {length} bytes is over the limit of {limit}", close=True)
            return
        body = self.rfile.read(length)
        try:
            body = _decoded(body, self.headers.get("Content-Encoding", "identity").strip().lower(), limit)
            content_type = self.headers.get("Content-Type", _PROTOBUF).split(";", 1)[0].strip().lower()
            if content_type == _JSON:
                request = parse_json(body)
            elif content_type == _PROTOBUF:
                request = parse_protobuf(body)
            else:
                receiver.counters.reject("unsupported_media_type")
                self._error(415, f"Content-Type must be {_PROTOBUF} or {_JSON}, got {content_type!r}")
                return
            spans = to_readable_spans(request, every_span=receiver.forwarding)
        except _TooLarge as exc:
            receiver.counters.reject("too_large")
            self._error(413, str(exc))
            return
        except MalformedRequest as exc:
            receiver.counters.reject("malformed")
            logger.warning("rejected a malformed OTLP request from %s: %s", self.client_address[0], exc)
            self._error(400, str(exc))
            return
        status, message = receiver.accept(
            spans, span_count(request), (lambda: body) if content_type == _PROTOBUF else request.SerializeToString
        )
        if status != 200:
            self._error(status, message, retry_after_s=receiver.config.retry_after_s)
            return
        if content_type == _JSON:
            self._send(200, _JSON, b"{}")
        else:
            self._send(200, _PROTOBUF, ExportTraceServiceResponse().SerializeToString())

    def do_GET(self) -> None:
        receiver = self.server.receiver
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/healthz":  # no token: load balancers and orchestrators probe it
            body = json.dumps({"status": "ok", "queued_spans": receiver.pipeline.queued_spans})
            self._send(200, _JSON, body.encode())
            return
        if not self._authorized():
            return
        try:
            if url.path == "/metrics":
                self._send(200, "text/plain; version=0.0.4", receiver.metrics_text().encode())
            elif url.path == "/v1/report":
                days = _reads.bounded_int(query.get("days"), "days", 14, 1, 3660)
                top = _reads.bounded_int(query.get("top"), "top", 10, 1, 1000)
                with receiver.reading() as con:
                    report = _reads.report_json(con, days=days, top=top, currency=query.get("currency") or None)
                    self._send(200, _JSON, report.encode())
            elif url.path == "/v1/views":
                with receiver.reading() as con:
                    self._send(200, _JSON, json.dumps(_reads.view_names(con)).encode())
            elif url.path.startswith("/v1/views/"):
                limit = _reads.bounded_int(query.get("limit"), "limit", 1000, 1, _reads.MAX_ROWS)
                name = url.path.removeprefix("/v1/views/")
                with receiver.reading() as con:
                    self._send(200, _JSON, _reads.view_json(con, name, limit=limit).encode())
            else:
                self._error(404, f"no such endpoint {url.path!r}")
        except _reads.ReadError as exc:
            self._error(exc.status, str(exc))
        except duckdb.Error as exc:
            logger.exception("read request %s failed", url.path)
            self._error(500, f"query failed: {type(exc).__name__}")

    def _authorized(self) -> bool:
        token = self.server.receiver.config.auth_token
        if not token:
            return True
        given = self.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
        self.server.receiver.counters.reject("unauthorized")
        self._discard_body()
        self._error(401, "missing or wrong bearer token", extra={"WWW-Authenticate": "Bearer"})
        return False

    def _discard_body(self) -> None:
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) <= self.server.receiver.config.max_request_bytes:
            self.rfile.read(int(length))
        else:
            self.close_connection = True

    def _error(
        self,
        status: int,
        message: str,
        *,
        close: bool = False,
        retry_after_s: int | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        headers = dict(extra or {})
        if retry_after_s is not None and status in (429, 503):
            headers["Retry-After"] = str(retry_after_s)
        if close:
            headers["Connection"] = "close"
            self.close_connection = True
        self._send(status, _JSON, json.dumps({"code": status, "message": message}).encode(), headers)

    def _send(self, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.client_address[0], format % args)


class _TooLarge(ValueError):
    pass


def _decoded(body: bytes, encoding: str, limit: int) -> bytes:
    """The body after Content-Encoding, never more than ``limit`` bytes (a gzip bomb stops there)."""
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise MalformedRequest(f"unsupported Content-Encoding {encoding!r}: use gzip, deflate or none")
    # wbits: 16+15 reads a gzip header, 15 a zlib (deflate) one.
    inflater = zlib.decompressobj(31 if encoding == "gzip" else 15)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise MalformedRequest(f"body is not valid {encoding}: {exc}") from exc
    if len(out) > limit:
        raise _TooLarge(f"decompressed body is over the limit of {limit} bytes")
    if not inflater.eof:
        raise MalformedRequest(f"body is truncated {encoding}")
    return out
