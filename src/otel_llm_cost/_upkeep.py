"""The processor's housekeeping on its worker thread: daily retention, and an export at exit.

Both need a connection to the processor's database besides the one the exporter writes through.
With ``db_path`` that is a second :class:`DuckDBStore` on the same file, opened for the task and
closed after it: in one process DuckDB hands both connections the same database, so they see each
other's rows and take no second lock. With ``store=`` it is a cursor of that store's connection
(which also works for ``":memory:"``). The tasks run between batches, on the worker thread, so they
never race the exporter's writes; while one runs, spans wait in the queue (and a full queue drops
and counts, as always), which is why retention runs at most once a UTC day and why the first prune
of a large backlog is better done with ``otel-llm-cost prune``.

Retention records each run in ``retention_runs``; before pruning it reads the newest ``ran_at``
there, so a restarted process does not prune again on a day the database was already pruned.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb

from otel_llm_cost import _settings
from otel_llm_cost import environment_variables as env
from otel_llm_cost.export import ExportSpec, export
from otel_llm_cost.query_log import QueryLog
from otel_llm_cost.retention import PruneResult, default_archive_dir, last_run, prune
from otel_llm_cost.store import DuckDBStore

logger = logging.getLogger(__name__)

# Opens a connection to the processor's database for one task, and closes it after.
Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class RetentionSchedule:
    """Prune rows older than ``days`` at most once per UTC day (``clock`` is replaceable for tests)."""

    days: int
    archive_dir: Path | None
    clock: Callable[[], datetime] = _utc_now
    _checked_day: date | None = field(default=None, init=False)  # the UTC day last decided

    def checked_today(self) -> bool:
        """Whether today's check is done: then nothing is asked of the database until tomorrow."""
        return self._checked_day == self.clock().date()

    def skip_today(self) -> None:
        self._checked_day = self.clock().date()

    def due(self, con: duckdb.DuckDBPyConnection) -> bool:
        today = self.clock().date()
        if self._checked_day == today:
            return False
        self._checked_day = today  # also when the prune then fails: tried again tomorrow, not every batch
        last = last_run(con)
        return last is None or last.astimezone(timezone.utc).date() != today

    def run(self, con: duckdb.DuckDBPyConnection) -> PruneResult | None:
        """Prune if due; return what was pruned, or None when not due."""
        if not self.due(con):
            return None
        now = self.clock()
        result = prune(
            con, cutoff=now - timedelta(days=self.days), archive_dir=self.archive_dir, source="processor", now=now
        )
        logger.info(
            "retention: %d calls and %d agent runs older than %s removed (archive: %s)",
            result.calls, result.agent_runs, result.cutoff, result.archive_dir,
        )  # fmt: skip
        return result


class Upkeep:
    """What the processor does besides storing: retention after batches, an export at exit."""

    def __init__(
        self,
        connect: Connect,
        *,
        retention: RetentionSchedule | None,
        export_on_exit: ExportSpec | None,
    ) -> None:
        self._connect = connect
        self.retention = retention
        self.export_on_exit = export_on_exit

    @classmethod
    def configure(
        cls,
        db_path: str | None,
        store: DuckDBStore | None,
        export_on_exit: ExportSpec | str | os.PathLike[str] | None,
        retention_days: int | None,
        retention_archive_dir: str | os.PathLike[str] | None,
    ) -> Upkeep | None:
        """Resolve the options (argument, then environment); None when there is nothing to do.

        Raises:
            ValueError: an argument is malformed.
        """
        spec = _export_spec(export_on_exit)
        days = _retention_days(retention_days)
        if spec is None and days is None:
            return None
        retention = None
        if days is not None:
            archive = _settings.text(retention_archive_dir, env.OTEL_LLM_COST_RETENTION_ARCHIVE_DIR, "")
            where = store.path if store is not None else (db_path or "")
            if not archive and (where == "" or where.startswith(":memory:")):
                raise ValueError("retention of an in-memory database needs retention_archive_dir")
            retention = RetentionSchedule(days, Path(archive) if archive else default_archive_dir(where))
        return cls(_connector(db_path, store), retention=retention, export_on_exit=spec)

    def after_drain(self) -> None:
        """Worker thread, after each drain: prune if due. Never raises."""
        if self.retention is None or self.retention.checked_today():
            return
        try:
            with self._connect() as con:
                self.retention.run(con)
        except Exception:
            self.retention.skip_today()  # one error a day in the log, not one per batch
            logger.exception("retention failed; the rows are kept, and it is tried again tomorrow")

    def at_exit(self) -> None:
        """Worker thread, after the last drain and before the store closes: the export. Never raises."""
        if self.export_on_exit is None:
            return
        try:
            log = QueryLog("export_on_exit")
            with self._connect() as con:
                result = export(con, self.export_on_exit, log=log)
                log.save(con)
            logger.info("exported %d rows of %s to %s", result.rows, result.source, result.path)
        except Exception:
            logger.exception("export at exit to %s failed", os.fspath(self.export_on_exit.path))


def _connector(db_path: str | None, store: DuckDBStore | None) -> Connect:
    owner = os.getpid()

    @contextmanager
    def connect() -> Iterator[duckdb.DuckDBPyConnection]:
        if store is not None:
            if os.getpid() != owner:
                raise RuntimeError(f"the store {store.path!r} belongs to the parent process; a forked child skips this")
            cursor = store.con.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
            return
        # {pid} as the processor resolves it: the file of the process that runs the task.
        with DuckDBStore((db_path or "").replace("{pid}", str(os.getpid()))) as opened:
            yield opened.con

    return connect


def _export_spec(value: ExportSpec | str | os.PathLike[str] | None) -> ExportSpec | None:
    if value is None:
        raw = os.environ.get(env.OTEL_LLM_COST_EXPORT_ON_EXIT, "").strip()
        if not raw:
            return None
        try:
            spec = ExportSpec(raw)
            spec.resolved_format()
        except Exception as exc:
            logger.warning("ignoring %s=%r: %s", env.OTEL_LLM_COST_EXPORT_ON_EXIT, raw, exc)
            return None
        return spec
    spec = value if isinstance(value, ExportSpec) else ExportSpec(value)
    try:
        spec.resolved_format()
    except Exception as exc:
        raise ValueError(f"export_on_exit: {exc}") from None
    return spec


def _retention_days(argument: int | None) -> int | None:
    if argument is not None:
        return _settings.positive_int("retention_days", argument, env.OTEL_LLM_COST_RETENTION_DAYS, 1)
    raw = os.environ.get(env.OTEL_LLM_COST_RETENTION_DAYS, "").strip()
    if not raw:
        return None
    if raw.isdigit() and int(raw) >= 1:
        return int(raw)
    logger.warning("ignoring %s=%r: not a positive integer; keeping every row", env.OTEL_LLM_COST_RETENTION_DAYS, raw)
    return None
