"""The prices overrides file: custom models, discounts and dated fixes, priced to the exact Decimal;
bad files fail when loaded, naming the file, line and key."""

from __future__ import annotations

import json
import os
import textwrap
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags

from otel_llm_cost import LLMCostSpanProcessor
from otel_llm_cost.conventions import to_call_record
from otel_llm_cost.exporter import CostExporter
from otel_llm_cost.overrides import OverridesError, load_overrides
from otel_llm_cost.pricing import PRICE_VERSION, PRICED, Cost, Pricer
from otel_llm_cost.store import DuckDBStore

NOV_2026 = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)

FULL = """\
# Our prices
[models.my-llama]
provider = "self-hosted"
aliases = ["my-llama-v2"]
input_mtok = 0.20
output_mtok = 0.60

[discounts]
openai = 20
"anthropic/claude-haiku-4-5" = 10

[[fixes]]
provider = "deepseek"
model = "deepseek-chat"
effective_from = 2026-01-01
effective_to = 2026-02-01
input_mtok = 0.1
"""


def write(tmp_path: Path, text: str, name: str = "prices.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), "utf-8")
    return path


def span(attributes: dict[str, Any], when: datetime = NOV_2026, span_id: int = 2) -> ReadableSpan:
    ns = int(when.timestamp() * 1e9)
    context = SpanContext(trace_id=1, span_id=span_id, is_remote=False, trace_flags=TraceFlags(1))
    attributes = {"gen_ai.operation.name": "chat", **attributes}
    return ReadableSpan(name="chat", context=context, attributes=attributes, start_time=ns, end_time=ns + 1)


def call(provider: str, model: str, input_tokens: int, output_tokens: int, **more: Any) -> dict[str, Any]:
    return {"gen_ai.provider.name": provider, "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens, **more}  # fmt: skip


def price(pricer: Pricer, attributes: dict[str, Any], when: datetime = NOV_2026) -> Cost:
    record = to_call_record(span(attributes, when))
    assert record is not None
    return pricer.price(record)


@pytest.fixture
def pricer(tmp_path: Path) -> Pricer:
    return Pricer(prices_file=write(tmp_path, FULL))


def test_a_custom_model_is_priced_per_token_by_name_or_alias(pricer: Pricer) -> None:
    assert pricer.overrides is not None
    for name in ("my-llama", "MY-LLAMA-v2"):
        # a self-hosted model behind an OpenAI-compatible server: the span says "openai"
        cost = price(pricer, call("openai", name, 1000, 500))
        # 1000 x $0.20 + 500 x $0.60 per MTok
        assert (cost.pricing_status, cost.cost_usd) == (PRICED, Decimal("0.0005"))
        assert (cost.priced_provider, cost.priced_model) == ("self-hosted", "my-llama")
        assert cost.price_version == f"{PRICE_VERSION}+overrides-{pricer.overrides.digest[:12]}"


def test_discounts_by_provider_and_by_model(pricer: Pricer) -> None:
    # gpt-5 lists at $1.25 in / $10 out per MTok: 20% off every openai model
    assert price(pricer, call("openai", "gpt-5", 10_000, 1000)).cost_usd == Decimal("0.018")
    # and off its service tiers too (flex lists at half price)
    flex = call("openai", "gpt-5", 10_000, 1000, **{"openai.response.service_tier": "flex"})
    assert price(pricer, flex).cost_usd == Decimal("0.009")
    # claude-haiku-4-5 ($1 in / $5 out): 10% off this model only
    assert price(pricer, call("anthropic", "claude-haiku-4-5", 10_000, 1000)).cost_usd == Decimal("0.0135")
    assert price(pricer, call("anthropic", "claude-sonnet-4-5", 10_000, 1000)).cost_usd == Decimal("0.045")


def test_a_fix_replaces_upstream_rates_between_its_dates(pricer: Pricer) -> None:
    attributes = call("deepseek", "deepseek-chat", 1_000_000, 0)
    inside = price(pricer, attributes, datetime(2026, 1, 15, 12, tzinfo=timezone.utc))
    assert inside.cost_usd == Decimal("0.1")
    plans = {p.price_id: p for p in pricer.take_new_plans()}
    fixed = plans[inside.price_id]
    assert (fixed.source, str(fixed.effective_from), str(fixed.effective_to)) == (
        "overrides",
        "2026-01-01",
        "2026-02-01",
    )
    after = price(pricer, attributes, datetime(2026, 2, 15, 12, tzinfo=timezone.utc))
    upstream = price(Pricer(), attributes, datetime(2026, 2, 15, 12, tzinfo=timezone.utc))
    assert after.cost_usd == upstream.cost_usd != Decimal("0.1")


def test_json_and_yaml_files_mean_the_same(tmp_path: Path) -> None:
    as_json = write(tmp_path, json.dumps({"models": {"my-llama": {"input_mtok": 0.2, "output_mtok": "0.6"}}}),
                    "prices.json")  # fmt: skip
    as_yaml = write(tmp_path, "models:\n  my-llama:\n    input_mtok: 0.2\n    output_mtok: 0.6\n", "prices.yaml")
    for path in (as_json, as_yaml):
        cost = price(Pricer(prices_file=path), call("openai", "my-llama", 1000, 500))
        assert cost.cost_usd == Decimal("0.0005"), path


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("prices.toml", '[models.my-llm]\ninput_mtok = 1\n\n# a comment\n\n[models.ft-gpt]\ninput_mtok = "abc"\n',
         'prices.toml line 7: models.ft-gpt.input_mtok: must be a non-negative number, got "abc"'),
        ("prices.toml", "[models.my-llm]\ninput_mtok = -1\n",
         "prices.toml line 2: models.my-llm.input_mtok: must be a non-negative number, got -1"),
        ("prices.toml", "[models.my-llm]\ninput_price = 1\n",
         "prices.toml line 2: models.my-llm.input_price: not a price key (input_mtok, output_mtok, cache_read_mtok, "
         "cache_write_mtok, cache_write_1h_mtok, input_audio_mtok, output_audio_mtok, requests_kcount, ...)"),
        ("prices.toml", "[models.my-llm]\nprovider = 'x'\n",
         "prices.toml line 1: models.my-llm: gives no rate (input_mtok, output_mtok, ...)"),
        ("prices.toml", "[[fixes]]\nmodel = 'gpt-4o'\neffective_from = 2026-01-01\ninput_mtok = 1\n\n[[fixes]]\n"
         "provider = 'openai'\nmodel = 'gpt-99-ultra'\neffective_from = 2026-01-01\ninput_mtok = 1\n",
         "prices.toml line 8: fixes[1].model: 'gpt-99-ultra' is not in the price catalog for provider 'openai' "
         "nor a custom model"),
        ("prices.toml", "[[fixes]]\nmodel = 'gpt-4o'\neffective_from = 2026-03-01\neffective_to = 2026-01-01\n"
         "input_mtok = 1\n",
         "prices.toml line 4: fixes[0].effective_to: must be after effective_from (2026-03-01), got 2026-01-01"),
        ("prices.toml", "[[fixes]]\nmodel = 'gpt-4o'\neffective_from = 'soon'\ninput_mtok = 1\n",
         "prices.toml line 3: fixes[0].effective_from: must be a date like 2026-01-31, got 'soon'"),
        ("prices.toml", "[discounts]\nopenai = 150\n",
         "prices.toml line 2: discounts.openai: must be a percentage from 0 to 100, got 150"),
        ("prices.toml", "[discount]\nopenai = 15\n",
         "prices.toml line 1: discount: unknown section; expected one of models, discounts, fixes"),
        ("prices.toml", "[models.x\ninput_mtok = 1\n",
         "prices.toml: not valid TOML: Expected ']' at the end of a table declaration (at line 1, column 10)"),
        ("prices.json", '{\n  "models": {\n    "x": {"input_mtok": true}\n  }\n}\n',
         "prices.json line 3: models.x.input_mtok: must be a non-negative number, got True"),
        ("prices.json", '{\n  "models": {\n', "prices.json line 3: not valid JSON: Expecting property name enclosed "
         "in double quotes"),
        ("prices.yaml", "models:\n  x:\n    input_mtok: [1]\n",
         "prices.yaml line 3: models.x.input_mtok: must be a non-negative number, got [1]"),
        ("prices.ini", "", "prices.ini: unknown prices file type '.ini'; use .toml, .json or .yaml"),
    ],
)  # fmt: skip
def test_a_bad_file_names_the_line_and_key(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(OverridesError) as raised:
        load_overrides(write(tmp_path, text, name))
    assert str(raised.value) == message


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(OverridesError, match=rf"^{missing}: cannot read the prices file: No such file or directory$"):
        Pricer(prices_file=missing)


def test_the_environment_variable_configures_the_processor_and_a_bad_file_fails_at_once(tmp_path: Path) -> None:
    good = write(tmp_path, FULL)
    with mock.patch.dict(os.environ, {"OTEL_LLM_COST_PRICES_FILE": str(good)}):
        processor = LLMCostSpanProcessor(store=DuckDBStore(":memory:"), metrics=False, flush_at_exit=False)
        try:
            processor.on_end(span(call("openai", "my-llama", 1000, 500)))
            assert processor.force_flush(10_000)
            store = processor.exporter._store
            assert store is not None
            row = store.con.execute("SELECT cost_usd, priced_provider FROM llm_calls").fetchone()
            assert row == (Decimal("0.000500000000000000"), "self-hosted")
        finally:
            processor.shutdown()
    bad = write(tmp_path, "[models.x]\ninput_mtok = 'abc'\n", "bad.toml")
    with mock.patch.dict(os.environ, {"OTEL_LLM_COST_PRICES_FILE": str(bad)}), pytest.raises(ValueError) as raised:
        LLMCostSpanProcessor(store=DuckDBStore(":memory:"), metrics=False, flush_at_exit=False)
    assert str(raised.value) == 'bad.toml line 2: models.x.input_mtok: must be a non-negative number, got "abc"'
    with pytest.raises(ValueError, match="pass either pricer or prices_file, not both"):
        LLMCostSpanProcessor(store=DuckDBStore(":memory:"), pricer=Pricer(), prices_file=good, flush_at_exit=False)


def test_an_overridden_call_records_the_override_row_that_priced_it(tmp_path: Path, store: DuckDBStore) -> None:
    pricer = Pricer(prices_file=write(tmp_path, FULL))
    exporter = CostExporter(store, pricer=pricer)
    exporter.export([span(call("openai", "my-llama", 1000, 500), span_id=1),
                     span(call("openai", "gpt-5", 10_000, 1000), span_id=2),
                     span(call("mistral", "mistral-large-latest", 1000, 0), span_id=3)])  # fmt: skip
    rows = store.con.execute(
        "SELECT c.priced_model, c.cost_usd, p.source, p.price_version = c.price_version, p.input_mtok"
        " FROM llm_calls c JOIN model_prices p USING (price_id) ORDER BY c.span_id"
    ).fetchall()
    assert rows == [
        ("my-llama", Decimal("0.0005"), "overrides", True, Decimal("0.2")),
        ("gpt-5", Decimal("0.018"), "overrides", True, Decimal("1.0")),  # $1.25 less 20%
        ("mistral-large", Decimal("0.002"), "genai-prices", True, Decimal(2)),  # untouched, same version
    ]
    version = store.con.execute("SELECT DISTINCT price_version FROM llm_calls").fetchall()
    assert version == [(pricer.price_version,)] and pricer.price_version.endswith(pricer.overrides.version)  # type: ignore[union-attr]


def test_the_readme_example_loads_and_prices(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    example = readme.split("### The overrides file", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    pricer = Pricer(prices_file=write(tmp_path, example))
    # my-llama-70b: 150k input, 130k of them cached (above the 128k tier: $0.10), 1k output
    attributes = call("openai", "llama-70b-ft-v2", 150_000, 1000, **{"gen_ai.usage.cache_read.input_tokens": 130_000})
    # 20k x $0.20 + 130k x $0.10 + 1k x $0.60 per MTok
    assert price(pricer, attributes).cost_usd == Decimal("0.0176")
    # gpt-4o in January 2026: the fix ($2 / $8), then 15% off openai
    january = price(pricer, call("openai", "gpt-4o", 1000, 1000), datetime(2026, 1, 10, tzinfo=timezone.utc))
    assert january.cost_usd == Decimal("0.0085")
