"""Budget declarations: validation, windows in a time zone, TOML files, the CLI and the processor's
arguments. Bad input is one clear line."""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner

from otel_llm_cost import Budget, BudgetMonitor, LLMCostSpanProcessor
from otel_llm_cost._budget_file import load_budgets_file
from otel_llm_cost.budgets import BudgetError
from otel_llm_cost.cli import cli

UTC = timezone.utc


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit_usd": Decimal(-5)}, "budget 'b': limit must be a positive amount of USD, got -5"),
        ({"limit_usd": "0"}, "budget 'b': limit must be a positive amount of USD, got 0"),
        ({"limit_usd": "lots"}, "budget 'b': limit must be an amount of USD, got 'lots'"),
        ({"limit_usd": "NaN"}, "budget 'b': limit must be a positive amount of USD, got NaN"),
        (
            {"scope": "team", "value": "x"},
            "budget 'b': unknown scope 'team'; use one of global, provider, model, service, environment, user, "
            "conversation, tag",
        ),
        ({"thresholds_pct": (50, 1001)}, "budget 'b': threshold 1001 % is outside 1 to 1000 %"),
        ({"thresholds_pct": (0,)}, "budget 'b': threshold 0 % is outside 1 to 1000 %"),
        ({"thresholds_pct": (50.5,)}, "budget 'b': threshold 50.5 is not a whole percentage"),
        ({"thresholds_pct": ()}, "budget 'b': give at least one threshold"),
        ({"scope": "user"}, "budget 'b': scope user needs a value (which user it limits)"),
        ({"value": "u1"}, "budget 'b': a global budget takes no value or tag"),
        (
            {"scope": "tag", "value": "x", "tag": "a'b"},
            "budget 'b': scope tag needs a tag name (letters, digits and _ . : / -), got \"a'b\"",
        ),
        ({"period": "year"}, "budget 'b': unknown period 'year'; use one of day, week, month, total"),
        ({"timezone": "Mars/Olympus"}, "budget 'b': unknown time zone 'Mars/Olympus'"),
        (
            {"channels": ("pager:123",)},
            "budget 'b': unknown channel 'pager'; use one of webhook, slack, email, otel_log, span_event",
        ),
        (
            {"channels": ("slack:hooks.slack.com",)},
            "budget 'b': channel slack needs an http(s) URL, e.g. slack:https://...",
        ),
        ({"channels": ("email:nobody",)}, "budget 'b': channel email needs addresses, e.g. email:ops@example.com"),
    ],
)
def test_bad_budgets_are_one_clear_error(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"limit_usd": Decimal(10), **kwargs}
    with pytest.raises(BudgetError) as info:
        Budget("b", **fields)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_limits_are_exact_decimals() -> None:
    assert Budget("b", 12.3).limit_usd == Decimal("12.3")  # type: ignore[arg-type]
    assert Budget("b", "0.10").limit_usd == Decimal("0.10")  # type: ignore[arg-type]
    assert Budget("b", Decimal(1), thresholds_pct=(100, 50, 50)).thresholds_pct == (50, 100)


def test_windows_follow_the_time_zone() -> None:
    at = datetime(2026, 3, 29, 12, tzinfo=UTC)  # the day Paris moves to summer time: 23 hours long
    paris = Budget("b", Decimal(1), period="day", timezone="Europe/Paris")
    assert paris.window(at) == (datetime(2026, 3, 28, 23, tzinfo=UTC), datetime(2026, 3, 29, 22, tzinfo=UTC))
    week = Budget("b", Decimal(1), period="week", timezone="America/New_York")
    assert week.window(at) == (datetime(2026, 3, 23, 4, tzinfo=UTC), datetime(2026, 3, 30, 4, tzinfo=UTC))
    month = Budget("b", Decimal(1), period="month")
    assert month.window(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert Budget("b", Decimal(1), period="total").window(at) == (datetime(1970, 1, 1, tzinfo=UTC), None)


TOML = """
[[budget]]
name = "daily"
limit_usd = "25.00"
period = "day"
timezone = "Europe/Paris"
channels = ["slack:https://hooks.slack.com/services/T0/B0/XYZ"]

[[budget]]
name = "acme"
limit_usd = 100
scope = "tag"
tag = "customer_id"
value = "acme"
thresholds_pct = [80, 100]
"""


def test_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "budgets.toml"
    path.write_text(TOML)
    daily, acme = load_budgets_file(path)
    assert (daily.name, daily.limit_usd, daily.period, daily.thresholds_pct) == ("daily", Decimal("25.00"), "day",
                                                                                 (50, 80, 100))  # fmt: skip
    assert (acme.scope, acme.tag, acme.value, acme.limit_usd, acme.thresholds_pct) == (
        "tag", "customer_id", "acme", Decimal(100), (80, 100)
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[budget]\nname='a'\nlimit_usd=1\n", "budgets are an array of tables: write [[budget]], not [budget]"),
        ("[[budget]]\nname='a'\nlimit_usd=1\ncolour='red'\n", "budget #1: unknown field(s) colour;"),
        ("[[budget]]\nname='a'\n", "budget #1: name and limit_usd are required"),
        ("[[budget]]\nname='a'\nlimit_usd=-1\n", "budget 'a': limit must be a positive amount of USD, got -1"),
        ("[[budget]]\nname='a'\nlimit_usd=1\n[[budget]]\nname='a'\nlimit_usd=2\n", "budget 'a' is declared twice"),
        ("[[budget]\n", "is not valid TOML"),
    ],
)
def test_bad_toml_names_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "b.toml"
    path.write_text(text)
    with pytest.raises(BudgetError) as info:
        load_budgets_file(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BudgetError, match=r"cannot read budgets file '.*nope.toml': No such file or directory"):
        load_budgets_file(tmp_path / "nope.toml")


def test_processor_arguments(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValueError, match="budgets must be a list of Budget objects or a BudgetMonitor"):
        LLMCostSpanProcessor(db_path=str(tmp_path / "x.duckdb"), budgets=["daily"], flush_at_exit=False)  # type: ignore[list-item]
    with pytest.raises(BudgetError, match="cannot read budgets file"):
        LLMCostSpanProcessor(db_path=str(tmp_path / "x.duckdb"), budgets_file=tmp_path / "no.toml", flush_at_exit=False)
    with pytest.raises(BudgetError, match="budget 'a' is declared twice"):
        BudgetMonitor([Budget("a", Decimal(1)), Budget("a", Decimal(2))])
    # A bad file in the environment is logged and ignored, as malformed OTel variables are.
    with mock.patch.dict(os.environ, {"OTEL_LLM_COST_BUDGETS_FILE": str(tmp_path / "no.toml")}):
        processor = LLMCostSpanProcessor(db_path=str(tmp_path / "x.duckdb"), flush_at_exit=False)
        processor.shutdown()
    assert "ignoring OTEL_LLM_COST_BUDGETS_FILE: cannot read budgets file" in caplog.text


def test_budgets_file_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "budgets.toml"
    path.write_text(TOML)
    with mock.patch.dict(os.environ, {"OTEL_LLM_COST_BUDGETS_FILE": str(path)}):
        processor = LLMCostSpanProcessor(db_path=str(tmp_path / "x.duckdb"), flush_at_exit=False)
    assert [b.name for b in processor.budgets._file_budgets] == ["daily", "acme"]
    processor.shutdown()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_cli_add_list_status_remove(db_path: str) -> None:
    code, out = run("budget", "add", "u1", "--db", db_path, "--limit", "5", "--scope", "user", "--value", "u1",
                    "--period", "day", "--threshold", "80", "--threshold", "100%", "--channel",
                    "webhook:https://example.com/hook/SECRET")  # fmt: skip
    assert (code, out) == (0, "Budget 'u1': $5.00 per day (UTC) for user=u1, alerts at 80%, 100%.\n")
    code, out = run("budget", "add", "u1", "--db", db_path, "--limit", "6")
    assert (code, out) == (1, "Error: budget 'u1' already exists; pass --replace to change it\n")
    code, out = run("budget", "list", "--db", db_path, "--format", "json")
    assert json.loads(out) == [
        {"name": "u1", "scope": "user", "value": "u1", "tag": None, "period": "day", "timezone": "UTC",
         "limit_usd": "5", "thresholds_pct": [80, 100], "channels": ["webhook:https://example.com/***"],
         "source": "cli"}
    ]  # fmt: skip
    code, out = run("budget", "list", "--db", db_path)
    assert "SECRET" not in out and "user=u1" in out
    code, out = run("budget", "status", "--db", db_path, "--format", "json")
    [row] = json.loads(out)
    assert (row["budget"], row["spend_usd"], row["limit_usd"], row["percent"], row["unpriced_calls"]) == (
        "u1", "0", "5", "0", 0
    )  # fmt: skip
    code, out = run("budget", "status", "--db", db_path)
    assert code == 0 and "u1" in out and "user=u1" in out
    assert run("budget", "remove", "u1", "--db", db_path) == (0, "Removed budget 'u1'.\n")
    assert run("budget", "remove", "u1", "--db", db_path) == (1, "Error: no budget named 'u1'\n")
    assert run("budget", "status", "--db", db_path) == (0, "No budgets. Add one with: otel-llm-cost budget add NAME "
                                                          "--limit USD\n")  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--limit", "-5"), "Error: budget 'b': limit must be a positive amount of USD, got -5\n"),
        (
            ("--limit", "5", "--scope", "team"),
            "Error: budget 'b': unknown scope 'team'; use one of global, provider, "
            "model, service, environment, user, conversation, tag\n",
        ),
        (("--limit", "5", "--threshold", "50,1200"), "Error: budget 'b': threshold 1200 % is outside 1 to 1000 %\n"),
    ],
)
def test_cli_bad_input(db_path: str, args: tuple[str, ...], message: str) -> None:
    assert run("budget", "add", "b", "--db", db_path, *args) == (1, message)
    assert not Path(db_path).exists()


def test_cli_sync(db_path: str, tmp_path: Path) -> None:
    path = tmp_path / "budgets.toml"
    path.write_text(TOML)
    assert run("budget", "sync", str(path), "--db", db_path) == (0, f"2 budgets from {path} declared.\n")
    path.write_text(TOML.split("[[budget]]")[0] + "[[budget]]" + TOML.split("[[budget]]")[2])
    assert run("budget", "sync", str(path), "--db", db_path) == (0, f"1 budget from {path} declared, 1 removed.\n")
    _, out = run("budget", "list", "--db", db_path, "--format", "json")
    assert [b["name"] for b in json.loads(out)] == ["acme"]
    code, out = run("budget", "sync", str(tmp_path / "none.toml"), "--db", db_path)
    assert code == 1 and out.startswith("Error: cannot read budgets file")


def test_cli_status_on_an_old_schema(db_path: str, caplog: pytest.LogCaptureFixture) -> None:
    import duckdb

    from otel_llm_cost.migrations import migrate

    with duckdb.connect(db_path) as con:
        migrate(con, to=7)
    caplog.set_level(logging.ERROR)
    assert run("budget", "status", "--db", db_path) == (
        1,
        f"Error: {db_path} has no budget tables yet: run otel-llm-cost migrate --db {db_path}\n",
    )
