"""One call, or no code at all: add the processor to the application's tracing.

``install()`` is the code path. ``install_from_environment()`` is the zero-code path: the
``opentelemetry_post_instrument`` entry point runs it inside ``opentelemetry-instrument``, after
whichever configurator set the SDK up (ours, in ``_configurator``, or ``opentelemetry-distro``'s),
and it does nothing unless ``OTEL_LLM_COST_ENABLED=true``.

This module is imported by ``opentelemetry-instrument`` in every process where the package is
installed, enabled or not, so it imports nothing heavy (DuckDB, pyarrow, genai-prices) until it is
asked to install.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from otel_llm_cost import _settings
from otel_llm_cost import environment_variables as env

if TYPE_CHECKING:
    from otel_llm_cost.processor import LLMCostSpanProcessor

logger = logging.getLogger(__name__)

# One processor per tracer provider, whoever asks: install() twice (or the configurator and the
# post-instrument hook both) must not price and store every span twice.
_installed: weakref.WeakKeyDictionary[Any, LLMCostSpanProcessor] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def install(
    db_path: str | None = None,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    enabled: bool | None = None,
    **options: Any,
) -> LLMCostSpanProcessor | None:
    """Add an :class:`LLMCostSpanProcessor` to the application's tracer provider, once.

    Example::

        import otel_llm_cost
        otel_llm_cost.install("llm-cost.duckdb", forward_to="otlp")

    Args:
        db_path: the DuckDB file; :envvar:`OTEL_LLM_COST_DB`, else ``llm-cost.duckdb``.
        tracer_provider: the SDK ``TracerProvider`` to add it to; by default the global one. When
            no global provider is set yet, a new SDK ``TracerProvider`` (resource from the
            standard ``OTEL_SERVICE_NAME``/``OTEL_RESOURCE_ATTRIBUTES``) is created and set.
        enabled: False makes this a no-op; :envvar:`OTEL_LLM_COST_ENABLED`, else True.
        **options: any other :class:`LLMCostSpanProcessor` argument (``forward_to``,
            ``forward_all_spans``, ``max_queue_size``, ``metrics``, ...).

    Returns:
        The processor (the one installed earlier, if any), or None when disabled or when the
        tracer provider is not the SDK's (``OTEL_SDK_DISABLED=true``, a no-op provider).

    Raises:
        ValueError: a malformed argument (as :class:`LLMCostSpanProcessor` raises it).
    """
    if not _settings.boolean("enabled", enabled, env.OTEL_LLM_COST_ENABLED, True):
        logger.debug("otel-llm-cost is disabled (%s=false)", env.OTEL_LLM_COST_ENABLED)
        return None
    from otel_llm_cost.processor import LLMCostSpanProcessor  # heavy: only when installing

    with _lock:
        provider: Any = tracer_provider if tracer_provider is not None else _global_sdk_provider()
        if provider is None:
            return None
        existing = _installed.get(provider)
        if existing is not None:
            logger.debug("otel-llm-cost is already installed on this tracer provider")
            return existing
        processor = LLMCostSpanProcessor(db_path, **options)
        provider.add_span_processor(processor)
        _installed[provider] = processor
    logger.info("otel-llm-cost: pricing LLM spans into %s", processor.db_path or "the given store")
    return processor


def install_from_environment() -> LLMCostSpanProcessor | None:
    """The zero-code path: install when ``OTEL_LLM_COST_ENABLED=true``, configured only by the
    ``OTEL_LLM_COST_*`` variables. Bad values are logged and ignored; nothing here raises into the
    application's startup."""
    try:
        if _settings.env_boolean(env.OTEL_LLM_COST_ENABLED) is not True:
            return None
        return install()
    except Exception:
        logger.exception("otel-llm-cost could not be installed; the application runs without it")
        return None


def _global_sdk_provider() -> Any:
    from opentelemetry.sdk.trace import TracerProvider

    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider):
        # Nobody configured tracing: one call should still be enough.
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
        provider = trace.get_tracer_provider()  # another thread may have won the race
    if not hasattr(provider, "add_span_processor"):
        logger.warning(
            "otel-llm-cost not installed: the tracer provider (%s) takes no span processors",
            type(provider).__name__,
        )
        return None
    return provider
