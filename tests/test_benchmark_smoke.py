"""The benchmark harness runs end to end (tiny N) and produces every figure.

No timing is asserted here: a test machine's speed says nothing. What must hold on any machine is
asserted: every figure and target is present, and where the harness claims identity (Pricer vs
genai-prices totals, the same rows whichever way they were inserted, no span lost) it holds.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
_MODULE = "otel_llm_cost_benchmarks_run"


@pytest.fixture(scope="module")
def harness() -> Iterator[ModuleType]:
    """benchmarks/run.py, imported as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location(_MODULE, BENCHMARKS / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE] = module  # dataclasses look their module up here
    try:
        spec.loader.exec_module(module)  # it puts benchmarks/ on sys.path for its _helpers
        yield module
    finally:
        sys.modules.pop(_MODULE, None)
        if str(BENCHMARKS) in sys.path:
            sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def smoke_run(harness: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], str]:
    output = tmp_path_factory.mktemp("bench") / "latest.json"
    capture = tmp_path_factory.mktemp("bench-out") / "stdout.txt"
    real_stdout = sys.stdout
    with capture.open("w") as sys.stdout:
        try:
            status = harness.main(["--smoke", "--output", str(output)])
        finally:
            sys.stdout = real_stdout
    return status, json.loads(output.read_text()), capture.read_text()


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_smoke_run_passes_every_correctness_check(smoke_run: tuple[int, dict[str, Any], str]) -> None:
    status, results, _ = smoke_run
    failed = [check for check in results["checks"] if not check["ok"]]
    assert failed == []
    assert status == 0
    assert results["meta"]["run"] == "smoke"


def test_every_figure_is_measured(smoke_run: tuple[int, dict[str, Any], str]) -> None:
    _, results, _ = smoke_run
    figures = results["figures"]
    for key in ("span_end_llm", "span_end_http"):
        assert set(figures[key]) == {"isolated", "defaults"}
        for result in figures[key].values():
            for name in ("baseline", "candidate"):
                for field in ("ns_per_op", "p50_ns", "p99_ns"):
                    assert _positive(result[f"{name}_{field}"]), (key, name, field)
            assert _positive(result["ratio"]["median"])
            assert len(result["ratio"]["rounds"]) == result["rounds"]
    ingest = figures["ingest"]
    for field in ("export_spans_per_s", "write_batch_rows_per_s", "arrow_rows_per_s", "executemany_rows_per_s"):
        assert _positive(ingest[field]), field
    assert _positive(ingest["export_vs_executemany"]["median"])
    assert _positive(ingest["processor_spans_per_s"])
    stages = ingest["stages_us_per_span"]
    assert set(stages) == {"to_call_record", "price", "calls_to_arrow", "duckdb_insert", "rest"}
    assert all(_positive(stages[name]) for name in ("to_call_record", "price", "calls_to_arrow"))
    assert _positive(figures["lookalike_scaling"]["large_vs_small"]["median"])
    pricing = figures["pricing"]
    assert _positive(pricing["pricer_us_per_span"]) and _positive(pricing["calc_price_us_per_span"])
    assert _positive(pricing["speedup"]["median"])


def test_every_target_is_evaluated(harness: ModuleType, smoke_run: tuple[int, dict[str, Any], str]) -> None:
    _, results, table = smoke_run
    assert [t["target"] for t in results["targets"]] == [target[4] for target in harness.TARGETS]
    for target in results["targets"]:
        assert _positive(target["value"]) and isinstance(target["met"], bool)
        assert target["target"] in table
    for label in ("1. span.end() LLM span", "2. span.end() HTTP span", "3. ingest", "4. pricing", "correctness"):
        assert label in table


def test_identity_where_identity_is_claimed(smoke_run: tuple[int, dict[str, Any], str]) -> None:
    _, results, _ = smoke_run
    pricing = results["figures"]["pricing"]["identity"]
    assert pricing["inputs"] > 0 and pricing["mismatches"] == 0, pricing["examples"]
    assert results["figures"]["pricing"]["distinct_models"] >= 20
    ingest = results["figures"]["ingest"]
    assert set(ingest["identity"]) == {
        "executemany_vs_write_batch",
        "export_vs_write_batch",
        "processor_vs_write_batch",
    }
    for name, diff in ingest["identity"].items():
        assert diff == {**diff, "only_in_reference": 0, "only_in_other": 0}, name
    assert ingest["identity"]["executemany_vs_write_batch"]["rows"] == ingest["baseline_rows"]
    assert ingest["identity"]["export_vs_write_batch"]["rows"] == ingest["spans"]
    assert set(ingest["stored"].values()) == {ingest["spans"]}
    for key in ("span_end_llm", "span_end_http"):
        for result in results["figures"][key].values():
            assert result["baseline_dropped"] == 0 and result["candidate_dropped"] == 0
            assert result["candidate_stored"] == result["candidate_expected_stored"]
    assert results["figures"]["span_end_llm"]["isolated"]["candidate_stored"] > 0


def test_a_pricing_mismatch_fails_the_run(harness: ModuleType, smoke_run: tuple[int, dict[str, Any], str]) -> None:
    _, results, _ = smoke_run
    figures = copy.deepcopy(results["figures"])
    figures["pricing"]["identity"]["mismatches"] = 1
    figures["ingest"]["identity"]["export_vs_write_batch"]["only_in_other"] = 2
    failed = {check["check"] for check in harness.correctness_checks(figures) if not check["ok"]}
    assert failed == {
        "pricing: Pricer total == calc_price total (Decimal) for every input",
        "ingest: identical rows, export_vs_write_batch",
    }
