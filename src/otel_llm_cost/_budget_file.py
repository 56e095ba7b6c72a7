"""Budgets from a TOML file: one ``[[budget]]`` table per budget, the fields of :class:`Budget`.

Example::

    [[budget]]
    name = "support-bot-daily"
    limit_usd = "25.00"          # a string keeps the amount exact; a number works too
    scope = "service"
    value = "support-bot"
    period = "day"
    timezone = "Europe/Paris"
    thresholds_pct = [50, 80, 100]
    channels = ["slack:https://hooks.slack.com/services/...", "email:ops@example.com"]

Every error names the file and the budget, so a typo fails at start-up, not at the first alert.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from otel_llm_cost.budgets import Budget, BudgetError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_FIELDS = ("name", "limit_usd", "scope", "value", "tag", "period", "timezone", "thresholds_pct", "channels")


def load_budgets_file(path: str | os.PathLike[str]) -> list[Budget]:
    """Read and check every budget in a TOML file.

    Raises:
        BudgetError: the file cannot be read, is not TOML, or holds a malformed budget.
    """
    try:
        data = tomllib.loads(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise BudgetError(f"cannot read budgets file {os.fspath(path)!r}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BudgetError(f"budgets file {os.fspath(path)!r} is not valid TOML: {exc}") from None
    return budgets_from_toml(data, os.fspath(path))


def budgets_from_toml(data: dict[str, Any], where: str) -> list[Budget]:
    """The budgets of a parsed TOML document; ``where`` names it in errors."""
    unknown = set(data) - {"budget"}
    if unknown:
        raise BudgetError(f"{where}: unknown top-level key(s) {', '.join(sorted(unknown))}; budgets go in [[budget]]")
    tables = data.get("budget", [])
    if not isinstance(tables, list):
        raise BudgetError(f"{where}: budgets are an array of tables: write [[budget]], not [budget]")
    budgets: list[Budget] = []
    names: set[str] = set()
    for index, table in enumerate(tables, start=1):
        label = f"{where}: budget #{index}"
        extra = set(table) - set(_FIELDS)
        if extra:
            raise BudgetError(f"{label}: unknown field(s) {', '.join(sorted(extra))}; fields are {', '.join(_FIELDS)}")
        if "name" not in table or "limit_usd" not in table:
            raise BudgetError(f"{label}: name and limit_usd are required")
        fields = dict(table)
        for key in ("thresholds_pct", "channels"):
            if key in fields:
                if not isinstance(fields[key], list):
                    raise BudgetError(f"{label}: {key} must be a list")
                fields[key] = tuple(fields[key])
        try:
            budget = Budget(**fields)
        except BudgetError as exc:
            raise BudgetError(f"{where}: {exc}") from None
        if budget.name in names:
            raise BudgetError(f"{where}: budget {budget.name!r} is declared twice")
        names.add(budget.name)
        budgets.append(budget)
    return budgets
