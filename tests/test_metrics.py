"""Cost, call, token and health metrics, read back with the SDK's InMemoryMetricReader: exact sums."""

from __future__ import annotations

import gc
import json
import logging
import os
import re
from pathlib import Path
from typing import Any
from unittest import mock

import duckdb
import pytest
from conftest import chat_attributes
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Histogram, InMemoryMetricReader, Sum
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm_cost import LLMCostSpanProcessor
from otel_llm_cost.metrics import COST_BUCKETS_USD

RESOURCE = Resource.create({"service.name": "shop", "deployment.environment.name": "prod"})
BASE = {
    "gen_ai.provider.name": "openai",
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4o-mini",
    "service.name": "shop",
    "deployment.environment": "prod",
}


def collect(reader: InMemoryMetricReader) -> dict[str, dict[frozenset[tuple[str, Any]], Any]]:
    """{metric name: {attributes: data point}}, plus each metric's unit under key '__unit__'."""
    out: dict[str, dict[Any, Any]] = {}
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            assert scope_metrics.scope.name == "otel_llm_cost"
            for metric in scope_metrics.metrics:
                points = out.setdefault(metric.name, {"__unit__": metric.unit})
                for point in metric.data.data_points:
                    points[frozenset((point.attributes or {}).items())] = point
    return out


def key(**attributes: Any) -> frozenset[tuple[str, Any]]:
    return frozenset(attributes.items())


def run(reader: InMemoryMetricReader, spans: list[dict[str, Any]], **kwargs: Any) -> LLMCostSpanProcessor:
    provider = TracerProvider(resource=RESOURCE)
    processor = LLMCostSpanProcessor(
        db_path=kwargs.pop("db_path"), meter_provider=MeterProvider(metric_readers=[reader]), flush_at_exit=False,
        **kwargs,
    )  # fmt: skip
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("app")
    for attributes in spans:
        tracer.start_span("call", attributes=attributes).end()
    assert processor.force_flush()
    return processor


def test_cost_histogram_and_call_counter_exact(db_path: str) -> None:
    reader = InMemoryMetricReader()
    processor = run(
        reader,
        [
            chat_attributes(),  # $0.00021
            chat_attributes(gen_ai__usage__input_tokens=2000, gen_ai__usage__output_tokens=500),  # $0.0006
            chat_attributes(gen_ai__request__model="acme-1"),  # unknown: counted, never costed as 0
            chat_attributes(gen_ai__response__id="r1", gen_ai__usage__output_tokens=7),
            chat_attributes(gen_ai__response__id="r1", gen_ai__usage__output_tokens=7),  # the same call again
        ],
        db_path=db_path,
    )
    metrics = collect(reader)
    priced = key(**BASE, **{"llm.cost.pricing_status": "priced"})
    unknown = key(**{**BASE, "gen_ai.request.model": "acme-1"}, **{"llm.cost.pricing_status": "unknown_model"})

    cost = metrics["gen_ai.usage.cost"]
    assert cost["__unit__"] == "USD"
    assert set(cost) == {"__unit__", priced}
    # Each Decimal cost becomes a float once; the SDK adds them in recording order.
    assert cost[priced].sum == 0.00021 + 0.0006 + 0.0001542  # the third: 1000 x $0.15 + 7 x $0.60 per million
    assert (cost[priced].count, cost[priced].min, cost[priced].max) == (3, 0.0001542, 0.0006)
    assert tuple(cost[priced].explicit_bounds) == COST_BUCKETS_USD

    calls = metrics["otel_llm_cost.calls"]
    assert calls["__unit__"] == "{call}"
    assert {k: p.value for k, p in calls.items() if k != "__unit__"} == {priced: 3, unknown: 1}
    assert "gen_ai.client.token.usage" not in metrics  # off by default: instrumentations record it
    assert processor.stats().duplicates == 1
    processor.shutdown()


def test_token_usage_when_asked(db_path: str) -> None:
    reader = InMemoryMetricReader()
    spans = [
        chat_attributes(),
        chat_attributes(gen_ai__usage__input_tokens=30, gen_ai__response__model="gpt-4o-mini-2024-07-18"),
    ]
    run(reader, spans, db_path=db_path, token_usage_metrics=True).shutdown()
    tokens = collect(reader)["gen_ai.client.token.usage"]
    semconv = {"gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"}
    dated = {**semconv, "gen_ai.response.model": "gpt-4o-mini-2024-07-18"}
    assert tokens["__unit__"] == "{token}"
    assert {k: (p.sum, p.count) for k, p in tokens.items() if k != "__unit__"} == {
        key(**semconv, **{"gen_ai.token.type": "input"}): (1000, 1),
        key(**semconv, **{"gen_ai.token.type": "output"}): (100, 1),
        key(**dated, **{"gen_ai.token.type": "input"}): (30, 1),
        key(**dated, **{"gen_ai.token.type": "output"}): (100, 1),
    }


def test_health_counters_read_the_processor_stats(db_path: str) -> None:
    reader = InMemoryMetricReader()
    memory = InMemorySpanExporter()
    processor = run(
        reader,
        [chat_attributes(), chat_attributes(), {"http.request.method": "GET"}],
        db_path=db_path,
        forward_to=memory,
        forward_all_spans=True,
    )
    health = {
        name: {dict(k).popitem()[1]: p.value for k, p in points.items() if k != "__unit__"}
        for name, points in collect(reader).items()
        if name.startswith("otel_llm_cost.") and name != "otel_llm_cost.calls"
    }
    assert health == {
        "otel_llm_cost.queued": {"price": 0, "forward": 0},
        "otel_llm_cost.dropped": {"price": 0, "forward": 0},
        "otel_llm_cost.exported": {"duckdb": 2, "forward": 3},
        "otel_llm_cost.failed": {"duckdb": 0, "forward": 0},
    }
    processor.shutdown()


def test_a_collected_processor_is_no_longer_reported(db_path: str) -> None:
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    first = LLMCostSpanProcessor(db_path=db_path, meter_provider=meter_provider, flush_at_exit=False)
    second = LLMCostSpanProcessor(db_path=db_path + "2", meter_provider=meter_provider, flush_at_exit=False)
    first._dropped_queue_full = second._dropped_queue_full = 5
    assert collect(reader)["otel_llm_cost.dropped"][key(**{"otel_llm_cost.queue": "price"})].value == 10
    second.shutdown()
    del second
    gc.collect()
    assert collect(reader)["otel_llm_cost.dropped"][key(**{"otel_llm_cost.queue": "price"})].value == 5
    first.shutdown()


@pytest.mark.parametrize(("kwargs", "env"), [({"metrics": False}, {}), ({}, {"OTEL_LLM_COST_METRICS": "FALSE"})])
def test_metrics_can_be_turned_off(db_path: str, kwargs: dict[str, Any], env: dict[str, str]) -> None:
    reader = InMemoryMetricReader()
    with mock.patch.dict(os.environ, env):
        processor = run(reader, [chat_attributes()], db_path=db_path, **kwargs)
    assert collect(reader) == {}
    processor.shutdown()


def test_garbage_metric_switches_are_logged_and_ignored(db_path: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    reader = InMemoryMetricReader()
    env = {"OTEL_LLM_COST_METRICS": "no", "OTEL_LLM_COST_TOKEN_USAGE_METRICS": "1"}
    with mock.patch.dict(os.environ, env):
        processor = run(reader, [chat_attributes()], db_path=db_path)
    metrics = collect(reader)
    assert "gen_ai.usage.cost" in metrics and "gen_ai.client.token.usage" not in metrics
    assert [r.getMessage() for r in caplog.records] == [
        "ignoring OTEL_LLM_COST_METRICS='no': not true or false",
        "ignoring OTEL_LLM_COST_TOKEN_USAGE_METRICS='1': not true or false",
    ]
    processor.shutdown()


# --- the Grafana dashboards in examples/grafana ------------------------------------------------------

GRAFANA = Path(__file__).resolve().parents[1] / "examples" / "grafana"


def prometheus_series(reader: InMemoryMetricReader) -> tuple[set[str], set[str]]:
    """The series names and labels our instruments become behind the Collector's Prometheus exporter
    (OTel -> Prometheus rules: dots to underscores, the unit appended unless it is an {annotation},
    _total on monotonic sums, _sum/_count/_bucket on histograms)."""
    names, labels = set(), {"le"}
    data = reader.get_metrics_data()
    assert data is not None
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                base = metric.name.replace(".", "_")
                if metric.unit and not metric.unit.startswith("{"):
                    base += "_" + metric.unit
                if isinstance(metric.data, Histogram):
                    names |= {base + "_sum", base + "_count", base + "_bucket"}
                elif isinstance(metric.data, Sum) and metric.data.is_monotonic:
                    names.add(base + "_total")
                else:
                    names.add(base)
                for point in metric.data.data_points:
                    labels |= {key.replace(".", "_") for key in (point.attributes or {})}
    return names, labels


def test_the_prometheus_dashboard_queries_only_series_we_emit(db_path: str) -> None:
    reader = InMemoryMetricReader()
    run(reader, [chat_attributes(), chat_attributes(gen_ai__request__model="acme-1")], db_path=db_path).shutdown()
    names, labels = prometheus_series(reader)
    dashboard = json.loads((GRAFANA / "llm-cost-prometheus.json").read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    queries += [v["definition"] for v in dashboard["templating"]["list"]]
    # Label names share the prefixes; whatever is not one of our labels must be one of our series.
    used_names = {name for q in queries for name in re.findall(r"\b(?:gen_ai|otel_llm_cost)_\w+", q)} - labels
    used_labels = {label for q in queries for label in re.findall(r"(\w+)\s*(?:=~|!=|=)\s*\"", q)}
    used_labels |= {label for q in queries for group in re.findall(r"by \(([^)]*)\)", q) for label in group.split(",")}
    used_labels |= {label for q in queries for label in re.findall(r"label_values\(\w+, (\w+)\)", q)}
    legends = [t.get("legendFormat", "") for p in dashboard["panels"] for t in p.get("targets", [])]
    used_labels |= {label for legend in legends for label in re.findall(r"\{\{(\w+)\}\}", legend)}
    used_labels = {label.strip() for label in used_labels}
    assert used_names and used_names <= names, used_names - names
    assert used_labels <= labels, used_labels - labels
    assert {"gen_ai_usage_cost_USD_sum", "otel_llm_cost_calls_total", "otel_llm_cost_dropped_total"} <= used_names


def test_the_duckdb_dashboard_sql_runs_on_a_real_file(db_path: str) -> None:
    reader = InMemoryMetricReader()
    spans = [
        chat_attributes(gen_ai__usage__cache_read__input_tokens=400, gen_ai__conversation__id="c1"),
        chat_attributes(gen_ai__request__model="acme-1"),
    ]
    run(reader, spans, db_path=db_path).shutdown()
    dashboard = json.loads((GRAFANA / "llm-cost-duckdb.json").read_text())
    assert {p["datasource"]["type"] for p in dashboard["panels"]} == {"motherduck-duckdb-datasource"}
    sql = {p["title"]: t["rawSql"] for p in dashboard["panels"] for t in p["targets"]}
    sql["variable"] = dashboard["templating"]["list"][0]["query"]

    def grafana(text: str) -> str:  # what the data source's macros and the "All" variable expand to
        text = re.sub(r"\$__timeFilter\((\w+(?:\.\w+)?)\)", r"(\1 BETWEEN TIMESTAMPTZ '2000-01-01' AND now())", text)
        return text.replace("${service}", "%")

    with duckdb.connect(db_path, read_only=True) as con:
        results = {title: con.execute(grafana(text)).fetchall() for title, text in sql.items()}
    assert results["Cost in range"] == [(0.00018,)]
    assert results["Calls"] == [(2,)] and results["Unpriced calls"] == [(1,)]
    assert results["Saved by prompt caching"] == [(400 * (0.15 - 0.075) / 1e6,)]
    assert results["Most expensive conversations"][0][:3] == ("c1", 1, 0.00018)
    assert [row[5] for row in results["Unpriced calls (what the bill may still hold)"]] == ["unknown_model"]
    assert results["variable"] == [("shop",)]
