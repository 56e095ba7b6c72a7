"""Alert channels against local servers on 127.0.0.1: a webhook, a Slack-style webhook and SMTP
(aiosmtpd). Failing channels (unreachable, hanging, refusing) are logged with secrets masked,
counted, recorded, and never cost a row."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from aiosmtpd.controller import Controller
from conftest import chat_attributes, query
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm_cost import Alert, Budget, BudgetMonitor, LLMCostSpanProcessor, SmtpSettings
from otel_llm_cost._alert_channels import (
    EmailChannel,
    OtelLogChannel,
    SpanEventChannel,
    WebhookChannel,
    make_channel,
    mask_url,
)
from otel_llm_cost._alert_delivery import AlertDispatcher

SECRET = "T000/B000/s3cr3t-token"
ALERT = Alert(
    "team-daily", "service", "support-bot", None, "day", "Europe/Paris",
    datetime(2026, 3, 9, 23, tzinfo=timezone.utc), datetime(2026, 3, 10, 23, tzinfo=timezone.utc), 80,
    Decimal("20.5"), Decimal("25"), 3, datetime(2026, 3, 10, 15, 30, tzinfo=timezone.utc),
)  # fmt: skip


class Webhook:
    """A local HTTP server that records each POST; ``status`` and ``hang`` make it fail."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.status = 200
        self.hang = threading.Event()  # set: answer; clear: hold the request until teardown
        self.hang.set()
        self.released = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((self.path, self.headers["Content-Type"], json.loads(body)))
                if not outer.hang.is_set():
                    outer.released.wait(10)
                    return
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/{SECRET}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    server = Webhook()
    yield server
    server.close()


class Mailbox:
    def __init__(self, refuse: bool = False) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse = refuse

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.refuse:
            return "550 5.7.1 relaying denied"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


def deliver(channel: Any, *, timeout_s: float = 5.0, max_attempts: int = 2) -> AlertDispatcher:
    dispatcher = AlertDispatcher(timeout_s=timeout_s, max_attempts=max_attempts, backoff_s=0.01)
    dispatcher.submit(ALERT, [channel])
    assert dispatcher.force_flush(30)
    dispatcher.shutdown(5)
    return dispatcher


def test_generic_webhook_payload(webhook: Webhook) -> None:
    dispatcher = deliver(WebhookChannel(webhook.url))
    assert (dispatcher.stats.delivered, dispatcher.stats.failed) == (1, 0)
    [(path, content_type, payload)] = webhook.requests
    assert (path, content_type) == (f"/services/{SECRET}", "application/json")
    assert payload == {
        "type": "llm_budget_alert",
        "budget": "team-daily",
        "scope": "service",
        "scope_value": "support-bot",
        "tag": None,
        "period": "day",
        "timezone": "Europe/Paris",
        "window_start": "2026-03-09T23:00:00+00:00",
        "window_end": "2026-03-10T23:00:00+00:00",
        "threshold_pct": 80,
        "spend_usd": "20.50",
        "limit_usd": "25.00",
        "percent": "82.00",
        "unpriced_calls": 3,
        "fired_at": "2026-03-10T15:30:00+00:00",
        "text": "Budget 'team-daily' (service=support-bot, day) crossed 80%: $20.50 of $25.00 (82.00%); "
        "3 unpriced calls not included",
    }
    [outcome] = dispatcher.take_outcomes()
    assert outcome[3:8] == ("webhook", f"http://127.0.0.1:{webhook.server.server_address[1]}/***", True, 1, None)


def test_slack_payload(webhook: Webhook) -> None:
    deliver(WebhookChannel(webhook.url, slack=True))
    assert [r[2] for r in webhook.requests] == [
        {
            "text": "Budget 'team-daily' (service=support-bot, day) crossed 80%: $20.50 of $25.00 (82.00%); "
            "3 unpriced calls not included"
        }
    ]


def test_webhook_error_status_is_retried_then_counted(webhook: Webhook, caplog: pytest.LogCaptureFixture) -> None:
    webhook.status = 500
    with caplog.at_level(logging.DEBUG, logger="otel_llm_cost"):
        dispatcher = deliver(WebhookChannel(webhook.url), max_attempts=3)
    assert (dispatcher.stats.delivered, dispatcher.stats.failed, dispatcher.stats.retries) == (0, 1, 2)
    assert len(webhook.requests) == 3
    [outcome] = dispatcher.take_outcomes()
    assert outcome[5:8] == (False, 3, "ConnectionError: HTTP 500 Internal Server Error")
    assert "could not be delivered to webhook http://127.0.0.1:" in caplog.text
    assert SECRET not in caplog.text


def test_unreachable_webhook_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{_free_port()}/hooks/{SECRET}"
    with caplog.at_level(logging.DEBUG, logger="otel_llm_cost"):
        dispatcher = deliver(WebhookChannel(url))
    assert (dispatcher.stats.delivered, dispatcher.stats.failed) == (0, 1)
    assert "Connection refused" in caplog.text
    assert SECRET not in caplog.text


def test_hanging_webhook_times_out(webhook: Webhook) -> None:
    webhook.hang.clear()
    dispatcher = deliver(WebhookChannel(webhook.url), timeout_s=0.3, max_attempts=2)
    assert (dispatcher.stats.delivered, dispatcher.stats.failed) == (0, 1)
    [outcome] = dispatcher.take_outcomes()
    assert outcome[5:7] == (False, 2)
    assert "timed out" in str(outcome[7])


def test_email(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    settings = SmtpSettings(host="127.0.0.1", port=port, security="none", sender="costs@example.com")
    dispatcher = deliver(EmailChannel(["ops@example.com", "cfo@example.com"], settings))
    assert dispatcher.stats.delivered == 1
    [(sender, recipients, content)] = mailbox.messages
    assert (sender, recipients) == ("costs@example.com", ["ops@example.com", "cfo@example.com"])
    message = message_from_bytes(content)
    assert message["Subject"] == "[LLM budget] team-daily: 80% of $25.00"
    assert message["To"] == "ops@example.com, cfo@example.com"
    body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert body.splitlines()[:3] == [ALERT.summary(), "", "type: llm_budget_alert"]
    assert "spend_usd: 20.50" in body.splitlines()


def test_smtp_server_that_refuses(smtp: tuple[Mailbox, int], caplog: pytest.LogCaptureFixture) -> None:
    mailbox, port = smtp
    mailbox.refuse = True
    settings = SmtpSettings(host="127.0.0.1", port=port, security="none", username=None, password="hunter2")
    with caplog.at_level(logging.DEBUG, logger="otel_llm_cost"):
        dispatcher = deliver(EmailChannel(["ops@example.com"], settings))
    assert (dispatcher.stats.delivered, dispatcher.stats.failed) == (0, 1)
    [outcome] = dispatcher.take_outcomes()
    assert "SMTPRecipientsRefused" in str(outcome[7]) and "relaying denied" in str(outcome[7])
    assert mailbox.messages == []
    assert "hunter2" not in caplog.text and "hunter2" not in repr(settings)


def test_starttls_against_a_server_without_it_fails_cleanly(smtp: tuple[Mailbox, int]) -> None:
    _, port = smtp
    settings = SmtpSettings(host="127.0.0.1", port=port, security="starttls")
    dispatcher = deliver(EmailChannel(["ops@example.com"], settings), max_attempts=1)
    [outcome] = dispatcher.take_outcomes()
    assert outcome[5:8] == (False, 1, "SMTPNotSupportedError: STARTTLS extension not supported by server.")


def test_otel_log_record_and_span_event() -> None:
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    dispatcher = AlertDispatcher()
    dispatcher.submit(ALERT, [OtelLogChannel(logger_provider), SpanEventChannel(tracer_provider)])
    assert dispatcher.force_flush(10)
    dispatcher.shutdown(5)
    [log] = logs.get_finished_logs()
    assert (log.log_record.body, log.log_record.event_name) == (ALERT.summary(), "llm_cost.budget_alert")
    assert log.log_record.attributes is not None
    assert log.log_record.attributes["llm_cost.budget.spend_usd"] == "20.50"
    [span] = spans.get_finished_spans()
    assert [e.name for e in span.events] == ["llm_cost.budget_alert"]
    assert span.events[0].attributes is not None
    assert span.events[0].attributes["llm_cost.budget.threshold_pct"] == 80
    logger_provider.shutdown()
    tracer_provider.shutdown()


def test_a_raising_callback_is_counted() -> None:
    def broken(alert: Alert) -> None:
        raise RuntimeError("no")

    dispatcher = AlertDispatcher(max_attempts=2, backoff_s=0.01)
    from otel_llm_cost._alert_channels import CallbackChannel

    dispatcher.submit(ALERT, [CallbackChannel(broken)])
    assert dispatcher.force_flush(10)
    dispatcher.shutdown(5)
    assert (dispatcher.stats.failed, dispatcher.take_outcomes()[0][4]) == (
        1,
        "test_budget_channels.test_a_raising_callback_is_counted.<locals>.broken",
    )


def test_mask_url() -> None:
    assert mask_url("https://user:pw@hooks.slack.com/services/T0/B0/XYZ?token=1") == "https://hooks.slack.com/***"
    assert mask_url("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080/***"


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_processor_end_to_end(tmp_path: Path, webhook: Webhook) -> None:
    """Spans through the SDK: one webhook POST per crossing; a dead channel costs no rows."""
    db = str(tmp_path / "e2e.duckdb")
    clock = _Clock(datetime.now(timezone.utc))
    dead = f"http://127.0.0.1:{_free_port()}/hooks/{SECRET}"
    budget = Budget(
        "svc-daily", Decimal("0.0005"), scope="service", value="test-svc", period="day", thresholds_pct=(50, 100),
        channels=(f"webhook:{webhook.url}", f"slack:{dead}"),
    )  # fmt: skip
    monitor = BudgetMonitor(
        [budget], clock=clock, dispatcher=AlertDispatcher(timeout_s=2, max_attempts=2, backoff_s=0.01)
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "test-svc"}))
    processor = LLMCostSpanProcessor(db_path=db, flush_at_exit=False, budgets=monitor)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    per_call = []
    for _ in range(3):
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes=chat_attributes()):
            pass
        assert processor.force_flush(10_000)
        assert monitor._dispatcher is None or monitor._dispatcher.force_flush(10)
        per_call.append(len(webhook.requests))
    [(each,)] = query(db, "SELECT DISTINCT cost_usd FROM llm_calls")
    assert each == Decimal("0.00021")  # gpt-4o-mini: 1000 x $0.15/M + 100 x $0.60/M
    assert per_call == [0, 1, 2]  # 42 %, then 84 % (50 fires), then 126 % (100 fires)
    assert [(r[2]["threshold_pct"], r[2]["spend_usd"]) for r in webhook.requests] == [(50, "0.00042"), (100, "0.00063")]
    assert processor.check_budget(service="test-svc").exceeded == ("svc-daily",)
    stats = monitor.delivery_stats
    assert (stats.delivered, stats.failed) == (2, 2)
    assert processor.stats().stored == 3
    provider.shutdown()
    deliveries = query(db, "SELECT channel, threshold_pct, delivered FROM llm_budget_deliveries ORDER BY ALL")
    assert deliveries == [("slack", 50, False), ("slack", 100, False), ("webhook", 50, True), ("webhook", 100, True)]
    assert query(db, "SELECT count(*) FROM llm_budget_alerts") == [(2,)]


def test_smtp_settings_from_the_environment(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    env = {
        "OTEL_LLM_COST_SMTP_HOST": "127.0.0.1",
        "OTEL_LLM_COST_SMTP_PORT": str(port),
        "OTEL_LLM_COST_SMTP_SECURITY": "NONE",
        "OTEL_LLM_COST_SMTP_FROM": "alerts@example.com",
        "OTEL_LLM_COST_SMTP_PASSWORD": "hunter2",
    }
    with mock.patch.dict(os.environ, env):
        settings = SmtpSettings.from_env()
        assert (settings.host, settings.effective_port, settings.security, settings.sender) == (
            "127.0.0.1", port, "none", "alerts@example.com"
        )  # fmt: skip
        assert "hunter2" not in repr(settings)
        channel = make_channel("email:ops@example.com", None)  # settings read from the environment
    deliver(channel)
    assert [m[0] for m in mailbox.messages] == ["alerts@example.com"]
    assert SmtpSettings(security="ssl").effective_port == 465 and SmtpSettings().effective_port == 587
    bad_port = pytest.raises(ValueError, match="OTEL_LLM_COST_SMTP_PORT='smtp' is not a port number")
    with mock.patch.dict(os.environ, {"OTEL_LLM_COST_SMTP_PORT": "smtp"}), bad_port:
        SmtpSettings.from_env()
    with pytest.raises(ValueError, match="SMTP security must be one of starttls, ssl, none, got 'tls'"):
        SmtpSettings(security="tls")
