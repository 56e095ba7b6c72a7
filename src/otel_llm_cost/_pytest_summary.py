"""The pytest plugin's numbers: queries over one run's calls, the xdist merge, and the summary rendered.

A run's calls are the rows of ``llm_calls`` ingested since the run opened the database: the default
file holds only the last run, but one named with ``--llm-cost-db`` keeps every run, and each
summary must count its own. As in the views, a duplicated call counts once, and an unpriced call
is counted and shown with its tokens but never summed into a cost as 0. Money stays ``Decimal``
and is printed exactly, without rounding.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import duckdb

_THIS_RUN = "NOT is_duplicate AND ingested_at >= ?"
_MODEL = "coalesce(priced_model, response_model, request_model)"
_SPEND = (
    "count(*), count(*) - count(cost_usd), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),"
    " sum(cost_usd)"
)


@dataclass(frozen=True)
class Spend:
    """What some LLM calls cost. ``cost_usd`` sums the priced calls: it is ``None`` when every call
    is unpriced (never a silent 0), and ``Decimal(0)`` when there were no calls."""

    calls: int = 0
    unpriced_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal | None = Decimal(0)

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Spend:
        calls, unpriced, input_tokens, output_tokens, cost = row
        return cls(int(calls), int(unpriced), int(input_tokens), int(output_tokens), cost if calls else Decimal(0))


@dataclass(frozen=True)
class Unpriced:
    """Calls of one model that could not be priced, and why."""

    model: str | None
    pricing_status: str
    calls: int
    input_tokens: int
    output_tokens: int


@dataclass
class Summary:
    """One run: totals, each test and model that made calls, the unpriced calls, and the gates."""

    database: str
    price_version: str
    total: Spend
    tests: list[tuple[str | None, Spend]]  #: most expensive first; None = calls made outside any test
    models: list[tuple[str | None, Spend]]
    unpriced: list[Unpriced]
    budget_usd: Decimal | None = None
    max_per_test_usd: Decimal | None = None
    dropped_calls: int = 0  #: calls that reached no database (full queue, write errors, lost worker files)
    problems: list[str] = field(default_factory=list)

    @property
    def over_budget(self) -> bool:
        return _over(self.total.cost_usd, self.budget_usd)

    @property
    def over_limit(self) -> list[str]:
        """The tests whose own calls cost more than ``max_per_test_usd``."""
        return [name for name, spend in self.tests if name is not None and _over(spend.cost_usd, self.max_per_test_usd)]

    def gate_failure(self) -> str | None:
        """Why the session fails the budget, or None. With calls lost (dropped, or a worker's file
        that could not be merged), the total is short and proves nothing."""
        if self.budget_usd is None:
            return None
        if self.over_budget:
            return (
                f"LLM cost budget exceeded: this run's calls cost {usd(self.total.cost_usd)}, "
                f"over the budget of {usd(self.budget_usd)} (--llm-cost-budget)"
            )
        if self.dropped_calls or self.problems:
            lost = f"{self.dropped_calls} LLM calls were not recorded" if self.dropped_calls else self.problems[0]
            total = usd(self.total.cost_usd)
            return f"LLM cost budget not verified: {lost}, so this run's total of {total} may be short"
        return None


def _over(cost: Decimal | None, limit: Decimal | None) -> bool:
    return cost is not None and limit is not None and cost > limit


def usd(value: Decimal | None) -> str:
    """Exact dollars, without trailing zeros or exponent: ``$0.00021``; ``n/a`` when unpriced."""
    if value is None:
        return "n/a"
    return "$" + exact(value)


def exact(value: Decimal) -> str:
    """A Decimal in plain notation, exactly, without trailing zeros: ``Decimal('1.500')`` -> ``'1.5'``."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# --- queries -------------------------------------------------------------------------------------


def spend_of_test(con: duckdb.DuckDBPyConnection, test_id: str, since: datetime) -> Spend:
    """What one test's calls ingested since ``since`` cost."""
    row = con.execute(f"SELECT {_SPEND} FROM llm_calls WHERE {_THIS_RUN} AND test_id = ?", [since, test_id]).fetchone()
    return Spend.from_row(row) if row else Spend()


def build_summary(con: duckdb.DuckDBPyConnection, since: datetime, *, database: str, price_version: str) -> Summary:
    """The summary of the calls ingested since ``since``."""
    total_row = con.execute(f"SELECT {_SPEND} FROM llm_calls WHERE {_THIS_RUN}", [since]).fetchone()
    tests = con.execute(
        f"SELECT test_id, {_SPEND} FROM llm_calls WHERE {_THIS_RUN} GROUP BY test_id"
        " ORDER BY sum(cost_usd) DESC NULLS LAST, count(*) DESC, test_id NULLS LAST",
        [since],
    ).fetchall()
    models = con.execute(
        f"SELECT {_MODEL} AS model, {_SPEND} FROM llm_calls WHERE {_THIS_RUN} GROUP BY model"
        " ORDER BY sum(cost_usd) DESC NULLS LAST, count(*) DESC, model NULLS LAST",
        [since],
    ).fetchall()
    unpriced = con.execute(
        f"SELECT {_MODEL} AS model, pricing_status, count(*), coalesce(sum(input_tokens), 0),"
        f" coalesce(sum(output_tokens), 0) FROM llm_calls WHERE {_THIS_RUN} AND cost_usd IS NULL"
        " GROUP BY ALL ORDER BY count(*) DESC, model NULLS LAST, pricing_status",
        [since],
    ).fetchall()
    return Summary(
        database=database,
        price_version=price_version,
        total=Spend.from_row(total_row) if total_row else Spend(),
        tests=[(row[0], Spend.from_row(row[1:])) for row in tests],
        models=[(row[0], Spend.from_row(row[1:])) for row in models],
        unpriced=[Unpriced(row[0], row[1], int(row[2]), int(row[3]), int(row[4])) for row in unpriced],
    )


# --- output --------------------------------------------------------------------------------------


def to_json(summary: Summary) -> str:
    """The summary as JSON for CI: every test and model, money as exact decimal strings or null."""

    def spend(s: Spend) -> dict[str, Any]:
        return {
            "calls": s.calls,
            "unpriced_calls": s.unpriced_calls,
            "input_tokens": s.input_tokens,
            "output_tokens": s.output_tokens,
            "cost_usd": _money(s.cost_usd),
        }

    over_limit = set(summary.over_limit)
    document = {
        "database": summary.database,
        "price_version": summary.price_version,
        **spend(summary.total),
        "dropped_calls": summary.dropped_calls,
        "budget_usd": _money(summary.budget_usd),
        "over_budget": summary.over_budget,
        "max_per_test_usd": _money(summary.max_per_test_usd),
        "tests": [{"test_id": name, **spend(s), "over_limit": name in over_limit} for name, s in summary.tests],
        "models": [{"model": name, **spend(s)} for name, s in summary.models],
        "unpriced": [dataclasses.asdict(u) for u in summary.unpriced],
        "problems": summary.problems,
    }
    return json.dumps(document, indent=2) + "\n"


def _money(value: Decimal | None) -> str | None:
    return None if value is None else exact(value)


class _Writer(Protocol):
    def write_sep(self, sep: str, title: str | None = ..., **markup: bool) -> None: ...
    def write_line(self, line: str | bytes, **markup: bool) -> None: ...


def render(summary: Summary, out: _Writer, *, top: int) -> None:
    """Write the summary to pytest's terminal: totals, the most expensive tests, models, unpriced calls."""
    out.write_sep("=", "LLM cost")
    total = summary.total
    if not total.calls:
        out.write_line(f"no LLM calls were recorded ({summary.price_version})")
    else:
        tests = sum(1 for name, _ in summary.tests if name is not None)
        line = f"{plural(total.calls, 'LLM call')} in {plural(tests, 'test')} cost {usd(total.cost_usd)}"
        if total.unpriced_calls:
            line += f", plus {plural(total.unpriced_calls, 'unpriced call')}"
        out.write_line(f"{line} (prices: {summary.price_version})")

        shown = summary.tests if top == 0 else summary.tests[:top]
        over_limit = set(summary.over_limit)
        out.write_line("")
        out.write_line("most expensive tests:" if len(shown) < len(summary.tests) else "tests:")
        labels = [(name or "(outside any test)") + ("  OVER LIMIT" if name in over_limit else "") for name, _ in shown]
        _spend_table(out, "test", [(label, s) for label, (_, s) in zip(labels, shown, strict=True)], total)
        if len(shown) < len(summary.tests):
            out.write_line(f"  ... and {plural(len(summary.tests) - len(shown), 'more test')} (--llm-cost-top 0)")
        out.write_line("")
        out.write_line("by model:")
        _spend_table(out, "model", [(name or "(no model)", s) for name, s in summary.models], total)

    if summary.unpriced:
        out.write_line("")
        out.write_line("unpriced calls (cost unknown, not counted as $0):", yellow=True)
        rows = [[str(u.calls), _n(u.input_tokens), _n(u.output_tokens), u.pricing_status, u.model or "(no model)"]
                for u in summary.unpriced]  # fmt: skip
        _table(out, ["calls", "input", "output", "status", "model"], rows, text_columns=2)
    if summary.dropped_calls:
        out.write_line(f"{plural(summary.dropped_calls, 'LLM call')} could not be recorded", red=True)
    for problem in summary.problems:
        out.write_line(problem, red=True)
    out.write_line("")
    out.write_line(f"database: {summary.database} (per test: SELECT * FROM llm_cost_by_test)")
    if summary.max_per_test_usd is not None:
        over = summary.over_limit
        text = f"per-test limit {usd(summary.max_per_test_usd)}: " + (f"{len(over)} over" if over else "all within")
        out.write_line(text, red=bool(over), green=not over)
    failure = summary.gate_failure()
    if failure is not None:
        out.write_line(failure, red=True, bold=True)
    elif summary.budget_usd is not None:
        out.write_line(f"budget {usd(summary.budget_usd)}: within (spent {usd(total.cost_usd)})", green=True)


def _spend_table(out: _Writer, label: str, rows: list[tuple[str, Spend]], total: Spend) -> None:
    # The unpriced column only when some call is unpriced: it is the exception.
    unpriced = total.unpriced_calls > 0
    header = ["cost", "calls", *(["unpriced"] if unpriced else []), "input", "output", label]
    body = [[usd(s.cost_usd), str(s.calls), *([str(s.unpriced_calls)] if unpriced else []), _n(s.input_tokens),
             _n(s.output_tokens), name] for name, s in rows]  # fmt: skip
    _table(out, header, body)


def _table(out: _Writer, header: list[str], rows: list[list[str]], *, text_columns: int = 1) -> None:
    # Numbers right-aligned, then text left-aligned; the last column is not padded.
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    first_text = len(header) - text_columns
    for row in [header, *rows]:
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [cell.rjust(width) if i < first_text else cell.ljust(width) for i, (cell, width) in pairs]
        out.write_line(("  " + "  ".join(cells[:-1]) + "  " + row[-1]).rstrip())


def _n(value: int) -> str:
    return f"{value:,}"


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")
