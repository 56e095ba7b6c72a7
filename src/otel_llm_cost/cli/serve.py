"""``otel-llm-cost serve``: run the OTLP receiver that owns the DuckDB file (or writes a DuckLake)."""

from __future__ import annotations

import logging

import click

from otel_llm_cost.cli._common import db_option
from otel_llm_cost.cli._options import make_pricer, prices_file_option
from otel_llm_cost.cli._store_choice import check_store_options
from otel_llm_cost.cli.ducklake import store_options
from otel_llm_cost.environment_variables import OTEL_LLM_COST_SERVE_AUTH_TOKEN, OTEL_LLM_COST_SPOOL_DIR
from otel_llm_cost.forwarding import FORWARD_NAMES
from otel_llm_cost.migrations import MigrationError
from otel_llm_cost.pricing import COMPUTED
from otel_llm_cost.serve import ServeConfig, Server
from otel_llm_cost.store import StoreUnavailable


def _port(text: str) -> int | None:
    return None if text == "off" else int(text)


@click.command("serve")
@db_option
@store_options()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind; 0.0.0.0 for every one.")
@click.option("--http-port", default="4318", show_default=True, metavar="PORT|off", help="OTLP/HTTP port.")
@click.option("--grpc-port", default="4317", show_default=True, metavar="PORT|off", help="OTLP/gRPC port.")
@click.option(
    "--auth-token",
    envvar=OTEL_LLM_COST_SERVE_AUTH_TOKEN,
    show_envvar=True,
    help="Require 'Authorization: Bearer TOKEN' on every request but /healthz.",
)
@click.option(
    "--tls-cert", type=click.Path(exists=True, dir_okay=False), help="PEM certificate chain (with --tls-key)."
)
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="PEM private key (with --tls-cert).")
@click.option(
    "--max-request-bytes",
    type=click.IntRange(1024),
    default=16 * 1024 * 1024,
    show_default=True,
    help="Largest request body, after decompression; bigger ones get 413.",
)
@click.option(
    "--max-queued-spans",
    type=click.IntRange(1),
    default=65536,
    show_default=True,
    help="Spans waiting to be written before requests get 429 with Retry-After.",
)
@click.option(
    "--spool-dir",
    envvar=OTEL_LLM_COST_SPOOL_DIR,
    show_envvar=True,
    type=click.Path(file_okay=False),
    help="Spool of the in-process fallback: loaded at start and every --ingest-every seconds.",
)
@click.option(
    "--journal-dir",
    type=click.Path(file_okay=False),
    help="Where accepted requests wait for their commit (fsynced); one per server.  [default: <db>.journal;"
    " with --store: ~/.local/state/otel-llm-cost/journal/lake-<hash of the spec> ($XDG_STATE_HOME)]",
)
@click.option(
    "--ingest-every",
    type=click.FloatRange(0.1),
    default=10.0,
    show_default=True,
    help="Seconds between two loads of --spool-dir.",
)
@click.option(
    "--forward-to", type=click.Choice([n for n in FORWARD_NAMES if n != "none"]), help="Forward every span received."
)
@prices_file_option
def serve_command(
    db_path: str,
    store_spec: str | None,
    data_path: str | None,
    host: str,
    http_port: str,
    grpc_port: str,
    auth_token: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    max_request_bytes: int,
    max_queued_spans: int,
    spool_dir: str | None,
    journal_dir: str | None,
    ingest_every: float,
    forward_to: str | None,
    prices_file: str | None,
) -> None:
    """Receive OTLP traces; price and store them.

    This process owns the DuckDB file; applications point their OTLP exporter at it. A request is
    answered once it is in the fsynced journal, and its spans are committed soon after. Reads:
    GET /v1/report, /v1/views/NAME; also /healthz and /metrics (Prometheus). SIGTERM or Ctrl-C
    stops it cleanly.

    With --store ducklake:postgres:DSN it writes a DuckLake instead (--db is then unused), and any
    number of servers on any number of hosts may write the same lake, each with its own journal:
    the default journal is a per-user folder named after the lake, so run one server per lake
    and user on a host, or give each its own --journal-dir.

    \b
    Examples:
      otel-llm-cost serve --db llm-cost.duckdb
      otel-llm-cost serve --store 'ducklake:postgres:dbname=llm_cost host=db1' --data-path /mnt/lake
      OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 python app.py
      otel-llm-cost serve --spool-dir /var/spool/llm-cost --grpc-port off
      otel-llm-cost serve --host 0.0.0.0 --auth-token "$TOKEN" --tls-cert c.pem --tls-key k.pem
      curl -H "Authorization: Bearer $TOKEN" https://host:4318/v1/views/llm_daily_cost
    """
    if bool(tls_cert) != bool(tls_key):
        raise click.ClickException("--tls-cert and --tls-key go together")
    check_store_options(store_spec, data_path)
    try:
        config = ServeConfig(
            db_path=db_path,
            store_spec=store_spec,
            data_path=data_path,
            host=host,
            http_port=_port(http_port),
            grpc_port=_port(grpc_port),
            auth_token=auth_token or None,
            tls_cert=tls_cert,
            tls_key=tls_key,
            max_request_bytes=max_request_bytes,
            max_queued_spans=max_queued_spans,
            spool_dir=spool_dir,
            journal_dir=journal_dir,
            ingest_every_s=ingest_every,
            forward_to=forward_to,
            pricer=make_pricer(COMPUTED, prices_file),  # a bad overrides file fails before binding
        )
    except ValueError:
        raise click.ClickException("ports must be numbers or 'off'") from None
    if config.http_port is None and config.grpc_port is None:
        raise click.ClickException("both receivers are off: give either a port")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = Server(config)
    try:
        server.start()
    except (StoreUnavailable, MigrationError, OSError, RuntimeError, ValueError) as exc:
        raise click.ClickException(f"cannot start: {exc}") from exc
    started = server.ingested_at_start
    if started is not None and started.batches:
        click.echo(f"loaded {started.batches} spool batches ({started.calls_inserted} new calls)", err=True)
    scheme = "https" if tls_cert else "http"
    if server.http_port is not None:
        click.echo(f"OTLP/HTTP on {scheme}://{host}:{server.http_port}/v1/traces", err=True)
    if server.grpc_port is not None:
        click.echo(f"OTLP/gRPC on {host}:{server.grpc_port}", err=True)
    click.echo(f"writing {config.store_name} (journal {config.journal_path()}); stop with SIGTERM or Ctrl-C", err=True)
    server.serve_until_signalled()
    click.echo("stopped", err=True)
