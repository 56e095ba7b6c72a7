"""The pytest plugin when it is on: attribution, the pipeline's lifetime, the gates, xdist.

Attribution. :class:`TestIdSpanProcessor` runs first among the provider's processors and stamps
each span, as it starts, with the node id of the test running then (``otel_llm_cost.test_id``).
The id lives in a ``ContextVar`` set around each test's setup, call and teardown, so asyncio
tasks and ``asyncio.to_thread`` inherit it. Plain threads start with an empty context: for them the
span's parent (if the thread carried the OTel context over) and then a process-wide copy of the id
decide. A thread still running after its test ended is attributed to the test running then.

Processes. Without xdist one process opens the DuckDB file, prices and writes as in production,
and summarises. With xdist the controller holds the main file but runs no tests; each worker
writes ``<name>-gwN.duckdb`` beside it (DuckDB allows one writing process per file) and reports its
counters through ``workeroutput``, and the controller merges the files at the end.
"""

from __future__ import annotations

import contextvars
import logging
import tempfile
from collections.abc import Generator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider

from otel_llm_cost._dialects import MARKERS
from otel_llm_cost._pytest_summary import (
    Spend,
    Summary,
    build_summary,
    plural,
    render,
    spend_of_test,
    to_json,
    usd,
)
from otel_llm_cost.attributes import LLM_COST_TEST_ID
from otel_llm_cost.migrations import MigrationError
from otel_llm_cost.pricing import PRICE_VERSION
from otel_llm_cost.processor import LLMCostSpanProcessor
from otel_llm_cost.pytest_plugin import Settings
from otel_llm_cost.store import DuckDBStore, StoreUnavailable

__all__ = ("LLMCostMeter", "LLMCostSession", "Spend", "TestIdSpanProcessor")

logger = logging.getLogger(__name__)

_WORKER_INPUT = "otel_llm_cost_db"  # controller -> worker: the worker's file
_WORKER_OUTPUT = "otel_llm_cost"  # worker -> controller: its file and counters

_current_test: contextvars.ContextVar[str | None] = contextvars.ContextVar("otel_llm_cost_test_id", default=None)
_process_test: str | None = None  # the same id, for threads, which do not inherit the ContextVar


def _enter_test(test_id: str) -> None:
    global _process_test
    _process_test = test_id
    _current_test.set(test_id)


def _leave_test() -> None:
    global _process_test
    _process_test = None
    _current_test.set(None)


class TestIdSpanProcessor(SpanProcessor):
    """Stamps spans started during a test with its node id, and notes which tests made LLM calls."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self) -> None:
        self.active = True
        self.tests_with_calls: set[str] = set()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if not self.active:
            return
        try:  # the SDK does not catch what a processor raises: it would surface in the test
            test_id = _current_test.get()
            if test_id is None:  # a thread: its parent span's test, else the one running now
                parent = getattr(trace.get_current_span(parent_context), "attributes", None) or {}
                test_id = parent.get(LLM_COST_TEST_ID) or _process_test
            if test_id is not None:
                span.set_attribute(LLM_COST_TEST_ID, test_id)
        except Exception:
            logger.debug("could not stamp span %r with its test", getattr(span, "name", None), exc_info=True)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            attributes = span.attributes or {}
            test_id = attributes.get(LLM_COST_TEST_ID)
            if isinstance(test_id, str) and not MARKERS.isdisjoint(attributes):
                self.tests_with_calls.add(test_id)  # set.add is atomic: spans end on many threads
        except Exception:
            pass


class LLMCostMeter:
    """The ``llm_cost`` fixture: what one test's LLM calls have cost so far."""

    def __init__(self, session: LLMCostSession, test_id: str) -> None:
        self._session = session
        self.test_id = test_id

    def snapshot(self) -> Spend:
        """Calls, unpriced calls, tokens and cost so far, read in one query after writing what is queued."""
        return self._session.spend(self.test_id)

    @property
    def cost_usd(self) -> Decimal | None:
        """The priced calls' cost; ``None`` when every call is unpriced; ``Decimal(0)`` with no calls."""
        return self.snapshot().cost_usd

    @property
    def calls(self) -> int:
        return self.snapshot().calls

    @property
    def unpriced_calls(self) -> int:
        return self.snapshot().unpriced_calls

    @property
    def input_tokens(self) -> int:
        return self.snapshot().input_tokens

    @property
    def output_tokens(self) -> int:
        return self.snapshot().output_tokens

    def __repr__(self) -> str:
        return f"<LLMCostMeter {self.test_id}: {self.snapshot()}>"


class LLMCostSession:
    """The plugin's hooks and state for one pytest process (single, xdist controller or worker)."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
        self.worker_id: str | None = workerinput["workerid"] if workerinput is not None else None
        self.replace_db = False
        if workerinput is not None:
            self.path = Path(workerinput.get(_WORKER_INPUT) or _temporary_db())
            self.replace_db = True  # a worker's file is scratch: the controller merges it, then deletes it
        elif settings.db_path is not None:
            self.path = settings.db_path
        else:
            # Default: pytest's cache folder (ignored by git, cleared by --cache-clear), one run per file.
            cache = getattr(config, "cache", None)
            self.path = cache.mkdir("otel_llm_cost") / "pytest.duckdb" if cache is not None else _temporary_db()
            self.replace_db = True
        self.distributing = False  # known at session start, once xdist has set up its session
        self.store: DuckDBStore | None = None
        self.reader: duckdb.DuckDBPyConnection | None = None
        self.run_started: datetime | None = None
        self.stamper: TestIdSpanProcessor | None = None
        self.processor: LLMCostSpanProcessor | None = None
        self.worker_files: dict[str, Path] = {}
        self.worker_outputs: list[dict[str, Any]] = []
        self.over_limit: set[str] = set()
        self.summary: Summary | None = None

    # -- session start ----------------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        return [f"llm-cost: {PRICE_VERSION}, writing to {self.path}"]

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.distributing = self.worker_id is None and self.config.pluginmanager.has_plugin("dsession")
        try:
            if self.replace_db:
                for stale in (self.path, self.path.with_name(self.path.name + ".wal")):
                    stale.unlink(missing_ok=True)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.store = DuckDBStore(self.path)
        except (OSError, StoreUnavailable, MigrationError) as exc:
            raise pytest.UsageError(f"--llm-cost: {exc}; choose another file with --llm-cost-db") from exc
        # Opened now, on this thread, so a locked file stops the run here rather than dropping every
        # call later. Queries go through a cursor: the worker thread writes on the store's connection.
        self.reader = self.store.con.cursor()
        row = self.reader.execute("SELECT now()").fetchone()
        self.run_started = row[0] if row else None
        if not self.distributing:
            self._install()

    def _install(self) -> None:
        provider = trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider):  # nothing configured tracing: do it
            provider = TracerProvider()
            trace.set_tracer_provider(provider)
        add = getattr(provider, "add_span_processor", None)
        if add is None:
            raise pytest.UsageError(
                f"--llm-cost: the global tracer provider ({type(provider).__name__}) takes no span processors"
            )
        self.stamper = TestIdSpanProcessor()
        self.processor = LLMCostSpanProcessor(store=self.store, flush_at_exit=False)
        add(self.stamper)
        add(self.processor)

    # -- xdist (optional hooks: absent without pytest-xdist) --------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        worker_id = str(node.gateway.id)
        path = self.path.with_name(f"{self.path.stem}-{worker_id}{self.path.suffix or '.duckdb'}")
        self.worker_files[worker_id] = path
        node.workerinput[_WORKER_INPUT] = str(path)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT)
        if output is not None:
            self.worker_outputs.append(output)

    # -- each test --------------------------------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, None, None]:
        _enter_test(item.nodeid)
        try:
            yield
        finally:
            _leave_test()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
        outcome = yield
        limit = self.settings.max_per_test_usd
        # Checked after the call (a failure of the test) and again after teardown, whose fixtures
        # may spend too (an error in teardown), once per test.
        if limit is None or call.when == "setup" or item.nodeid in self.over_limit:
            return
        spend = self.spend(item.nodeid)
        if spend.cost_usd is None or spend.cost_usd <= limit:
            return
        self.over_limit.add(item.nodeid)
        report: pytest.TestReport = outcome.get_result()
        message = (
            f"LLM calls cost {usd(spend.cost_usd)}, over the per-test limit of {usd(limit)} "
            f"(--llm-cost-max-per-test): {plural(spend.calls, 'call')}, {spend.input_tokens:,} input and "
            f"{spend.output_tokens:,} output tokens"
        )
        if report.passed:
            report.outcome = "failed"
            report.longrepr = message
            if hasattr(report, "wasxfail"):  # an unexpected pass is still too expensive
                del report.wasxfail
        else:
            report.sections.append(("LLM cost", message))

    def meter(self, test_id: str) -> LLMCostMeter:
        return LLMCostMeter(self, test_id)

    def spend(self, test_id: str) -> Spend:
        """What a test's calls cost so far, after writing every span already ended."""
        if self.processor is None or self.reader is None or self.run_started is None:
            return Spend()
        if self.stamper is not None and test_id not in self.stamper.tests_with_calls:
            return Spend()  # no LLM span has ended in this test: skip the flush and the query
        self.processor.force_flush()
        return spend_of_test(self.reader, test_id, self.run_started)

    # -- session end ------------------------------------------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.store is None or self.reader is None or self.run_started is None:
            return
        dropped = 0
        if self.processor is not None:
            self.processor.force_flush()
            dropped = self.processor.stats().dropped
        if self.worker_id is not None:
            self._close()
            workeroutput: dict[str, Any] = getattr(self.config, "workeroutput", {})
            workeroutput[_WORKER_OUTPUT] = {"db": str(self.path), "dropped": dropped}
            return
        problems = self._merge_workers() if self.distributing else []
        dropped += sum(int(output.get("dropped", 0)) for output in self.worker_outputs)
        summary = build_summary(self.reader, self.run_started, database=str(self.path), price_version=PRICE_VERSION)
        summary.budget_usd = self.settings.budget_usd
        summary.max_per_test_usd = self.settings.max_per_test_usd
        summary.dropped_calls = dropped
        summary.problems = problems
        self.summary = summary
        self._close()
        failed = summary.gate_failure() is not None
        if self.settings.json_path is not None:
            try:
                self.settings.json_path.parent.mkdir(parents=True, exist_ok=True)
                self.settings.json_path.write_text(to_json(summary), "utf-8")
            except OSError as exc:  # CI asked for this file: a run without it fails
                summary.problems.append(f"could not write --llm-cost-json {self.settings.json_path}: {exc}")
                failed = True
        if failed and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _merge_workers(self) -> list[str]:
        assert self.store is not None
        problems = []
        for worker_id, path in sorted(self.worker_files.items()):
            if not path.exists():
                continue
            try:
                self.store.merge_from(path)
            except duckdb.Error as exc:
                problems.append(f"could not merge worker {worker_id}'s calls from {path}, kept there: {exc}")
                continue
            path.unlink()
        return problems

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.summary is not None:
            render(self.summary, terminalreporter, top=self.settings.top)

    def pytest_unconfigure(self) -> None:
        self._close()  # after an error at session start, sessionfinish does not run

    def _close(self) -> None:
        if self.stamper is not None:
            self.stamper.active = False  # a provider cannot drop a processor; this one just stops
        if self.processor is not None:
            self.processor.shutdown()  # writes what is queued, then closes the store
        if self.store is not None:
            self.store.close()
        self.processor = self.store = self.reader = None


def _temporary_db() -> Path:
    return Path(tempfile.mkdtemp(prefix="otel-llm-cost-")) / "pytest.duckdb"
