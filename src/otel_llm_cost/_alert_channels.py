"""Where a budget alert goes: a JSON webhook, a Slack incoming webhook, email over SMTP, an OTel log
record, a span event, or a Python callback. Each channel sends one alert, or raises; retries,
timeouts and counting are the dispatcher's (``_alert_delivery``).

Secrets stay out of logs: a channel's ``target`` (what logs and ``llm_budget_deliveries`` show) is
a webhook URL cut to its scheme and host, and the SMTP password is never part of any message.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Final, Protocol
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry._logs import LoggerProvider, SeverityNumber, get_logger

from otel_llm_cost import environment_variables as env
from otel_llm_cost.budgets import Alert, Channel, callable_name, format_usd

SMTP_SECURITY: Final = ("starttls", "ssl", "none")
EVENT_NAME: Final = "llm_cost.budget_alert"


class AlertChannel(Protocol):
    kind: str  #: webhook | slack | email | otel_log | span_event | callback
    target: str  #: where, with secrets masked

    def send(self, alert: Alert, timeout_s: float) -> None: ...


def mask_url(url: str) -> str:
    """``https://hooks.slack.com/services/T0/B0/XYZ`` -> ``https://hooks.slack.com/***``: webhook
    URLs carry their secret in the path or query, and sometimes in user:password@."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/***"


@dataclass(frozen=True)
class SmtpSettings:
    """How email alerts are sent. Every field falls back to its ``OTEL_LLM_COST_SMTP_*`` variable
    (see :meth:`from_env`).

    Args:
        host: SMTP server; :envvar:`OTEL_LLM_COST_SMTP_HOST`, else ``localhost``.
        port: :envvar:`OTEL_LLM_COST_SMTP_PORT`, else 465 for ``ssl``, 587 for ``starttls``, 25 otherwise.
        security: ``starttls``, ``ssl`` (TLS from the first byte) or ``none``;
            :envvar:`OTEL_LLM_COST_SMTP_SECURITY`, else ``starttls``.
        username: log in with this user; :envvar:`OTEL_LLM_COST_SMTP_USERNAME`, else no login.
        password: :envvar:`OTEL_LLM_COST_SMTP_PASSWORD`. Never logged.
        sender: the From address; :envvar:`OTEL_LLM_COST_SMTP_FROM`, else ``otel-llm-cost@localhost``.
    """

    host: str = "localhost"
    port: int | None = None
    security: str = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "otel-llm-cost@localhost"

    def __post_init__(self) -> None:
        if self.security not in SMTP_SECURITY:
            raise ValueError(f"SMTP security must be one of {', '.join(SMTP_SECURITY)}, got {self.security!r}")
        if self.port is not None and not 0 < self.port < 65536:
            raise ValueError(f"SMTP port must be 1 to 65535, got {self.port!r}")

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"ssl": 465, "starttls": 587}.get(self.security, 25)

    @classmethod
    def from_env(cls) -> SmtpSettings:
        """Settings from the ``OTEL_LLM_COST_SMTP_*`` variables; a malformed one raises ``ValueError``
        naming the variable (read once, when the processor starts)."""
        port_text = os.environ.get(env.OTEL_LLM_COST_SMTP_PORT, "").strip()
        try:
            port = int(port_text) if port_text else None
        except ValueError:
            raise ValueError(f"{env.OTEL_LLM_COST_SMTP_PORT}={port_text!r} is not a port number") from None
        return cls(
            host=os.environ.get(env.OTEL_LLM_COST_SMTP_HOST, "").strip() or "localhost",
            port=port,
            security=os.environ.get(env.OTEL_LLM_COST_SMTP_SECURITY, "").strip().lower() or "starttls",
            username=os.environ.get(env.OTEL_LLM_COST_SMTP_USERNAME) or None,
            password=os.environ.get(env.OTEL_LLM_COST_SMTP_PASSWORD) or None,
            sender=os.environ.get(env.OTEL_LLM_COST_SMTP_FROM, "").strip() or "otel-llm-cost@localhost",
        )


class WebhookChannel:
    """POST the alert as JSON. ``slack=True`` sends Slack's incoming-webhook shape (``{"text": ...}``,
    which Mattermost and Rocket.Chat accept too); otherwise :meth:`Alert.as_json`."""

    def __init__(self, url: str, *, slack: bool = False) -> None:
        self.kind = "slack" if slack else "webhook"
        self._url = url
        self.target = mask_url(url)

    def payload(self, alert: Alert) -> dict[str, object]:
        return {"text": alert.summary()} if self.kind == "slack" else alert.as_json()

    def send(self, alert: Alert, timeout_s: float) -> None:
        body = json.dumps(self.payload(alert)).encode()
        request = urllib.request.Request(
            self._url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # a Budget accepts http(s) URLs only
                response.read()
        except urllib.error.HTTPError as exc:
            # str(exc) would name the URL; the status is what matters.
            raise ConnectionError(f"HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise ConnectionError(str(exc.reason)) from None


class EmailChannel:
    """One email per alert, to every address, through :class:`SmtpSettings`."""

    kind = "email"

    def __init__(self, addresses: list[str], settings: SmtpSettings) -> None:
        self._addresses = addresses
        self._settings = settings
        self.target = ",".join(addresses)

    def message(self, alert: Alert) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = f"[LLM budget] {alert.budget}: {alert.threshold_pct}% of ${format_usd(alert.limit_usd)}"
        message["From"] = self._settings.sender
        message["To"] = ", ".join(self._addresses)
        lines = [alert.summary(), ""] + [f"{key}: {value}" for key, value in alert.as_json().items() if key != "text"]
        message.set_content("\n".join(lines) + "\n")
        return message

    def send(self, alert: Alert, timeout_s: float) -> None:
        s = self._settings
        client: smtplib.SMTP
        if s.security == "ssl":
            client = smtplib.SMTP_SSL(s.host, s.effective_port, timeout=timeout_s, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(s.host, s.effective_port, timeout=timeout_s)
        with client:
            if s.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if s.username:
                client.login(s.username, s.password or "")
            client.send_message(self.message(alert))


def _attributes(alert: Alert) -> dict[str, str | int]:
    data = alert.as_json()
    return {f"llm_cost.budget.{key}": value for key, value in data.items() if isinstance(value, (str, int))}


class OtelLogChannel:
    """An OTel log record (event ``llm_cost.budget_alert``, severity WARN) through the global
    ``LoggerProvider``: it reaches whatever log pipeline the application set up."""

    kind = "otel_log"
    target = "otel_log"

    def __init__(self, logger_provider: LoggerProvider | None = None) -> None:
        self._provider = logger_provider  # None: the global one, looked up at each alert

    def send(self, alert: Alert, timeout_s: float) -> None:
        get_logger("otel_llm_cost.budgets", logger_provider=self._provider).emit(
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            body=alert.summary(),
            attributes=_attributes(alert),
            event_name=EVENT_NAME,
        )


class SpanEventChannel:
    """A short span ``llm_cost.budget_alert`` with one event of that name, through the global
    ``TracerProvider``, so the alert shows in the trace backend next to the calls."""

    kind = "span_event"
    target = "span_event"

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self._provider = tracer_provider  # None: the global one, looked up at each alert

    def send(self, alert: Alert, timeout_s: float) -> None:
        tracer = trace.get_tracer("otel_llm_cost.budgets", tracer_provider=self._provider)
        with tracer.start_as_current_span(EVENT_NAME, attributes=_attributes(alert)) as span:
            span.add_event(EVENT_NAME, attributes=_attributes(alert))


class CallbackChannel:
    """Call a function with the :class:`Alert` (on the delivery thread)."""

    kind = "callback"

    def __init__(self, function: Callable[[Alert], object]) -> None:
        self._function = function
        self.target = callable_name(function)

    def send(self, alert: Alert, timeout_s: float) -> None:
        self._function(alert)


def make_channel(spec: Channel, smtp: SmtpSettings | None) -> AlertChannel:
    """A channel from a spec string already checked by :class:`Budget`, or from a callable."""
    if callable(spec):
        return CallbackChannel(spec)
    kind, _, target = spec.partition(":")
    if kind in ("webhook", "slack"):
        return WebhookChannel(target, slack=kind == "slack")
    if kind == "email":
        return EmailChannel([a.strip() for a in target.split(",")], smtp or SmtpSettings.from_env())
    if kind == "otel_log":
        return OtelLogChannel()
    if kind == "span_event":
        return SpanEventChannel()
    raise ValueError(f"unknown channel {kind!r}")
