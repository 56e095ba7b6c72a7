"""What an :class:`~otel_llm_cost.processor.LLMCostSpanProcessor` is told, resolved once.

Each option is its argument, else its ``OTEL_LLM_COST_*`` variable, else its default (see
:mod:`otel_llm_cost._settings`). A malformed argument raises ``ValueError`` here, at configuration
time; a malformed variable is logged and ignored, as the OTel SDK treats its own. Nothing here
starts a thread: the processor does that once the whole configuration is known to be valid.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from opentelemetry.sdk.trace.export import SpanExporter

from otel_llm_cost import _settings
from otel_llm_cost import environment_variables as env
from otel_llm_cost._capture import AttributeCapture, Redactor, parse_allow_list
from otel_llm_cost._upkeep import Upkeep
from otel_llm_cost.budget_monitor import BudgetMonitor, monitor_for
from otel_llm_cost.budgets import Budget
from otel_llm_cost.export import ExportSpec
from otel_llm_cost.forwarding import FORWARD_NAMES, exporter_from_name
from otel_llm_cost.pricing import Pricer
from otel_llm_cost.store import DuckDBStore
from otel_llm_cost.stores import CostStore, check_spec, open_store

logger = logging.getLogger(__name__)

DEFAULT_DB_PATH = "llm-cost.duckdb"


@dataclass(frozen=True)
class ProcessorConfig:
    """The resolved options; see :class:`~otel_llm_cost.processor.LLMCostSpanProcessor` for each."""

    db_path: str | None  #: None when a store was given instead
    store: CostStore | Callable[[], CostStore]  #: an open store, or how the worker opens one
    max_queue_size: int
    max_batch_size: int
    delay_millis: int
    forward_exporter: SpanExporter | None
    forward_all: bool
    with_metrics: bool
    token_usage: bool
    pricer: Pricer
    capture: AttributeCapture
    spool_dir: str  #: "" for no spool
    budgets: BudgetMonitor
    upkeep: Upkeep | None


def resolve_config(
    *,
    db_path: str | os.PathLike[str] | None,
    store: DuckDBStore | str | None,
    data_path: str | os.PathLike[str] | None,
    forward_to: SpanExporter | str | None,
    forward_all_spans: bool | None,
    pricer: Pricer | None,
    prices_file: str | os.PathLike[str] | None,
    max_queue_size: int | None,
    max_batch_size: int | None,
    schedule_delay_millis: int | None,
    metrics: bool | None,
    token_usage_metrics: bool | None,
    store_attributes: Sequence[str] | None,
    redact: Redactor | None,
    spool_dir: str | os.PathLike[str] | None,
    budgets: Sequence[Budget] | BudgetMonitor | None,
    budgets_file: str | os.PathLike[str] | None,
    export_on_exit: ExportSpec | str | os.PathLike[str] | None,
    retention_days: int | None,
    retention_archive_dir: str | os.PathLike[str] | None,
) -> ProcessorConfig:
    """Resolve every option (argument, then environment, then default).

    Raises:
        ValueError: an argument is malformed.
    """
    if store is not None and db_path is not None:
        raise ValueError("pass either db_path or store, not both")
    if isinstance(store, str) or data_path is not None:
        check_spec(store if isinstance(store, str) else "", data_path)
    resolved_db = None if store is not None else _settings.text(db_path, env.OTEL_LLM_COST_DB, DEFAULT_DB_PATH)
    queue_size = _settings.positive_int("max_queue_size", max_queue_size, env.OTEL_LLM_COST_MAX_QUEUE_SIZE, 8192)
    batch_size = _settings.positive_int("max_batch_size", max_batch_size, env.OTEL_LLM_COST_MAX_BATCH_SIZE, 4096)
    delay_millis = _settings.positive_int(
        "schedule_delay_millis", schedule_delay_millis, env.OTEL_LLM_COST_SCHEDULE_DELAY_MILLIS, 1000
    )
    forward_all = _settings.boolean("forward_all_spans", forward_all_spans, env.OTEL_LLM_COST_FORWARD_ALL_SPANS, False)
    with_metrics = _settings.boolean("metrics", metrics, env.OTEL_LLM_COST_METRICS, True)
    token_usage = _settings.boolean(
        "token_usage_metrics", token_usage_metrics, env.OTEL_LLM_COST_TOKEN_USAGE_METRICS, False
    )
    forward_exporter = _forward_exporter(forward_to)
    pricer = _pricer(pricer, prices_file)
    if forward_all and forward_exporter is None:
        if forward_all_spans:
            raise ValueError("forward_all_spans needs somewhere to forward to: pass forward_to")
        logger.warning("ignoring %s: nothing to forward to", env.OTEL_LLM_COST_FORWARD_ALL_SPANS)
        forward_all = False

    if store_attributes is None:
        store_attributes = parse_allow_list(os.environ.get(env.OTEL_LLM_COST_STORE_ATTRIBUTES, ""))
    elif isinstance(store_attributes, str):
        raise ValueError("store_attributes must be a list of attribute names, not one string")
    capture = AttributeCapture(store_attributes, redact=redact)
    spool = _settings.text(spool_dir, env.OTEL_LLM_COST_SPOOL_DIR, "")
    budget_monitor = monitor_for(budgets, budgets_file)
    if isinstance(store, str) and (export_on_exit or retention_days):
        # Both read and rewrite one DuckDB file; a lake has `ducklake maintain` and its own exports.
        raise ValueError("export_on_exit and retention_days need a DuckDB file (db_path), not a DuckLake store")
    upkeep = Upkeep.configure(
        resolved_db, store if isinstance(store, DuckDBStore) else None, export_on_exit, retention_days,
        retention_archive_dir,
    )  # fmt: skip
    opener: CostStore | Callable[[], CostStore]
    if isinstance(store, DuckDBStore):
        opener = store
    elif isinstance(store, str):
        opener = partial(open_store, store, data_path=data_path)
    else:
        opener = partial(_open_file, resolved_db)
    return ProcessorConfig(
        db_path=resolved_db, store=opener, max_queue_size=queue_size, max_batch_size=batch_size,
        delay_millis=delay_millis, forward_exporter=forward_exporter, forward_all=forward_all,
        with_metrics=with_metrics, token_usage=token_usage, pricer=pricer, capture=capture, spool_dir=spool,
        budgets=budget_monitor, upkeep=upkeep,
    )  # fmt: skip


def _open_file(db_path: str | None) -> DuckDBStore:
    """Open the DuckDB file, ``{pid}`` in its path replaced by this process's id (on the worker,
    after any fork: each child of a pre-fork server writes a file of its own)."""
    return DuckDBStore((db_path or "").replace("{pid}", str(os.getpid())))


def _forward_exporter(forward_to: SpanExporter | str | None) -> SpanExporter | None:
    """The exporter to forward to: the argument, else :envvar:`OTEL_LLM_COST_FORWARD`, else none.

    A bad name as an argument raises ``ValueError``; in the environment it is logged and ignored."""
    if isinstance(forward_to, SpanExporter):
        return forward_to
    if forward_to is not None:
        if not isinstance(forward_to, str):
            raise ValueError(f"forward_to must be a SpanExporter or a name, got {forward_to!r}")
        return exporter_from_name(forward_to)
    name = _settings.choice(env.OTEL_LLM_COST_FORWARD, FORWARD_NAMES)
    if name is None:
        return None
    try:
        return exporter_from_name(name)
    except Exception:  # e.g. the gRPC exporter cannot be imported here: never a crash at startup
        logger.exception("ignoring %s=%r: the exporter could not be created", env.OTEL_LLM_COST_FORWARD, name)
        return None


def _pricer(pricer: Pricer | None, prices_file: str | os.PathLike[str] | None) -> Pricer:
    """The given pricer, or one over the catalog in use and the prices file (argument, else
    OTEL_LLM_COST_PRICES_FILE)."""
    if pricer is not None:
        if prices_file is not None or os.environ.get(env.OTEL_LLM_COST_PRICES_FILE, "").strip():
            raise ValueError("pass either pricer or prices_file, not both")
        return pricer
    from otel_llm_cost._catalog_update import configured_pricer  # the one `prices update` stored, else bundled

    return configured_pricer(prices_file)  # a bad file raises now
