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


def boolean(name: str, argument: bool | None, env_var: str, default: bool) -> bool:
    """Resolve a boolean setting. The environment value must be ``true`` or ``false`` (any case),
    as the OTel SDK requires; empty counts as unset, anything else is logged and ignored."""
    if argument is not None:
        if not isinstance(argument, bool):
            raise ValueError(f"{name} must be True or False, got {argument!r}")
        return argument
    value = env_boolean(env_var)
    return default if value is None else value


def env_boolean(env_var: str) -> bool | None:
    """``True``/``False`` for ``true``/``false`` (any case); ``None`` when unset, empty or malformed."""
    raw = os.environ.get(env_var, "").strip()
    if not raw:
        return None
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    logger.warning("ignoring %s=%r: not true or false", env_var, raw)
    return None


def choice(env_var: str, choices: tuple[str, ...]) -> str | None:
    """One of ``choices`` (case-insensitive) from the environment; ``None`` when unset, empty or
    not one of them (then logged)."""
    raw = os.environ.get(env_var, "").strip()
    if not raw:
        return None
    if raw.lower() in choices:
        return raw.lower()
    logger.warning("ignoring %s=%r: not one of %s", env_var, raw, ", ".join(choices))
    return None
