"""Argument -> environment variable -> default resolution (OTel SDK rules)."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)


def positive_int(name: str, argument: int | None, env_var: str, default: int) -> int:
    """Resolve an integer setting that must be >= 1.

    A bad argument raises ``ValueError`` (configuration time, in the caller's face); a bad
    environment value is logged and the default used, as the OTel SDK does.
    """
    if argument is not None:
        if isinstance(argument, bool) or not isinstance(argument, int) or argument < 1:
            raise ValueError(f"{name} must be a positive integer, got {argument!r}")
        return argument
    raw = os.environ.get(env_var, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
        if value < 1:
            raise ValueError
    except ValueError:
        logger.warning("ignoring %s=%r: not a positive integer; using %d", env_var, raw, default)
        return default
    return value


def text(argument: str | os.PathLike[str] | None, env_var: str, default: str) -> str:
    if argument is not None:
        return os.fspath(argument)
    return os.environ.get(env_var, "").strip() or default
