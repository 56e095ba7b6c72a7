"""The ``serve`` process: receivers in front, the journal, one writer behind, the spool on the side.

Life cycle: open the store (this process now owns the DuckDB file, or is one writer of a
DuckLake), commit what the journal holds from a previous run, load the spool, start the writer,
then the HTTP and gRPC receivers. A request is answered once it is in the journal (fsynced). On
SIGTERM or SIGINT: stop accepting connections, let the requests in flight finish, write what is
queued, empty the journal, close the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import grpc
from opentelemetry.sdk.trace import ReadableSpan

from otel_llm_cost import spool
from otel_llm_cost._catalog_update import configured_pricer
from otel_llm_cost._store_factory import open_store, read_connection
from otel_llm_cost.budget_monitor import monitor_for
from otel_llm_cost.ducklake import DuckLakeStore, redacted
from otel_llm_cost.exporter import CostExporter
from otel_llm_cost.forwarding import SpanForwarder, exporter_from_name
from otel_llm_cost.pricing import Pricer
from otel_llm_cost.processor import DEFAULT_DB_PATH
from otel_llm_cost.serve._decode import MalformedRequest, parse_protobuf, to_readable_spans
from otel_llm_cost.serve._grpc import start_grpc
from otel_llm_cost.serve._http import ReceiverHTTPServer
from otel_llm_cost.serve._journal import Journal
from otel_llm_cost.serve._pipeline import IngestPipeline, ServeCounters, export_batch, prometheus_text
from otel_llm_cost.store import StoreUnavailable

logger = logging.getLogger(__name__)


@dataclass
class ServeConfig:
    """Everything ``otel-llm-cost serve`` can be told (its options map one to one)."""

    db_path: str = DEFAULT_DB_PATH  #: the DuckDB file this server owns (unless store_spec is given)
    store_spec: str | None = None  #: ``ducklake:postgres:<dsn>``: write a DuckLake instead (many servers may)
    data_path: str | None = None  #: the DuckLake's Parquet folder (needed when the lake is created)
    host: str = "127.0.0.1"  #: interface to bind; 0.0.0.0 exposes it to the network
    http_port: int | None = 4318  #: OTLP/HTTP port (the OTLP default); None: no HTTP; 0: any free port
    grpc_port: int | None = 4317  #: OTLP/gRPC port (the OTLP default); None: no gRPC; 0: any free port
    auth_token: str | None = None  #: bearer token every request but /healthz must carry
    tls_cert: str | None = None  #: PEM certificate (chain); with tls_key, both receivers use TLS
    tls_key: str | None = None  #: PEM private key
    max_request_bytes: int = 16 * 1024 * 1024  #: largest request body, after decompression
    max_queued_spans: int = 65536  #: spans waiting for the writer before requests get 429
    max_batch_spans: int = 8192  #: most spans per DuckDB transaction
    retry_after_s: int = 1  #: Retry-After sent with 429 and 503
    journal_dir: str | None = None  #: where accepted requests wait for their commit; default: see journal_path()
    spool_dir: str | None = None  #: spool to load at start and every ingest_every_s; also where
    #: batches go when the database cannot be written
    ingest_every_s: float = 10.0
    forward_to: str | None = None  #: forward every received span, calls with their cost: otlp, otlp_http, ...
    grpc_workers: int = 8  #: gRPC handler threads
    pricer: Pricer | None = None  #: prices with this; default: the catalog in use + OTEL_LLM_COST_PRICES_FILE

    @property
    def store_name(self) -> str:
        """The store in messages: the DuckDB file, or the lake's spec without its password."""
        return redacted(self.store_spec) if self.store_spec else self.db_path

    def journal_path(self) -> Path:
        """``journal_dir``, or by default ``<db>.journal`` beside a DuckDB file. A DuckLake has no
        file to sit beside: its journal defaults to a per-user folder named after the lake,
        ``$XDG_STATE_HOME/otel-llm-cost/journal/<hash of the spec>`` (``~/.local/state/...``),
        so a server restarted with the same ``--store`` finds what a crash left."""
        if self.journal_dir:
            return Path(self.journal_dir).expanduser()
        if not self.store_spec:
            return Path(f"{self.db_path}.journal")
        state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        digest = hashlib.sha256(redacted(self.store_spec).encode()).hexdigest()[:16]
        return Path(state) / "otel-llm-cost" / "journal" / f"lake-{digest}"


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
        self.replayed_at_start = 0  # journal records (requests) committed at start
        self._http: ReceiverHTTPServer | None = None
        self._grpc: grpc.Server | None = None
        self._stopped = threading.Event()
        self._accept_lock = threading.Lock()

    def start(self) -> None:
        config = self.config
        tls = _tls_context(config)
        self._store = store = open_store(config.store_spec or config.db_path, data_path=config.data_path)
        try:
            self.journal = Journal(config.journal_path())
            forwarder = None
            if config.forward_to is not None:
                target = exporter_from_name(config.forward_to)
                forwarder = SpanForwarder(target) if target is not None else None
            # The budgets stored in the file (and OTEL_LLM_COST_BUDGETS_FILE's) alert from here too.
            self._budgets = monitor_for(None, None)
            exporter = CostExporter(
                store,
                budgets=self._budgets,
                pricer=config.pricer or configured_pricer(),
                forward_to=forwarder,
                spool=spool.SpoolWriter(config.spool_dir) if config.spool_dir else None,
            )
            self._replay_journal(exporter)
            if config.spool_dir:
                self.ingested_at_start = self._ingest_spool()
            self.pipeline = IngestPipeline(
                exporter,
                self.counters,
                committed=self.journal.release,
                max_queued_spans=config.max_queued_spans,
                max_batch_spans=config.max_batch_spans,
                idle=self._ingest_spool_now if config.spool_dir else None,
                idle_every_s=config.ingest_every_s,
            )
        except BaseException:
            if hasattr(self, "journal"):
                self.journal.close()  # and its lock: this process may start a server again
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

    def accept(self, spans: list[ReadableSpan], received: int, payload: Callable[[], bytes]) -> tuple[int, str]:
        """Journal a decoded request and queue its spans: (HTTP status, message).

        ``payload`` gives the request as OTLP protobuf bytes (what the journal keeps).
        """
        counters = self.counters
        with counters.lock:
            counters.requests += 1
            counters.spans_received += received
        if not spans:  # nothing we store (and nothing to forward): done
            return 200, ""
        data = payload()
        # One lock around the journal append and the hand-over: both keep the same order, so the
        # writer may release every segment before the newest one it committed.
        with self._accept_lock:
            if not self.pipeline.has_room(len(spans)):
                if self._stopped.is_set():
                    counters.reject("shutting_down")
                    return 503, "the server is shutting down"
                counters.reject("over_capacity")
                return 429, f"over capacity: more than {self.config.max_queued_spans} spans are waiting to be written"
            try:
                segment = self.journal.append(data)
            except OSError as exc:
                counters.reject("journal_failed")
                logger.error("cannot write the journal %s: %s", self.journal.directory, exc)
                return 503, "the request could not be saved; retry"
            self.pipeline.submit(spans, segment)
        return 200, ""

    def metrics_text(self) -> str:
        return prometheus_text(self.counters, self.pipeline.queued_spans)

    @contextlib.contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection of its own for one read request (the views answer on it), closed after."""
        con = read_connection(self._store)
        try:
            yield con
        finally:
            con.close()

    def stop(self, grace_s: float = 30.0) -> None:
        """Stop accepting, finish the requests in flight, write the queue, close the store."""
        if self._stopped.is_set() or not hasattr(self, "_store"):  # stopped already, or never started
            return
        self._stopped.set()
        grpc_done = self._grpc.stop(grace_s) if self._grpc is not None else None
        if self._http is not None:
            self._http.shutdown()  # no new connections
            self._http.server_close()  # joins the request threads: each finishes its request
        if grpc_done is not None:
            grpc_done.wait(grace_s)
        if hasattr(self, "pipeline"):
            if self.pipeline.close(grace_s):
                self.journal.release_all()
            else:
                self.journal.close()
                logger.error("%d spans not written; the journal keeps them for the next start",
                             self.pipeline.queued_spans)  # fmt: skip
        else:
            self._store.close()
        if hasattr(self, "_budgets"):
            self._budgets.shutdown(min(grace_s, 10.0))  # alerts still being delivered

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

    def _replay_journal(self, exporter: CostExporter) -> None:
        """Commit what the journal holds from the last run (a crash, or a stop that could not write)."""
        batch: list[ReadableSpan] = []
        records = 0
        for _, payload in self.journal.recover():
            try:
                batch += to_readable_spans(parse_protobuf(payload), every_span=self.forwarding)
            except MalformedRequest:  # cannot happen for what we wrote; never block the start on it
                logger.exception("skipping an unreadable journal record")
            records += 1
            if len(batch) >= self.config.max_batch_spans:
                self._write_replayed(exporter, batch)
                batch = []
        if batch:
            self._write_replayed(exporter, batch)
        self.journal.release_recovered()
        if records:
            logger.info("journal: %d requests from the last run committed", records)
        self.replayed_at_start = records
        with self.counters.lock:
            self.counters.journal_records_replayed += records

    def _write_replayed(self, exporter: CostExporter, batch: list[ReadableSpan]) -> None:
        if not export_batch(exporter, self.counters, batch):
            raise StoreUnavailable(f"cannot write the requests kept in the journal {str(self.journal.directory)!r}")

    def _ingest_spool_now(self) -> None:
        self._ingest_spool()

    def _ingest_spool(self) -> spool.IngestResult:
        assert self.config.spool_dir
        store = self._store
        result = spool.ingest_spool(store if isinstance(store, DuckLakeStore) else store.con, self.config.spool_dir)
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
