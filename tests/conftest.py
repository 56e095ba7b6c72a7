from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import duckdb
import genai_prices
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from otel_llm_cost import DuckDBStore, LLMCostSpanProcessor


def pytest_report_header() -> list[str]:
    return [f"duckdb {duckdb.__version__}, genai-prices {genai_prices.__version__}"]


@pytest.fixture(autouse=True)
def _clean_env() -> Iterator[None]:
    """Tests never see the developer's OTEL_LLM_COST_* settings."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_LLM_COST_")}
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
