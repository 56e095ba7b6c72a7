"""BudgetMonitor: running spend per budget window, threshold crossings, and the in-memory check.

It lives on the ingest worker. ``observe`` is called once per batch, right after the batch is
committed to ``llm_calls``, with the rows of that batch:

- The first call loads the budgets (code, file and ``llm_budgets``) and seeds each budget's
  current window from the database with one query; that seed already holds the batch just written.
  (A :meth:`check` before any batch asks the processor's worker to do this with no rows.)
- Later calls add each new row's cost to the windows it falls in: no query per batch. Duplicate
  spans never count; unpriced calls are counted beside the spend.
- When a window ends (a new day, week or month in the budget's zone), or when a batch replayed
  rows already stored (only the database knows which were new), the budgets concerned are seeded
  again with one query.
- A threshold fires once per budget, window and threshold: it is written to ``llm_budget_alerts``
  (read back at start, so a restart does not fire again) and handed to the
  :class:`~otel_llm_cost._alert_delivery.AlertDispatcher`, which delivers off this thread.

``check`` and ``status`` read the same state from any thread, without locks or I/O: the worker
swaps whole objects, and a window that has ended reads as empty.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

from otel_llm_cost import _budget_sql
from otel_llm_cost import environment_variables as env
from otel_llm_cost._alert_channels import AlertChannel, SmtpSettings, make_channel
from otel_llm_cost._alert_delivery import AlertDispatcher, DeliveryStats
from otel_llm_cost._budget_file import load_budgets_file
from otel_llm_cost._budget_windows import Window, WindowIndex
from otel_llm_cost.budgets import Alert, Budget, BudgetDecision, BudgetError, BudgetStatus
from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.pricing import Cost
from otel_llm_cost.stores import CostStore

logger = logging.getLogger(__name__)

_CENT = Decimal("0.01")
_ZERO = Decimal(0)
_NO_BUDGET = BudgetDecision(True)
_new_tuple = tuple.__new__


class BudgetMonitor:
    """Evaluates budgets as batches are written; answers :meth:`check` and :meth:`status`.

    ``LLMCostSpanProcessor`` makes one for you (from ``budgets=``, ``budgets_file=`` and the
    ``llm_budgets`` table). Make one yourself to pass options.

    Args:
        budgets: budgets declared in code; written to ``llm_budgets`` (source ``code``) when the
            store opens, replacing earlier code budgets.
        budgets_file: a TOML file of budgets (see ``otel_llm_cost._budget_file``); read now, so a
            malformed file raises here; written to ``llm_budgets`` (source ``file:PATH``).
        smtp: settings for email channels; the ``OTEL_LLM_COST_SMTP_*`` variables by default.
        dispatcher: the delivery thread to use; one with default timeouts and retries is started
            at the first alert.
        clock: the current time, timezone-aware; which window is current. Tests pass their own.

    Raises:
        BudgetError: a budget or the file is malformed, or two budgets share a name.
    """

    def __init__(
        self,
        budgets: Sequence[Budget] = (),
        *,
        budgets_file: str | os.PathLike[str] | None = None,
        smtp: SmtpSettings | None = None,
        dispatcher: AlertDispatcher | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._code = list(budgets)
        self._file = os.fspath(Path(budgets_file).resolve()) if budgets_file is not None else None
        self._file_budgets = load_budgets_file(budgets_file) if budgets_file is not None else []
        names = [b.name for b in self._code + self._file_budgets]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise BudgetError(f"budget {repeated[0]!r} is declared twice (in code and/or the budgets file)")
        self._smtp = smtp
        self._dispatcher = dispatcher
        self._clock = clock or _utc_now
        # check() only needs seconds: time.time() is several times cheaper than datetime.now().timestamp().
        self._now_s: Callable[[], float] = time.time if clock is None else lambda: self._clock().timestamp()
        self._loaded = False
        self._windows: dict[str, Window] = {}
        self._index = WindowIndex()  # rebuilt on each seed
        self.alerts_fired = 0
        self._last_error: str | None = None
        self._load_requested = False
        self._request_load: Callable[[], None] | None = None  # wakes the ingest worker (set by the processor)

    # -- the ingest worker -----------------------------------------------------------------------

    def observe(self, store: CostStore, rows: Sequence[tuple[CallRecord, Cost]], inserted: int) -> None:
        """Count a batch just committed (``inserted`` of its rows were new) and fire crossings.

        Never raises: a budget failure is logged and costs the alert, never the batch."""
        try:
            self._observe(store, rows, inserted)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            if message != self._last_error:  # once per distinct error: a broken table must not flood the logs
                logger.exception("evaluating budgets failed for a batch of %d calls", len(rows))
                self._last_error = message
        else:
            self._last_error = None

    def _observe(self, store: CostStore, rows: Sequence[tuple[CallRecord, Cost]], inserted: int) -> None:
        now = self._clock()
        if not self._loaded:
            self._load(store, now)  # seeds every window from the table, this batch included
        elif inserted != len(rows):
            # A replay: which rows were new, only the table knows.
            self._seed(store, [w.budget for w in self._windows.values()], now)
        else:
            ended = [w.budget for w in self._windows.values() if w.end is not None and now >= w.end]
            if ended:
                self._seed(store, ended, now)  # the new windows, this batch included
            if inserted:
                self._index.count(rows, skip={b.name for b in ended})
        self._fire(store, now)
        self._write_outcomes(store.con)

    def _load(self, store: CostStore, now: datetime) -> None:
        con = store.con
        _budget_sql.save_budgets(con, self._code, "code")
        if self._file is not None:
            _budget_sql.save_budgets(con, self._file_budgets, f"file:{self._file}")
        keep = {b.name for b in self._code}
        file_keep = {b.name for b in self._file_budgets}
        budgets: dict[str, Budget] = {}
        for budget, source in _budget_sql.load_budgets(con):
            # A budget dropped from the code or from this file is no longer declared: remove it.
            if (source == "code" and budget.name not in keep) or (
                source == f"file:{self._file}" and budget.name not in file_keep
            ):
                _budget_sql.remove_budget(con, budget.name)
                continue
            budgets[budget.name] = budget
        for budget in self._code + self._file_budgets:
            budgets[budget.name] = budget  # keeps their callables, which the table cannot hold
        self._loaded = True
        self._seed(store, list(budgets.values()), now)
        if budgets:
            logger.info("watching %d LLM budgets", len(budgets))

    def _seed(self, store: CostStore, budgets: Sequence[Budget], now: datetime) -> None:
        con = store.con
        windows = {b.name: Window(b, self._channels(b), *b.window(now)) for b in budgets}
        sums = _budget_sql.seed_windows(con, [(w.budget, w.start, w.end) for w in windows.values()])
        fired = _budget_sql.fired_thresholds(con, list(windows))
        for name, window in windows.items():
            window.spend, window.unpriced = sums.get(name, (Decimal(0), 0))
            window.fired = {t for n, start, t in fired if n == name and start == window.start}
        merged = {**self._windows, **windows}
        # A new index, swapped in whole: check() on other threads sees the old state or the new one.
        self._index = WindowIndex(merged.values())
        self._windows = merged

    def _channels(self, budget: Budget) -> list[AlertChannel]:
        channels: list[AlertChannel] = []
        for spec in budget.channels:
            try:
                channels.append(make_channel(spec, self._smtp))
            except Exception:  # e.g. malformed SMTP variables: the other channels still work
                logger.exception("budget %r: channel %r is unusable", budget.name, _spec_label(spec))
        return channels

    def _fire(self, store: CostStore, now: datetime) -> None:
        for window in self._windows.values():
            budget = window.budget
            for threshold in budget.thresholds_pct:
                if threshold in window.fired or window.spend * 100 < budget.limit_usd * threshold:
                    continue
                window.fired.add(threshold)
                alert = Alert(
                    budget.name, budget.scope, budget.value, budget.tag, budget.period, budget.timezone,
                    window.start, window.end, threshold, window.spend, budget.limit_usd, window.unpriced, now,
                )  # fmt: skip
                try:
                    if not _budget_sql.record_alert(store.con, alert):
                        continue  # another writer of this file fired it already
                except Exception:  # deliver anyway: a missed alert is worse than a repeated one
                    logger.exception("could not record budget alert %r at %d%%", budget.name, threshold)
                self.alerts_fired += 1
                logger.warning("%s", alert.summary())
                if window.channels:
                    self._ensure_dispatcher().submit(alert, window.channels)

    def _ensure_dispatcher(self) -> AlertDispatcher:
        if self._dispatcher is None:
            self._dispatcher = AlertDispatcher(clock=self._clock)
        return self._dispatcher

    def _write_outcomes(self, con: object) -> None:
        if self._dispatcher is None:
            return
        outcomes = self._dispatcher.take_outcomes()
        try:
            _budget_sql.record_deliveries(con, outcomes)  # type: ignore[arg-type]
        except Exception:
            logger.exception("could not record %d budget alert deliveries", len(outcomes))

    def close(self, store: CostStore) -> None:
        """Write the delivery outcomes known so far (the store is about to close)."""
        self._write_outcomes(store.con)

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Deliver pending alerts within ``timeout_s``, then stop the delivery thread."""
        if self._dispatcher is not None:
            self._dispatcher.shutdown(timeout_s)

    def load_on_request(self, wake_worker: Callable[[], None]) -> None:
        """Have the first :meth:`check` before any batch call ``wake_worker``, whose worker then
        calls :meth:`observe` with no rows (see ``CostExporter.load_budgets``)."""
        self._request_load = wake_worker

    @property
    def load_requested(self) -> bool:
        """A check asked for the budgets, and they are not loaded yet."""
        return self._load_requested and not self._loaded

    def reset_after_fork(self) -> None:
        """In a forked child: forget the parent's windows (the child writes its own file, or none)
        and restart the delivery thread, which did not survive the fork."""
        self._loaded = self._load_requested = False
        self._windows, self._index = {}, WindowIndex()
        if self._dispatcher is not None:
            self._dispatcher.reset_after_fork()

    @property
    def delivery_stats(self) -> DeliveryStats:
        """Delivered, failed, dropped and retried alert deliveries since start."""
        return self._dispatcher.stats if self._dispatcher is not None else DeliveryStats()

    # -- any thread ------------------------------------------------------------------------------

    def check(
        self,
        *,
        user: str | None = None,
        model: str | None = None,
        provider: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        conversation: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> BudgetDecision:
        """Whether a call with these attributes is within every matching budget (global ones
        always match). Reads memory only; never blocks."""
        if not self._loaded and not self._load_requested and self._request_load is not None:
            # Budgets load with the first batch; an application that checks first asks for them now.
            self._load_requested = True
            self._request_load()
        # Unrolled rather than looped over (name, value) pairs: this runs before each checked call.
        now_s = self._now_s()
        index = self._index
        get = index.by_key.get
        matched = list(index.everywhere)
        if user is not None:
            matched += get(("user", user), ())
        if model is not None:
            matched += get(("model", model), ())
        if provider is not None:
            matched += get(("provider", provider), ())
        if service is not None:
            matched += get(("service", service), ())
        if environment is not None:
            matched += get(("environment", environment), ())
        if conversation is not None:
            matched += get(("conversation", conversation), ())
        if tags:
            for name, value in tags.items():
                matched += get((f"tag:{name}", value), ())
        if not matched:
            return _NO_BUDGET
        exceeded: list[str] = []
        remaining: Decimal | None = None
        for window in matched:
            spend = window.spend if now_s < window.end_s else _ZERO  # an ended window: nothing spent yet
            left = window.budget.limit_usd - spend
            if left <= 0:
                exceeded.append(window.budget.name)
            if remaining is None or left < remaining:
                remaining = left
        # tuple.__new__ skips the NamedTuple's Python-level __new__: a third of this method's time.
        return _new_tuple(BudgetDecision, (not exceeded, tuple(exceeded), remaining))

    def status(
        self, *, name: str | None = None, scope: str | None = None, value: str | None = None
    ) -> list[BudgetStatus]:
        """The budgets' current windows as held in memory, filtered by name, scope and value."""
        now = self._clock()
        result = []
        for window in list(self._windows.values()):
            budget = window.budget
            if (name and budget.name != name) or (scope and budget.scope != scope) or (value and budget.value != value):
                continue
            if window.end is not None and now >= window.end:  # not yet rolled over by a batch
                start, end = budget.window(now)
                spend, unpriced, fired = Decimal(0), 0, tuple[int, ...]()
            else:
                start, end = window.start, window.end
                spend, unpriced, fired = window.spend, window.unpriced, tuple(sorted(window.fired))
            projected = None
            if end is not None:
                elapsed = max((now - start).total_seconds(), 1.0)
                projected = (spend * Decimal((end - start).total_seconds()) / Decimal(elapsed)).quantize(
                    Decimal("1e-9"), ROUND_DOWN
                )
            percent = (spend * 100 / budget.limit_usd).quantize(_CENT, ROUND_DOWN)
            result.append(
                BudgetStatus(
                    budget.name,
                    budget.scope,
                    budget.value,
                    budget.tag,
                    budget.period,
                    start,
                    end,
                    spend,
                    budget.limit_usd,
                    percent,
                    projected,
                    unpriced,
                    fired,
                )
            )
        return sorted(result, key=lambda s: s.budget)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _spec_label(spec: object) -> str:
    return spec.partition(":")[0] if isinstance(spec, str) else "callback"


def monitor_for(
    budgets: Sequence[Budget] | BudgetMonitor | None, budgets_file: str | os.PathLike[str] | None
) -> BudgetMonitor:
    """The processor's monitor: the one given, or one over these budgets and file (argument, else
    :envvar:`OTEL_LLM_COST_BUDGETS_FILE`). A bad argument raises; a bad environment file is
    logged and ignored, as the OTel SDK treats malformed variables."""
    if isinstance(budgets, BudgetMonitor):
        if budgets_file is not None:
            raise ValueError("pass budgets_file to the BudgetMonitor, not beside it")
        return budgets
    if budgets is not None and (isinstance(budgets, (str, Budget)) or not all(isinstance(b, Budget) for b in budgets)):
        raise ValueError("budgets must be a list of Budget objects or a BudgetMonitor")
    if budgets_file is not None:
        return BudgetMonitor(budgets or (), budgets_file=budgets_file)
    from_env = os.environ.get(env.OTEL_LLM_COST_BUDGETS_FILE, "").strip()
    if from_env:
        try:
            return BudgetMonitor(budgets or (), budgets_file=from_env)
        except BudgetError as exc:
            logger.error("ignoring %s: %s", env.OTEL_LLM_COST_BUDGETS_FILE, exc)
    return BudgetMonitor(budgets or ())
