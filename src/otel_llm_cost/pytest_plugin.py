"""pytest plugin: what every test spent on LLM calls, priced like production, with a budget gate.

pytest loads this module through the ``pytest11`` entry point in every project that has
otel-llm-cost installed, so it stays inert until asked. This module only adds options and the
``llm_cost`` fixture (not autouse), and imports nothing heavy of its own. When ``--llm-cost``, another
``--llm-cost-*`` option or the ``llm_cost = true`` ini option turns it on, ``pytest_configure``
imports :mod:`otel_llm_cost._pytest_session` and registers the hooks that do the work:

* two span processors go on the global tracer provider (an SDK one is created and set when none
  is): the first stamps every span started during a test with the test's node id
  (``otel_llm_cost.test_id``), the second is the production :class:`LLMCostSpanProcessor`;
* tests over ``--llm-cost-max-per-test`` fail, and the session fails over ``--llm-cost-budget``;
* a terminal summary and ``--llm-cost-json`` show what each test and model cost;
* under pytest-xdist each worker writes its own DuckDB file and the controller merges them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from otel_llm_cost._pytest_session import LLMCostMeter

#: The name the enabled plugin object is registered under.
PLUGIN_NAME = "otel-llm-cost-session"
_OPTIONS = ("llm_cost_db", "llm_cost_budget", "llm_cost_max_per_test", "llm_cost_json", "llm_cost_top")


@dataclass(frozen=True)
class Settings:
    """The plugin's configuration, read from the command line, then the ini file."""

    db_path: Path | None  #: DuckDB file to append to; None: a file in pytest's cache, replaced each run
    budget_usd: Decimal | None  #: the session fails when this run's calls cost more
    max_per_test_usd: Decimal | None  #: a test fails when its own calls cost more
    json_path: Path | None  #: where to write the summary as JSON
    top: int  #: how many of the most expensive tests the summary lists (0: all)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llm-cost", "LLM cost (otel-llm-cost)")
    group.addoption(
        "--llm-cost",
        action="store_true",
        default=None,
        dest="llm_cost",
        help="Price the LLM calls each test makes (from its OpenTelemetry spans) and print a cost summary.",
    )
    group.addoption(
        "--no-llm-cost",
        action="store_false",
        default=None,
        dest="llm_cost",
        help="Turn the LLM cost plugin off, whatever the other --llm-cost options and the ini file say.",
    )
    group.addoption(
        "--llm-cost-db",
        metavar="PATH",
        dest="llm_cost_db",
        help="Append the priced calls to this DuckDB file; implies --llm-cost. By default they go to a file in "
        "pytest's cache folder that each run replaces.",
    )
    group.addoption(
        "--llm-cost-budget",
        metavar="USD",
        dest="llm_cost_budget",
        help="Fail the session when this run's priced LLM calls cost more than USD in total; implies --llm-cost.",
    )
    group.addoption(
        "--llm-cost-max-per-test",
        metavar="USD",
        dest="llm_cost_max_per_test",
        help="Fail every test whose own LLM calls cost more than USD; implies --llm-cost.",
    )
    group.addoption(
        "--llm-cost-json",
        metavar="PATH",
        dest="llm_cost_json",
        help="Write the cost summary as JSON to PATH, money as exact decimal strings; implies --llm-cost.",
    )
    group.addoption(
        "--llm-cost-top",
        metavar="N",
        dest="llm_cost_top",
        help="List the N most expensive tests in the summary (default 10, 0 for all); implies --llm-cost.",
    )
    parser.addini("llm_cost", "Price the LLM calls of every run (like --llm-cost).", type="bool", default=False)
    parser.addini("llm_cost_db", "DuckDB file to append the priced calls to (like --llm-cost-db).", default="")
    parser.addini("llm_cost_budget", "Budget in USD for one run (like --llm-cost-budget).", default="")
    parser.addini("llm_cost_max_per_test", "Most USD one test may spend (like --llm-cost-max-per-test).", default="")
    parser.addini("llm_cost_json", "Where to write the JSON summary (like --llm-cost-json).", default="")
    parser.addini("llm_cost_top", "How many tests the summary lists (like --llm-cost-top).", default="")


def pytest_configure(config: pytest.Config) -> None:
    settings = read_settings(config)
    if settings is None:
        return
    from otel_llm_cost._pytest_session import LLMCostSession

    config.pluginmanager.register(LLMCostSession(config, settings), PLUGIN_NAME)


def read_settings(config: pytest.Config) -> Settings | None:
    """The settings when the plugin is on; None when it is off.

    Raises:
        pytest.UsageError: an amount, count or path is malformed.
    """
    enabled = config.getoption("llm_cost")
    if enabled is False:  # --no-llm-cost
        return None
    given = {name: config.getoption(name) for name in _OPTIONS}
    if not enabled and not any(value is not None for value in given.values()) and not config.getini("llm_cost"):
        return None
    # Command-line paths are relative to where pytest was started (as --junitxml's); ini paths to the ini file.
    ini_dir = config.inipath.parent if config.inipath else config.rootpath
    values: dict[str, tuple[str, str, Path] | None] = {}
    for name in _OPTIONS:
        if given[name] is not None:
            values[name] = (str(given[name]), "--" + name.replace("_", "-"), config.invocation_params.dir)
        else:
            ini = str(config.getini(name)).strip()
            values[name] = (ini, f"ini option {name}", ini_dir) if ini else None
    return Settings(
        db_path=_path(values["llm_cost_db"]),
        budget_usd=_usd(values["llm_cost_budget"]),
        max_per_test_usd=_usd(values["llm_cost_max_per_test"]),
        json_path=_path(values["llm_cost_json"]),
        top=_count(values["llm_cost_top"], default=10),
    )


def _path(value: tuple[str, str, Path] | None) -> Path | None:
    if value is None:
        return None
    text, where, base = value
    if not text:
        raise pytest.UsageError(f"{where}: give a file path")
    return base / Path(text).expanduser()


def _usd(value: tuple[str, str, Path] | None) -> Decimal | None:
    if value is None:
        return None
    text, where, _ = value
    try:
        amount = Decimal(text.strip().removeprefix("$").replace(",", ""))
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0:
        raise pytest.UsageError(f"{where}: {text!r} is not an amount in USD (for example 0.50)")
    return amount


def _count(value: tuple[str, str, Path] | None, *, default: int) -> int:
    if value is None:
        return default
    text, where, _ = value
    if not text.strip().isdigit():
        raise pytest.UsageError(f"{where}: {text!r} is not a whole number of tests (0 lists them all)")
    return int(text)


@pytest.fixture
def llm_cost(request: pytest.FixtureRequest) -> LLMCostMeter:
    """What the current test's LLM calls have cost so far, priced like the terminal summary.

    Read ``llm_cost.cost_usd`` (a ``Decimal``; ``None`` when every call so far is unpriced),
    ``llm_cost.calls``, ``.unpriced_calls``, ``.input_tokens``, ``.output_tokens``, or
    ``llm_cost.snapshot()`` for all of them at once. Each read waits for the calls already made
    to be written. The test is skipped when the plugin is off (no ``--llm-cost``).
    """
    session = request.config.pluginmanager.get_plugin(PLUGIN_NAME)
    if session is None:
        pytest.skip("the llm_cost fixture measures LLM calls only when the plugin is on (--llm-cost)")
    meter: LLMCostMeter = session.meter(request.node.nodeid)
    return meter


def __getattr__(name: str) -> Any:
    # For type annotations in test code, without importing the pipeline while the plugin is off.
    if name in ("LLMCostMeter", "Spend"):
        from otel_llm_cost import _pytest_session

        return getattr(_pytest_session, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
