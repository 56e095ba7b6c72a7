"""The prices overrides file: custom models, negotiated discounts and fixes to upstream prices.

TOML (read with ``tomllib``), JSON, or YAML (with the optional ``PyYAML``: ``otel-llm-cost[yaml]``)::

    [models.my-llama]              # a self-hosted or fine-tuned model, priced per million tokens
    provider = "self-hosted"       # a label for reports; default "custom"
    aliases = ["my-llama-v2"]      # other names spans use for it
    input_mtok = 0.20
    output_mtok = 0.60

    [discounts]                    # percent off: by provider, provider/model or model
    openai = 15
    "anthropic/claude-sonnet-4-5" = 10

    [[fixes]]                      # replace upstream rates over a date range
    provider = "openai"
    model = "gpt-4o"
    effective_from = 2026-01-01
    effective_to = 2026-02-01      # exclusive; omit for "until further notice"
    input_mtok = 2.0

The whole file is checked when it is loaded (configuration time): a bad value raises
:class:`OverridesError` naming the file, the line and the key. Nothing is checked at span time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from genai_prices import data_snapshot, types
from genai_prices.validation import validate_priced_units

from otel_llm_cost._rate_plan import REGISTRY

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads TOML with tomli, tomllib's origin
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

_PRICE_KEYS = frozenset(unit.price_key for unit in REGISTRY.units.values())
_MODEL_META = frozenset({"provider", "aliases", "name"})
_FIX_META = frozenset({"provider", "model", "effective_from", "effective_to"})
_TOP_LEVEL = ("models", "discounts", "fixes")
DEFAULT_CUSTOM_PROVIDER = "custom"


class OverridesError(ValueError):
    """An overrides file that cannot be used; the message names the file, line and key."""


@dataclass(frozen=True)
class PriceFix:
    """Rates that replace the catalog's for one model over ``[effective_from, effective_to)``."""

    provider_id: str
    model_id: str
    effective_from: date
    effective_to: date | None
    rates: Mapping[str, Decimal | types.TieredPrices]


@dataclass
class PriceOverrides:
    """A loaded, checked overrides file (see the module docstring).

    Args:
        path: where it was read from (for messages), or None when built in code.
        digest: sha256 of the file's bytes; ``version`` carries its first 12 digits.
    """

    path: str | None = None
    digest: str = ""
    custom_providers: list[types.Provider] = field(default_factory=list)
    fixes: tuple[PriceFix, ...] = ()
    provider_discounts: dict[str, Decimal] = field(default_factory=dict)
    model_discounts: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    _custom_by_name: dict[str, tuple[types.Provider, types.ModelInfo]] = field(default_factory=dict, repr=False)

    @property
    def version(self) -> str:
        """``overrides-<12 hex digits of the file's sha256>``: part of every plan's price_version."""
        return f"overrides-{self.digest[:12]}"

    def find_custom(self, model_ref: str) -> tuple[types.Provider, types.ModelInfo] | None:
        """The custom model a span's model name (or one of its aliases) names, case-insensitively."""
        return self._custom_by_name.get(model_ref.strip().lower())

    def is_custom(self, provider_id: str, model_id: str) -> bool:
        found = self._custom_by_name.get(model_id.lower())
        return found is not None and found[0].id == provider_id

    def fixes_for(self, provider_id: str, model_id: str) -> tuple[PriceFix, ...]:
        return tuple(f for f in self.fixes if f.provider_id == provider_id and f.model_id == model_id)

    def discount_for(self, provider_id: str, model_id: str) -> Decimal | None:
        """Percent off for a model: its own entry wins over its provider's."""
        return self.model_discounts.get((provider_id, model_id), self.provider_discounts.get(provider_id))


def load_overrides(
    path: str | os.PathLike[str], *, snapshot: data_snapshot.DataSnapshot | None = None
) -> PriceOverrides:
    """Read and check an overrides file (``.toml``, ``.json``, ``.yaml``/``.yml``).

    Raises:
        OverridesError: the file is missing, malformed, or a value is wrong; the message reads
            like ``prices.toml line 7: models.my-llm.input_mtok: must be a non-negative number, got 'abc'``.
    """
    file = Path(path).expanduser()
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise OverridesError(f"{path}: cannot read the prices file: {exc.strerror or exc}") from exc
    text = raw.decode("utf-8", errors="replace")
    document = _parse(file, text)
    return _Checker(file.name, text, snapshot or data_snapshot.get_snapshot()).check(
        document, str(path), hashlib.sha256(raw).hexdigest()
    )


def _parse(file: Path, text: str) -> Any:
    suffix = file.suffix.lower()
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise OverridesError(f"{file.name}: not valid TOML: {exc}") from exc
    if suffix == ".json":
        try:
            return json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise OverridesError(f"{file.name} line {exc.lineno}: not valid JSON: {exc.msg}") from exc
    if suffix in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise OverridesError(
                f"{file.name}: YAML prices files need PyYAML: pip install 'otel-llm-cost[yaml]' (or use TOML or JSON)"
            ) from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise OverridesError(f"{file.name}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    raise OverridesError(f"{file.name}: unknown prices file type {suffix or '(none)'!r}; use .toml, .json or .yaml")


class _Checker:
    def __init__(self, name: str, text: str, snapshot: data_snapshot.DataSnapshot) -> None:
        self.name = name
        self.lines = text.splitlines()
        self.snapshot = snapshot

    def fail(self, path: Sequence[str | int], message: str) -> OverridesError:
        line = _line_of(self.lines, path)
        where = f" line {line}" if line else ""
        key = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path).replace(".[", "[")
        return OverridesError(f"{self.name}{where}: {key}: {message}")

    def check(self, document: Any, path: str, digest: str) -> PriceOverrides:
        if not isinstance(document, Mapping):
            raise OverridesError(f"{self.name}: the file must hold a table/object at the top")
        for key in document:
            if key not in _TOP_LEVEL:
                raise self.fail([str(key)], f"unknown section; expected one of {', '.join(_TOP_LEVEL)}")
        overrides = PriceOverrides(path=path, digest=digest)
        self._models(document.get("models", {}), overrides)
        self._fixes(document.get("fixes", []), overrides)
        self._discounts(document.get("discounts", {}), overrides)
        return overrides

    def _models(self, models: Any, overrides: PriceOverrides) -> None:
        if not isinstance(models, Mapping):
            raise self.fail(["models"], "must be a table of models")
        providers: dict[str, types.Provider] = {}
        for name, spec in models.items():
            where: list[str | int] = ["models", str(name)]
            if not isinstance(spec, Mapping):
                raise self.fail(where, "must be a table of rates")
            provider_id = self._text(spec.get("provider", DEFAULT_CUSTOM_PROVIDER), [*where, "provider"])
            aliases = spec.get("aliases", [])
            if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
                raise self.fail([*where, "aliases"], f"must be a list of model names, got {aliases!r}")
            rates = self._rates(spec, where, _MODEL_META)
            if not rates:
                raise self.fail(where, "gives no rate (input_mtok, output_mtok, ...)")
            model = types.ModelInfo(
                id=str(name),
                match=types.ClauseEquals(equals=str(name)),
                name=str(spec.get("name", name)),
                prices=types.ModelPrice(**rates),
            )
            provider = providers.setdefault(
                provider_id, types.Provider(id=provider_id, name=provider_id, api_pattern="", models=[])
            )
            provider.models.append(model)
            for ref in (str(name), *aliases):
                key = ref.strip().lower()
                if key in overrides._custom_by_name:
                    raise self.fail(where, f"the name {ref!r} is given to two custom models")
                overrides._custom_by_name[key] = (provider, model)
        overrides.custom_providers = list(providers.values())

    def _fixes(self, fixes: Any, overrides: PriceOverrides) -> None:
        if not isinstance(fixes, list):
            raise self.fail(["fixes"], "must be a list of tables ([[fixes]])")
        checked: list[PriceFix] = []
        for index, spec in enumerate(fixes):
            where: list[str | int] = ["fixes", index]
            if not isinstance(spec, Mapping):
                raise self.fail(where, "must be a table")
            if "model" not in spec:
                raise self.fail(where, "names no model")
            provider_id, model_id = self._model(spec.get("provider"), spec["model"], [*where, "model"], overrides)
            if "effective_from" not in spec:
                raise self.fail(where, "has no effective_from date")
            start = self._date(spec["effective_from"], [*where, "effective_from"])
            end = self._date(spec["effective_to"], [*where, "effective_to"]) if "effective_to" in spec else None
            if end is not None and end <= start:
                raise self.fail([*where, "effective_to"], f"must be after effective_from ({start}), got {end}")
            rates = self._rates(spec, where, _FIX_META)
            if not rates:
                raise self.fail(where, "gives no rate (input_mtok, output_mtok, ...)")
            checked.append(PriceFix(provider_id, model_id, start, end, rates))
        overrides.fixes = tuple(checked)

    def _discounts(self, discounts: Any, overrides: PriceOverrides) -> None:
        if not isinstance(discounts, Mapping):
            raise self.fail(["discounts"], "must be a table of percentages")
        known_providers = {p.id for p in self.snapshot.providers} | {p.id for p in overrides.custom_providers}
        for key, value in discounts.items():
            where: list[str | int] = ["discounts", str(key)]
            percent = self._number(value, where)
            if percent > 100:
                raise self.fail(where, f"must be a percentage from 0 to 100, got {value!r}")
            if key in known_providers:
                overrides.provider_discounts[key] = percent
                continue
            provider, _, model = str(key).rpartition("/")
            overrides.model_discounts[self._model(provider or None, model, where, overrides)] = percent

    def _model(self, provider: Any, model: Any, where: list[str | int], overrides: PriceOverrides) -> tuple[str, str]:
        """(provider id, model id) of a model named in the file: the catalog must know it."""
        name = self._text(model, where)
        custom = overrides.find_custom(name)
        if custom is not None:
            return custom[0].id, custom[1].id
        provider_id = self._text(provider, where) if provider is not None else None
        try:
            found_provider, found_model = self.snapshot.find_provider_model(name, None, provider_id, None)
        except LookupError:
            owner = f" for provider {provider_id!r}" if provider_id else ""
            raise self.fail(where, f"{name!r} is not in the price catalog{owner} nor a custom model") from None
        return found_provider.id, found_model.id

    def _rates(
        self, spec: Mapping[str, Any], where: list[str | int], meta: frozenset[str]
    ) -> dict[str, Decimal | types.TieredPrices]:
        rates: dict[str, Decimal | types.TieredPrices] = {}
        for key, value in spec.items():
            if key in meta:
                continue
            if key not in _PRICE_KEYS:
                raise self.fail(
                    [*where, str(key)], "not a price key (input_mtok, output_mtok, cache_read_mtok, cache_write_mtok, "
                    "cache_write_1h_mtok, input_audio_mtok, output_audio_mtok, requests_kcount, ...)"
                )  # fmt: skip
            rates[key] = self._rate(value, [*where, key])
        if rates:
            try:
                validate_priced_units(tuple(REGISTRY.unit_for_price_key(k) for k in rates), REGISTRY)
            except ValueError as exc:
                raise self.fail(where, str(exc)) from None
        return rates

    def _rate(self, value: Any, where: list[str | int]) -> Decimal | types.TieredPrices:
        """A USD rate, or tiers: ``{base = 3, tiers = [{start = 200000, price = 6}]}``."""
        if not isinstance(value, Mapping):
            return self._number(value, where)
        if set(value) != {"base", "tiers"} or not isinstance(value["tiers"], list) or not value["tiers"]:
            raise self.fail(where, "tiered rates are {base = ..., tiers = [{start = ..., price = ...}, ...]}")
        tiers = []
        for i, tier in enumerate(value["tiers"]):
            if not isinstance(tier, Mapping) or set(tier) != {"start", "price"}:
                raise self.fail([*where, "tiers", i], "a tier is {start = <input tokens>, price = <rate>}")
            start = tier["start"]
            if isinstance(start, bool) or not isinstance(start, int) or start < 0:
                raise self.fail([*where, "tiers", i, "start"], f"must be a whole number of tokens, got {start!r}")
            tiers.append(types.Tier(start=start, price=self._number(tier["price"], [*where, "tiers", i, "price"])))
        return types.TieredPrices(base=self._number(value["base"], [*where, "base"]), tiers=tiers)

    def _number(self, value: Any, where: list[str | int]) -> Decimal:
        number: Decimal | None = None
        if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
            number = Decimal(value)
        elif isinstance(value, float):
            number = Decimal(repr(value))  # the shortest decimal form: 0.1 stays 0.1
        elif isinstance(value, str):
            try:
                number = Decimal(value.strip())
            except InvalidOperation:
                number = None
        if number is None or not number.is_finite() or number < 0:
            shown = json.dumps(value) if isinstance(value, str) else repr(value)
            raise self.fail(where, f"must be a non-negative number, got {shown}")
        return number

    def _date(self, value: Any, where: list[str | int]) -> date:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise self.fail(where, f"must be a date like 2026-01-31, got {value!r}")

    def _text(self, value: Any, where: list[str | int]) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"must be a non-empty string, got {value!r}")
        return value.strip()


def _line_of(lines: list[str], path: Sequence[str | int]) -> int | None:
    """The 1-based line of a key path, found in the text (the parsers give values, not positions).

    Each name is looked for after the line of the one before: as a TOML key or table header, a
    JSON member or a YAML mapping key. An index is the n-th ``[[name]]`` table, or the n-th list
    item of a JSON or YAML list. Best effort: ``None`` when the key cannot be placed.
    """
    current: int | None = None
    previous = ""
    for segment in path:
        start = 0 if current is None else current
        if isinstance(segment, int):
            header = re.compile(rf"^\s*\[\[\s*{re.escape(previous)}\s*\]\]")
            headers = [n for n, line in enumerate(lines) if header.match(line)]
            items = [n for n, line in enumerate(lines[start:], start) if re.match(r"^\s*(-\s|\{)", line)]
            found = headers or items
            if len(found) > segment:
                current = found[segment]
            continue
        key = re.compile(rf"(^|[\[.{{,\s])[\"']?{re.escape(segment)}[\"']?\s*(=|:|\]|\.)")
        line_index = next((n for n in range(start, len(lines)) if key.search(lines[n])), None)
        if line_index is not None:
            current = line_index
        previous = segment
    return None if current is None else current + 1
