"""Opt-in capture of span attributes, with an allow-list and a redaction hook.

Nothing from a span beyond the cost columns is stored by default: prompts and completions
(``gen_ai.input.messages``, ``llm.input_messages.*``, ...) can hold personal data and secrets. A
team that wants some attributes kept next to the cost (a prompt name, a feature flag, or the
messages themselves, redacted) lists them; the list is compiled once and applied on the worker
thread, never in ``on_end``.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

logger = logging.getLogger(__name__)

# redact(name, value) -> the value to store, or None to leave the attribute out.
Redactor = Callable[[str, Any], Any]

MAX_VALUE_CHARS: Final = 16 * 1024  # one attribute's JSON; a longer one is cut and marked
MAX_TOTAL_CHARS: Final = 64 * 1024  # all of a call's captured attributes together
TRUNCATED_KEY: Final = "otel_llm_cost.truncated"  # lists the attributes cut or left out for size


class AttributeCapture:
    """Selects, redacts and serialises the allowed attributes of a span.

    Args:
        allow: attribute names to keep; ``*`` matches any run of characters
            (``llm.input_messages.*``). Empty: nothing is kept.
        redact: called for every allowed attribute; its return value is stored, ``None`` drops
            the attribute. If it raises, the attribute is dropped (never stored unredacted) and
            counted in :attr:`redaction_failures`.
    """

    def __init__(self, allow: Iterable[str], *, redact: Redactor | None = None) -> None:
        names = [name.strip() for name in allow if name.strip()]
        self._exact = frozenset(n for n in names if "*" not in n)
        globs = [n for n in names if "*" in n]
        self._pattern = re.compile("|".join(fnmatch.translate(g) for g in globs)) if globs else None
        self._redact = redact
        self.redaction_failures = 0

    def __bool__(self) -> bool:
        return bool(self._exact) or self._pattern is not None

    def capture(self, attributes: Mapping[str, Any]) -> str | None:
        """The allowed attributes as a JSON object text, or None when there are none."""
        kept: dict[str, Any] = {}
        cut: list[str] = []
        total = 0
        for name in sorted(attributes):  # sorted: the same span always stores the same text
            if name not in self._exact and (self._pattern is None or not self._pattern.match(name)):
                continue
            value = attributes[name]
            if self._redact is not None:
                try:
                    value = self._redact(name, value)
                except Exception:
                    self.redaction_failures += 1
                    logger.warning("the redaction hook raised for %r; the attribute is not stored", name)
                    continue
                if value is None:
                    continue
            text = json.dumps(value, default=_jsonable, ensure_ascii=False)
            if len(text) > MAX_VALUE_CHARS:
                value, text = text[:MAX_VALUE_CHARS], json.dumps(text[:MAX_VALUE_CHARS], ensure_ascii=False)
                cut.append(name)
            if total + len(text) > MAX_TOTAL_CHARS:
                cut.append(name)
                continue
            kept[name] = value if not isinstance(value, tuple) else list(value)
            total += len(text)
        if cut:
            kept[TRUNCATED_KEY] = cut
        return json.dumps(kept, default=_jsonable, ensure_ascii=False) if kept else None


def _jsonable(value: object) -> object:
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    return str(value)


def parse_allow_list(text: str) -> list[str]:
    """``OTEL_LLM_COST_STORE_ATTRIBUTES``: comma-separated names or globs."""
    return [part.strip() for part in text.split(",") if part.strip()]
