"""The whole effective-dated catalog in model_prices: bulk-loaded once per version, old versions
kept, and every priced call's price_id one of its rows."""

from __future__ import annotations

import copy
import itertools
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from genai_prices import data_snapshot, types
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags

from otel_llm_cost.catalog import catalog_plans, load_catalog
from otel_llm_cost.exporter import CostExporter
from otel_llm_cost.pricing import PRICE_VERSION, Pricer
from otel_llm_cost.store import DuckDBStore


def one(store: DuckDBStore, sql: str, params: list[Any] | None = None) -> Any:
    row = store.con.execute(sql, params or []).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


def test_the_whole_catalog_loads_once_per_version(store: DuckDBStore) -> None:
    pricer = Pricer()
    plans = catalog_plans(pricer)
    added = load_catalog(store.con, pricer)
    assert added == len(plans) == one(store, "SELECT count(*) FROM model_prices")
    snapshot = data_snapshot.get_snapshot()
    models = {(p.id, m.id) for p in snapshot.providers for m in p.models}
    assert {tuple(r) for r in store.con.execute("SELECT provider_id, model_id FROM model_prices").fetchall()} >= models
    # every model, and those a provider prices from another (Azure's OpenAI models, Vertex's Claude)
    assert one(store, "SELECT count(DISTINCT (provider_id, model_id)) FROM model_prices") > len(models)
    assert one(store, "SELECT count(*) FROM model_prices WHERE provider_id = 'azure' AND model_id = 'gpt-4o'") > 0
    # every price period of every model: more rows than models (price changes, variants, off-peak)
    periods = sum(1 if isinstance(m.prices, types.ModelPrice) else len(m.prices)
                  for p in snapshot.providers for m in p.models)  # fmt: skip
    assert added >= periods
    assert load_catalog(store.con, pricer) == 0  # already there: one UPDATE, no rows
    assert one(store, "SELECT count(*), max(price_rows) FROM model_price_catalogs") == (1, added)


def test_rows_carry_dates_tiers_variants_and_every_dimension(store: DuckDBStore) -> None:
    load_catalog(store.con, Pricer())
    tiered = store.con.execute(
        "SELECT input_mtok, output_mtok, cache_write_mtok, cache_write_1h_mtok, tiers->>'$.input_mtok[0].price'"
        " FROM model_prices WHERE provider_id = 'anthropic' AND model_id = 'claude-sonnet-4-5' AND variant = ''"
    ).fetchall()
    assert tiered == [(Decimal(3), Decimal(15), Decimal("3.75"), Decimal(6), "6")]
    flex = store.con.execute(
        "SELECT effective_from::VARCHAR, effective_to, input_mtok, output_mtok FROM model_prices"
        " WHERE provider_id = 'openai' AND model_id = 'gpt-5' AND variant = 'service_tier=flex'"
    ).fetchall()
    assert flex == [("2026-10-12", None, Decimal("0.625"), Decimal(5))]
    audio = store.con.execute(
        "SELECT input_audio_mtok, output_audio_mtok, cache_audio_read_mtok, input_image_mtok FROM model_prices"
        " WHERE provider_id = 'openai' AND model_id = 'gpt-realtime-mini' AND variant = ''"
    ).fetchall()
    assert audio == [(Decimal(10), Decimal(20), Decimal("0.3"), Decimal("0.8"))]
    assert one(store, "SELECT requests_kcount FROM model_prices WHERE model_id = 'sonar'") == Decimal(12)
    off_peak = store.con.execute(
        "SELECT DISTINCT time_of_day FROM model_prices WHERE provider_id = 'deepseek' AND time_of_day IS NOT NULL"
    ).fetchall()
    assert off_peak  # deepseek's off-peak windows are rows of their own


def test_a_newer_catalog_adds_rows_and_keeps_the_old_ones(store: DuckDBStore) -> None:
    old = Pricer()
    load_catalog(store.con, old)
    before = store.con.execute("SELECT * EXCLUDE (first_used_at) FROM model_prices ORDER BY price_id").fetchall()
    # A newer catalog in which gpt-4o-mini's price changes on 2027-01-01.
    providers = copy.deepcopy(data_snapshot.get_snapshot().providers)
    openai = next(p for p in providers if p.id == "openai")
    model = next(m for m in openai.models if m.id == "gpt-4o-mini")
    assert isinstance(model.prices, types.ModelPrice)
    model.prices = [
        types.ConditionalPrice(prices=model.prices),
        types.ConditionalPrice(constraint=types.StartDateConstraint(start_date=datetime(2027, 1, 1).date()),
                               prices=types.ModelPrice(input_mtok=Decimal("0.1"), output_mtok=Decimal("0.4"))),
    ]  # fmt: skip
    new = Pricer(snapshot=data_snapshot.DataSnapshot(providers=providers, from_auto_update=False),
                 catalog_version="genai-prices==9.9.9")  # fmt: skip
    added = load_catalog(store.con, new)
    assert added == len(catalog_plans(new))
    after = store.con.execute(
        "SELECT * EXCLUDE (first_used_at) FROM model_prices WHERE price_version = ? ORDER BY price_id", [PRICE_VERSION]
    ).fetchall()
    assert after == before  # nothing overwritten
    rows = store.con.execute(
        "SELECT effective_from::VARCHAR, effective_to::VARCHAR, input_mtok FROM model_prices_current"
        " WHERE provider_id = 'openai' AND model_id = 'gpt-4o-mini' AND variant = ''"
        " ORDER BY effective_from NULLS FIRST"
    ).fetchall()
    assert rows == [(None, "2027-01-01", Decimal("0.15")), ("2027-01-01", None, Decimal("0.1"))]
    assert one(store, "SELECT count(DISTINCT price_version) FROM model_prices_current") == 1


def test_the_exporter_loads_the_catalog_a_slice_per_batch(store: DuckDBStore) -> None:
    pricer = Pricer()
    exporter = CostExporter(store, pricer=pricer)
    total = len(catalog_plans(pricer))
    attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
                  "gen_ai.usage.input_tokens": 1, "gen_ai.usage.output_tokens": 1}  # fmt: skip
    loaded = []
    for i in range(1, total // 500 + 3):
        context = SpanContext(trace_id=2, span_id=i, is_remote=False, trace_flags=TraceFlags(1))
        exporter.export([ReadableSpan(name="chat", context=context, attributes=attributes, start_time=1, end_time=1)])
        loaded.append(one(store, "SELECT count(*) FROM model_prices"))
    # 500 rows after each batch (plus the gpt-4o plan the first batch wrote, unless in that slice),
    # until the whole catalog is there and its version is recorded
    assert total % 500 and loaded[0] in (500, 501) and loaded[-2] == loaded[-1] == total
    assert all(0 < later - earlier <= 500 for earlier, later in itertools.pairwise(loaded[:-1]))
    assert one(store, "SELECT price_version, price_rows FROM model_price_catalogs") == (PRICE_VERSION, total)
    assert one(store, "SELECT count(*) FROM llm_calls") == total // 500 + 2
    # A new exporter on the same database finds the version there and loads nothing.
    CostExporter(store, pricer=Pricer()).export([ReadableSpan(name="chat", context=SpanContext(
        trace_id=3, span_id=1, is_remote=False, trace_flags=TraceFlags(1)), attributes=attributes)])  # fmt: skip
    assert one(store, "SELECT count(*) FROM model_prices") == total


def test_every_priced_call_points_at_a_catalog_row(store: DuckDBStore) -> None:
    calls = [  # (provider, model, service tier, when)
        ("openai", "gpt-5", "flex", datetime(2026, 11, 2, 9)), ("openai", "gpt-5", None, datetime(2025, 3, 1)),
        ("anthropic", "claude-haiku-4-5", "batch", datetime(2026, 11, 2)),
        ("deepseek", "deepseek-chat", None, datetime(2026, 11, 2, 2)),
        ("deepseek", "deepseek-chat", None, datetime(2026, 11, 2, 20)),
        ("deepseek", "deepseek-v4-flash", None, datetime(2026, 11, 2, 2)),  # off-peak and peak windows
        ("deepseek", "deepseek-v4-flash", None, datetime(2026, 11, 2, 20)),
        ("aws.bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", None, datetime(2026, 5, 5)),
        ("azure.ai.openai", "gpt-4o", "priority", datetime(2026, 11, 2)),
        ("gcp.vertex_ai", "gemini-3.8-flash-tts", "flex", datetime(2026, 11, 2)),
        ("gcp.vertex_ai", "gemini-3.8-flash-tts", "flex", datetime(2027, 2, 2)),  # its second flex price
    ]  # fmt: skip
    spans = []
    for i, (provider, model, tier, when) in enumerate(calls, start=1):
        ns = int(when.replace(tzinfo=timezone.utc).timestamp() * 1e9)
        attributes: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider,
                                      "gen_ai.request.model": model, "gen_ai.usage.input_tokens": 1000,
                                      "gen_ai.usage.output_tokens": 100}  # fmt: skip
        if tier:
            attributes["openai.response.service_tier"] = tier
        context = SpanContext(trace_id=1, span_id=i, is_remote=False, trace_flags=TraceFlags(1))
        spans.append(ReadableSpan(name="chat", context=context, attributes=attributes, start_time=ns, end_time=ns))
    pricer = Pricer()
    CostExporter(store, pricer=pricer).export(spans)
    assert one(store, "SELECT count(*) FROM llm_calls WHERE pricing_status = 'priced'") == len(calls)
    orphans = "SELECT count(*) FROM llm_calls c ANTI JOIN model_prices p USING (price_id)"
    assert one(store, orphans) == 0
    # The plans the calls used are rows of the catalog: once it is all loaded, the table holds it only.
    assert 0 < one(store, "SELECT count(*) FROM model_prices") < len(catalog_plans(pricer))  # a first slice
    load_catalog(store.con, pricer)
    assert one(store, "SELECT count(*) FROM model_prices") == len(catalog_plans(pricer))
    variants = store.con.execute(
        "SELECT c.priced_model, p.variant FROM llm_calls c JOIN model_prices p USING (price_id) ORDER BY c.span_id"
    ).fetchall()
    assert [v for _, v in variants] == ["service_tier=flex", "", "processing=batch", "", "", "", "", "", "",
                                         "service_tier=flex", "service_tier=flex"]  # fmt: skip
