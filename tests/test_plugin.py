"""The pytest plugin, driven through pytester the way pytest-randomly's tests drive theirs.

An inner suite makes fake LLM calls: spans with GenAI usage attributes, through the real OTel SDK,
from the test itself, a thread, asyncio tasks and a fixture's teardown. Runs that enable the plugin
go through ``runpytest_subprocess``: the plugin sets the process's global tracer provider, which
can be set once per process. Prices are genai-prices' for gpt-4o-mini ($0.15 / $0.60 per million
input / output tokens) and gpt-4o ($2.50 / $10), so 1,000 + 100 tokens cost $0.00021 and $0.0035.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import duckdb
import pytest
from opentelemetry import context, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm_cost import _pytest_session
from otel_llm_cost._pytest_summary import Spend, Summary
from otel_llm_cost.attributes import LLM_COST_TEST_ID
from otel_llm_cost.conventions import to_call_record
from otel_llm_cost.pricing import PRICE_VERSION
from otel_llm_cost.store import DuckDBStore

pytest_plugins = ["pytester"]

CONFTEST = """
from __future__ import annotations

import pytest
from opentelemetry import trace


def call(model="gpt-4o-mini", input_tokens=1000, output_tokens=100):
    tracer = trace.get_tracer("fake-llm")
    attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": model}
    with tracer.start_as_current_span(f"chat {model}", attributes=attributes) as span:
        span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", output_tokens)


@pytest.fixture
def expensive_teardown():
    yield
    call(model="gpt-4o")
"""

SUITE = """
from __future__ import annotations

import asyncio
import threading
from decimal import Decimal

from conftest import call


def test_one():
    call()


def test_three(llm_cost):
    assert (llm_cost.calls, llm_cost.cost_usd) == (0, Decimal(0))
    call()
    call()
    call(model="gpt-4o")
    snapshot = llm_cost.snapshot()
    assert (snapshot.calls, snapshot.input_tokens, snapshot.output_tokens) == (3, 3000, 300)
    assert snapshot.cost_usd == Decimal("0.00392")


def test_in_a_thread():
    thread = threading.Thread(target=call)
    thread.start()
    thread.join()


def test_in_asyncio_tasks():
    async def in_a_task():
        await asyncio.sleep(0)
        call()

    async def main():
        await asyncio.gather(asyncio.to_thread(call), asyncio.create_task(in_a_task()))
        call(model="mystery-model-1")

    asyncio.run(main())


def test_teardown_spends(expensive_teardown):
    pass


def test_no_calls():
    pass
"""

INI = "[pytest]\nfilterwarnings = error\n"

# Per test: calls, unpriced calls, input and output tokens, cost (None: every call unpriced).
COSTS = {
    "test_suite.py::test_three": (3, 0, 3000, 300, Decimal("0.00392")),
    "test_suite.py::test_teardown_spends": (1, 0, 1000, 100, Decimal("0.0035")),
    "test_suite.py::test_in_asyncio_tasks": (3, 1, 3000, 300, Decimal("0.00042")),
    "test_suite.py::test_in_a_thread": (1, 0, 1000, 100, Decimal("0.00021")),
    "test_suite.py::test_one": (1, 0, 1000, 100, Decimal("0.00021")),
}
SUMMARY = [
    "9 LLM calls in 5 tests cost $0.00826, plus 1 unpriced call (prices: {version})",
    "",
    "tests:",
    "      cost  calls  unpriced  input  output  test",
    "  $0.00392      3         0  3,000     300  test_suite.py::test_three",
    "   $0.0035      1         0  1,000     100  test_suite.py::test_teardown_spends",
    "  $0.00042      3         1  3,000     300  test_suite.py::test_in_asyncio_tasks",
    "  $0.00021      1         0  1,000     100  test_suite.py::test_in_a_thread",
    "  $0.00021      1         0  1,000     100  test_suite.py::test_one",
    "",
    "by model:",
    "      cost  calls  unpriced  input  output  model",
    "    $0.007      2         0  2,000     200  gpt-4o",
    "  $0.00126      6         0  6,000     600  gpt-4o-mini",
    "       n/a      1         1  1,000     100  mystery-model-1",
    "",
    "unpriced calls (cost unknown, not counted as $0):",
    "  calls  input  output  status         model",
    "      1  1,000     100  unknown_model  mystery-model-1",
    "",
    "database: {database} (per test: SELECT * FROM llm_cost_by_test)",
]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def default_db(pytester: pytest.Pytester) -> Path:
    return pytester.path / ".pytest_cache" / "d" / "otel_llm_cost" / "pytest.duckdb"


def summary_lines(result: pytest.RunResult) -> list[str]:
    """The lines of the LLM cost section, from the one after its title to the line naming the database."""
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"=+ LLM cost =+", line))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("database: "))
    return lines[start + 1 : end + 1]


def by_test(path: Path) -> dict[str, tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "SELECT test_id, calls, unpriced_calls, input_tokens, output_tokens, cost_usd FROM llm_cost_by_test"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


# --- one process -------------------------------------------------------------------------------


def test_every_test_is_priced_in_the_summary_and_the_database(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("--llm-cost")
    result.assert_outcomes(passed=6)
    database = default_db(suite)
    expected = [line.format(version=PRICE_VERSION, database=database) for line in SUMMARY]
    assert summary_lines(result) == expected
    assert by_test(database) == COSTS
    # The thread and the to_thread call had no test context of their own, yet are attributed.


def test_the_json_output_is_exact(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("--llm-cost-json", "reports/llm-cost.json", "--llm-cost-budget", "$1")
    result.assert_outcomes(passed=6)
    document = json.loads((suite.path / "reports" / "llm-cost.json").read_text())

    def spend(calls: int, unpriced: int, input_tokens: int, output_tokens: int, cost: str | None) -> dict[str, Any]:
        return {"calls": calls, "unpriced_calls": unpriced, "input_tokens": input_tokens,
                "output_tokens": output_tokens, "cost_usd": cost}  # fmt: skip

    assert document == {
        "database": str(default_db(suite)),
        "price_version": PRICE_VERSION,
        **spend(9, 1, 9000, 900, "0.00826"),
        "dropped_calls": 0,
        "budget_usd": "1",
        "over_budget": False,
        "max_per_test_usd": None,
        "tests": [
            {"test_id": name, **spend(*values[:4], str(values[4])), "over_limit": False}
            for name, values in COSTS.items()
        ],
        "models": [
            {"model": "gpt-4o", **spend(2, 0, 2000, 200, "0.007")},
            {"model": "gpt-4o-mini", **spend(6, 0, 6000, 600, "0.00126")},
            {"model": "mystery-model-1", **spend(1, 1, 1000, 100, None)},
        ],
        "unpriced": [
            {
                "model": "mystery-model-1",
                "pricing_status": "unknown_model",
                "calls": 1,
                "input_tokens": 1000,
                "output_tokens": 100,
            },
        ],
        "problems": [],
    }


def test_over_budget_fails_the_session_and_under_passes(suite: pytest.Pytester) -> None:
    over = suite.runpytest_subprocess("--llm-cost-budget", "0.008")
    over.assert_outcomes(passed=6)
    assert over.ret == pytest.ExitCode.TESTS_FAILED
    over.stdout.fnmatch_lines(
        ["LLM cost budget exceeded: this run's calls cost $0.00826, over the budget of $0.008 (--llm-cost-budget)"]
    )
    under = suite.runpytest_subprocess("--llm-cost-budget", "0.00826")  # equal is within
    assert under.ret == pytest.ExitCode.OK
    under.stdout.fnmatch_lines(["budget $0.00826: within (spent $0.00826)"])


def test_tests_over_the_per_test_limit_fail(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("--llm-cost-max-per-test", "0.001")
    # test_three spends in its call: it fails. test_teardown_spends spends in a fixture's teardown:
    # its call passed, so the teardown reports the error.
    result.assert_outcomes(passed=5, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_teardown_spends _*",
            "LLM calls cost $0.0035, over the per-test limit of $0.001 (--llm-cost-max-per-test): 1 call, 1,000 input"
            " and 100 output tokens",
            "*_ test_three _*",
            "LLM calls cost $0.00392, over the per-test limit of $0.001 (--llm-cost-max-per-test): 3 calls, 3,000"
            " input and 300 output tokens",
        ]
    )
    assert "  $0.00392      3         0  3,000     300  test_suite.py::test_three  OVER LIMIT" in result.stdout.lines
    result.stdout.fnmatch_lines(["per-test limit $0.001: 2 over"])


def test_a_named_database_keeps_every_run_and_the_summary_counts_this_one(suite: pytest.Pytester) -> None:
    for _ in range(2):
        result = suite.runpytest_subprocess("--llm-cost-db", "costs/history.duckdb", "-k", "test_one")
        result.assert_outcomes(passed=1, deselected=5)
        result.stdout.fnmatch_lines(["1 LLM call in 1 test cost $0.00021 (prices: *)"])
    assert by_test(suite.path / "costs" / "history.duckdb") == {
        "test_suite.py::test_one": (2, 0, 2000, 200, Decimal("0.00042"))
    }


def test_the_default_database_holds_the_last_run(suite: pytest.Pytester) -> None:
    suite.runpytest_subprocess("--llm-cost", "-k", "test_three").assert_outcomes(passed=1, deselected=5)
    suite.runpytest_subprocess("--llm-cost", "-k", "test_one").assert_outcomes(passed=1, deselected=5)
    assert by_test(default_db(suite)) == {"test_suite.py::test_one": COSTS["test_suite.py::test_one"]}


def test_a_tracer_provider_the_suite_set_up_gets_the_processors(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makeconftest(
        CONFTEST
        + """
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

PROVIDER = TracerProvider()
EXPORTER = InMemorySpanExporter()
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))
trace.set_tracer_provider(PROVIDER)
"""
    )
    pytester.makepyfile(
        test_mine="""
        from opentelemetry import trace
        from conftest import EXPORTER, PROVIDER, call

        def test_spans_reach_both(llm_cost):
            assert trace.get_tracer_provider() is PROVIDER
            call()
            [span] = EXPORTER.get_finished_spans()
            assert span.attributes["otel_llm_cost.test_id"] == "test_mine.py::test_spans_reach_both"
            assert llm_cost.calls == 1
        """
    )
    pytester.runpytest_subprocess("--llm-cost").assert_outcomes(passed=1)


def test_a_locked_database_stops_the_run_at_once(suite: pytest.Pytester) -> None:
    path = suite.path / "locked.duckdb"
    with duckdb.connect(str(path)):  # this process holds DuckDB's write lock
        result = suite.runpytest_subprocess("--llm-cost-db", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --llm-cost: cannot open DuckDB file *: it is locked by another process*"])


# --- xdist -------------------------------------------------------------------------------------


def test_xdist_workers_files_are_merged(suite: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    result = suite.runpytest_subprocess("-n", "2", "--llm-cost-json", "costs.json")
    result.assert_outcomes(passed=6)
    database = default_db(suite)
    assert summary_lines(result) == [line.format(version=PRICE_VERSION, database=database) for line in SUMMARY]
    assert by_test(database) == COSTS
    with duckdb.connect(str(database), read_only=True) as con:
        # Both workers priced gpt-4o-mini; the merge keeps one copy of its rates.
        assert con.execute(
            "SELECT model_id FROM model_prices WHERE price_id IN (SELECT price_id FROM llm_calls) ORDER BY 1"
        ).fetchall() == [("gpt-4o",), ("gpt-4o-mini",)]
    assert sorted(p.name for p in database.parent.iterdir()) == ["pytest.duckdb"]  # workers' files are gone
    assert json.loads((suite.path / "costs.json").read_text())["cost_usd"] == "0.00826"


def test_xdist_budget_gate_runs_on_the_merged_total(suite: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    result = suite.runpytest_subprocess("-n", "2", "--llm-cost-budget", "0.008", "--llm-cost-max-per-test", "0.001")
    result.assert_outcomes(passed=5, failed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["LLM cost budget exceeded: this run's calls cost $0.00826, *"])


# --- off ---------------------------------------------------------------------------------------


def test_the_plugin_does_nothing_when_off(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_off="""
        import sys
        from opentelemetry import trace

        def test_nothing_installed(pytestconfig):
            assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
            assert pytestconfig.pluginmanager.get_plugin("otel-llm-cost-session") is None
            assert pytestconfig.pluginmanager.get_plugin("otel_llm_cost.pytest_plugin") is not None
            assert "otel_llm_cost._pytest_session" not in sys.modules
            assert "duckdb" not in sys.modules
        """
    )
    result = suite.runpytest_subprocess("-rs")
    # test_three asks for llm_cost, which skips when the plugin is off.
    result.assert_outcomes(passed=6, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED * the llm_cost fixture measures LLM calls only when the plugin is on *"])
    result.stdout.no_fnmatch_line("*LLM cost*=*")
    assert not list(suite.path.rglob("*.duckdb"))
    assert not (suite.path / ".pytest_cache" / "d" / "otel_llm_cost").exists()


def test_no_llm_cost_overrides_the_ini_file(suite: pytest.Pytester) -> None:
    suite.makeini(INI + "llm_cost = true\nllm_cost_budget = 0.000001\n")
    result = suite.runpytest_subprocess("--no-llm-cost", "-k", "test_one")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*LLM cost*=*")


def test_the_ini_file_can_turn_it_on(suite: pytest.Pytester) -> None:
    suite.makeini(INI + "llm_cost = true\nllm_cost_budget = 0.0001\n")
    result = suite.runpytest_subprocess("-k", "test_one")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["LLM cost budget exceeded: * $0.00021, over the budget of $0.0001 *"])


def test_importing_the_plugin_imports_nothing_heavy() -> None:
    # pytest imports it in every project that installs otel-llm-cost, enabled or not; the package's
    # own names are imported on first use, so this is all it costs beyond pytest itself.
    code = (
        "import sys, otel_llm_cost.pytest_plugin\n"
        "heavy = {'duckdb', 'pyarrow', 'genai_prices', 'opentelemetry.sdk.trace', 'otel_llm_cost._pytest_session'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_entry_point_names_the_module() -> None:
    # Named after the module: `-p otel_llm_cost.pytest_plugin` must not register it a second time.
    [entry] = [ep for ep in entry_points(group="pytest11") if ep.value == "otel_llm_cost.pytest_plugin"]
    assert entry.name == "otel_llm_cost.pytest_plugin"


# --- options (in process: a usage error stops pytest before the plugin touches anything) -------


def test_options_are_documented_in_their_own_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "LLM cost (otel-llm-cost):",
            "  --llm-cost *Price the LLM calls each test makes*",
            "  --no-llm-cost *",
            "  --llm-cost-db=PATH*",
            "  --llm-cost-budget=USD*",
            "  --llm-cost-max-per-test=USD*",
            "  --llm-cost-json=PATH*",
            "  --llm-cost-top=N*",
        ]
    )
    result.stdout.fnmatch_lines(["  llm_cost (bool):*", "  llm_cost_budget (string):*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--llm-cost-budget", "ten"], "--llm-cost-budget: 'ten' is not an amount in USD (for example 0.50)"),
        (["--llm-cost-budget", "-1"], "--llm-cost-budget: '-1' is not an amount in USD (for example 0.50)"),
        (["--llm-cost-max-per-test", "NaN"], "--llm-cost-max-per-test: 'NaN' is not an amount in USD *"),
        (["--llm-cost-top", "many"], "--llm-cost-top: 'many' is not a whole number of tests (0 lists them all)"),
    ],
)
def test_malformed_options_are_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


def test_a_malformed_ini_value_names_the_ini_option(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nllm_cost = true\nllm_cost_max_per_test = lots\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: ini option llm_cost_max_per_test: 'lots' is not an amount in USD *"])


# --- attribution, in process, on a provider of the test's own ----------------------------------


@pytest.fixture
def stamped() -> Iterator[tuple[trace.Tracer, InMemorySpanExporter]]:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(_pytest_session.TestIdSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # Start from no test, and put back what was current: this very run may be under --llm-cost.
    running = _pytest_session._current_test.get(), _pytest_session._process_test
    _pytest_session._leave_test()
    yield provider.get_tracer("t"), exporter
    _pytest_session._leave_test()
    if running[0] is not None:
        _pytest_session._enter_test(running[0])
    _pytest_session._process_test = running[1]
    provider.shutdown()


def stamps(exporter: InMemorySpanExporter) -> dict[str, object]:
    return {span.name: (span.attributes or {}).get(LLM_COST_TEST_ID) for span in exporter.get_finished_spans()}


def test_spans_outside_tests_are_not_stamped(stamped: tuple[trace.Tracer, InMemorySpanExporter]) -> None:
    tracer, exporter = stamped
    tracer.start_span("collection").end()
    assert stamps(exporter) == {"collection": None}


def test_the_context_wins_over_the_process_wide_id(stamped: tuple[trace.Tracer, InMemorySpanExporter]) -> None:
    tracer, exporter = stamped
    _pytest_session._enter_test("t.py::test_a")
    # A context copied while test_a ran (an asyncio task created then), read after test_b started:
    # its spans are test_a's, though the process-wide id now says test_b.
    task_context = __import__("contextvars").copy_context()
    _pytest_session._enter_test("t.py::test_b")
    task_context.run(lambda: tracer.start_span("task of a").end())
    tracer.start_span("b").end()
    assert stamps(exporter) == {"task of a": "t.py::test_a", "b": "t.py::test_b"}


def test_threads_take_their_parent_span_s_test_else_the_running_one(
    stamped: tuple[trace.Tracer, InMemorySpanExporter],
) -> None:
    tracer, exporter = stamped
    _pytest_session._enter_test("t.py::test_a")
    with tracer.start_as_current_span("parent in a"):
        carried = context.get_current()
    _pytest_session._enter_test("t.py::test_b")

    def work() -> None:  # a plain thread: no ContextVar of ours, no OTel context unless carried over
        tracer.start_span("thread, context carried", context=carried).end()
        tracer.start_span("thread, bare").end()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert stamps(exporter) == {
        "parent in a": "t.py::test_a",
        "thread, context carried": "t.py::test_a",
        "thread, bare": "t.py::test_b",
    }


def test_the_test_id_is_read_whole_into_the_record(stamped: tuple[trace.Tracer, InMemorySpanExporter]) -> None:
    tracer, exporter = stamped
    long_id = "tests/test_chat.py::test_reply[" + "x" * 600 + "]"  # other labels are cut at 512
    _pytest_session._enter_test(long_id)
    tracer.start_span("chat", attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}).end()
    [span] = exporter.get_finished_spans()
    record = to_call_record(span)
    assert record is not None and record.test_id == long_id


# --- the summary's gate ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cost", "dropped", "failure"),
    [
        ("0.5", 0, None),
        ("1", 0, None),
        ("1.000000000000000001", 0, "LLM cost budget exceeded: this run's calls cost $1.000000000000000001, over *"),
        # Calls that never reached the file make the total short: the gate cannot pass.
        ("0.5", 3, "LLM cost budget not verified: 3 LLM calls were not recorded, so this run's total of $0.5 *"),
    ],
)
def test_the_budget_gate_fails_closed(cost: str, dropped: int, failure: str | None) -> None:
    summary = Summary("db", PRICE_VERSION, Spend(1, 0, 10, 1, Decimal(cost)), [], [], [], budget_usd=Decimal(1))
    summary.dropped_calls = dropped
    message = summary.gate_failure()
    assert (message is None) if failure is None else fnmatch.fnmatchcase(message or "", failure)
    assert Summary("db", PRICE_VERSION, Spend(), [], [], []).gate_failure() is None  # no budget, no gate


def test_a_worker_file_that_could_not_be_merged_fails_the_budget_gate() -> None:
    problem = "could not merge worker gw1's calls from x-gw1.duckdb, kept there: IO Error"
    summary = Summary("db", PRICE_VERSION, Spend(), [], [], [], budget_usd=Decimal(1), problems=[problem])
    assert summary.gate_failure() == f"LLM cost budget not verified: {problem}, so this run's total of $0 may be short"


# --- the view ----------------------------------------------------------------------------------


def test_cost_by_test_view_counts_duplicates_once_and_unpriced_never_as_zero() -> None:
    with DuckDBStore(":memory:") as store:
        con = store.con
        rows = [
            # span, test, model, input, output, cost, duplicate
            ("s1", "t.py::a", "gpt-4o", 1000, 100, Decimal("0.0035"), False),
            ("s2", "t.py::a", "gpt-4o", 1000, 100, Decimal("0.0035"), True),  # s1 reported twice
            ("s3", "t.py::a", "mystery", 10, 1, None, False),
            ("s4", "t.py::b", "mystery", 20, 2, None, False),
            ("s5", None, "gpt-4o", 1000, 100, Decimal("0.0035"), False),  # outside any test
        ]
        for span, test, model, tokens_in, tokens_out, cost, duplicate in rows:
            con.execute(
                "INSERT INTO llm_calls (trace_id, span_id, start_time, end_time, request_model, priced_model,"
                " input_tokens, output_tokens, cost_usd, pricing_status, is_duplicate, test_id)"
                " VALUES ('t', ?, TIMESTAMPTZ '2025-03-01 10:00:00+00', TIMESTAMPTZ '2025-03-01 10:00:02+00',"
                " ?, ?, ?, ?, ?, ?, ?, ?)",
                [span, model, model if cost is not None else None, tokens_in, tokens_out, cost,
                 "priced" if cost is not None else "unknown_model", duplicate, test],
            )  # fmt: skip
        got = con.execute(
            "SELECT test_id, calls, unpriced_calls, input_tokens, output_tokens, cost_usd, models"
            " FROM llm_cost_by_test ORDER BY test_id"
        ).fetchall()
    assert got == [
        ("t.py::a", 2, 1, 1010, 101, Decimal("0.0035"), ["gpt-4o", "mystery"]),
        ("t.py::b", 1, 1, 20, 2, None, ["mystery"]),
    ]
