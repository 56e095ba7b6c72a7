"""The ``opentelemetry_configurator`` entry point: ``opentelemetry-instrument`` with no other distro.

``opentelemetry-instrument`` configures the SDK only through a configurator, which usually comes
with ``opentelemetry-distro``; without one it instruments libraries into a tracer provider that
records nothing. This configurator is the SDK's standard one (exactly what ``opentelemetry-distro``
ships: exporters, sampler and resource from the standard ``OTEL_*`` variables), followed by
``install_from_environment()``.

``opentelemetry-instrument`` loads one configurator: the one named by ``OTEL_PYTHON_CONFIGURATOR``,
else the first it finds. Whichever runs, the ``opentelemetry_post_instrument`` entry point
installs the processor afterwards (``install_from_environment`` is idempotent), so this works beside
``opentelemetry-distro`` and vendor distros alike. With a vendor configurator installed as well,
set ``OTEL_PYTHON_CONFIGURATOR`` to its name so it is the one chosen.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk._configuration import _OTelSDKConfigurator

from otel_llm_cost._install import install_from_environment


class LLMCostConfigurator(_OTelSDKConfigurator):
    """The SDK's configurator, then the LLM cost processor when ``OTEL_LLM_COST_ENABLED=true``."""

    def _configure(self, **kwargs: Any) -> None:
        super()._configure(**kwargs)  # type: ignore[no-untyped-call]  # the SDK leaves it unannotated
        install_from_environment()
