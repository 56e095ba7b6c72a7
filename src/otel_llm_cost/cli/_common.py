"""What every ``otel-llm-cost`` command shares: the group, the ``--db`` and ``--format`` options, the console.

Each command lives in its own module of this package and is a thin shell over the library: whatever
a user can get wrong (a missing file, a locked database, a bad option) ends as a
``click.ClickException``: one line, exit code 1, no traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console

import otel_llm_cost
from otel_llm_cost.environment_variables import OTEL_LLM_COST_DB
from otel_llm_cost.processor import DEFAULT_DB_PATH

F = TypeVar("F", bound=Callable[..., Any])
# Piped output has no terminal width; rich would squeeze the tables to 80 columns.
_PIPE_WIDTH = 160


def db_option(function: F) -> F:
    return click.option(
        "--db",
        "db_path",
        default=DEFAULT_DB_PATH,
        show_default=True,
        envvar=OTEL_LLM_COST_DB,
        show_envvar=True,
        type=click.Path(dir_okay=False),
        help="DuckDB file.",
    )(function)


def format_option(help_text: str) -> Callable[[F], F]:
    """``--format table|json``, the output switch of every reading command."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help=help_text,
    )


def console() -> Console:
    out = Console(highlight=False)
    if not out.is_terminal:
        out = Console(highlight=False, width=_PIPE_WIDTH)
    return out


def query_log_option(function: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--query-log/--no-query-log",
        default=None,
        help="Record each query's duration and row count in the query_log table (default: on, or "
        "OTEL_LLM_COST_QUERY_LOG). The file is opened read-write for a moment after reading, to append them.",
    )(function)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(otel_llm_cost.__version__, prog_name="otel-llm-cost")
def cli() -> None:
    """Price the LLM calls in your OpenTelemetry traces and report on them.

    Commands that read or write the cost database take --db FILE (or OTEL_LLM_COST_DB);
    COMMAND --help has examples.

    \b
    Examples:
      otel-llm-cost demo                             # synthetic workload into ./llm-cost.duckdb, then a report
      otel-llm-cost report --since 7d --by model     # cost per model; --format json|csv|markdown, --html
      otel-llm-cost health                           # rows, last write, spans lost, file size, slow queries
      otel-llm-cost prices show claude-sonnet-4-5    # every rate and its dates; prices check FILE for overrides
      otel-llm-cost reprice --unpriced --dry-run     # what today's prices would change in stored calls
      otel-llm-cost whatif --model gpt-5-mini --since 30d   # the same traffic on another model
      otel-llm-cost budget add daily --limit 50 --period day --channel slack:URL
      otel-llm-cost export -o calls.parquet          # a table or view as CSV, JSON or Parquet
      otel-llm-cost prune --older-than 365d          # archive to Parquet, then delete old calls
      otel-llm-cost serve                            # OTLP receiver on 127.0.0.1:4318/4317 for many processes
      otel-llm-cost ducklake maintain --store SPEC   # compact and clean a DuckLake (many hosts)
    """
