"""Environment variables: argument > environment > default; garbage is logged and ignored."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from unittest import mock

import pytest

from otel_llm_cost import LLMCostSpanProcessor
from otel_llm_cost.processor import DEFAULT_DB_PATH


def make(**kwargs: object) -> LLMCostSpanProcessor:
    processor = LLMCostSpanProcessor(flush_at_exit=False, **kwargs)  # type: ignore[arg-type]
    processor.shutdown()
    return processor


def test_defaults() -> None:
    processor = make()
    assert processor.db_path == DEFAULT_DB_PATH
    assert (processor._max_queue_size, processor._max_batch_size, processor._delay_s) == (8192, 4096, 1.0)


def test_environment_is_used_when_no_argument_is_given(tmp_path: Path) -> None:
    env = {
        "OTEL_LLM_COST_DB": str(tmp_path / "env.duckdb"),
        "OTEL_LLM_COST_MAX_QUEUE_SIZE": "100",
        "OTEL_LLM_COST_MAX_BATCH_SIZE": "10",
        "OTEL_LLM_COST_SCHEDULE_DELAY_MILLIS": "250",
    }
    with mock.patch.dict(os.environ, env):
        processor = make()
        assert processor.db_path == str(tmp_path / "env.duckdb")
        assert (processor._max_queue_size, processor._max_batch_size, processor._delay_s) == (100, 10, 0.25)
        # an explicit argument beats the environment
        assert make(db_path="arg.duckdb", max_queue_size=7).db_path == "arg.duckdb"
        assert make(max_queue_size=7)._max_queue_size == 7


@pytest.mark.parametrize("garbage", ["many", "-3", "0", "1.5", "1e3"])
def test_garbage_environment_values_are_logged_and_ignored(garbage: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with mock.patch.dict(os.environ, {"OTEL_LLM_COST_MAX_QUEUE_SIZE": garbage}):
        assert make()._max_queue_size == 8192
    assert [r.getMessage() for r in caplog.records] == [
        f"ignoring OTEL_LLM_COST_MAX_QUEUE_SIZE={garbage!r}: not a positive integer; using 8192"
    ]


def test_empty_values_count_as_unset() -> None:
    with mock.patch.dict(os.environ, {"OTEL_LLM_COST_DB": "", "OTEL_LLM_COST_MAX_QUEUE_SIZE": " "}):
        processor = make()
    assert (processor.db_path, processor._max_queue_size) == (DEFAULT_DB_PATH, 8192)
