"""The ``serve`` process: receivers in front, one writer behind, the spool on the side.

Life cycle: open the store (this process now owns the DuckDB file), load the spool once, start the
writer, then the HTTP and gRPC receivers. On SIGTERM or SIGINT: stop accepting connections, let
the requests in flight finish (each waits for its commit), write what is queued, close the store.
"""

from __future__ import annotations

import logging
import signal
import ssl
import threading
from dataclasses import dataclass
from typing import Any

import duckdb
import grpc
from opentelemetry.sdk.trace import ReadableSpan

from otel_llm_cost import spool
from otel_llm_cost.exporter import CostExporter
from otel_llm_cost.forwarding import SpanForwarder, exporter_from_name
from otel_llm_cost.processor import DEFAULT_DB_PATH
from otel_llm_cost.serve._grpc import start_grpc
from otel_llm_cost.serve._http import ReceiverHTTPServer
from otel_llm_cost.serve._pipeline import IngestPipeline, ServeCounters, prometheus_text
from otel_llm_cost.store import DuckDBStore

logger = logging.getLogger(__name__)


@dataclass
class ServeConfig:
    """Everything ``otel-llm-cost serve`` can be told (its options map one to one)."""

    db_path: str = DEFAULT_DB_PATH  #: the DuckDB file this server owns
    host: str = "127.0.0.1"  #: interface to bind; 0.0.0.0 exposes it to the network
    http_port: int | None = 4318  #: OTLP/HTTP port (the OTLP default); None: no HTTP; 0: any free port
    grpc_port: int | None = 4317  #: OTLP/gRPC port (the OTLP default); None: no gRPC; 0: any free port
    auth_token: str | None = None  #: bearer token every request but /healthz must carry
    tls_cert: str | None = None  #: PEM certificate (chain); with tls_key, both receivers use TLS
    tls_key: str | None = None  #: PEM private key
    max_request_bytes: int = 16 * 1024 * 1024  #: largest request body, after decompression
    max_queued_spans: int = 65536  #: spans waiting for the writer before requests get 429
    max_batch_spans: int = 8192  #: most spans per DuckDB transaction
    ack_timeout_s: float = 30.0  #: longest a request waits for its commit before a 503
    retry_after_s: int = 1  #: Retry-After sent with 429 and 503
    spool_dir: str | None = None  #: spool to load at start and every ingest_every_s; also where
    #: batches go when the database cannot be written
    ingest_every_s: float = 10.0
    forward_to: str | None = None  #: forward every received span, calls with their cost: otlp, otlp_http, ...
    grpc_workers: int = 8  #: gRPC handler threads


def open_store(db_path: str) -> DuckDBStore:
    """The one place ``serve`` opens its store (the seam for other backends)."""
    return DuckDBStore(db_path)


class Server:
    """An OTLP receiver that prices and stores what it receives. ``start()``, then ``stop()``.

    Raises (from ``start``):
        StoreUnavailable: the database cannot be opened for writing (locked, missing folder...).
        OSError: a port cannot be bound, or the TLS files cannot be read.
    """

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.counters = ServeCounters()
        self.forwarding = config.forward_to is not None
        self.http_port: int | None = None
        self.grpc_port: int | None = None
        self.ingested_at_start: spool.IngestResult | None = None
        self._http: ReceiverHTTPServer | None = None
        self._grpc: grpc.Server | None = None
        self._stopped = threading.Event()

    def start(self) -> None:
        config = self.config
        tls = _tls_context(config)
        self._store = store = open_store(config.db_path)
        try:
            if config.spool_dir:
                self.ingested_at_start = self._ingest_spool()
            forwarder = None
            if config.forward_to is not None:
                target = exporter_from_name(config.forward_to)
                forwarder = SpanForwarder(target) if target is not None else None
            exporter = CostExporter(
                store, forward_to=forwarder, spool=spool.SpoolWriter(config.spool_dir) if config.spool_dir else None
            )
            self.pipeline = IngestPipeline(
                exporter,
                self.counters,
                max_queued_spans=config.max_queued_spans,
                max_batch_spans=config.max_batch_spans,
                idle=self._ingest_spool_now if config.spool_dir else None,
                idle_every_s=config.ingest_every_s,
            )
        except BaseException:
            store.close()
            raise
        try:
            if config.http_port is not None:
                self._http = ReceiverHTTPServer((config.host, config.http_port), self, tls)
                self.http_port = self._http.server_address[1]
                self._http.serve_in_thread()
            if config.grpc_port is not None:
                self._grpc, self.grpc_port = start_grpc(self, f"{config.host}:{config.grpc_port}")
        except BaseException:
            self.stop()
            raise

    def accept(self, spans: list[ReadableSpan], received: int) -> tuple[int, str]:
        """Queue a decoded request and wait for its commit: (HTTP status, message)."""
        counters = self.counters
        with counters.lock:
            counters.requests += 1
            counters.spans_received += received
        if not spans:  # nothing we store (and nothing to forward): done
            return 200, ""
        ticket = self.pipeline.submit(spans)
        if ticket is None:
            if self._stopped.is_set():
                counters.reject("shutting_down")
                return 503, "the server is shutting down"
            counters.reject("over_capacity")
            return 429, f"over capacity: more than {self.config.max_queued_spans} spans are waiting to be written"
        if not ticket.wait(self.config.ack_timeout_s):
            counters.reject("not_stored")
            return 503, "the spans could not be stored yet; retry"
        return 200, ""

    def metrics_text(self) -> str:
        return prometheus_text(self.counters, self.pipeline.queued_spans)

    def store_connection(self) -> duckdb.DuckDBPyConnection:
        return self._store.con

    def stop(self, grace_s: float = 30.0) -> None:
        """Stop accepting, finish the requests in flight, write the queue, close the store."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        grpc_done = self._grpc.stop(grace_s) if self._grpc is not None else None
        if self._http is not None:
            self._http.shutdown()  # no new connections
            self._http.server_close()  # joins the request threads: each finishes its request
        if grpc_done is not None:
            grpc_done.wait(grace_s)
        if hasattr(self, "pipeline"):
            if not self.pipeline.close(grace_s):
                logger.error("the writer did not finish within %.0f s; %d spans not written", grace_s,
                             self.pipeline.queued_spans)  # fmt: skip
        else:
            self._store.close()

    def serve_until_signalled(self) -> None:
        """Block until SIGTERM or SIGINT, then :meth:`stop`. Call from the main thread."""
        signalled = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            logger.info("received %s; stopping", signal.Signals(signum).name)
            signalled.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not signalled.wait(0.5):
                pass
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        self.stop()

    @property
    def stopping(self) -> bool:
        return self._stopped.is_set()

    def _ingest_spool_now(self) -> None:
        self._ingest_spool()

    def _ingest_spool(self) -> spool.IngestResult:
        assert self.config.spool_dir
        result = spool.ingest_spool(self._store.con, self.config.spool_dir)
        if result.batches or result.failed:
            logger.info("spool %s: %d batches loaded, %d new calls, %d failed", self.config.spool_dir,
                        result.batches, result.calls_inserted, len(result.failed))  # fmt: skip
        with self.counters.lock:
            self.counters.spool_batches_ingested += result.batches
        return result


def _tls_context(config: ServeConfig) -> ssl.SSLContext | None:
    if not (config.tls_cert or config.tls_key):
        return None
    if not (config.tls_cert and config.tls_key):
        raise ValueError("TLS needs both a certificate and a key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.tls_cert, config.tls_key)
    return context
