from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import duckdb
import genai_prices
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from postgres_server import PostgresServer, postgres_bindir, postgres_server

from otel_llm_cost import DuckDBStore, LLMCostSpanProcessor
from otel_llm_cost.conventions import AgentRun, CallRecord
from otel_llm_cost.pricing import Cost, RatePlan


def pytest_report_header() -> list[str]:
    return [f"duckdb {duckdb.__version__}, genai-prices {genai_prices.__version__}"]


@pytest.fixture(autouse=True)
def _clean_env() -> Iterator[None]:
    """Tests never see the developer's OTEL_LLM_COST_* settings."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_LLM_COST_")}
    # Nor a catalog the developer fetched with `prices update`: tests price with the bundled one.
    kept["OTEL_LLM_COST_CATALOG_FILE"] = os.path.join(os.devnull, "no-catalog.json")
    with mock.patch.dict(os.environ, kept, clear=True):
        yield


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "llm-cost.duckdb")


@pytest.fixture
def store() -> Iterator[DuckDBStore]:
    s = DuckDBStore(":memory:")
    yield s
    s.close()


@pytest.fixture
def traced(db_path: str) -> Iterator[tuple[TracerProvider, LLMCostSpanProcessor]]:
    """A TracerProvider with one LLMCostSpanProcessor writing to db_path; always shut down."""
    provider = TracerProvider(resource=Resource.create({"service.name": "test-svc"}))
    processor = LLMCostSpanProcessor(db_path=db_path, flush_at_exit=False)
    provider.add_span_processor(processor)
    yield provider, processor
    provider.shutdown()


def chat_attributes(**overrides: Any) -> dict[str, Any]:
    """OTel GenAI attributes of a typical chat call; keyword overrides use '__' for '.'."""
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 100,
    }
    for key, value in overrides.items():
        name = key.replace("__", ".")
        if value is None:
            attrs.pop(name, None)
        else:
            attrs[name] = value
    return attrs


def query(path: str, sql: str) -> list[tuple[Any, ...]]:
    """Run SQL on a DB file. Not read_only: DuckDB refuses a second, differently configured
    connection to a file this process already has open, and the processor may still hold it."""
    with duckdb.connect(path) as con:
        return con.execute(sql).fetchall()


class StalledStore(DuckDBStore):
    """A store whose writes wait until ``release`` is set, like a disk that does not answer.

    ``entered`` is set as soon as the worker is inside a write.
    """

    def __init__(self, path: str | os.PathLike[str] = ":memory:") -> None:
        super().__init__(path)
        self.release = threading.Event()
        self.entered = threading.Event()

    def write_batch(
        self, rows: Sequence[tuple[CallRecord, Cost]], plans: Sequence[RatePlan] = (), runs: Sequence[AgentRun] = ()
    ) -> int:
        self.entered.set()
        self.release.wait(60)
        return super().write_batch(rows, plans, runs)


@contextlib.contextmanager
def lock_held_by_another_process(path: str) -> Iterator[subprocess.Popen[str]]:
    """``path`` held open for writing by another process until the block ends (yields that process)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
         "sys.stdin.read()", path],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        yield holder
    finally:
        holder.kill()
        holder.wait(timeout=10)
        for stream in (holder.stdin, holder.stdout):
            if stream is not None:
                stream.close()


# A real PostgreSQL on 127.0.0.1 (tests/postgres_server.py) for the DuckLake tests: one server per
# test module, one new database per test.
@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    if postgres_bindir() is None and not os.environ.get("CI"):
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; .ci/run does)")
    with postgres_server() as server:
        yield server


@pytest.fixture
def lake(postgres: PostgresServer, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, str]:
    """A new, empty database on the server: (store spec, data path)."""
    name = "lake_" + request.node.name.lower().replace("[", "_").replace("]", "").replace("-", "_")[:50]
    return "ducklake:postgres:" + postgres.create_database(name), str(tmp_path / "lake-data")


# Every view the packaged schema defines, by name (tests/test_migrations.py, test_store.py, test_views.py).
VIEWS = [
    "budget_status",
    "llm_aliased_providers",
    "llm_cache_savings",
    "llm_cost_by_agent_run",
    "llm_cost_by_conversation",
    "llm_cost_by_service",
    "llm_cost_by_test",
    "llm_cost_by_trace",
    "llm_cost_by_user",
    "llm_daily_cost",
    "llm_error_cost",
    "llm_latency_by_model",
    "llm_month_to_date",
    "llm_top_calls",
    "llm_unpriced_by_model",
    "llm_unpriced_calls",
    "model_prices_current",
]
