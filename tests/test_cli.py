"""The otel-llm-cost command: demo, report, migrate, help, errors without tracebacks, and the examples."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import query

from otel_llm_cost.cli import cli
from otel_llm_cost.migrations import load_migrations

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MIGRATIONS = [m.name for m in load_migrations()]


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def assert_clean_error(result: Result, message: str) -> None:
    """Exit code 1, the message on the output, and no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert message in result.output
    assert "Traceback" not in result.output


def test_commands_have_help() -> None:
    assert {"demo", "report", "migrate"} <= set(cli.commands)
    for name, command in cli.commands.items():
        result = run(name, "--help")
        assert result.exit_code == 0, result.output
        assert command.help and command.help.strip()
        summary = command.get_short_help_str(limit=45)
        assert summary and not summary.endswith("..."), f"{name}: one-line help is cut: {summary!r}"
    root = run("--help")
    assert root.exit_code == 0 and "Examples:\n    otel-llm-cost demo" in root.output
    assert run("-h").output == root.output


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0 and result.output.startswith("otel-llm-cost, version ")


def test_demo_stores_then_finds_everything_already_present(db_path: str) -> None:
    first = run("demo", "--db", db_path, "--calls", "120", "--seed", "3")
    assert first.exit_code == 0, first.output
    assert "120 new calls stored, 0 already present." in first.output
    assert "Cost by day" in first.output and "Unpriced calls" in first.output
    assert query(db_path, "SELECT count(*) FROM llm_calls") == [(120,)]
    again = run("demo", "--db", db_path, "--calls", "120", "--seed", "3")
    assert "0 new calls stored, 120 already present." in again.output
    assert query(db_path, "SELECT count(*) FROM llm_calls") == [(120,)]


def test_demo_reads_the_db_path_from_the_environment(db_path: str) -> None:
    result = run("demo", "--calls", "5", env={"OTEL_LLM_COST_DB": db_path})
    assert result.exit_code == 0, result.output
    assert query(db_path, "SELECT count(*) FROM llm_calls") == [(5,)]


def test_demo_warns_when_calls_do_not_reach_the_database(db_path: str) -> None:
    # With the SDK disabled no span is recorded: the demo must say so rather than report silence.
    result = run("demo", "--db", db_path, "--calls", "5", env={"OTEL_SDK_DISABLED": "true"})
    assert result.exit_code == 0, result.output
    assert "0 new calls stored, 0 already present." in result.output
    assert "Warning: 5 calls did not reach the database" in result.output


def test_demo_into_a_missing_folder_is_a_clean_error(tmp_path: Path) -> None:
    assert_clean_error(run("demo", "--db", str(tmp_path / "no" / "x.duckdb"), "--calls", "5"), "does not exist")


def test_demo_rejects_a_bad_call_count(db_path: str) -> None:
    result = run("demo", "--db", db_path, "--calls", "0")
    assert result.exit_code == 2 and "--calls" in result.output
    assert not Path(db_path).exists()


def test_report_json_matches_sql(db_path: str) -> None:
    assert run("demo", "--db", db_path, "--calls", "60", "--seed", "1").exit_code == 0
    result = run("report", "--db", db_path, "--format", "json", "--top", "3")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    [(calls, unpriced, cost)] = query(
        db_path, "SELECT count(*), count(*) - count(cost_usd), sum(cost_usd) FROM llm_calls"
    )
    assert (data["totals"]["calls"], data["totals"]["unpriced_calls"]) == (calls, unpriced)
    assert calls == 60
    assert Decimal(data["totals"]["cost_usd"]) == cost  # an exact decimal string, not a float
    assert len(data["top_users"]) == 3 and len(data["top_conversations"]) <= 3


def test_report_table(db_path: str) -> None:
    assert run("demo", "--db", db_path, "--calls", "30").exit_code == 0
    result = run("report", "--db", db_path)
    assert result.exit_code == 0, result.output
    for title in (
        "LLM cost:",
        "Cost by day",
        "Cost by provider and model",
        "Cost by service",
        "Top ",
        "Unpriced calls",
    ):
        assert title in result.output
    [(cost,)] = query(db_path, "SELECT sum(cost_usd) FROM llm_calls")
    assert f"${cost.quantize(Decimal('0.0001')):,}" in result.output


def test_report_on_a_missing_file_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "missing.duckdb"
    assert_clean_error(run("report", "--db", str(path)), "no such file")
    assert not path.exists()


def test_report_on_an_old_schema_says_to_migrate(db_path: str) -> None:
    assert run("migrate", "--db", db_path, "--to", "1").exit_code == 0
    assert_clean_error(run("report", "--db", db_path), "otel-llm-cost migrate")


def test_migrate_list_on_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    result = run("migrate", "--db", str(path), "--list")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{path} does not exist; every migration is pending.",
        *(f"pending  {name}" for name in MIGRATIONS),
    ]
    assert not path.exists()


def test_migrate_to_one_then_zero_then_newest(db_path: str) -> None:
    up_to_one = run("migrate", "--db", db_path, "--to", "1")
    assert up_to_one.output.splitlines() == [f"up: {MIGRATIONS[0]}", f"{db_path} is at {MIGRATIONS[0]}."]
    listed = run("migrate", "--db", db_path, "--list")
    assert listed.output.splitlines() == [f"applied  {MIGRATIONS[0]}", *(f"pending  {n}" for n in MIGRATIONS[1:])]
    assert query(db_path, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'llm_calls'") == [(1,)]

    down = run("migrate", "--db", db_path, "--to", "0")
    assert down.output.splitlines() == [f"down: {MIGRATIONS[0]}", f"{db_path} is at 0 (no migrations applied)."]
    assert query(db_path, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'llm_calls'") == [(0,)]

    newest = run("migrate", "--db", db_path)
    assert newest.output.splitlines() == [*(f"up: {n}" for n in MIGRATIONS), f"{db_path} is at {MIGRATIONS[-1]}."]
    assert run("migrate", "--db", db_path, "--list").output.splitlines() == [f"applied  {n}" for n in MIGRATIONS]
    again = run("migrate", "--db", db_path)
    assert again.output == f"Nothing to do: {db_path} is already at {MIGRATIONS[-1]}.\n"


def test_migrate_errors(db_path: str, tmp_path: Path) -> None:
    assert_clean_error(run("migrate", "--db", db_path, "--to", "9999"), "no migration numbered 9999")
    assert_clean_error(run("migrate", "--db", str(tmp_path / "no" / "x.duckdb")), "does not exist")
    both = run("migrate", "--db", db_path, "--list", "--to", "1")
    assert both.exit_code == 2 and "cannot be used together" in both.output
    assert run("migrate", "--db", db_path, "--to", "-1").exit_code == 2


@pytest.fixture
def example_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "OTEL_LLM_COST_DB": str(tmp_path / "example.duckdb")}


def test_example_add_to_existing_tracing(tmp_path: Path, example_env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "add_to_existing_tracing.py")],
        cwd=tmp_path, env=example_env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # gpt-4o-mini: 176 uncached input at $0.15/M, 1,024 cache reads at $0.075/M and 300 output at $0.60/M
    assert done.stdout == "gpt-4o-mini: 1500 tokens, $0.0002832 (priced)\n"


def test_example_query_with_sql(tmp_path: Path, example_env: dict[str, str]) -> None:
    assert run("demo", "--calls", "80", env={"OTEL_LLM_COST_DB": example_env["OTEL_LLM_COST_DB"]}).exit_code == 0
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "query_with_sql.py")],
        cwd=tmp_path, env=example_env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for heading in ("Cost per day", "most expensive conversations", "prompt caching saved", "without a price"):
        assert heading in done.stdout
    assert "acme/acme-llm-2" in done.stdout
