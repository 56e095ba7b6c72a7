"""Zero-code and one-call setup: ``opentelemetry-instrument`` with environment variables only, and
``otel_llm_cost.install()``."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from conftest import query
from opentelemetry.sdk.trace import TracerProvider
from otlp_receiver import HTTPReceiver

import otel_llm_cost
from otel_llm_cost import LLMCostSpanProcessor, install
from otel_llm_cost._install import install_from_environment

BIN = Path(sys.executable).parent

APP = textwrap.dedent(
    """
    import json, os, sys
    from opentelemetry import trace
    import otel_llm_cost

    provider = trace.get_tracer_provider()
    tracer = trace.get_tracer("app")
    for tokens in (1000, 2000, 3000):
        tracer.start_span("chat gpt-4o-mini", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": tokens, "gen_ai.usage.output_tokens": 100,
        }).end()
    tracer.start_span("GET /health", attributes={"http.request.method": "GET"}).end()
    # Installing again in code finds the processor the environment installed.
    again = otel_llm_cost.install()
    processors = getattr(getattr(provider, "_active_span_processor", None), "_span_processors", ())
    ours = [p for p in processors if isinstance(p, otel_llm_cost.LLMCostSpanProcessor)]
    print(json.dumps({
        "provider": type(provider).__module__ + "." + type(provider).__name__,
        "installed": len(ours),
        "same": bool(ours) and again is ours[0],
    }))
    """
)


def instrument(tmp_path: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run the app under ``opentelemetry-instrument`` with these variables on top of a clean environment."""
    (tmp_path / "app.py").write_text(APP)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHONPATH"))}
    base.update({"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"})
    base.update({"no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}, **env)
    result = subprocess.run(
        [str(BIN / "opentelemetry-instrument"), sys.executable, "app.py"],
        cwd=tmp_path,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_opentelemetry_instrument_with_environment_variables_only(tmp_path: Path) -> None:
    db = str(tmp_path / "zero-code.duckdb")
    with HTTPReceiver() as receiver:
        out = instrument(
            tmp_path,
            {
                "OTEL_LLM_COST_ENABLED": "TRUE",
                "OTEL_LLM_COST_DB": db,
                "OTEL_LLM_COST_FORWARD": "otlp_http",
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_SERVICE_NAME": "zero-code-app",
                "OTEL_LLM_COST_MAX_QUEUE_SIZE": "lots",  # garbage: logged, ignored, no crash
            },
        )
        received = receiver.wait_for(3)
    # No opentelemetry-distro here: our configurator set the SDK up, then added the processor once.
    assert out == {"provider": "opentelemetry.sdk.trace.TracerProvider", "installed": 1, "same": True}
    rows = query(db, "SELECT service_name, input_tokens, cost_usd FROM llm_calls ORDER BY input_tokens")
    assert [(service, tokens, str(cost.normalize())) for service, tokens, cost in rows] == [
        ("zero-code-app", 1000, "0.00021"),
        ("zero-code-app", 2000, "0.00036"),
        ("zero-code-app", 3000, "0.00051"),
    ]
    assert sorted(span.attributes["gen_ai.usage.cost"] for span in received) == [0.00021, 0.00036, 0.00051]
    assert {span.resource["service.name"] for span in received} == {"zero-code-app"}


def test_the_hook_installs_even_when_another_configurator_is_chosen(tmp_path: Path) -> None:
    db = str(tmp_path / "hook.duckdb")
    out = instrument(
        tmp_path,
        {"OTEL_LLM_COST_ENABLED": "true", "OTEL_LLM_COST_DB": db, "OTEL_PYTHON_CONFIGURATOR": "someone_else"},
    )
    # Nobody configured the SDK, so install() made a TracerProvider; the post-instrument hook ran it.
    assert out == {"provider": "opentelemetry.sdk.trace.TracerProvider", "installed": 1, "same": True}
    assert query(db, "SELECT count(*) FROM llm_calls") == [(3,)]


def test_not_enabled_means_not_installed(tmp_path: Path) -> None:
    out = instrument(tmp_path, {"OTEL_LLM_COST_DB": str(tmp_path / "never.duckdb")})
    # The app's own install() call still installs (enabled by default in code), but nothing else did.
    assert out["installed"] == 1 and out["same"]
    out = instrument(tmp_path, {"OTEL_LLM_COST_ENABLED": "false", "OTEL_LLM_COST_DB": str(tmp_path / "never.duckdb")})
    assert out == {"provider": "opentelemetry.sdk.trace.TracerProvider", "installed": 0, "same": False}
    assert not (tmp_path / "never.duckdb").exists()


# --- install() in this process -----------------------------------------------------------------------


def test_install_adds_one_processor_per_provider(db_path: str) -> None:
    provider = TracerProvider()
    processor = install(db_path, tracer_provider=provider, flush_at_exit=False, max_queue_size=10)
    assert isinstance(processor, LLMCostSpanProcessor)
    assert (processor.db_path, processor._max_queue_size) == (db_path, 10)
    assert install(tracer_provider=provider) is processor
    assert provider._active_span_processor._span_processors == (processor,)
    assert otel_llm_cost.install is install and "install" in otel_llm_cost.__all__
    provider.shutdown()


@pytest.mark.parametrize(("kwargs", "env"), [({"enabled": False}, {}), ({}, {"OTEL_LLM_COST_ENABLED": "False"})])
def test_install_can_be_switched_off(kwargs: dict[str, Any], env: dict[str, str]) -> None:
    provider = TracerProvider()
    with mock.patch.dict(os.environ, env):
        assert install(tracer_provider=provider, **kwargs) is None
    assert provider._active_span_processor._span_processors == ()


def test_install_raises_for_a_bad_argument() -> None:
    with pytest.raises(ValueError, match=r"^max_queue_size must be a positive integer, got 0$"):
        install(tracer_provider=TracerProvider(), max_queue_size=0)


def test_install_from_environment_needs_an_explicit_true(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    provider = TracerProvider()
    with mock.patch("opentelemetry.trace.get_tracer_provider", return_value=provider):
        for value in ("", "yes", "1", "false"):
            with mock.patch.dict(os.environ, {"OTEL_LLM_COST_ENABLED": value}):
                assert install_from_environment() is None
        assert provider._active_span_processor._span_processors == ()
        with mock.patch.dict(os.environ, {"OTEL_LLM_COST_ENABLED": "true", "OTEL_LLM_COST_DB": ":memory:"}):
            processor = install_from_environment()
    assert processor is not None and provider._active_span_processor._span_processors == (processor,)
    assert [r.getMessage() for r in caplog.records] == [
        "ignoring OTEL_LLM_COST_ENABLED='yes': not true or false",
        "ignoring OTEL_LLM_COST_ENABLED='1': not true or false",
    ]
    provider.shutdown()


def test_install_from_environment_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    provider = TracerProvider()
    with (
        mock.patch("opentelemetry.trace.get_tracer_provider", return_value=provider),
        mock.patch.dict(os.environ, {"OTEL_LLM_COST_ENABLED": "true"}),
        mock.patch("otel_llm_cost.processor.LLMCostSpanProcessor.__init__", side_effect=RuntimeError("disk on fire")),
    ):
        assert install_from_environment() is None
    assert "otel-llm-cost could not be installed; the application runs without it" in caplog.text
